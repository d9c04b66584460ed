import { existsSync } from 'node:fs';

/** Debian's Chromium (or CHROMIUM_PATH), for the tests that drive a real browser; undefined without one. */
export const CHROMIUM = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
].find((path): path is string => path !== undefined && existsSync(path));

/** Says why a browser test file is skipped: the run's summary must show it, not hide it. */
export function sayWhenSkipped(file: string): void {
  if (!CHROMIUM)
    process.stdout.write(
      `${file}: skipped, no Chromium at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)\n`,
    );
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
