import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import type { Logger } from '../core/logger.js';
import type { DiscoveryConfig } from './schema.js';
import { lookupOf } from './sources.js';
import type { Found, SourceDeps } from './sources.js';

export type { Found };

/**
 * Keeps a backend's replica list current: looks it up at once and every `intervalMs` (a file
 * also when it changes), and calls `onChange` with each list that differs from the last. A lookup
 * that fails, or finds nothing, keeps the last list: a flapping DNS or API server must not take
 * every replica away. Losing and regaining the source are logged once each.
 */
export function startDiscovery(
  config: DiscoveryConfig,
  onChange: (found: Found[]) => void,
  log: Logger,
  deps: SourceDeps = {},
): { stop(): void; refresh(): Promise<void> } {
  const lookup = lookupOf(config, deps);
  let last = '';
  let failing = false;
  let running: Promise<void> | undefined;
  const refresh = (): Promise<void> =>
    (running ??= (async () => {
      try {
        const found = await lookup();
        if (failing) log.info({ source: config.type }, 'service discovery answers again');
        failing = false;
        if (found.length === 0) {
          log.warn(
            { source: config.type },
            'service discovery found no replica; keeping the last list',
          );
          return;
        }
        const key = JSON.stringify([...found].sort((a, b) => a.url.localeCompare(b.url)));
        if (key === last) return;
        last = key;
        log.info({ source: config.type, replicas: found.map((f) => f.url) }, 'replicas discovered');
        onChange(found);
      } catch (error) {
        if (!failing)
          log.warn(
            { err: error, source: config.type },
            'service discovery failed; keeping the last list',
          );
        failing = true;
      }
    })().finally(() => (running = undefined)));
  void refresh();
  const timer = setInterval(() => void refresh(), config.intervalMs);
  timer.unref();
  let watcher: FSWatcher | undefined;
  if (config.type === 'file' && !deps.readFile) {
    try {
      watcher = watch(config.path, () => void refresh());
      watcher.unref();
    } catch {
      // not there yet: the interval finds it
    }
  }
  return {
    refresh,
    stop() {
      clearInterval(timer);
      watcher?.close();
    },
  };
}
