import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryFeatureStore, STATE_BYTES, type FeatureDefinition, type StateInput, type Verdict } from '@risk/domain';
import { openSqlite } from '@risk/infra/sqlite/sqlite.database';
import { SqliteVerdictStore } from '@risk/infra/sqlite/sqlite-verdict.store';
import { fmt, line, summarize } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

/** A login from a new user on a new IP and device: three new entities and one event_id. */
function newKeysEvent(i: number, eventTimeMs: number): Record<string, unknown> {
  return {
    event_id: `soak-${i}`,
    user_id: `user-${i}`,
    event_type: i % 5 === 0 ? 'payment' : 'login',
    event_time: new Date(eventTimeMs).toISOString(),
    ip_address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    device_id: `device-${i}`,
    location_city: 'Paris',
    ...(i % 5 === 0 ? { amount: 12.5 } : {}),
  };
}

/** A full GC, without requiring `node --expose-gc` on the bench command line. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Heap held per entity of the in-memory state: heap after a full GC, before
 * and after `n` events that each bring a new user, IP and device, divided by
 * the entities created; next to the estimate MEMORY_BUDGET counts with.
 */
export function benchBytesPerEntity(features: readonly FeatureDefinition[], n = 100_000, stepMs = 100): void {
  const gc = collector();
  const inputs: StateInput[] = [];
  const t0 = Date.UTC(2026, 10, 20);
  for (let i = 0; i < n; i++) {
    const raw = newKeysEvent(i, t0 + i * stepMs) as Record<string, string | number | undefined>;
    const event = { ...raw, event_time: t0 + i * stepMs, amount: raw.amount } as unknown as StateInput['event'];
    inputs.push({ event, messageId: undefined });
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = new MemoryFeatureStore(features, ENGINE_DEFAULTS.state);
  for (let i = 0; i < n; i += 1000) store.applySync('bench', inputs.slice(i, i + 1000));
  gc();
  const held = process.memoryUsage().heapUsed - before;
  const size = store.stateSize;
  const estimate = size.estimatedBytes;
  process.stdout.write(`\nin-memory state footprint: ${fmt(n)} events, each with a new user, IP and device\n`);
  line(
    'entities / series / entries / event_ids',
    `${fmt(size.entities)} / ${fmt(size.series)} / ${fmt(size.entries)} / ${fmt(size.dedup)}`,
  );
  line('heap held (after full GC)', `${fmt(held / 1024 / 1024, 1)} MB`);
  line(
    'bytes per active entity (measured)',
    `${fmt((held - size.dedup * STATE_BYTES.eventId) / size.entities)} (event_ids at their estimate)`,
  );
  line('bytes per entity incl. its event share', `${fmt(held / size.entities)} measured   ${fmt(estimate / size.entities)} estimated`);
  line('measured / MEMORY_BUDGET estimate', `${fmt(held / estimate, 2)}`);
  void store.close();
}

interface SoakSample {
  seconds: number;
  events: number;
  rssMb: number;
  heapMb: number;
  stateMb: number;
  evicted: number;
}

/**
 * The embedded engine in its own process (SQLite under a temporary
 * DATA_DIR, `--max-old-space-size=SOAK_HEAP_MB`, default budget), fed over
 * HTTP at a steady rate with an ever-growing key space: every event brings a
 * new user, IP and device, event time advancing 10 s per event. Prints RSS,
 * heap, estimated state and evictions over time; they should plateau.
 * SOAK_SECONDS (default 180), SOAK_RATE events/s (default 2000), SOAK_HEAP_MB (default 256).
 */
export async function benchSoak(): Promise<void> {
  const seconds = Number(process.env.SOAK_SECONDS ?? 180);
  const rate = Number(process.env.SOAK_RATE ?? 2000);
  const heapMb = Number(process.env.SOAK_HEAP_MB ?? 256);
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-soak-'));
  const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, join(__dirname, '..', '..', 'engine', 'src', 'main.js')], {
    env: { ...process.env, PORT: '0', DATA_DIR: dataDir, RULES_DIR: join(process.cwd(), 'rules'), LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /risk-engine ready: (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code) => reject(new Error(`engine exited with ${code}: ${output.slice(-2000)}`)));
  });
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) process.stdout.write(`\nsoak: the engine exited (${code ?? signal}): ${output.slice(-1500)}\n`);
  });
  process.stdout.write(
    `\nsoak: embedded engine, --max-old-space-size=${heapMb}, MEMORY_BUDGET default (50% of the heap limit), ` +
      `${fmt(rate)} events/s for ${seconds} s, every event a new user, IP and device\n`,
  );
  process.stdout.write('     s     events   RSS MB   heap MB   state MB   evicted\n');
  const samples: SoakSample[] = [];
  const batch = Math.max(1, Math.round(rate / 4));
  // Event time in the past (MAX_EVENT_TIME_SKEW), 10 s apart: windows expire and 30-day latest values pile up.
  const startTime = Date.now() - 60 * 86_400_000;
  const started = performance.now();
  let sent = 0;
  let refused = 0;
  let nextSample = 0;
  try {
    while (performance.now() - started < seconds * 1000) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      if (sent < due) {
        const lines: string[] = [];
        for (let i = sent; i < sent + batch; i++) lines.push(JSON.stringify(newKeysEvent(i, startTime + i * 10_000)));
        const response = await fetch(`${url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: lines.join('\n'),
        });
        await response.arrayBuffer();
        if (response.status === 503) refused += batch;
        else if (response.status !== 200) throw new Error(`POST /events answered ${response.status}`);
        else sent += batch;
      } else await new Promise((resolve) => setTimeout(resolve, 20));
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= nextSample) {
        const sample = await sampleMetrics(url, elapsed, sent);
        samples.push(sample);
        process.stdout.write(
          `${fmt(sample.seconds).padStart(6)} ${fmt(sample.events).padStart(10)} ${fmt(sample.rssMb).padStart(8)} ` +
            `${fmt(sample.heapMb).padStart(9)} ${fmt(sample.stateMb, 1).padStart(10)} ${fmt(sample.evicted).padStart(9)}\n`,
        );
        nextSample += Math.max(5, seconds / 18);
      }
    }
    const last = samples.slice(-Math.max(1, Math.floor(samples.length / 3)));
    const middle = samples.slice(Math.floor(samples.length / 3), Math.floor((2 * samples.length) / 3));
    const peak = (list: SoakSample[], key: 'rssMb' | 'heapMb'): number => Math.max(...list.map((s) => s[key]));
    line('events sent / refused (503)', `${fmt(sent)} / ${fmt(refused)}`);
    if (middle.length > 0) {
      line('peak RSS: middle third → last third', `${fmt(peak(middle, 'rssMb'))} → ${fmt(peak(last, 'rssMb'))} MB`);
      line('peak heap: middle third → last third', `${fmt(peak(middle, 'heapMb'))} → ${fmt(peak(last, 'heapMb'))} MB`);
    }
  } finally {
    stopping = true;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function sampleMetrics(url: string, seconds: number, events: number): Promise<SoakSample> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name) && !l.startsWith('#'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const mb = 1024 * 1024;
  return {
    seconds,
    events,
    rssMb: value('risk_engine_process_resident_memory_bytes') / mb,
    heapMb: value('risk_engine_nodejs_heap_size_used_bytes') / mb,
    stateMb: value('risk_engine_state_estimated_bytes') / mb,
    evicted: value('risk_engine_state_evictions_total'),
  };
}

/** The embedded verdict store: verdicts (with profiles) written in batches of 1,000, one transaction each. */
export async function benchSqliteSink(verdicts: readonly Verdict[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-sqlite-bench-'));
  const db = openSqlite(dataDir);
  try {
    const store = new SqliteVerdictStore(db, 5_000_000);
    const samples: number[] = [];
    const started = performance.now();
    for (let i = 0; i < verdicts.length; i += 1000) {
      const t0 = performance.now();
      await store.write(verdicts.slice(i, i + 1000));
      samples.push(performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    const { p50, p99 } = summarize(samples);
    const bytes = statSync(join(dataDir, 'engine.sqlite')).size + statSync(join(dataDir, 'engine.sqlite-wal')).size;
    process.stdout.write(`\nSQLite verdict store (embedded default): ${fmt(verdicts.length)} verdicts + profiles, batches of 1,000\n`);
    line('throughput', `${fmt(verdicts.length / seconds)} verdicts/s   batch p50 ${fmt(p50, 1)} ms   p99 ${fmt(p99, 1)} ms`);
    line('disk per verdict (db + WAL)', `${fmt(bytes / verdicts.length)} bytes`);
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
