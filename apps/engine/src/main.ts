import 'reflect-metadata';
import { ConfigError, loadConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { startEngine } from './bootstrap';
import { shutdownHandler } from './shutdown';

async function main(): Promise<void> {
  let config;
  try {
    // The one place that reads the environment.
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = new JsonLogger(config.logLevel);
  // Installed before start-up: as a container's PID 1 an unhandled SIGTERM is ignored, and a
  // signal during start-up must still end the process (nothing has been accepted yet then).
  let close = (): Promise<void> => Promise.resolve(); // until started there is nothing to drain
  const shutdown = shutdownHandler(() => close(), {
    timeoutMs: config.shutdownTimeoutMs,
    log: logger.child('lifecycle'),
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (received) => void shutdown(received));
  const engine = await startEngine(config, logger);
  close = () => engine.close();
  logger.info(`risk-engine listening on ${engine.url}`, { url: engine.url, docs: `${engine.url}/docs` });
  process.stdout.write(`risk-engine ready: ${engine.url}  (API docs: ${engine.url}/docs)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`risk-engine failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
