import 'reflect-metadata';
import { ConfigError, loadConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { startEngine } from './bootstrap';

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
  const engine = await startEngine(config, logger);
  logger.info(`risk-engine listening on ${engine.url}`, { url: engine.url, docs: `${engine.url}/docs` });
  process.stdout.write(`risk-engine ready: ${engine.url}  (API docs: ${engine.url}/docs)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`risk-engine failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
