import { isRetriable } from '@risk/domain';
import type { JsonLogger } from '@risk/infra/logging/json-logger';

/**
 * Retries a start-up step while its dependency is unavailable (a retriable
 * error), e.g. Elasticsearch still booting next to the engine; gives up
 * after `timeoutMs` with the last error.
 */
export async function retryAtStartup(what: string, step: () => Promise<void>, logger: JsonLogger, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await step();
      return;
    } catch (error) {
      if (!isRetriable(error) || Date.now() > deadline) throw error;
      const delay = Math.min(200 * 2 ** attempt, 5_000);
      logger.warn(`${what} not available yet, retrying`, { attempt, delayMs: delay, error: (error as Error).message });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
