import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DependencyUnavailableError, toAlert, type Verdict } from '@risk/domain';
import { ElasticsearchVerdictSink } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';
import type { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { EsTestServer } from '../support/es-test-server';
import { freePort } from '../support/redis-server';
import { RecordingRejectSink, client, sink, verdict, verdicts } from './es-fixtures';

describe('ElasticsearchVerdictSink against the ES test server', () => {
  let server: EsTestServer;
  let es: ElasticsearchClient;

  before(async () => {
    server = await EsTestServer.start();
    es = client(server.url);
  });
  after(async () => {
    await es.close();
    await server.stop();
  });
  beforeEach(() => server.reset());

  it('sets up templates and the stored script once, idempotently', async () => {
    const { sink: s } = await sink(es);
    await s.ensureSetup();
    assert.deepEqual([...server.templates.keys()].sort(), ['risk-profiles', 'risk-verdicts']);
    assert.equal(server.log.filter((l) => l.startsWith('PUT /_index_template/')).length, 2, 'second start-up finds current templates');
    assert.ok(server.scripts.has('risk-profile-update-v1'));
  });

  it('writes each verdict once, id = event_id, in the monthly index behind the alias; a replay leaves the same count', async () => {
    const { sink: s } = await sink(es);
    const batch = [
      verdict({ event_id: 'a', event_time: '2026-10-31T23:59:59.999Z', rules: ['login-burst'] }),
      verdict({ event_id: 'b', event_time: '2026-11-01T00:00:00.000Z' }),
      ...verdicts(40, '2026-11-02T00:00:00.000Z'),
    ];
    await s.write(batch);
    assert.equal(server.countDocs('risk-verdicts'), 42);
    assert.deepEqual(server.getDoc('risk-verdicts-2026.10', 'a'), JSON.parse(JSON.stringify(batch[0])));
    assert.equal(server.countDocs('risk-verdicts-2026.11'), 41);
    assert.deepEqual([...server.aliases.get('risk-verdicts')!].sort(), ['risk-verdicts-2026.10', 'risk-verdicts-2026.11']);
    const profileBefore = structuredClone(server.getDoc('risk-profiles', 'u-1'));

    await s.write(batch);
    await s.write(batch.slice(10, 20));
    assert.equal(server.countDocs('risk-verdicts'), 42);
    assert.equal(await es.count('risk-verdicts'), 42);
    assert.deepEqual(server.getDoc('risk-profiles', 'u-1'), profileBefore, 'replayed verdicts are not counted again');
    assert.equal(s.counters.docsWritten, 94);
    assert.equal(s.counters.rejected, 0);
  });

  it('splits large writes into bulks bounded by count and bytes, and still resolves once all are written', async () => {
    const { sink: s } = await sink(es, undefined, { flushMaxDocs: 15, flushMaxBytes: 20_000, maxConcurrentBulks: 3 });
    const batch = verdicts(120);
    await s.write(batch);
    assert.equal(server.countDocs('risk-verdicts'), 120);
    assert.ok(s.counters.bulkRequests >= 240 / 30, `expected ≥ 8 bulks, got ${s.counters.bulkRequests}`);
  });

  it('concurrent writes each resolve after their own verdicts are stored', async () => {
    const { sink: s } = await sink(es, undefined, { flushIntervalMs: 20 });
    const first = verdicts(5, '2026-11-20T10:00:00.000Z', 3, 'x');
    const second = verdicts(7, '2026-11-21T10:00:00.000Z', 3, 'y');
    await Promise.all([
      s.write(first).then(() => first.forEach((v) => assert.ok(server.getDoc('risk-verdicts-2026.11', v.event_id), v.event_id))),
      s.write(second).then(() => second.forEach((v) => assert.ok(server.getDoc('risk-verdicts-2026.11', v.event_id), v.event_id))),
    ]);
    assert.equal(server.countDocs('risk-verdicts'), 12);
  });

  it('retries failed items of a partly failed bulk until they are written', async () => {
    const { sink: s, rejects } = await sink(es);
    server.failItem('e-3', 503, 2);
    server.failItem('e-5', 429, 1);
    server.failItem('u-2', 500, 1); // the profile of u-2
    const batch = verdicts(10);
    await s.write(batch);
    assert.equal(server.countDocs('risk-verdicts'), 10);
    assert.ok(server.getDoc('risk-verdicts-2026.11', 'e-3'));
    assert.ok(server.getDoc('risk-verdicts-2026.11', 'e-5'));
    assert.equal(s.counters.retries, 4);
    assert.equal(s.counters.throttled, 1);
    assert.equal(rejects.messages.length, 0);
    const u2 = server.getDoc('risk-profiles', 'u-2') as { counts: { total: number } };
    assert.equal(u2.counts.total, batch.filter((v) => v.user_id === 'u-2').length);
  });

  it('backs off on 429 for whole requests and loses nothing', async () => {
    const { sink: s } = await sink(es);
    server.failNextRequests(3, 429);
    await s.write(verdicts(25));
    assert.equal(server.countDocs('risk-verdicts'), 25);
    assert.equal(server.statuses.get(429), 3);
    assert.equal(s.counters.throttled, 3);
    assert.equal(s.counters.bulkRequests, 4);
    assert.equal(s.counters.retries, 3 * 50);
  });

  it('fails the write as retriable when Elasticsearch keeps failing, and keeps nothing in the reject sink', async () => {
    const { sink: s, rejects } = await sink(es, undefined, { maxAttempts: 3 });
    server.failNextRequests(10, 503);
    const error = await s.write(verdicts(3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DependencyUnavailableError, String(error));
    assert.equal(error.retriable, true);
    assert.equal(s.counters.bulkRequests, 3);
    assert.equal(rejects.messages.length, 0);
    assert.equal(server.countDocs('risk-verdicts'), 0);
  });

  it('fails as retriable when items keep failing with 5xx', async () => {
    const { sink: s } = await sink(es, undefined, { maxAttempts: 2 });
    server.failItem('e-1', 503, 5);
    await assert.rejects(
      s.write(verdicts(3)),
      (e: unknown) => e instanceof DependencyUnavailableError && /e?1 bulk actions still failing/.test(e.message),
    );
    assert.equal(server.countDocs('risk-verdicts'), 2);
  });

  it("hands a verdict refused by the strict mapping to the reject sink with Elasticsearch's error, and writes the rest", async () => {
    const { sink: s, rejects } = await sink(es);
    const good = verdicts(3);
    const bad: Verdict = toAlert(verdict({ event_id: 'bad-1', event_time: '2026-11-20T11:00:00.000Z', rules: ['login-burst'] }));
    await s.write([good[0], bad, good[1], good[2]]);
    assert.equal(server.countDocs('risk-verdicts'), 3);
    assert.equal(rejects.messages.length, 1);
    const [message] = rejects.messages;
    assert.equal(message.stage, 'verdict-sink');
    assert.equal(message.key, 'u-1');
    assert.deepEqual(JSON.parse(String(message.raw)), JSON.parse(JSON.stringify(bad)));
    assert.equal(message.errors[0].path, 'risk-verdicts-2026.11');
    assert.match(
      message.errors[0].message,
      /^400 strict_dynamic_mapping_exception: .*dynamic introduction of \[alert_id\] within \[_doc\]/,
    );
    assert.equal(s.counters.rejected, 1);
  });

  it('rejects a wrongly typed field and maps features added later as numbers', async () => {
    const { sink: s, rejects } = await sink(es);
    const base = verdict({ event_id: 'f-1', event_time: '2026-11-20T11:00:00.000Z' });
    const withNew: Verdict = { ...base, features: { ...base.features, new_feature_1h: 3 } };
    const withFraction: Verdict = { ...base, event_id: 'f-2', features: { ...base.features, new_feature_1h: 2.5 } };
    const wrongType = { ...base, event_id: 'f-3', score: 'high' } as unknown as Verdict;
    await s.write([withNew, withFraction, wrongType]);
    assert.equal(server.countDocs('risk-verdicts'), 2);
    const features = server.indices.get('risk-verdicts-2026.11')!.mappings.properties!.features.properties!;
    assert.deepEqual(features.new_feature_1h, { type: 'double' });
    // Both the verdict and its profile update are refused: one message carrying both errors.
    assert.equal(rejects.messages.length, 1);
    assert.deepEqual(
      rejects.messages[0].errors.map((e) => e.path),
      ['risk-verdicts-2026.11', 'risk-profiles'],
    );
    assert.match(rejects.messages[0].errors[0].message, /document_parsing_exception: .*\[score\] of type \[integer\]/);
    assert.match(rejects.messages[0].errors[1].message, /document_parsing_exception: .*\[latest.score\] of type \[integer\]/);
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
    assert.equal(server.countDocs('risk-verdicts'), 4);
    await pending;
  });

  it('reports cluster health, and unreachable when nothing listens', async () => {
    const { sink: s } = await sink(es);
    assert.equal((await s.health()).status, 'green');
    server.healthStatus = 'yellow';
    assert.equal((await s.health()).status, 'yellow');
    server.healthStatus = 'red';
    assert.equal((await s.health()).status, 'red');

    const nowhere = client(`http://127.0.0.1:${await freePort()}`);
    const lost = new ElasticsearchVerdictSink(nowhere, new RecordingRejectSink(), { maxAttempts: 2, backoffBaseMs: 1 });
    assert.equal((await lost.health(500)).status, 'unreachable');
    await assert.rejects(
      lost.write(verdicts(1)),
      (e: unknown) => e instanceof DependencyUnavailableError && e.code === 'ELASTICSEARCH_UNAVAILABLE',
    );
    await assert.rejects(lost.ensureSetup(), DependencyUnavailableError);
    await nowhere.close();
  });
});
