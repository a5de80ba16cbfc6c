import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DependencyUnavailableError, RiskEngineError } from '@risk/domain';
import { backoffDelay, retry, retryWithOutcome, sleep, type RetryFailure } from './retry';

const unavailable = () => new DependencyUnavailableError('redis', 'down');
const refused = () => new RiskEngineError('REDIS_ERROR', 'refused', false);
/** The jitter takes `jitter * random()` off: 0 keeps the full wait. */
const noJitter = () => 0;

/** A step failing with `errors` in turn, then answering `value`. */
function failing<T>(errors: Error[], value: T): { step: (attempt: number) => Promise<T>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    step: (attempt) => {
      calls.push(attempt);
      const error = errors.shift();
      return error === undefined ? Promise.resolve(value) : Promise.reject(error);
    },
  };
}

describe('backoffDelay', () => {
  it('doubles from initialMs and stops at maxMs', () => {
    const policy = { initialMs: 100, maxMs: 1_000, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 60].map((n) => backoffDelay(n, policy)),
      [100, 200, 400, 800, 1_000, 1_000],
    );
  });

  it('takes at most the jitter share off, never adds to the wait', () => {
    const policy = { initialMs: 1_000, maxMs: 1_000, jitter: 0.5 };
    assert.equal(
      backoffDelay(1, policy, () => 0),
      1_000,
    );
    assert.equal(
      backoffDelay(1, policy, () => 0.5),
      750,
    );
    assert.equal(
      backoffDelay(1, { initialMs: 1_000, maxMs: 1_000 }, () => 1),
      800,
      'default jitter 0.2',
    );
  });

  it('uses the multiplier and stays finite however many retries', () => {
    assert.equal(backoffDelay(3, { initialMs: 10, maxMs: 10_000, multiplier: 3, jitter: 0 }), 90);
    assert.equal(backoffDelay(10_000, { initialMs: 1, maxMs: 5, jitter: 0 }), 5);
  });
});

describe('retryWithOutcome', () => {
  it('retries retriable errors with growing waits until the step succeeds', async () => {
    const { step, calls } = failing([unavailable(), unavailable()], 'done');
    const waits: RetryFailure[] = [];
    const outcome = await retryWithOutcome(step, { initialMs: 1, maxMs: 100, random: noJitter, onRetry: (f) => void waits.push(f) });
    assert.deepEqual(outcome, { ok: true, value: 'done', attempts: 3 });
    assert.deepEqual(calls, [1, 2, 3]);
    assert.deepEqual(
      waits.map((w) => [w.attempt, w.delayMs, (w.error as RiskEngineError).code]),
      [
        [1, 1, 'REDIS_UNAVAILABLE'],
        [2, 2, 'REDIS_UNAVAILABLE'],
      ],
    );
  });

  it('stops at the first error not marked retriable (plain errors included)', async () => {
    for (const error of [refused(), new Error('plain')]) {
      const { step, calls } = failing([error], 'never');
      const outcome = await retryWithOutcome(step, { initialMs: 1, maxMs: 1, onRetry: () => assert.fail('no retry expected') });
      assert.deepEqual(outcome, { ok: false, error, attempts: 1, reason: 'not-retriable' });
      assert.deepEqual(calls, [1]);
    }
  });

  it('asks shouldRetry instead when given', async () => {
    const { step } = failing([refused(), refused()], 7);
    const seen: number[] = [];
    const outcome = await retryWithOutcome(step, {
      initialMs: 1,
      maxMs: 1,
      shouldRetry: (_error, attempt) => {
        seen.push(attempt);
        return true;
      },
    });
    assert.deepEqual(outcome, { ok: true, value: 7, attempts: 3 });
    assert.deepEqual(seen, [1, 2]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const last = unavailable();
    const { step, calls } = failing([unavailable(), unavailable(), last, unavailable()], 'never');
    const outcome = await retryWithOutcome(step, { initialMs: 1, maxMs: 1, maxAttempts: 3 });
    assert.deepEqual(outcome, { ok: false, error: last, attempts: 3, reason: 'max-attempts' });
    assert.deepEqual(calls, [1, 2, 3]);
  });

  it('gives up once maxTimeMs has passed, shortening the last wait to fit', async () => {
    let clock = 0;
    const { step } = failing([unavailable(), unavailable(), unavailable()], 'never');
    const waits: number[] = [];
    const outcome = await retryWithOutcome(
      (attempt) => {
        clock += 40; // each attempt takes 40 ms of the fake clock; the waits take none
        return step(attempt);
      },
      { initialMs: 30, maxMs: 30, maxTimeMs: 100, random: noJitter, now: () => clock, onRetry: (f) => void waits.push(f.delayMs) },
    );
    // attempt 1 ends at 40: wait 30; attempt 2 ends at 80, 20 left: wait 20; attempt 3 ends at 120, past the budget.
    assert.deepEqual(waits, [30, 20]);
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.reason, 'max-time');
    assert.equal(outcome.attempts, 3);

    clock = 0;
    const shortened: number[] = [];
    await retryWithOutcome(() => Promise.reject(unavailable()), {
      initialMs: 5_000,
      maxMs: 5_000,
      maxTimeMs: 10,
      random: noJitter,
      now: () => clock,
      onRetry: (f) => {
        shortened.push(f.delayMs);
        clock += 10;
      },
    });
    assert.deepEqual(shortened, [10]);
  });

  it('ends a wait at once when the signal aborts, and starts no attempt after it', { timeout: 10_000 }, async () => {
    const controller = new AbortController();
    const { step, calls } = failing([unavailable(), unavailable()], 'never');
    const outcome = await retryWithOutcome(step, {
      initialMs: 3_600_000,
      maxMs: 3_600_000,
      signal: controller.signal,
      onRetry: () => controller.abort(),
    });
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.reason, 'aborted');
    assert.deepEqual(calls, [1]);
  });

  it('lets an attempt already running finish: its success counts after an abort', async () => {
    const controller = new AbortController();
    const outcome = await retryWithOutcome(
      () => {
        controller.abort();
        return Promise.resolve('kept');
      },
      { initialMs: 1, maxMs: 1, signal: controller.signal },
    );
    assert.deepEqual(outcome, { ok: true, value: 'kept', attempts: 1 });
  });

  it('lets errors of its hooks propagate as they are', async () => {
    const rebalance = new Error('rebalancing');
    await assert.rejects(
      retryWithOutcome(() => Promise.reject(unavailable()), {
        initialMs: 1,
        maxMs: 1,
        afterWait: () => Promise.reject(rebalance),
      }),
      (error) => error === rebalance,
    );
    const hookError = new Error('logger broke');
    await assert.rejects(
      retryWithOutcome(() => Promise.reject(unavailable()), {
        initialMs: 1,
        maxMs: 1,
        onRetry: () => {
          throw hookError;
        },
      }),
      (error) => error === hookError,
    );
  });
});

describe('retry', () => {
  it('resolves with the value or rejects with the last error', async () => {
    assert.equal(await retry(failing([unavailable()], 42).step, { initialMs: 1, maxMs: 1 }), 42);
    const last = refused();
    await assert.rejects(retry(failing([unavailable(), last], 0).step, { initialMs: 1, maxMs: 1 }), (error) => error === last);
  });
});

describe('sleep', () => {
  it('answers true after the wait, false at once when aborted', { timeout: 10_000 }, async () => {
    assert.equal(await sleep(1), true);
    assert.equal(await sleep(3_600_000, AbortSignal.abort()), false);
    const controller = new AbortController();
    const waiting = sleep(3_600_000, controller.signal);
    controller.abort();
    assert.equal(await waiting, false);
  });
});
