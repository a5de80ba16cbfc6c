import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withSuppression } from '@risk/domain';
import { VERDICT_MAPPINGS, profileTemplate, verdictTemplate } from '@risk/infra/elasticsearch/elasticsearch-verdict.indices';
import { TestElasticsearchNode } from '@test/support/elasticsearch-node';
import { NodeReader, client, sink, verdict } from './es-fixtures';

/**
 * Suppressed verdicts (docs/suppression.md) in Elasticsearch, including on a
 * monthly index created before the suppression fields existed (template
 * version 1): its strict mapping would refuse them unless start-up adds them.
 */
describe('suppressed verdicts in Elasticsearch', () => {
  let node: TestElasticsearchNode;
  let read: NodeReader;

  before(async () => {
    node = await TestElasticsearchNode.start();
    read = new NodeReader(node.url);
  });
  after(async () => node?.stop());

  it('an engine started over indices of template version 1 stores suppressed verdicts in them, and they can be counted', async () => {
    const prefix = node.prefix('upgrade');
    // What an older engine left: version 1 templates without the suppression fields, and a monthly index made from them.
    const oldProperties = Object.fromEntries(
      Object.entries(VERDICT_MAPPINGS.properties).filter(([name]) => name !== 'suppressed' && name !== 'suppression'),
    );
    const old = verdictTemplate(prefix, { replicas: 0 }) as { version: number; template: { mappings: Record<string, unknown> } };
    old.version = 1;
    old.template.mappings = { ...VERDICT_MAPPINGS, properties: oldProperties };
    assert.equal((await read.request('PUT', `/_index_template/${prefix}-verdicts`, old)).status, 200);
    assert.equal(
      (await read.request('PUT', `/_index_template/${prefix}-profiles`, { ...profileTemplate(prefix, { replicas: 0 }), version: 1 }))
        .status,
      200,
    );
    const before = verdict({ event_id: 'old', event_time: '2026-11-20T10:00:00.000Z', rules: ['device-and-city-change'] });
    assert.equal((await read.request('PUT', `/${prefix}-verdicts-2026.11/_doc/old`, before)).status, 201);
    const refused = await read.request('PUT', `/${prefix}-verdicts-2026.11/_doc/probe`, { ...before, suppressed: true });
    assert.equal(refused.status, 400, 'the old strict mapping refuses the new field');

    const es = client(node.url, prefix);
    try {
      const { sink: s, rejects } = await sink(es);
      const held = withSuppression(
        verdict({ event_id: 'held', event_time: '2026-11-20T10:05:00.000Z', rules: ['device-and-city-change'] }),
        {
          kind: 'cooldown',
          reason: 'rule device-and-city-change already alerted for user_id:u-1 (event old)',
          rule_id: 'device-and-city-change',
          entity: 'user_id:u-1',
          until: '2026-11-20T10:30:00.000Z',
        },
      );
      const nextMonth = withSuppression(verdict({ event_id: 'held-dec', event_time: '2026-12-01T00:00:00.000Z', rules: ['login-burst'] }), {
        kind: 'snooze',
        reason: 'snoozed',
        rule_id: null,
        entity: 'ip_address:203.0.113.7',
        until: '2026-12-01T02:00:00.000Z',
      });
      await s.write([held, nextMonth]);
      await s.flush();
      assert.deepEqual(rejects.messages, []);
      await read.request('POST', `/${prefix}-verdicts/_refresh`);
      const counted = await read.request<{ count: number }>('POST', `/${prefix}-verdicts/_count`, {
        query: { term: { suppressed: true } },
      });
      assert.equal(counted.body.count, 2);
      const byKind = await read.request<{ count: number }>('POST', `/${prefix}-verdicts/_count`, {
        query: { term: { 'suppression.kind': 'snooze' } },
      });
      assert.equal(byKind.body.count, 1);
      assert.deepEqual((await read.source(`${prefix}-verdicts-2026.11`, 'held')).suppression, held.suppression);
    } finally {
      await es.close();
      await node.deletePrefix(prefix);
    }
  });
});
