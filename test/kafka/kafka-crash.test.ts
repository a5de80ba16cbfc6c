import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { Alert, Verdict } from '@risk/domain';
import type { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { TestKafkaCluster } from '../support/kafka-broker';
import {
  allCommitted,
  conflictingVerdicts,
  interleave,
  isAlertDue,
  loginStorm,
  produceEvents,
  readTopic,
  testClient,
  waitFor,
} from './kafka-test-kit';

const PREFIX = 'crash';

/** One engine instance as a child process (see crash-worker.ts), with a way to wait for its group assignment. */
function startWorker(brokers: readonly string[], verdictFile: string, journal: string): { child: ChildProcess; joined: Promise<number[]> } {
  const child = spawn(process.execPath, [join(__dirname, 'crash-worker.js'), brokers.join(','), PREFIX, verdictFile, journal, '40'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  const joined = new Promise<number[]>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${String(code ?? signal)}) before joining`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { joined?: number[] };
      if (message.joined !== undefined && message.joined.length > 0) resolve(message.joined);
    });
  });
  joined.catch(() => undefined);
  return { child, joined };
}

function readVerdicts(files: readonly string[]): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        verdicts.push(JSON.parse(line) as Verdict);
      } catch {
        // the last line of a killed instance may be torn; its chunk was never committed
      }
    }
  }
  return verdicts;
}

describe('Kafka consumer crash (kill -9) and restart, on a real broker', () => {
  let cluster: TestKafkaCluster;
  let client: KafkaClient;
  let dir: string;
  const children: ChildProcess[] = [];

  before(async () => {
    cluster = await TestKafkaCluster.start({ topics: [`${PREFIX}-events`, `${PREFIX}-alerts`, `${PREFIX}-dlq`], partitions: 3 });
    client = testClient(cluster.brokers, 'crash-test');
    dir = mkdtempSync(join(tmpdir(), 'risk-kafka-crash-'));
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await client?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives every accepted event exactly one verdict and its alerts after a kill -9 mid-stream', async () => {
    // Slow verdict writes (40 ms per chunk of 10) so that the kill lands mid-stream on a broker that serves at once.
    const events = interleave(loginStorm('k', 60, 10));
    await produceEvents(client, `${PREFIX}-events`, events);
    const journal = join(dir, 'state.journal');
    const files = [join(dir, 'verdicts-a.ndjson'), join(dir, 'verdicts-b.ndjson')];

    const a = startWorker(cluster.brokers, files[0], journal);
    children.push(a.child);
    assert.deepEqual(await a.joined, [0, 1, 2]);
    await waitFor('instance A under way', () => readVerdicts([files[0]]).length >= 60);
    const aExited = new Promise((resolve) => a.child.once('exit', resolve));
    a.child.kill('SIGKILL');
    await aExited;
    const decidedByA = new Set(readVerdicts([files[0]]).map((v) => v.event_id));
    assert.ok(decidedByA.size < events.length, 'A was killed mid-stream');

    const b = startWorker(cluster.brokers, files[1], journal);
    children.push(b.child);
    assert.deepEqual(await b.joined, [0, 1, 2]);
    await waitFor('every event decided', () => new Set(readVerdicts(files).map((v) => v.event_id)).size === events.length, 60_000);
    await waitFor('B committed up to the end', () => allCommitted(client, `${PREFIX}-engine`, `${PREFIX}-events`));
    const bExited = new Promise<number | null>((resolve) => b.child.once('exit', (code) => resolve(code)));
    b.child.kill('SIGTERM');
    assert.equal(await bExited, 0, 'graceful stop exits cleanly');

    const verdicts = readVerdicts(files);
    // Rewrites of a redelivered chunk are upserts of the same verdict; a second, different decision would be a bug.
    assert.deepEqual(conflictingVerdicts(verdicts), []);
    const byId = new Map(verdicts.map((v) => [v.event_id, v]));
    assert.deepEqual([...byId.keys()].sort(), events.map((e) => e.event_id).sort());
    assert.ok(
      [...byId.keys()].filter((id) => !decidedByA.has(id)).every((id) => readVerdicts([files[1]]).some((v) => v.event_id === id)),
      'B decided everything A had not',
    );

    const due = [...byId.values()].filter(isAlertDue);
    assert.equal(due.length, 60 * 5 + 20, 'login-burst on logins 6..10 of each user, device-and-city change for every third');
    // At-least-once: count every record on the topic, duplicates included, before checking coverage.
    const produced = [...(await client.highWatermarks(`${PREFIX}-alerts`)).values()].reduce((sum, high) => sum + Number(high), 0);
    assert.ok(produced >= due.length);
    const alertRecords = await readTopic(client, `${PREFIX}-alerts`, produced);
    const alerted = new Set(alertRecords.map((r) => (JSON.parse(r.value.toString('utf8')) as Alert).alert_id));
    const missing = due.filter((v) => !alerted.has(v.event_id)).map((v) => v.event_id);
    assert.deepEqual(missing, []);
  });
});
