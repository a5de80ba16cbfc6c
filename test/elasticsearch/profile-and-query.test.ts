import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { InvalidInputError, type Verdict, type VerdictFilter } from '@risk/domain';
import { ElasticsearchVerdictQuery } from '@risk/infra/elasticsearch/elasticsearch-verdict.query';
import type { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { TestElasticsearchNode } from '../support/elasticsearch-node';
import { EsFaultProxy } from '../support/es-test-server';
import { NodeReader, client, sink, verdict, verdicts } from './es-fixtures';

/** Profiles (read-modify-write under optimistic concurrency) and verdict queries, against a real Elasticsearch 8 node. */
describe('risk profiles and verdict queries against a real Elasticsearch node', () => {
  let node: TestElasticsearchNode;
  let read: NodeReader;
  let prefix: string;
  let es: ElasticsearchClient;
  let query: ElasticsearchVerdictQuery;

  before(async () => {
    node = await TestElasticsearchNode.start();
    read = new NodeReader(node.url);
  });
  after(async () => {
    await node?.stop();
  });
  beforeEach(() => {
    prefix = node.prefix();
    es = client(node.url, prefix);
    query = new ElasticsearchVerdictQuery(es);
  });
  afterEach(async () => {
    await es.close();
    await node.deletePrefix(prefix);
  });

  describe('profile', () => {
    const t = (h: number) => new Date(Date.parse('2026-11-20T00:00:00.000Z') + h * 3_600_000).toISOString();

    it('keeps the latest verdict when an older one arrives late, counts each event once, and tracks the 24 h maximum', async () => {
      const { sink: s } = await sink(es);
      const high = verdict({ event_id: 'h', event_time: t(0), rules: ['device-and-city-change'] });
      const medium = verdict({ event_id: 'm', event_time: t(20), rules: ['login-burst'] });
      const latest = verdict({ event_id: 'l', event_time: t(30) });
      const late = verdict({ event_id: 'late', event_time: t(10), rules: ['ip-registration-farm'], late: true });
      await s.write([high, medium]);
      await s.write([latest]);
      await s.write([late]);

      const profile = await query.getProfile('u-1');
      assert.deepEqual(profile, {
        user_id: 'u-1',
        latest: { event_id: 'l', event_time: t(30), risk_level: 'LOW', score: 0 },
        highest_risk_24h: 'HIGH', // `late` (t+10 h) lies within (t+6 h, t+30 h]
        counts: { LOW: 1, MEDIUM: 1, HIGH: 2 },
        updated_at: latest.decided_at,
      });

      // Replays, in any order and batching, change nothing.
      await s.write([late, latest, medium, high]);
      await s.write([medium]);
      assert.deepEqual(await query.getProfile('u-1'), profile);

      // A newer LOW verdict moves the 24 h window past every HIGH.
      await s.write([verdict({ event_id: 'n', event_time: t(40) })]);
      const moved = await query.getProfile('u-1');
      assert.equal(moved?.highest_risk_24h, 'MEDIUM');
      assert.equal(moved?.latest.event_id, 'n');
      assert.equal(await query.getProfile('nobody'), undefined);
    });

    it('converges to the same profile whatever the arrival order', async () => {
      const { sink: s } = await sink(es);
      const list = verdicts(12, t(0), 1);
      await s.write(list);
      const inOrder = await read.source(`${prefix}-profiles`, 'u-0');
      const other = client(node.url, node.prefix());
      try {
        const { sink: s2 } = await sink(other);
        const shuffled = [list[7], list[11], list[0], list[3], list[9], list[1], list[10], list[2], list[5], list[8], list[4], list[6]];
        for (const v of shuffled) await s2.write([v]);
        assert.deepEqual(await read.source(`${other.indexPrefix}-profiles`, 'u-0'), inOrder);
      } finally {
        await other.close();
        await node.deletePrefix(other.indexPrefix);
      }
    });

    it('loses no update when two sink instances write the same profile at once (a 409 makes the loser read again)', async () => {
      const proxy = await EsFaultProxy.start(node.url);
      const viaProxy = client(proxy.url, prefix);
      try {
        const { sink: a } = await sink(viaProxy);
        const { sink: b } = await sink(es);
        await a.write([verdict({ event_id: 'first', event_time: t(0) })]);
        // A reads the profile, then its bulk is held until B has updated the same profile.
        const held = proxy.hold((method, path) => method === 'POST' && path === '/_bulk');
        const writeA = a.write([verdict({ event_id: 'from-a', event_time: t(1), rules: ['login-burst'] })]);
        await held.reached;
        await b.write([verdict({ event_id: 'from-b', event_time: t(2), rules: ['device-and-city-change'] })]);
        held.release();
        await writeA;
        assert.equal(a.counters.profileConflicts, 1, "A's conditional write lost to B's and was recomputed");
        const profile = await query.getProfile('u-1');
        assert.deepEqual(profile?.counts, { LOW: 1, MEDIUM: 1, HIGH: 1 });
        assert.equal(profile?.latest.event_id, 'from-b');
        assert.equal(profile?.highest_risk_24h, 'HIGH');

        // Many small writes from both instances at once, on the same users: every event counted exactly once.
        const many = verdicts(120, t(3), 2, 'm');
        const chunks = (list: Verdict[]) => Array.from({ length: Math.ceil(list.length / 3) }, (_, i) => list.slice(i * 3, i * 3 + 3));
        await Promise.all([
          ...chunks(many.filter((_, i) => i % 4 < 2)).map((c) => a.write(c)),
          ...chunks(many.filter((_, i) => i % 4 >= 2)).map((c) => b.write(c)),
          a.write(many.slice(0, 30)), // redelivered meanwhile to the other instance: counted once
        ]);
        const u0 = await query.getProfile('u-0');
        const u1 = await query.getProfile('u-1');
        const total = (p: typeof u0) => (p === undefined ? 0 : p.counts.LOW + p.counts.MEDIUM + p.counts.HIGH);
        assert.equal(total(u0), 60);
        assert.equal(total(u1), 63);
        assert.equal(u0?.latest.event_id, 'm-118');
        assert.equal(u1?.latest.event_id, 'm-119');
      } finally {
        await viaProxy.close();
        await proxy.stop();
      }
    });

    it('ignores an event older than the remembered ones once the list is full, so an old replay is never double counted', async () => {
      const { sink: s } = await sink(es, undefined, { profileRecentLimit: 3 });
      const list = verdicts(5, t(0), 1);
      await s.write(list);
      const first = await query.getProfile('u-0');
      const total = (p: typeof first) => (p === undefined ? 0 : p.counts.LOW + p.counts.MEDIUM + p.counts.HIGH);
      assert.equal(total(first), 5, 'in-order events are all counted');
      await s.write(list);
      assert.deepEqual(await query.getProfile('u-0'), first);
    });
  });

  describe('findVerdicts', () => {
    // 30 verdicts, one minute apart from 2026-11-30T23:50Z (so they span two monthly indices), users u-0..u-2.
    let all: Verdict[];
    const sorted = (list: Verdict[]) =>
      [...list].sort((a, b) => b.event_time.localeCompare(a.event_time) || (a.event_id < b.event_id ? 1 : -1));
    const ids = (list: readonly Verdict[]) => list.map((v) => v.event_id);
    const ms = (iso: string) => Date.parse(iso);

    // The queries only read: the verdicts are written once, under a prefix of their own.
    let readOnly: ElasticsearchClient;
    let query: ElasticsearchVerdictQuery;
    before(async () => {
      readOnly = client(node.url, node.prefix('query'));
      query = new ElasticsearchVerdictQuery(readOnly);
      const { sink: s } = await sink(readOnly);
      all = [
        ...verdicts(30, '2026-11-30T23:50:00.000Z'),
        verdict({ event_id: 'tie-b', event_time: '2026-11-30T23:55:00.000Z', user_id: 'u-9' }),
      ];
      await s.write(all);
      // Near-real-time: make the writes searchable before querying.
      await readOnly.refresh(`${readOnly.indexPrefix}-verdicts`);
    });
    after(async () => {
      await readOnly.close();
      await node.deletePrefix(readOnly.indexPrefix);
    });

    const cases: [string, VerdictFilter, (v: Verdict) => boolean][] = [
      ['no filter', {}, () => true],
      ['user_id', { user_id: 'u-1' }, (v) => v.user_id === 'u-1'],
      ['risk_level', { risk_level: 'HIGH' }, (v) => v.risk_level === 'HIGH'],
      ['risk_level LOW', { risk_level: 'LOW' }, (v) => v.risk_level === 'LOW'],
      ['rule_id (active rules only)', { rule_id: 'login-burst' }, (v) => v.rules.some((r) => r.id === 'login-burst')],
      ['rule_id of a shadow rule: no match', { rule_id: 'ip-registration-farm' }, () => false],
      [
        'from (inclusive) and to (exclusive)',
        { from: ms('2026-11-30T23:55:00.000Z'), to: ms('2026-12-01T00:05:00.000Z') },
        (v) => v.event_time >= '2026-11-30T23:55:00.000Z' && v.event_time < '2026-12-01T00:05:00.000Z',
      ],
      ['from alone', { from: ms('2026-12-01T00:10:00Z') }, (v) => v.event_time >= '2026-12-01T00:10:00.000Z'],
      ['to alone', { to: ms('2026-12-01T01:00:00+01:00') }, (v) => v.event_time < '2026-12-01T00:00:00.000Z'],
      [
        'combined',
        { user_id: 'u-2', risk_level: 'HIGH', from: ms('2026-11-30T23:59:00Z') },
        (v) => v.user_id === 'u-2' && v.risk_level === 'HIGH' && v.event_time >= '2026-11-30T23:59:00.000Z',
      ],
    ];
    for (const [name, filter, predicate] of cases) {
      it(`filters by ${name}, newest first`, async () => {
        const expected = sorted(all.filter(predicate));
        assert.ok(
          name.endsWith('no match') || (expected.length > 0 && (name === 'no filter' || expected.length < all.length)),
          'the case must discriminate',
        );
        const page = await query.findVerdicts({ ...filter, size: 1000 });
        assert.deepEqual(ids(page.items), ids(expected));
        assert.equal(page.next_search_after, undefined);
      });
    }

    it('pages through everything with search_after, without gaps or repeats, across months and ties', async () => {
      const expected = ids(sorted(all));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await query.findVerdicts({ size: 7, ...(cursor === undefined ? {} : { search_after: cursor }) });
        assert.ok(page.items.length <= 7);
        seen.push(...ids(page.items));
        cursor = page.next_search_after;
        if (cursor !== undefined) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
        pages += 1;
      } while (cursor !== undefined && pages < 20);
      assert.deepEqual(seen, expected);
      assert.equal(pages, 5);
      assert.ok(seen.indexOf('tie-b') !== -1 && seen.indexOf('e-5') === seen.indexOf('tie-b') + 1, 'same event_time: event_id desc');
    });

    it('pages with filters too', async () => {
      const expected = ids(sorted(all.filter((v) => v.user_id === 'u-0')));
      const first = await query.findVerdicts({ user_id: 'u-0', size: 6 });
      const second = await query.findVerdicts({ user_id: 'u-0', size: 6, search_after: first.next_search_after! });
      assert.deepEqual([...ids(first.items), ...ids(second.items)], expected);
      assert.equal(second.next_search_after, undefined);
    });

    it('refuses bad filters with InvalidInputError naming each field', async () => {
      await assert.rejects(
        query.findVerdicts({ size: 0, risk_level: 'SEVERE' as never, from: Number.NaN, search_after: 'not-a-cursor' }),
        (e: unknown) =>
          e instanceof InvalidInputError &&
          e.errors
            .map((f) => f.path)
            .sort()
            .join() === 'from,risk_level,search_after,size',
      );
    });

    it('gets one verdict by event_id from whichever monthly index holds it', async () => {
      assert.deepEqual(await query.getVerdict('e-29'), JSON.parse(JSON.stringify(all[29])));
      assert.deepEqual(await query.getVerdict('e-0'), JSON.parse(JSON.stringify(all[0])));
      assert.equal(await query.getVerdict('missing'), undefined);
    });
  });

  it('answers empty before any verdict was written (no alias yet)', async () => {
    assert.deepEqual(await query.findVerdicts({}), { items: [] });
    assert.equal(await query.getVerdict('e-1'), undefined);
    assert.equal(await query.getProfile('u-1'), undefined);
  });
});
