import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '@test/support/cli';

const COOLDOWN_MS = 30 * 60_000;

/** Rules of a folder of one's own: the shipped features, plus a payment rule with a cooldown per user. */
const COOLDOWN_RULE = {
  id: 'payment-burst',
  name: 'Any payment above 50',
  enabled: true,
  mode: 'active',
  priority: 1,
  conditions: {
    all: [
      { fact: 'event_type', operator: 'equal', value: 'payment' },
      { fact: 'amount', operator: 'greaterThan', value: 50 },
    ],
  },
  event: { type: 'risk', params: { risk_level: 'MEDIUM', score: 40, reason: 'payment above 50' } },
  cooldown: { key: 'user_id', duration: '30m' },
};

interface Line {
  event_id: string;
  user_id: string;
  event_time: string;
  risk_level: string;
  rules: { id: string }[];
  suppressed?: true;
  suppression?: { kind: string; rule_id: string; entity: string; until: string; reason: string };
  decided_at: string;
}

describe('replay with a cooldown rule (docs/suppression.md)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'risk-replay-suppression-'));
  const rules = join(dir, 'rules');
  let input: string;

  before(async () => {
    mkdirSync(rules);
    copyFileSync(join(process.cwd(), 'rules', 'features.json'), join(rules, 'features.json'));
    writeFileSync(join(rules, 'payment-burst.json'), JSON.stringify(COOLDOWN_RULE));
    const generated = await runCli(['generate', '--events', '4000', '--seed', '11']);
    assert.equal(generated.status, 0, generated.stderr);
    input = join(dir, 'events.ndjson');
    writeFileSync(input, generated.stdout);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const replay = async (output: string): Promise<Line[]> => {
    const run = await runCli(['replay', '--input', input, '--output', output, '--rules', rules]);
    assert.equal(run.status, 0, run.stderr);
    return readFileSync(output, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Line);
  };

  it('is deterministic, and suppresses exactly the alerts a cooldown started by an earlier alert covers', async () => {
    const first = await replay(join(dir, 'a.ndjson'));
    const second = await replay(join(dir, 'b.ndjson'));
    const strip = (lines: Line[]) => lines.map(({ decided_at: _, ...rest }) => JSON.stringify(rest));
    assert.deepEqual(strip(second), strip(first), 'two replays differ only in decided_at');

    const suppressed = first.filter((v) => v.suppressed === true);
    const alerted = first.filter((v) => v.suppressed === undefined && v.risk_level !== 'LOW');
    assert.ok(suppressed.length > 10 && alerted.length > 10, `suppressed ${suppressed.length}, alerted ${alerted.length}`);
    const byId = new Map(first.map((v) => [v.event_id, v]));
    for (const v of suppressed) {
      assert.equal(v.suppression?.kind, 'cooldown');
      assert.equal(v.suppression?.rule_id, 'payment-burst');
      assert.equal(v.suppression?.entity, `user_id:${v.user_id}`);
      // The alert that started the cooldown: same user, not suppressed, at or before this one, less than 30 minutes earlier.
      const starter = byId.get(/\(event ([^)]+)\)/.exec(v.suppression?.reason ?? '')![1])!;
      assert.equal(starter.user_id, v.user_id);
      assert.equal(starter.suppressed, undefined);
      const gap = Date.parse(v.event_time) - Date.parse(starter.event_time);
      assert.ok(gap >= 0 && gap < COOLDOWN_MS, `${v.event_id}: ${gap} ms after ${starter.event_id}`);
      assert.equal(v.suppression?.until, new Date(Date.parse(starter.event_time) + COOLDOWN_MS).toISOString());
    }
    // Verdicts not suppressed carry neither property.
    for (const v of first.filter((x) => x.suppressed === undefined)) assert.equal('suppression' in v, false);
  });
});
