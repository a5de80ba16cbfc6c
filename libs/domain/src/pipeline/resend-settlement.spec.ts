import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeEvent } from '../events/event-decoder';
import type { RiskEvent } from '../events/risk-event';
import { toAlert, type Verdict } from '../verdicts/verdict';
import { VerdictQuery, type RiskProfile, type RuleStats, type VerdictPage } from './query-ports';
import { contentMessageId, settleResends } from './resend-settlement';
import type { DecidedBatch, MessageOutcome } from './risk-pipeline';

/** A verdict store that holds the given event ids. */
class StoredVerdicts extends VerdictQuery {
  constructor(private readonly stored: ReadonlySet<string>) {
    super();
  }
  findVerdicts(): Promise<VerdictPage> {
    throw new Error('not used');
  }
  getVerdict(eventId: string): Promise<Verdict | undefined> {
    return Promise.resolve(this.stored.has(eventId) ? verdict(eventId) : undefined);
  }
  getProfile(): Promise<RiskProfile | undefined> {
    throw new Error('not used');
  }
  ruleStats(): Promise<RuleStats> {
    throw new Error('not used');
  }
}

function verdict(eventId: string, suppressed = false): Verdict {
  return {
    event_id: eventId,
    user_id: 'u',
    event_type: 'login',
    event_time: '2026-11-20T10:00:00.000Z',
    risk_level: 'HIGH',
    score: 80,
    rules: [],
    shadow_rules: [],
    features: {},
    late: false,
    rules_version: 1,
    ...(suppressed
      ? {
          suppressed: true as const,
          suppression: { kind: 'cooldown' as const, reason: 'cooldown', rule_id: 'r', entity: 'user_id:u', until: null },
        }
      : {}),
    decided_at: '2026-11-30T00:00:00.000Z',
  };
}

/** An accepted outcome with an alert, or (suppressed) a verdict whose alert a cooldown held back. */
function accepted(eventId: string, options: { redelivered?: boolean; suppressed?: boolean } = {}): MessageOutcome {
  const v = verdict(eventId, options.suppressed);
  return {
    kind: 'accepted',
    verdict: v,
    alert: options.suppressed ? undefined : toAlert(v),
    ...(options.redelivered ? { redelivered: true as const } : {}),
  };
}

function batch(outcomes: MessageOutcome[]): DecidedBatch {
  const verdicts = outcomes.flatMap((o) => (o.kind === 'accepted' || o.kind === 'late' ? [o.verdict] : []));
  const alerts = outcomes.flatMap((o) => ((o.kind === 'accepted' || o.kind === 'late') && o.alert !== undefined ? [o.alert] : []));
  const suppressed = verdicts.filter((v) => v.suppressed === true).length;
  return {
    outcomes,
    verdicts,
    alerts,
    rejects: [],
    counts: {
      accepted: outcomes.length,
      late: 0,
      duplicate: 0,
      rejected: 0,
      ...(suppressed > 0 ? { suppressedByKind: { cooldown: suppressed } } : {}),
    },
    rulesVersion: 1,
  };
}

/** The event the decoder makes of `text`, as an ingest edge hands it on. */
function decoded(text: string): RiskEvent {
  const result = decodeEvent(text);
  assert.ok(result.ok);
  return result.event;
}

const LOGIN = '{"event_id":"e-1","user_id":"u","event_type":"login","event_time":"2026-11-20T10:00:00Z"}';

describe('contentMessageId', () => {
  it('is the same for the same decoded event, whatever the key order and spacing of its text', () => {
    const respelled = '{ "event_time": 1795168800000, "user_id": "u",\t"event_type": "login", "event_id": "e-1" }';
    assert.equal(contentMessageId('http', decoded(LOGIN)), contentMessageId('http', decoded(respelled)));
    assert.match(contentMessageId('http', decoded(LOGIN)), /^http\/[A-Za-z0-9_-]{24}$/);
  });

  it('differs with the content and with the source', () => {
    const withDevice = LOGIN.replace('}', ',"device_id":"d-1"}');
    assert.notEqual(contentMessageId('http', decoded(LOGIN)), contentMessageId('http', decoded(withDevice)));
    assert.notEqual(contentMessageId('http', decoded(LOGIN)), contentMessageId('other', decoded(LOGIN)));
  });
});

describe('settleResends', () => {
  it('leaves a batch without redelivered outcomes as it is (the same object)', async () => {
    const decided = batch([accepted('e-1'), accepted('e-2')]);
    assert.equal(await settleResends(decided, new StoredVerdicts(new Set(['e-1', 'e-2']))), decided);
  });

  it('turns a resend whose verdict is stored into a duplicate: no verdict, no alert, counted as duplicate', async () => {
    const settled = await settleResends(
      batch([accepted('e-1', { redelivered: true }), accepted('e-2')]),
      new StoredVerdicts(new Set(['e-1'])),
    );
    assert.deepEqual(settled.outcomes[0], { kind: 'duplicate', event_id: 'e-1' });
    assert.equal(settled.outcomes[1].kind, 'accepted');
    assert.deepEqual(
      settled.verdicts.map((v) => v.event_id),
      ['e-2'],
    );
    assert.deepEqual(
      settled.alerts.map((a) => a.event_id),
      ['e-2'],
    );
    assert.equal(settled.counts.accepted, 1);
    assert.equal(settled.counts.duplicate, 1);
  });

  it('delivers a resend whose verdict was never stored (the first request failed after the state was written)', async () => {
    const decided = batch([accepted('e-1', { redelivered: true })]);
    const settled = await settleResends(decided, new StoredVerdicts(new Set()));
    assert.equal(settled.outcomes[0].kind, 'accepted');
    assert.deepEqual(
      settled.alerts.map((a) => a.event_id),
      ['e-1'],
    );
    assert.equal(settled.counts.accepted, 1);
  });

  it('keeps the first of two copies in one body and makes the second a duplicate, even when neither is stored', async () => {
    const settled = await settleResends(
      batch([accepted('e-1', { redelivered: true }), accepted('e-1', { redelivered: true })]),
      new StoredVerdicts(new Set()),
    );
    assert.deepEqual(
      settled.outcomes.map((o) => o.kind),
      ['accepted', 'duplicate'],
    );
    assert.equal(settled.verdicts.length, 1);
    assert.equal(settled.counts.duplicate, 1);
  });

  it('takes a dropped verdict out of the suppression counts without touching the batch it was given', async () => {
    const decided = batch([accepted('e-1', { redelivered: true, suppressed: true }), accepted('e-2', { suppressed: true })]);
    const settled = await settleResends(decided, new StoredVerdicts(new Set(['e-1'])));
    assert.deepEqual(settled.counts.suppressedByKind, { cooldown: 1 });
    assert.deepEqual(decided.counts.suppressedByKind, { cooldown: 2 });
    assert.equal(decided.counts.duplicate, 0);
  });
});
