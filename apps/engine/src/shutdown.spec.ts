import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { SHUTDOWN_FAILED, SHUTDOWN_OK, shutdownHandler } from './shutdown';

function harness(close: () => Promise<void>, timeoutMs: number) {
  const lines: string[] = [];
  const exits: number[] = [];
  const handler = shutdownHandler(close, {
    timeoutMs,
    log: new JsonLogger('debug', 'lifecycle', (line) => lines.push(line)),
    exit: (code) => exits.push(code),
  });
  const messages = (): string[] => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  return { handler, exits, messages };
}

describe('shutdownHandler (SHUTDOWN_TIMEOUT)', () => {
  it('exits 0 once the phases complete within the timeout', async () => {
    const { handler, exits, messages } = harness(() => new Promise((resolve) => setTimeout(resolve, 20)), 5_000);
    assert.equal(await handler('SIGTERM'), SHUTDOWN_OK);
    assert.deepEqual(exits, [0]);
    assert.deepEqual(messages(), ['shutdown requested', 'shutdown complete']);
  });

  it('cuts a shutdown that hangs at the timeout: logs it and exits non-zero', async () => {
    const { handler, exits, messages } = harness(() => new Promise<void>(() => undefined), 150);
    const started = performance.now();
    assert.equal(await handler('SIGTERM'), SHUTDOWN_FAILED);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 2_000, `cut after ${elapsed} ms, timeout 150 ms`);
    assert.deepEqual(exits, [1]);
    assert.deepEqual(messages(), ['shutdown requested', 'shutdown exceeded SHUTDOWN_TIMEOUT: exiting before the phases completed']);
  });

  it('does not report success when the phases finish after the timeout', async () => {
    let finish = (): void => undefined;
    const { handler, exits, messages } = harness(() => new Promise<void>((resolve) => (finish = resolve)), 50);
    assert.equal(await handler('SIGTERM'), SHUTDOWN_FAILED);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exits, [1]);
    assert.equal(messages().includes('shutdown complete'), false);
  });

  it('exits non-zero when a phase fails', async () => {
    const { handler, exits, messages } = harness(() => Promise.reject(new Error('flush refused')), 5_000);
    assert.equal(await handler('SIGINT'), SHUTDOWN_FAILED);
    assert.deepEqual(exits, [1]);
    assert.deepEqual(messages(), ['shutdown requested', 'shutdown failed']);
  });

  it('runs the phases once when a second signal arrives during the shutdown', async () => {
    let calls = 0;
    const { handler, exits, messages } = harness(async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }, 5_000);
    const [first, second] = await Promise.all([handler('SIGTERM'), handler('SIGINT')]);
    assert.deepEqual([first, second, calls], [SHUTDOWN_OK, SHUTDOWN_OK, 1]);
    assert.deepEqual(exits, [0]);
    assert.deepEqual(messages(), ['shutdown requested', 'shutdown already in progress: signal ignored', 'shutdown complete']);
  });
});
