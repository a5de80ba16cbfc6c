import { retry } from '@risk/infra/retry/retry';
import type { JsonLogger } from '@risk/infra/logging/json-logger';

/**
 * Retries a start-up step while its dependency is unavailable (a retriable
 * error), e.g. Elasticsearch still booting next to the engine; gives up
 * after `timeoutMs` with the last error.
 */
export async function retryAtStartup(what: string, step: () => Promise<void>, logger: JsonLogger, timeoutMs = 60_000): Promise<void> {
  await retry(step, {
    initialMs: 400,
    maxMs: 5_000,
    maxTimeMs: timeoutMs,
    onRetry: ({ attempt, delayMs, error }) =>
      logger.warn(`${what} not available yet, retrying`, { attempt, delayMs: Math.round(delayMs), error: (error as Error).message }),
  });
}
