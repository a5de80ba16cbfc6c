import { isRetriable } from '@risk/domain';

/**
 * The one retry-with-backoff loop of the code base (like kafkajs's `retry`
 * module): the Kafka consumer's chunk retries, the start-up wait for a
 * dependency, the Elasticsearch sink's bulk rounds and Redis's reconnection
 * delay all take their waits from here.
 */

/** How long to wait before each retry: exponential from `initialMs`, capped at `maxMs`, with jitter. */
export interface BackoffPolicy {
  /** Wait before the first retry. */
  readonly initialMs: number;
  /** Longest wait. */
  readonly maxMs: number;
  /** Growth per retry; default 2. */
  readonly multiplier?: number;
  /**
   * Share of each wait taken off at random (0 = none, 0.5 = "equal jitter"), so that clients that failed
   * together do not retry in step. Only ever shortens a wait, so `maxMs` stays the longest. Default 0.2.
   */
  readonly jitter?: number;
}

/** The wait before retry number `retry` (1 = the first retry, after the first failed attempt). */
export function backoffDelay(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const multiplier = policy.multiplier ?? 2;
  const jitter = policy.jitter ?? 0.2;
  // Past 2^30 every policy is at its cap; this keeps the power finite.
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const base = Math.min(policy.maxMs, policy.initialMs * multiplier ** exponent);
  return base * (1 - jitter * random());
}

export interface RetryPolicy extends BackoffPolicy {
  /** Attempts in all, the first one included; default unlimited. */
  readonly maxAttempts?: number;
  /** No attempt starts later than this after the first one (the last wait is shortened to fit); default unlimited. */
  readonly maxTimeMs?: number;
}

/** One failed attempt that will be retried after `delayMs`. */
export interface RetryFailure {
  readonly error: unknown;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
}

export interface RetryOptions extends RetryPolicy {
  /**
   * Stops the retries (e.g. on shutdown): an aborted signal ends a wait at once and starts no further attempt.
   * An attempt already running is not interrupted; its result still counts.
   */
  readonly signal?: AbortSignal;
  /** Which failures are worth another attempt; default: errors marked `retriable` (`RiskEngineError`). */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Runs before each wait (log, count, pause the input). An error it throws ends the retries and propagates as it is. */
  readonly onRetry?: (failure: RetryFailure) => void | Promise<void>;
  /** Runs after each wait, before the next attempt (e.g. a group heartbeat). An error it throws propagates as it is. */
  readonly afterWait?: () => Promise<void>;
  /** For tests: the random source of the jitter and the clock of `maxTimeMs`. */
  readonly random?: () => number;
  readonly now?: () => number;
}

/** Why the retries ended without a success. */
export type RetryStopReason = 'not-retriable' | 'max-attempts' | 'max-time' | 'aborted';

export type RetryOutcome<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: unknown; readonly attempts: number; readonly reason: RetryStopReason };

/**
 * Runs `step` until it succeeds or the policy says stop, and says which.
 * Errors thrown by the hooks (`onRetry`, `afterWait`) are not the step's and
 * propagate unchanged: a Kafka heartbeat reporting a rebalance must reach kafkajs.
 */
export async function retryWithOutcome<T>(step: (attempt: number) => Promise<T>, options: RetryOptions): Promise<RetryOutcome<T>> {
  const now = options.now ?? Date.now;
  const shouldRetry = options.shouldRetry ?? isRetriable;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    try {
      return { ok: true, value: await step(attempt), attempts: attempt };
    } catch (failure) {
      error = failure;
    }
    const stop = (reason: RetryStopReason): RetryOutcome<T> => ({ ok: false, error, attempts: attempt, reason });
    if (options.signal?.aborted === true) return stop('aborted');
    if (!shouldRetry(error, attempt)) return stop('not-retriable');
    if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) return stop('max-attempts');
    let delayMs = backoffDelay(attempt, options, options.random);
    if (options.maxTimeMs !== undefined) {
      const left = options.maxTimeMs - (now() - started);
      if (left <= 0) return stop('max-time');
      delayMs = Math.min(delayMs, left);
    }
    await options.onRetry?.({ error, attempt, delayMs });
    if (!(await sleep(delayMs, options.signal))) return stop('aborted');
    await options.afterWait?.();
  }
}

/** Like {@link retryWithOutcome}, but resolves with the value or rejects with the last error. */
export async function retry<T>(step: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const outcome = await retryWithOutcome(step, options);
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

/** Waits `ms`; resolves false at once when `signal` is (or becomes) aborted, true after the full wait. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
