import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { withSuppression, type Verdict } from '@risk/domain';
import { EncodingBuffers, writeJsonLines } from './ndjson-file.sinks';
import { writeVerdict } from './verdict-bytes';

const plain: Verdict = {
  event_id: 'evt-1',
  user_id: 'user-1',
  event_type: 'login',
  event_time: '2026-11-20T10:00:00.000Z',
  risk_level: 'LOW',
  score: 0,
  rules: [],
  shadow_rules: [],
  features: { distinct_devices_1h: 1, payment_amount_24h: 150.04, device_changed: false, city_changed: true },
  late: false,
  rules_version: 1,
  decided_at: '2026-11-30T03:03:30.300Z',
};

const fired = {
  id: 'r-1',
  risk_level: 'HIGH' as const,
  score: 80,
  reason: 'a "quoted" reason\\ with é, 😀 and \u0001',
  explanation: [
    { path: 'conditions.all[0]', fact: 'amount', operator: 'in', value: [1, 'x', null], fact_value: null, result: true },
    { path: 'conditions.all[1]', fact: 'x', operator: 'equal', value: undefined, fact_value: 'Zürich', result: false },
  ],
};

const verdicts: Verdict[] = [
  plain,
  { ...plain, event_id: 'é-\ud800-lone', user_id: 'u "q" \\ \n', location: undefined } as Verdict,
  { ...plain, score: NaN, rules_version: -0, features: { a: Infinity, b: 1e21, c: -1.5e-7, d: undefined, e: null, f: 'x' } as never },
  { ...plain, risk_level: 'HIGH', score: 100, rules: [fired], shadow_rules: [fired], late: true },
  { ...plain, features: {} },
  // As the pipeline marks one: `suppressed` and `suppression` before `decided_at`.
  withSuppression(plain, { kind: 'cooldown', reason: 'r', rule_id: null, entity: 'user_id:u-1', until: null }),
];

describe('writeVerdict', () => {
  it('writes what JSON.stringify writes, byte for byte', () => {
    for (const verdict of verdicts) {
      const buffer = Buffer.alloc(4096);
      const end = writeVerdict(buffer, 7, verdict);
      assert.equal(buffer.subarray(7, end).toString('utf8'), JSON.stringify(verdict));
    }
  });

  it('reports a verdict that does not fit, at any offset', () => {
    const size = Buffer.byteLength(JSON.stringify(verdicts[3]));
    for (let room = 0; room < size; room += 7) assert.equal(writeVerdict(Buffer.alloc(100 + room), 100, verdicts[3]), -1);
  });
});

describe('writeJsonLines', () => {
  it('writes one line per value in order, across buffers too small for a batch and for one value', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const many = Array.from({ length: 50 }, (_, i) => ({ ...verdicts[i % verdicts.length], event_id: `e-${i}` }));
    const buffers = new EncodingBuffers(2, 600);
    await writeJsonLines(out, many, buffers, writeVerdict);
    await writeJsonLines(out, many, buffers);
    const expected = many.map((v) => JSON.stringify(v) + '\n').join('');
    assert.equal(Buffer.concat(chunks).toString('utf8'), expected + expected);
  });
});
