import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CoalescedRun } from './coalesced-run';

describe('CoalescedRun', () => {
  it('coalesces triggers arriving during a run into exactly one more run', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const run = new CoalescedRun(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    const first = run.trigger();
    const second = run.trigger();
    const third = run.trigger();
    release();
    await Promise.all([first, second, third]);
    assert.equal(runs, 2);
    await run.trigger();
    assert.equal(runs, 3);
  });

  it('repeats when the task asks to, and never rejects', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const run: CoalescedRun = new CoalescedRun(
      () => {
        runs++;
        if (runs === 1) run.repeat();
        if (runs === 2) return Promise.reject(new Error('store down'));
        return Promise.resolve();
      },
      (error) => errors.push(error),
    );
    await run.trigger();
    assert.equal(runs, 2);
    assert.equal((errors[0] as Error).message, 'store down');
    await run.trigger();
    assert.equal(runs, 3);
  });
});
