import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DependencyUnavailableError, toAlert, type Verdict } from '@risk/domain';
import { ensureVerdictIndices, TEMPLATE_VERSION } from '@risk/infra/elasticsearch/elasticsearch-verdict.indices';
import { ElasticsearchVerdictSink } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';
import type { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { TestElasticsearchNode } from '../support/elasticsearch-node';
import { EsFaultProxy } from '../support/es-test-server';
import { freePort } from '../support/redis-server';
import { NodeReader, RecordingRejectSink, client, sink, verdict, verdicts } from './es-fixtures';

/**
 * The verdict sink against a real Elasticsearch 8 node. Each test writes under
 * its own index prefix. The 429 / 5xx cases go through `EsFaultProxy` in front
 * of the same node: a real node cannot be made to throttle or lose a shard on
 * demand, so only those faults are injected; what reaches the node is real.
 */
describe('ElasticsearchVerdictSink against a real Elasticsearch node', () => {
  let node: TestElasticsearchNode;
  let proxy: EsFaultProxy;
  let read: NodeReader;
  let prefix: string;
  let es: ElasticsearchClient;
  /** Same prefix, through the fault proxy. */
  let faulty: ElasticsearchClient;

  before(async () => {
    node = await TestElasticsearchNode.start();
    proxy = await EsFaultProxy.start(node.url);
    read = new NodeReader(node.url);
  });
  after(async () => {
    await proxy?.stop();
    await node?.stop();
  });
  beforeEach(() => {
    prefix = node.prefix();
    es = client(node.url, prefix);
    faulty = client(proxy.url, prefix);
  });
  afterEach(async () => {
    await es.close();
    await faulty.close();
    proxy.reset();
    await node.deletePrefix(prefix);
  });

  it('sets up strict index templates once, idempotently', async () => {
    assert.deepEqual((await ensureVerdictIndices(es)).templatesPut, [`${prefix}-verdicts`, `${prefix}-profiles`]);
    assert.deepEqual((await ensureVerdictIndices(es)).templatesPut, [], 'a second start-up finds current templates');
    assert.equal(await es.indexTemplateVersion(`${prefix}-verdicts`), TEMPLATE_VERSION);
    const { body } = await read.request('GET', `/_index_template/${prefix}-verdicts`);
    const template = body.index_templates[0].index_template;
    assert.deepEqual(template.index_patterns, [`${prefix}-verdicts-*`]);
    assert.equal(template.template.mappings.dynamic, 'strict');

    const { sink: s } = await sink(es);
    await s.write([verdict({ event_id: 'a', event_time: '2026-11-20T10:00:00.000Z' })]);
    const mapping = await read.request('GET', `/${prefix}-verdicts-2026.11/_mapping`);
    const properties = mapping.body[`${prefix}-verdicts-2026.11`].mappings;
    assert.equal(properties.dynamic, 'strict', 'the monthly index was created from the template');
    assert.deepEqual(properties.properties.rules.properties.explanation, { type: 'object', enabled: false });
    const profiles = await read.request('GET', `/${prefix}-profiles/_mapping`);
    assert.equal(profiles.body[`${prefix}-profiles`].mappings.dynamic, 'strict');
  });

  it('writes each verdict once, id = event_id, in the monthly index behind the alias; a replay leaves the same count', async () => {
    const { sink: s } = await sink(es);
    const batch = [
      verdict({ event_id: 'a', event_time: '2026-10-31T23:59:59.999Z', rules: ['login-burst'] }),
      verdict({ event_id: 'b', event_time: '2026-11-01T00:00:00.000Z' }),
      ...verdicts(40, '2026-11-02T00:00:00.000Z'),
    ];
    await s.write(batch);
    assert.equal(await read.count(`${prefix}-verdicts`), 42);
    assert.deepEqual(await read.source(`${prefix}-verdicts-2026.10`, 'a'), JSON.parse(JSON.stringify(batch[0])));
    assert.equal(await read.count(`${prefix}-verdicts-2026.11`), 41);
    assert.deepEqual(await read.aliasIndices(`${prefix}-verdicts`), [`${prefix}-verdicts-2026.10`, `${prefix}-verdicts-2026.11`]);
    const profileBefore = await read.doc(`${prefix}-profiles`, 'u-1');
    assert.ok(profileBefore);

    await s.write(batch);
    await s.write(batch.slice(10, 20));
    assert.equal(await read.count(`${prefix}-verdicts`), 42);
    assert.equal(await read.count(`${prefix}-verdicts-*`), 42, 'no copy in any other index');
    assert.deepEqual(
      await read.doc(`${prefix}-profiles`, 'u-1'),
      profileBefore,
      'replayed verdicts are not counted again, nor even rewritten',
    );
    assert.equal(s.counters.docsWritten, 94);
    assert.equal(s.counters.profilesUpdated, 94);
    assert.equal(s.counters.rejected, 0);
  });

  it('splits large writes into bulks bounded by count and bytes, and still resolves once all are written', async () => {
    const { sink: s } = await sink(es, undefined, { flushMaxDocs: 15, flushMaxBytes: 20_000, maxConcurrentBulks: 3 });
    await s.write(verdicts(120));
    assert.equal(await read.count(`${prefix}-verdicts`), 120);
    assert.ok(s.counters.bulkRequests >= 120 / 15, `expected ≥ 8 bulks, got ${s.counters.bulkRequests}`);
    const total = (id: string) => read.source(`${prefix}-profiles`, id).then((p) => p.counts.total as number);
    assert.deepEqual(await Promise.all(['u-0', 'u-1', 'u-2'].map(total)), [40, 40, 40], 'bulks racing on a profile lose no update');
  });

  it('concurrent writes each resolve after their own verdicts are stored', async () => {
    const { sink: s } = await sink(es, undefined, { flushIntervalMs: 20 });
    const first = verdicts(5, '2026-11-20T10:00:00.000Z', 3, 'x');
    const second = verdicts(7, '2026-11-21T10:00:00.000Z', 3, 'y');
    const stored = async (list: Verdict[]) => {
      for (const v of list) assert.ok(await read.doc(`${prefix}-verdicts-2026.11`, v.event_id), v.event_id);
    };
    await Promise.all([s.write(first).then(() => stored(first)), s.write(second).then(() => stored(second))]);
    assert.equal(await read.count(`${prefix}-verdicts`), 12);
  });

  it('retries failed items of a partly failed bulk (injected 503, 429, 500) until they are written', async () => {
    const { sink: s, rejects } = await sink(faulty);
    proxy.failItem('e-3', 503, 2);
    proxy.failItem('e-5', 429, 1);
    proxy.failItem('u-2', 500, 1); // the profile of u-2
    const batch = verdicts(10);
    await s.write(batch);
    assert.equal(await read.count(`${prefix}-verdicts`), 10);
    assert.ok(await read.doc(`${prefix}-verdicts-2026.11`, 'e-3'));
    assert.ok(await read.doc(`${prefix}-verdicts-2026.11`, 'e-5'));
    // e-3 twice, e-5 once, and u-2's profile once for its 3 verdicts.
    assert.equal(s.counters.retries, 6);
    assert.equal(s.counters.throttled, 1);
    assert.equal(rejects.messages.length, 0);
    const u2 = await read.source(`${prefix}-profiles`, 'u-2');
    assert.equal(u2.counts.total, batch.filter((v) => v.user_id === 'u-2').length);
  });

  it('backs off on injected 429s for whole bulks and profile reads, and loses nothing', async () => {
    const { sink: s } = await sink(faulty);
    proxy.failNextRequests(3, 429, (_, path) => path === '/_bulk');
    proxy.failNextRequests(1, 503, (_, path) => path.endsWith('/_mget'));
    await s.write(verdicts(25));
    assert.equal(await read.count(`${prefix}-verdicts`), 25);
    assert.equal(proxy.statuses.get(429), 3);
    assert.equal(proxy.statuses.get(503), 1);
    assert.equal(s.counters.throttled, 3);
    assert.equal(s.counters.bulkRequests, 4);
    assert.equal(s.counters.retries, 4 * 50, '25 verdicts and their 25 profile updates, sent again 4 times');
    assert.equal((await read.source(`${prefix}-profiles`, 'u-0')).counts.total, 9);
  });

  it('fails the write as retriable when Elasticsearch keeps answering 503, and keeps nothing in the reject sink', async () => {
    const { sink: s, rejects } = await sink(faulty, undefined, { maxAttempts: 3 });
    proxy.failNextRequests(10, 503, (_, path) => path === '/_bulk');
    const error = await s.write(verdicts(3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DependencyUnavailableError, String(error));
    assert.equal(error.retriable, true);
    assert.equal(s.counters.bulkRequests, 3);
    assert.equal(rejects.messages.length, 0);
    assert.equal(await read.count(`${prefix}-verdicts`), 0);
  });

  it('fails as retriable when an item keeps failing with 503', async () => {
    const { sink: s } = await sink(faulty, undefined, { maxAttempts: 2 });
    proxy.failItem('e-1', 503, 5);
    await assert.rejects(
      s.write(verdicts(3)),
      (e: unknown) =>
        e instanceof DependencyUnavailableError &&
        /still failing after 2 attempts \(last: 503 unavailable_shards_exception\)/.test(e.message),
    );
    assert.equal(await read.count(`${prefix}-verdicts`), 2);
  });

  it("hands a verdict refused by the strict mapping to the reject sink with Elasticsearch's error, and writes the rest", async () => {
    const { sink: s, rejects } = await sink(es);
    const good = verdicts(3);
    const bad: Verdict = toAlert(verdict({ event_id: 'bad-1', event_time: '2026-11-20T11:00:00.000Z', rules: ['login-burst'] }));
    await s.write([good[0], bad, good[1], good[2]]);
    assert.equal(await read.count(`${prefix}-verdicts`), 3);
    assert.equal(rejects.messages.length, 1);
    const [message] = rejects.messages;
    assert.equal(message.stage, 'verdict-sink');
    assert.equal(message.key, 'u-1');
    assert.deepEqual(JSON.parse(String(message.raw)), JSON.parse(JSON.stringify(bad)));
    assert.equal(message.errors.length, 1);
    assert.equal(message.errors[0].path, `${prefix}-verdicts-2026.11`);
    assert.match(
      message.errors[0].message,
      /^400 strict_dynamic_mapping_exception: .*dynamic introduction of \[alert_id\] within \[_doc\]/,
    );
    assert.equal(s.counters.rejected, 1);
  });

  it('rejects a wrongly typed field (the verdict by Elasticsearch, its profile update before writing) and maps new features as numbers', async () => {
    const { sink: s, rejects } = await sink(es);
    const base = verdict({ event_id: 'f-1', event_time: '2026-11-20T11:00:00.000Z' });
    const withNew: Verdict = { ...base, features: { ...base.features, new_feature_1h: 3 } };
    const withFraction: Verdict = { ...base, event_id: 'f-2', features: { ...base.features, new_feature_1h: 2.5 } };
    const wrongType = { ...base, event_id: 'f-3', score: 'high' } as unknown as Verdict;
    await s.write([withNew, withFraction, wrongType]);
    assert.equal(await read.count(`${prefix}-verdicts`), 2);
    assert.equal((await read.source(`${prefix}-verdicts-2026.11`, 'f-2')).features.new_feature_1h, 2.5);
    const mapping = await read.request('GET', `/${prefix}-verdicts-2026.11/_mapping/field/features.new_feature_1h`);
    assert.deepEqual(mapping.body[`${prefix}-verdicts-2026.11`].mappings['features.new_feature_1h'].mapping.new_feature_1h, {
      type: 'double',
    });
    // Both the verdict and its profile update are refused: one message carrying both errors.
    assert.equal(rejects.messages.length, 1);
    const byPath = new Map(rejects.messages[0].errors.map((e) => [e.path, e.message]));
    assert.deepEqual([...byPath.keys()].sort(), [`${prefix}-profiles`, `${prefix}-verdicts-2026.11`]);
    assert.match(byPath.get(`${prefix}-verdicts-2026.11`)!, /^400 document_parsing_exception: .*\[score\] of type \[integer\]/);
    assert.match(byPath.get(`${prefix}-profiles`)!, /score must be an integer/);
    assert.equal((await read.source(`${prefix}-profiles`, 'u-1')).counts.total, 2, 'the other verdicts of the user are counted');
  });

  it('fails the write when the reject sink cannot keep a refused verdict', async () => {
    const rejects = new RecordingRejectSink();
    rejects.failWith = new Error('dead-letter topic down');
    const { sink: s } = await sink(es, rejects);
    const bad = toAlert(verdict({ event_id: 'bad-2', event_time: '2026-11-20T11:00:00.000Z' }));
    await assert.rejects(s.write([bad]), /dead-letter topic down/);
  });

  it('flush() waits for queued verdicts', async () => {
    const { sink: s } = await sink(es, undefined, { flushIntervalMs: 60_000 });
    const pending = s.write(verdicts(4));
    await s.flush();
    assert.equal(await read.count(`${prefix}-verdicts`), 4);
    await pending;
  });

  it('reports cluster health for readiness: green, yellow (a replica cannot be placed), red (a primary cannot), unreachable', async () => {
    const { sink: s } = await sink(es);
    assert.equal((await s.health()).status, 'green');
    const yellow = await read.request('PUT', `/${prefix}-health-yellow`, { settings: { number_of_shards: 1, number_of_replicas: 1 } });
    assert.equal(yellow.status, 200, JSON.stringify(yellow.body));
    assert.equal((await s.health()).status, 'yellow');
    const red = await read.request('PUT', `/${prefix}-health-red?wait_for_active_shards=0`, {
      settings: { number_of_shards: 1, number_of_replicas: 0, 'index.routing.allocation.require._name': 'no-such-node' },
    });
    assert.equal(red.status, 200, JSON.stringify(red.body));
    const health = await s.health();
    assert.equal(health.status, 'red');
    assert.equal('number_of_nodes' in health ? health.number_of_nodes : undefined, 1);
    await node.deletePrefix(prefix);
    assert.equal((await s.health()).status, 'green');

    const nowhere = client(`http://127.0.0.1:${await freePort()}`);
    const lost = new ElasticsearchVerdictSink(nowhere, new RecordingRejectSink(), {
      flushMaxDocs: 5000,
      flushMaxBytes: 5 * 1024 * 1024,
      flushIntervalMs: 200,
      maxAttempts: 2,
      backoffBaseMs: 1,
    });
    assert.equal((await lost.health(500)).status, 'unreachable');
    await assert.rejects(
      lost.write(verdicts(1)),
      (e: unknown) => e instanceof DependencyUnavailableError && e.code === 'ELASTICSEARCH_UNAVAILABLE',
    );
    await assert.rejects(lost.ensureSetup(), DependencyUnavailableError);
    await nowhere.close();
  });
});
