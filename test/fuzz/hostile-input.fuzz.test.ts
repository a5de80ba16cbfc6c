import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeEvent, FeatureStore, VerdictSink } from '@risk/domain';
import { SeededRandom } from '@risk/generator';
import { RuleAdministration } from '@risk/domain/rules/lifecycle';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { rawRequest, type RawResponse } from '@test/support/raw-http';
import { API_KEYS, bigPaymentRule, EDITOR_KEY, startTestEngine, tempDir } from '../admin/admin-support';
import {
  damageBytes,
  hostileAdminRequest,
  hostileEventText,
  hostileIngestRequest,
  randomBytes,
  type HostileRequest,
} from './hostile-inputs';

/**
 * Throws generated hostile input at the event decoder, HTTP ingest and the
 * admin API (its DTOs, pipes and body reader), with a fixed seed: every input
 * must end in a 4xx or a reject with a reason, never a 5xx or a crash, and a
 * refused input must change no state. A failure prints the input's index and
 * description; the same seed replays the same inputs.
 */
const SEED = 20261120;
const DECODER_INPUTS = 4_000;
const INGEST_INPUTS = 4_000;
const ADMIN_INPUTS = 3_000;
const EXISTING_RULE = 'big-payment';
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

/** State a refused request must not touch: feature-store writes, verdicts written, the active rule set version. */
interface StateProbe {
  applied: number;
  verdicts: number;
}

class Failures {
  readonly items: string[] = [];
  count = 0;
  add(what: string): void {
    this.count++;
    if (this.items.length < 20) this.items.push(what);
  }
  assertNone(label: string, total: number): void {
    assert.equal(this.count, 0, `${label}: ${this.count} of ${total} inputs misbehaved, e.g.\n${this.items.join('\n')}`);
  }
}

/** Whatever went wrong with one answer, or undefined when it is a 2xx or a well-formed, non-retriable 4xx. */
function problemWith(response: RawResponse): string | undefined {
  if (response.status >= 500) return `status ${response.status}: ${response.text.slice(0, 200)}`;
  if (response.status < 400) return undefined;
  const body = response.body as { error?: unknown; message?: unknown; errors?: unknown; retriable?: unknown } | undefined;
  if (body === undefined || typeof body.error !== 'string' || typeof body.message !== 'string')
    return `status ${response.status} without an error body`;
  if (body.retriable !== false) return `status ${response.status} marked retriable`;
  if (response.status === 400 && (!Array.isArray(body.errors) || body.errors.length === 0))
    return `400 naming no problem: ${response.text.slice(0, 200)}`;
  return undefined;
}

