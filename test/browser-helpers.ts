import { existsSync } from 'node:fs';

/** Debian's Chromium (or CHROMIUM_PATH), for the tests that drive a real browser; undefined without one. */
export const CHROMIUM = (
  process.env.CHROMIUM_PATH !== undefined
    ? [process.env.CHROMIUM_PATH] // only that one: `CHROMIUM_PATH=none` runs as a machine without
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser']
).find((path) => existsSync(path));

/** Why the browser tests (the dashboard, /docs) cannot run, and what to do about it. */
export const CHROMIUM_MISSING = `no Chromium at ${process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'} (apt-get install chromium, or set CHROMIUM_PATH)`;

/** Says why a browser test file is skipped: the run's summary must show it, not hide it. */
export function sayWhenSkipped(file: string): void {
  if (!CHROMIUM) process.stdout.write(`${file}: skipped, ${CHROMIUM_MISSING}\n`);
}

/** The flags a closed network needs: nothing phones home, nothing updates itself. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
