import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENGINE_MAIN, spawnEngine, startEngineProcess, type EngineProcess } from '@test/support/engine-process';
import { paymentsOf, postNdjson, type EventsAnswer } from '@test/support/ndjson-events';

/** The shipped rules plus a fields.json declaring `fields`. */
function rulesWithFields(fields: readonly Record<string, unknown>[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-pattern-rules-'));
  for (const name of readdirSync(join(process.cwd(), 'rules'))) copyFileSync(join(process.cwd(), 'rules', name), join(dir, name));
  writeFileSync(join(dir, 'fields.json'), JSON.stringify({ fields }));
  return dir;
}

describe('declared field patterns against hostile values, in an engine process (docs/fields.md)', () => {
  it('refuses to start with a pattern that could backtrack without bound, naming its path', async () => {
    const engine = spawnEngine({
      RULES_DIR: rulesWithFields([
        { name: 'card_bin', type: 'string', pattern: '^[0-9]+$' },
        { name: 'merchant', type: 'string', max_length: 64, pattern: '^(a+)+$' },
      ]),
    });
    await assert.rejects(engine.url, /invalid field declarations: fields\[1\]\.pattern: could backtrack without bound on a hostile value/);
    await engine.stop();
    assert.notEqual(engine.child.exitCode, 0);
  });

  describe('with guarded fields at their longest', () => {
    let engine: EngineProcess;
    const event = paymentsOf('u-patterns', Date.now());
    const post = (events: Record<string, unknown>[]): Promise<EventsAnswer> => postNdjson(engine.url, events);

    before(async () => {
      engine = await startEngineProcess(ENGINE_MAIN, {
        RULES_DIR: rulesWithFields([
          { name: 'card_bin', type: 'string', max_length: 4096, pattern: '^[0-9]+$' },
          { name: 'email', type: 'string', max_length: 4096, pattern: '^[a-z0-9._-]+@[a-z0-9.-]+$' },
          { name: 'tag', type: 'string', max_length: 4096, pattern: '^[a-z]+(?:-[a-z]+)*$' },
        ]),
      });
    });
    after(async () => {
      await engine?.stop();
    });

    it('rejects each hostile value with its reason and keeps answering', async () => {
      // Values that make the refused variants (^(\d+)+$, ^(.+)+@.+$, ^([a-z]+-?)*$) backtrack for hours.
      const hostile: [string, string, string][] = [
        ['card_bin', '1'.repeat(4095) + 'x', '^[0-9]+$'],
        ['email', 'a'.repeat(4095) + '!', '^[a-z0-9._-]+@[a-z0-9.-]+$'],
        ['email', 'a@' + 'a.'.repeat(2046) + '@', '^[a-z0-9._-]+@[a-z0-9.-]+$'],
        ['tag', 'a-'.repeat(2047) + '!', '^[a-z]+(?:-[a-z]+)*$'],
        ['tag', 'a'.repeat(4095) + '-', '^[a-z]+(?:-[a-z]+)*$'],
      ];
      for (const [i, [field, value, pattern]] of hostile.entries()) {
        const answer = await post([event(`p-bad-${i}`, { [field]: value })]);
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.deepEqual(answer.body.errors, [{ path: field, message: `must match ${pattern}` }]);
        const health = await fetch(`${engine.url}/health`);
        assert.equal(health.status, 200);
      }
    });

    it('decides events whose long guarded values match', async () => {
      const answer = await post([
        event('p-ok-1', { card_bin: '4'.repeat(4096), email: 'a'.repeat(4000) + '@example.com', tag: 'a-'.repeat(2047) + 'b' }),
      ]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.results[0].verdict.event_id, 'p-ok-1');
      assert.equal((await fetch(`${engine.url}/health`)).status, 200);
    });
  });
});
