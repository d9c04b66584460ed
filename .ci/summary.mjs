// Prints the suite's totals as one plain line ("N passed, N failed, N skipped") from the JSON
// report vitest writes when CI is set, so that any reader of the log sees the count.
import { existsSync, readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync('test-artifacts/vitest.json', 'utf8'));
const skipped = report.numPendingTests + report.numTodoTests;
// The browser tests skip themselves without Chromium; in CI that is a failure, said by name.
const browser = report.testResults.filter((f) => /observability-dashboard|rest-docs/.test(f.name));
const browserSkipped = browser
  .flatMap((f) => f.assertionResults)
  .filter((t) => t.status !== 'passed');
const chromium = existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium');
if (!chromium || browserSkipped.length > 0)
  console.log(
    `browser tests: ${browserSkipped.length} of ${browser.flatMap((f) => f.assertionResults).length} did not pass${chromium ? '' : ' (no Chromium)'}`,
  );
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
if (
  report.numTotalTests === 0 ||
  report.numFailedTests > 0 ||
  !chromium ||
  browserSkipped.length > 0
)
  process.exit(1);
