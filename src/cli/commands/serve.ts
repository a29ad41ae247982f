import { createApp } from '../../app.js';
import { loadConfig } from '../../config/index.js';

/**
 * `iamdb serve`: runs until SIGTERM or SIGINT, then drains (stops accepting,
 * lets sessions finish up to gateway.drainTimeoutMs) and exits. A second
 * signal is harmless: the drain already under way goes on.
 */
export async function runServe(opts: { file: string; env: Readonly<Record<string, string | undefined>>; flags?: Record<string, unknown> }): Promise<void> {
  const config = loadConfig({ file: opts.file, env: opts.env, flags: opts.flags ?? {} });
  const app = await createApp(config, { env: opts.env });
  await app.start();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'draining');
      void app.close().then(resolve);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  app.logger.info('stopped');
}
