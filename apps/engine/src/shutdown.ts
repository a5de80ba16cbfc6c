import type { JsonLogger } from '@risk/infra/logging/json-logger';

export interface ShutdownOptions {
  /** SHUTDOWN_TIMEOUT: the longest the phases (stop intake, drain, flush, close) may take. */
  readonly timeoutMs: number;
  readonly log: JsonLogger;
  /** Ends the process; injectable so a spec can observe the code instead of exiting. */
  readonly exit?: (code: number) => void;
}

/** Exit codes: 0 after a complete graceful shutdown, 1 when it failed or outlasted SHUTDOWN_TIMEOUT. */
export const SHUTDOWN_OK = 0;
export const SHUTDOWN_FAILED = 1;

/**
 * Returns the handler for SIGTERM/SIGINT: runs `close` (the engine's phased
 * shutdown) once and exits 0 when it completes. If the phases take longer
 * than SHUTDOWN_TIMEOUT (a sink that never answers, a broker that hangs a
 * commit), it logs that and exits 1 without waiting further, so an
 * orchestrator's stop is bounded by our timeout rather than by its SIGKILL,
 * and the non-zero code says the drain was cut. A second signal during the
 * shutdown is logged and otherwise ignored: the timeout already bounds it.
 * The returned promise resolves with the exit code (for the spec).
 */
export function shutdownHandler(close: () => Promise<void>, options: ShutdownOptions): (signal: string) => Promise<number> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<number> | undefined;
  return (signal) => {
    if (running !== undefined) {
      options.log.warn('shutdown already in progress: signal ignored', { signal });
      return running;
    }
    const started = Date.now();
    options.log.info('shutdown requested', { signal, timeout_ms: options.timeoutMs });
    running = new Promise<number>((resolve) => {
      let settled = false;
      const settle = (code: number, report: () => void): void => {
        // Whichever comes first decides; a close that ends after the timeout is not reported as a success.
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        report();
        resolve(code);
      };
      // Ref'd on purpose: it keeps the process alive until the verdict, even
      // when `close` waits on a promise that holds no handle.
      const timer = setTimeout(
        () =>
          settle(SHUTDOWN_FAILED, () =>
            options.log.error('shutdown exceeded SHUTDOWN_TIMEOUT: exiting before the phases completed', {
              timeout_ms: options.timeoutMs,
            }),
          ),
        options.timeoutMs,
      );
      close().then(
        () => settle(SHUTDOWN_OK, () => options.log.info('shutdown complete', { duration_ms: Date.now() - started })),
        (error: unknown) =>
          settle(SHUTDOWN_FAILED, () =>
            options.log.error('shutdown failed', { error: error instanceof Error ? error.message : String(error) }),
          ),
      );
    }).then((code) => {
      exit(code);
      return code;
    });
    return running;
  };
}
