import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

/**
 * Replay end to end through the real CLI (`bin/risk-engine.js`), checked
 * against a brute-force computation of SPEC §2–§3 written here, independent
 * of the engine's code: no trimming, no indexes, every window recomputed by
 * scanning all earlier accepted events.
 */
// The CLI compiled alongside this test (bin/risk-engine.js loads the same file from dist/).
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'risk-replay-'));
const LATENESS = 10 * 60_000;
const MIN = 60_000;
const HOUR = 60 * MIN;

function run(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Ev {
  id: string;
  user: string;
  type: string;
  t: number;
  ip?: string;
  device?: string;
  city?: string;
  amount?: number;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function bruteForce(accepted: Ev[], e: Ev): Record<string, number | boolean> {
  const inWindow = (x: Ev, w: number): boolean => x.t > e.t - w && x.t <= e.t;
  const mine = accepted.filter((x) => x.user === e.user);
  const distinct = (xs: Ev[], pick: (x: Ev) => string | undefined): number => new Set(xs.map(pick).filter((v) => v !== undefined)).size;
  const latestKnown = (pick: (x: Ev) => string | undefined): string | undefined => {
    let best: Ev | undefined;
    for (const x of mine.slice(0, -1)) if (pick(x) !== undefined && (best === undefined || x.t >= best.t)) best = x;
    return best === undefined ? undefined : pick(best);
  };
  const changed = (pick: (x: Ev) => string | undefined): boolean => {
    const value = pick(e);
    const known = latestKnown(pick);
    return value !== undefined && known !== undefined && value !== known;
  };
  const hour = mine.filter((x) => inWindow(x, HOUR));
  return {
    distinct_devices_1h: distinct(hour, (x) => x.device),
    distinct_cities_1h: distinct(hour, (x) => x.city),
    login_count_1h: hour.filter((x) => x.type === 'login').length,
    failed_login_count_1h: hour.filter((x) => x.type === 'login_failed').length,
    payment_amount_24h: mine
      .filter((x) => x.type === 'payment' && inWindow(x, 24 * HOUR))
      .sort((a, b) => a.t - b.t)
      .reduce((sum, x) => sum + (x.amount ?? 0), 0),
    ip_registrations_10m:
      e.ip === undefined ? 0 : accepted.filter((x) => x.ip === e.ip && x.type === 'register' && inWindow(x, 10 * MIN)).length,
    device_distinct_users_24h:
      e.device === undefined ? 0 : new Set(accepted.filter((x) => x.device === e.device && inWindow(x, 24 * HOUR)).map((x) => x.user)).size,
    device_changed: changed((x) => x.device),
    city_changed: changed((x) => x.city),
  };
}

describe('replay command (SPEC §7)', () => {
  const input = join(dir, 'events.ndjson');
  let lines: string[];

  before(() => {
    const generated = run(['generate', '--events', '20000', '--seed', '7']);
    assert.equal(generated.status, 0, generated.stderr);
    writeFileSync(input, generated.stdout);
    lines = generated.stdout.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, 20_000);
  });

  it('gives the verdicts a brute-force reading of the SPEC gives, in input order', () => {
    const output = join(dir, 'verdicts.ndjson');
    const rejects = join(dir, 'rejects.ndjson');
    const result = run(['replay', '--input', input, '--output', output, '--rejects', rejects]);
    assert.equal(result.status, 0, result.stderr);
    const verdicts = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rejected = new Map(
      readFileSync(rejects, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((r) => [r.line as number, r]),
    );

    const accepted: Ev[] = [];
    const seen = new Set<string>();
    let maxTime = -Infinity;
    let verdictIndex = 0;
    let duplicates = 0;
    let late = 0;
    let compared = 0;
    lines.forEach((line, index) => {
      const lineNumber = index + 1;
      let raw: any;
      try {
        raw = JSON.parse(line);
      } catch {
        assert.ok(rejected.has(lineNumber), `unparseable line ${lineNumber} must be rejected`);
        return;
      }
      const t = typeof raw?.event_time === 'number' ? raw.event_time : /Z$/.test(raw?.event_time ?? '') ? Date.parse(raw.event_time) : NaN;
      const valid =
        raw !== null &&
        typeof raw === 'object' &&
        !Array.isArray(raw) &&
        typeof raw.event_id === 'string' &&
        typeof raw.user_id === 'string' &&
        typeof raw.event_type === 'string' &&
        Number.isFinite(t) &&
        (nonEmpty(raw.ip_address) === undefined || isIP(raw.ip_address) !== 0) &&
        (raw.amount === undefined || (typeof raw.amount === 'number' && raw.amount >= 0));
      assert.equal(rejected.has(lineNumber), !valid, `line ${lineNumber}: ${line}`);
      if (!valid) {
        assert.ok(rejected.get(lineNumber).errors.length > 0, 'a reject carries its reason');
        assert.equal(rejected.get(lineNumber).raw, line, 'a reject keeps the original line');
        return;
      }
      if (seen.has(raw.event_id)) {
        duplicates++;
        return;
      }
      seen.add(raw.event_id);
      const e: Ev = {
        id: raw.event_id,
        user: raw.user_id,
        type: raw.event_type,
        t,
        ip: nonEmpty(raw.ip_address),
        device: nonEmpty(raw.device_id),
        city: nonEmpty(raw.location_city),
        amount: raw.amount,
      };
      const isLate = t < maxTime - LATENESS;
      maxTime = Math.max(maxTime, t);
      accepted.push(e);
      const verdict = verdicts[verdictIndex++];
      assert.equal(verdict.event_id, e.id, 'one verdict per accepted event, in input order');
      assert.equal(verdict.late, isLate, `late flag of ${e.id}`);
      assert.equal(verdict.event_time, new Date(t).toISOString());
      if (isLate) {
        late++;
        return; // SPEC §2: a late event's window features may be incomplete.
      }
      assert.deepEqual(verdict.features, bruteForce(accepted, e), `features of ${e.id} (line ${lineNumber})`);
      compared++;
    });
    assert.equal(verdictIndex, verdicts.length, 'no extra verdicts');
    assert.ok(
      compared > 15_000 && duplicates > 50 && late > 10 && rejected.size > 5,
      `coverage: ${compared} compared, ${duplicates} dup, ${late} late, ${rejected.size} rejected`,
    );
    assert.match(
      result.stderr,
      new RegExp(`accepted ${verdicts.length} \\(of which late ${late}\\), duplicates ${duplicates}, rejected ${rejected.size}`),
    );
    const fired = new Set(verdicts.flatMap((v) => v.rules.map((r: { id: string }) => r.id)));
    assert.deepEqual(
      [...fired].sort(),
      ['device-and-city-change', 'ip-registration-farm', 'login-burst'],
      'the generated attacks trip every default rule',
    );
  });

  it('generate --format kcat keys each line by its user_id for kcat -K, the same events in the same order', () => {
    const keyed = run(['generate', '--events', '20000', '--seed', '7', '--format', 'kcat']);
    assert.equal(keyed.status, 0, keyed.stderr);
    const keyedLines = keyed.stdout.split('\n').filter((l) => l.length > 0);
    assert.equal(keyedLines.length, lines.length);
    let malformed = 0;
    keyedLines.forEach((keyedLine, i) => {
      const bar = keyedLine.indexOf('|');
      const [key, value] = [keyedLine.slice(0, bar), keyedLine.slice(bar + 1)];
      assert.equal(value, lines[i]);
      let userId: unknown;
      try {
        userId = (JSON.parse(value) as { user_id?: unknown }).user_id;
      } catch {
        malformed++;
      }
      assert.equal(key, typeof userId === 'string' ? userId : '', `line ${i + 1}`);
    });
    assert.ok(malformed > 0, 'the stream keeps its malformed lines, with an empty key');
    assert.equal(run(['generate', '--events', '10', '--format', 'csv']).status, 2);
  });

  it('is deterministic: two replays give byte-identical verdicts apart from decided_at', () => {
    const a = run(['replay', '--input', input, '--output', '-']);
    const b = run(['replay', '--input', '-', '--output', '-'], readFileSync(input, 'utf8'));
    assert.equal(a.status, 0);
    assert.equal(b.status, 0);
    const strip = (text: string): string => text.replace(/"decided_at":"[^"]*"/g, '');
    assert.ok(a.stdout.length > 1_000_000);
    assert.equal(strip(a.stdout), strip(b.stdout));
  });

  it('exits 2 for unusable arguments or unreadable input, 0 for bad events', () => {
    assert.equal(run(['replay', '--output', '-']).status, 2);
    assert.equal(run(['replay', '--input', join(dir, 'missing.ndjson'), '--output', '-']).status, 2);
    assert.equal(run(['replay', '--input', input, '--output', '-', '--allowed-lateness', 'soon']).status, 2);
    assert.equal(run(['replay', '--input', input, '--output', '-', '--rules', join(dir, 'no-rules')]).status, 2);
    const garbage = run(['replay', '--input', '-', '--output', '-'], 'not json\n{"event_id":1}\n');
    assert.equal(garbage.status, 0);
    assert.equal(garbage.stdout, '');
    assert.match(garbage.stderr, /rejected 2/);
  });

  it('honours --allowed-lateness', () => {
    const events = [
      { event_id: 'a', user_id: 'u', event_type: 'login', event_time: '2026-11-20T10:30:00Z' },
      { event_id: 'b', user_id: 'u', event_type: 'login', event_time: '2026-11-20T10:05:00Z' },
    ];
    const body = events.map((e) => JSON.stringify(e)).join('\n');
    const strict = run(['replay', '--input', '-', '--output', '-'], body);
    assert.equal(JSON.parse(strict.stdout.split('\n')[1]).late, true);
    const lenient = run(['replay', '--input', '-', '--output', '-', '--allowed-lateness', '30m'], body);
    assert.equal(JSON.parse(lenient.stdout.split('\n')[1]).late, false);
  });
});
