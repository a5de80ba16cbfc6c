import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

/** The compiled service entry point, as `npm start` runs it. */
const main = join(__dirname, '..', '..', 'apps', 'engine', 'src', 'main.js');

function startProcess(env: Record<string, string>): { child: ChildProcessWithoutNullStreams; url: Promise<string>; output: () => string } {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, PORT: '0', DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-proc-')), ...env },
  });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /risk-engine ready: (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

describe('the service process', () => {
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
    // Nest runs the shutdown hooks, then re-raises the signal: status 143, as orchestrators expect.
    assert.deepEqual(await exited, { code: null, signal: 'SIGTERM' });
    const log = output();
    const phases = ['stopping intake', 'draining in-flight batches', 'flushing sinks', 'stopped'].map((phase) => log.indexOf(phase));
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

  it('refuses an invalid configuration with every problem listed, exit code 2', async () => {
    const child = spawn(process.execPath, [main], {
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
