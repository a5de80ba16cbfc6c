import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FeatureStore } from '@risk/domain';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { API_KEYS, bigPaymentRule, call, startTestEngine, tempDir } from '../admin/admin-support';
import { TestElasticsearchNode } from '../support/elasticsearch-node';
import { TestRedisServer } from '../support/redis-server';

const MIN = 60_000;

/**
 * docs/suppression.md, "HTTP resends": Redis fails after an HTTP event's
 * features were written (the event is remembered as accepted) and before its
 * cooldown is claimed, so the request fails; the client's resend of the same
 * event must still get its verdict, stored and alerted once, and a later
 * resend is a duplicate.
 */
/** Where verdicts are stored: the resend is told apart by asking it. */
interface VerdictStoreUnderTest {
  readonly label: string;
  start(): Promise<Record<string, string>>;
  /** Makes written verdicts visible to searches (Elasticsearch's refresh); nothing for SQLite. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

const sqlite: VerdictStoreUnderTest = {
  label: 'SQLite',
  start: () => Promise.resolve({}),
  refresh: () => Promise.resolve(),
  stop: () => Promise.resolve(),
};

function elasticsearch(): VerdictStoreUnderTest {
  let node: TestElasticsearchNode | undefined;
  return {
    label: 'Elasticsearch',
    async start() {
      node = await TestElasticsearchNode.start();
      return { ELASTICSEARCH_NODE: node.url, ELASTICSEARCH_FLUSH_INTERVAL: '20ms' };
    },
    async refresh() {
      assert.equal((await fetch(`${node!.url}/risk-verdicts/_refresh`, { method: 'POST' })).status, 200);
    },
    async stop() {
      await node?.stop();
    },
  };
}

for (const verdictStore of [sqlite, elasticsearch()]) resendSuite(verdictStore);

function resendSuite(verdictStore: VerdictStoreUnderTest): void {
  describe(`an HTTP event resent after Redis failed between its feature write and its cooldown claim (verdicts in ${verdictStore.label})`, () => {
    const data = tempDir('risk-http-resend-');
    let redis: TestRedisServer;
    let engine: RunningEngine;
    /** Set by a test: runs once right after the next successful feature write. */
    let afterApply: (() => void) | undefined;

    before(async () => {
      redis = await TestRedisServer.start();
      const stores = await verdictStore.start();
      engine = await startTestEngine({ REDIS_URL: redis.url, DATA_DIR: data.path, API_KEYS, REDIS_KEY_PREFIX: 'resend:', ...stores });
      // The pipeline holds this very instance: wrap its apply to act between the feature write and the cooldown claim.
      const store = engine.app.get(FeatureStore);
      const apply = store.apply.bind(store);
      store.apply = async (...args) => {
        const outcomes = await apply(...args);
        const hook = afterApply;
        afterApply = undefined;
        hook?.();
        return outcomes;
      };
      const created = await call(engine.url, 'POST', '/rules', bigPaymentRule({ cooldown: { key: 'user_id', duration: '30m' } }));
      assert.equal(created.status, 201);
    });
    after(async () => {
      await engine?.close();
      await verdictStore.stop();
      await redis?.dispose();
      data.remove();
    });

    it('gets its verdict and alert on the resend, once; a resend after that is a duplicate', async () => {
      const event = {
        event_id: 'resend-1',
        user_id: 'u-resend',
        event_type: 'payment',
        event_time: new Date(Date.now() - 10 * MIN).toISOString(),
        amount: 5000,
      };
      afterApply = () => redis.pause();
      const failed = await call(engine.url, 'POST', '/events', event);
      redis.unpause();
      assert.equal(failed.status, 503, JSON.stringify(failed.body));
      assert.equal((await call(engine.url, 'GET', '/verdicts/resend-1')).status, 404, 'no verdict was stored by the failed request');

      const resent = await call(engine.url, 'POST', '/events', event);
      assert.equal(resent.status, 200, JSON.stringify(resent.body));
      assert.deepEqual(resent.body.counts, { accepted: 1, late: 0, duplicate: 0, rejected: 0 });
      const item = resent.body.results[0];
      assert.equal(item.outcome, 'accepted');
      assert.equal(item.alerted, true);
      assert.deepEqual(
        item.verdict.rules.map((r: { id: string }) => r.id),
        ['big-payment'],
      );
      assert.equal(item.verdict.features.payment_amount_24h, 5000, 'the first outcome: the payment counted once');
      await verdictStore.refresh();
      assert.equal((await call(engine.url, 'GET', '/verdicts/resend-1')).body.event_id, 'resend-1');
      const alerts = (await call(engine.url, 'GET', '/alerts')).body.items as { alert_id: string }[];
      assert.deepEqual(
        alerts.map((a) => a.alert_id),
        ['resend-1'],
      );

      const again = await call(engine.url, 'POST', '/events', event);
      assert.deepEqual(again.body.results[0], { line: 1, outcome: 'duplicate', event_id: 'resend-1' });
      const other = await call(engine.url, 'POST', '/events', { ...event, amount: 7000 });
      assert.deepEqual(other.body.results[0], { line: 1, outcome: 'duplicate', event_id: 'resend-1' }, 'another payload: the first wins');
      const second = { ...event, event_id: 'resend-2', event_time: new Date(Date.now() - 5 * MIN).toISOString() };
      const next = await call(engine.url, 'POST', '/events', second);
      assert.equal(next.body.results[0].verdict.features.payment_amount_24h, 10_000, 'the state holds the first payment once');
      assert.equal(next.body.results[0].alerted, false, 'held back by the cooldown the resend started');

      await verdictStore.refresh();
      const secondAgain = await call(engine.url, 'POST', '/events', second);
      assert.deepEqual(
        secondAgain.body.results[0],
        { line: 1, outcome: 'duplicate', event_id: 'resend-2' },
        'a suppressed verdict, resent',
      );

      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      assert.match(metrics, /risk_engine_rule_hits_total\{rule_id="big-payment",mode="active",rules_version="\d+"\} 2\n/);
      assert.match(metrics, /risk_engine_events_total\{outcome="duplicate",source="http"\} 3\n/);
      assert.match(metrics, /risk_engine_events_total\{outcome="accepted",source="http"\} 2\n/);
      assert.match(metrics, /risk_engine_alerts_suppressed_total\{kind="cooldown"\} 1\n/);
    });

    it('answers two identical copies in one body as accepted, then duplicate', async () => {
      const event = { event_id: 'twice-1', user_id: 'u-twice', event_type: 'login', event_time: new Date(Date.now() - MIN).toISOString() };
      const response = await fetch(`${engine.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'x-api-key': API_KEYS.split(',')[0].split(':')[2] },
        body: `${JSON.stringify(event)}\n${JSON.stringify(event)}\n`,
      });
      const body = (await response.json()) as { counts: unknown; results: { outcome: string }[] };
      assert.deepEqual(body.counts, { accepted: 1, late: 0, duplicate: 1, rejected: 0 });
      assert.deepEqual(
        body.results.map((r) => r.outcome),
        ['accepted', 'duplicate'],
      );
    });
  });
}