describe('fuzz: hostile input at the decoder, HTTP ingest and the admin API', () => {
  const data = tempDir('risk-fuzz-');
  let engine: RunningEngine;
  const probe: StateProbe = { applied: 0, verdicts: 0 };

  before(async () => {
    engine = await startTestEngine({ DATA_DIR: data.path, API_KEYS });
    // Count what reaches state, at the ports the pipeline writes through.
    const store = engine.app.get(FeatureStore);
    const apply = store.apply.bind(store);
    store.apply = (partition, inputs) => {
      probe.applied += inputs.length;
      return apply(partition, inputs);
    };
    const sink = engine.app.get(VerdictSink);
    const write = sink.write.bind(sink);
    sink.write = (verdicts) => {
      probe.verdicts += verdicts.length;
      return write(verdicts);
    };
    const created = await rawRequest(engine.url, 'POST', '/rules', JSON.stringify(bigPaymentRule({ id: EXISTING_RULE })), {
      'x-api-key': EDITOR_KEY,
      'content-type': 'application/json',
    });
    assert.equal(created.status, 201);
  });
  after(async () => {
    await engine.close();
    data.remove();
  });

  it(`decodes ${DECODER_INPUTS} hostile events into an event or a reject with reasons, never a throw`, () => {
    const rng = new SeededRandom(SEED);
    const failures = new Failures();
    for (let i = 0; i < DECODER_INPUTS; i++) {
      const text = hostileEventText(rng);
      const input: string | Buffer = rng.chance(0.3)
        ? rng.chance(0.5)
          ? damageBytes(rng, Buffer.from(text))
          : randomBytes(rng, rng.int(0, 256))
        : text;
      try {
        const decoded = decodeEvent(input);
        if (decoded.ok) {
          if (typeof decoded.event.event_id !== 'string' || typeof decoded.event.user_id !== 'string')
            failures.add(`#${i}: accepted a malformed event`);
        } else if (decoded.errors.length === 0 || decoded.errors.some((e) => typeof e.path !== 'string' || e.message === '')) {
          failures.add(`#${i}: rejected without a reason`);
        }
      } catch (error) {
        failures.add(`#${i}: threw ${(error as Error).message}`);
      }
    }
    failures.assertNone('decoder', DECODER_INPUTS);
  });

  it(`answers ${INGEST_INPUTS} hostile POST /events with 2xx or a 4xx naming the problem, and refused bodies change no state`, async () => {
    const rng = new SeededRandom(SEED + 1);
    const failures = new Failures();
    let refused = 0;
    for (let i = 0; i < INGEST_INPUTS; i++) {
      const request: HostileRequest = hostileIngestRequest(rng);
      const before = { ...probe };
      const response = await rawRequest(engine.url, 'POST', '/events', request.body, { 'x-api-key': EDITOR_KEY, ...request.headers });
      const problem = problemWith(response);
      if (problem !== undefined) failures.add(`#${i} (${request.description}): ${problem}`);
      if (response.status >= 400) {
        refused++;
        if (probe.applied !== before.applied || probe.verdicts !== before.verdicts)
          failures.add(`#${i} (${request.description}): refused but changed state`);
      }
    }
    failures.assertNone('ingest', INGEST_INPUTS);
    assert.ok(probe.applied > 0 && probe.verdicts > 0, 'the probe sees the events that were accepted');
    assert.ok(refused > INGEST_INPUTS / 2, `most hostile bodies are refused (${refused})`);
  });

  it(`answers ${ADMIN_INPUTS} hostile admin requests with 2xx or a non-retriable 4xx, and refused ones change no rule set`, async () => {
    const rng = new SeededRandom(SEED + 2);
    const admin = engine.app.get(RuleAdministration);
    const failures = new Failures();
    let refused = 0;
    for (let i = 0; i < ADMIN_INPUTS; i++) {
      const request = hostileAdminRequest(rng, EXISTING_RULE);
      const version = (await admin.active()).version;
      const response = await rawRequest(engine.url, request.method, request.path, request.body, {
        'x-api-key': EDITOR_KEY,
        ...request.headers,
      });
      const problem = problemWith(response);
      if (problem !== undefined) failures.add(`#${i} (${request.method} ${request.path.slice(0, 80)}, ${request.description}): ${problem}`);
      if (response.status >= 400) {
        refused++;
        const after = (await admin.active()).version;
        if (after !== version)
          failures.add(`#${i} (${request.method} ${request.path.slice(0, 80)}): refused but moved the rule set ${version} → ${after}`);
      }
    }
    failures.assertNone('admin', ADMIN_INPUTS);
    assert.ok(refused > ADMIN_INPUTS / 2, `most hostile admin requests are refused (${refused})`);
  });

  it('is still up and deciding afterwards', async () => {
    assert.equal((await rawRequest(engine.url, 'GET', '/health', undefined)).status, 200);
    const event = JSON.stringify({ event_id: 'fz-after', user_id: 'fz-after', event_type: 'login', event_time: new Date().toISOString() });
    const decided = await rawRequest(engine.url, 'POST', '/events', event, { 'x-api-key': EDITOR_KEY, 'content-type': 'application/json' });
    assert.equal(decided.status, 200, decided.text);
    assert.equal(decided.body.results[0].outcome, 'accepted');
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS, 'Object.prototype was not polluted');
  });
});
