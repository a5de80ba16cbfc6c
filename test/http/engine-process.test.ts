import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { ENGINE_MAIN, spawnEngine, type SpawnedEngine } from '@test/support/engine-process';

const started: ChildProcessWithoutNullStreams[] = [];

function startProcess(env: Record<string, string>): SpawnedEngine {
  const engine = spawnEngine(env);
  started.push(engine.child);
  return engine;
}

describe('the service process', () => {
  // A failed assertion must not leave the engine running: its open pipes would keep the test file alive.
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('prints its URL, serves, and drains then stops on SIGTERM', async () => {
    const { child, url, output } = startProcess({ LOG_LEVEL: 'info' });
    const base = await url;
    const response = await fetch(`${base}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_id: 'p-1', user_id: 'u', event_type: 'login', event_time: 1795168800000 }),
    });
    assert.equal(response.status, 200);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.kill('SIGTERM');
    // A shutdown that completed within SHUTDOWN_TIMEOUT exits 0 (also as a container's PID 1,
    // where a re-raised SIGTERM would be ignored).
    assert.deepEqual(await exited, { code: 0, signal: null });
    const log = output();
    const phases = ['stopping intake', 'draining in-flight batches', 'flushing sinks', 'stopped', 'shutdown complete'].map((phase) =>
      log.indexOf(phase),
    );
    assert.ok(
      phases.every((i) => i >= 0),
      log,
    );
    assert.deepEqual(
      [...phases].sort((a, b) => a - b),
      phases,
      'shutdown phases run in order',
    );
    for (const line of log.split('\n').filter((l) => l.startsWith('{'))) JSON.parse(line); // structured logs: every line is JSON
  });

  it('cuts a shutdown that hangs at SHUTDOWN_TIMEOUT: logged, exit code 1', async () => {
    // An upload that never finishes keeps its connection active, so closing the HTTP server
    // waits for it forever: the shutdown hangs until SHUTDOWN_TIMEOUT cuts it.
    const { child, url, output } = startProcess({ LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '1s' });
    const { hostname, port } = new URL(await url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write('POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n{"event_id"');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server has the request in hand
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const signalled = performance.now();
    child.kill('SIGTERM');
    const result = await exited;
    const elapsed = performance.now() - signalled;
    socket.destroy();
    assert.deepEqual(result, { code: 1, signal: null }, output());
    assert.ok(elapsed >= 900 && elapsed < 10_000, `exited ${Math.round(elapsed)} ms after SIGTERM, SHUTDOWN_TIMEOUT 1s`);
    assert.match(output(), /shutdown exceeded SHUTDOWN_TIMEOUT/);
    assert.doesNotMatch(output(), /"msg":"stopped"/, 'the hung phase never completed');
  });

  it('refuses an invalid configuration with every problem listed, exit code 2', async () => {
    const child = spawn(process.execPath, [ENGINE_MAIN], {
      env: { ...process.env, PORT: 'eighty', ALERT_THRESHOLD: 'SEVERE', KAFKA_BROKERS: 'nohost' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /PORT: expected an integer/);
    assert.match(stderr, /ALERT_THRESHOLD: expected LOW, MEDIUM or HIGH/);
    assert.match(stderr, /KAFKA_BROKERS: "nohost" is not host:port/);
  });
});
