import type { GatewayConfig } from './schema.js';
import { ConfigError } from './schema.js';
import { loadConfig, watchConfig } from './load.js';
import type { ConfigOverrides } from './load.js';
import type { Logger } from '../core/logger.js';

/** What a reload is applied to (the gateway). */
export interface Reloadable {
  reload(config: Readonly<GatewayConfig>): Promise<object>;
}

/**
 * Reloads the file on SIGHUP and when it (or the .env beside it) changes. An invalid file is
 * logged, problem by problem, and the running configuration kept. Reloads run one at a time;
 * triggers during one lead to one more. Returns the function that stops watching.
 */
export function reloadOnChange(
  file: string,
  flags: ConfigOverrides,
  gateway: Reloadable,
  log: Logger,
  /** The mode's defaults, as the start loaded them (LoadOptions.defaults). */
  defaults: ConfigOverrides = {},
): () => void {
  let running = false;
  let pending: string | undefined;
  const reload = async (trigger: string): Promise<void> => {
    if (running) {
      pending = trigger;
      return;
    }
    running = true;
    try {
      let next: Readonly<GatewayConfig> | undefined;
      try {
        next = loadConfig({ file, flags, defaults });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems)
          log.error({ trigger, problem }, 'invalid configuration');
        log.error({ trigger, file }, 'configuration not reloaded; the running one is kept');
      }
      if (next) {
        log.info({ trigger, file }, 'reloading the configuration');
        const result = await gateway.reload(next);
        log.info({ trigger, ...result }, 'configuration reloaded');
      }
    } catch (error) {
      log.error({ err: error, trigger }, 'reload failed; the running configuration is kept');
    } finally {
      running = false;
    }
    if (pending !== undefined) {
      const again = pending;
      pending = undefined;
      await reload(again);
    }
  };
  const onHangup = () => void reload('SIGHUP');
  process.on('SIGHUP', onHangup);
  const watcher = watchConfig(file, () => void reload('file change'), {
    onError: (error) => log.warn({ err: error, file }, 'cannot watch the configuration file'),
  });
  return () => {
    process.off('SIGHUP', onHangup);
    watcher.close();
  };
}
