import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidInputError, ConflictError } from '@risk/domain';
import { ListAdministration } from '@risk/domain/lists/list-administration';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import { ListSync } from '@risk/domain/lists/list-sync';
import type { UploadLine } from '@risk/domain/lists/list-upload';
import type { RuleDefinition } from '@risk/domain';
import { FileListStore } from './file-list.store';

const NOW = Date.parse('2026-11-20T10:00:00Z');

function linesOf(text: string): () => Iterable<UploadLine> {
  return () => text.split('\n').map((line, i) => ({ line: i + 1, text: line }));
}

function rule(list: string): RuleDefinition {
  return {
    id: 'uses-list',
    name: 'uses a list',
    enabled: false,
    mode: 'active',
    priority: 1,
    conditions: { any: [{ fact: 'device_id', operator: 'notInList', value: list }] },
    event: { type: 'risk', params: { risk_level: 'LOW', score: 1, reason: 'r' } },
  };
}

describe('lists under DATA_DIR, administered and followed by a sync', () => {
  it('validates all or nothing, versions and audits changes, follows them in place, and survives a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-lists-spec-'));
    try {
      let rules: RuleDefinition[] = [];
      const store = new FileListStore(dir, () => new Date(NOW));
      const registry = new ListRegistry(() => NOW);
      const sync = new ListSync(store, registry);
      const admin = new ListAdministration(store, { activeRules: () => Promise.resolve(rules) });

      await admin.create({ name: 'devices', kind: 'string' }, 'alice');
      await assert.rejects(admin.create({ name: 'devices', kind: 'string' }, 'bob'), { code: 'LIST_EXISTS' });
      await assert.rejects(admin.create({ name: '../x', kind: 'set' }, 'bob'), (error: InvalidInputError) => {
        assert.deepEqual(
          error.errors.map((e) => e.path),
          ['name', 'kind'],
        );
        return true;
      });
      await sync.sync();
      assert.equal(registry.matcher('devices')?.version, 1);

      // CSV with a header, quotes, an expiry; one bad line makes the whole upload a 400 and nothing is applied.
      const bad = 'value,expires_at,note\nd-1,,first\n"d,2",2026-11-20T11:00:00Z,"say ""hi"""\n,,\nd-4,soon,\n';
      await assert.rejects(admin.upload('devices', 'csv', linesOf(bad), 'alice'), (error: InvalidInputError) => {
        assert.deepEqual(
          error.errors.map((e) => e.path),
          ['line 4.value', 'line 5.expires_at'],
        );
        return true;
      });
      assert.equal((await admin.get('devices')).entry_count, 0);
      const good = 'value,expires_at,note\nd-1,,first\n"d,2",2026-11-20T11:00:00Z,"say ""hi"""\n\nd-3\n';
      const uploaded = await admin.upload('devices', 'csv', linesOf(good), 'alice');
      assert.deepEqual([uploaded.version, uploaded.entry_count], [2, 3]);
      await admin.removeEntries('devices', ['d-3', 'not-there'], 'bob');

      await sync.sync();
      const matcher = registry.matcher('devices')!;
      assert.equal(matcher.version, 3);
      assert.equal(matcher.contains('d,2', NOW), true);
      assert.equal(matcher.contains('d,2', Date.parse('2026-11-20T11:00:00Z')), false);
      assert.equal(matcher.contains('d-3', NOW), false);

      // A list a rule uses cannot be deleted; once no rule uses it, it can, and its audit trail stays.
      rules = [rule('devices')];
      await assert.rejects(admin.delete('devices', 'bob'), (error: ConflictError) => {
        assert.equal(error.code, 'LIST_IN_USE');
        assert.deepEqual(error.details, { rules: ['uses-list'] });
        return true;
      });
      const audit = await admin.audit('devices', 10, 0);
      assert.deepEqual(
        audit.items.map((e) => [e.version, e.action, e.actor, e.count, e.sample]),
        [
          [3, 'remove', 'bob', 2, ['d-3', 'not-there']],
          [2, 'upload', 'alice', 3, ['d-1', 'd,2', 'd-3']],
          [1, 'create', 'alice', 0, []],
        ],
      );

      // Restart: a new store on the same directory reads the snapshot and the log.
      await store.close();
      const reopened = new FileListStore(dir);
      const summary = await reopened.summary('devices');
      assert.deepEqual([summary?.version, summary?.entry_count], [3, 2]);
      const exported: string[] = [];
      for await (const batch of reopened.entries('devices')) for (const entry of batch) exported.push(JSON.stringify(entry));
      assert.deepEqual(exported.sort(), [
        '{"value":"d,2","expires_at":"2026-11-20T11:00:00.000Z","note":"say \\"hi\\""}',
        '{"value":"d-1","expires_at":null,"note":"first"}',
      ]);
      assert.equal((await reopened.audit('devices', 10, 0)).total, 3);
      rules = [];
      const admin2 = new ListAdministration(reopened, { activeRules: () => Promise.resolve(rules) });
      await admin2.delete('devices', 'carol');
      const registry2 = new ListRegistry(() => NOW);
      registry2.install(matcher);
      await new ListSync(reopened, registry2).sync();
      assert.equal(registry2.matcher('devices'), undefined, 'a deleted list is uninstalled');
      assert.equal((await reopened.audit('devices', 10, 0)).items[0].action, 'delete');
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reloads a list in full after a bulk change, and swaps the new matcher in by reference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-lists-spec-'));
    try {
      const store = new FileListStore(dir);
      const registry = new ListRegistry(() => NOW);
      const sync = new ListSync(store, registry);
      const admin = new ListAdministration(store, { activeRules: () => Promise.resolve([]) });
      await admin.create({ name: 'ips', kind: 'ip' }, 'alice');
      await sync.sync();
      const first = registry.matcher('ips');
      const ndjson = Array.from({ length: 2500 }, (_, i) => JSON.stringify(`10.0.${i >> 8}.${i & 255}`)).join('\n');
      await admin.upload('ips', 'ndjson', linesOf(ndjson), 'alice');
      assert.equal(await store.changesSince('ips', 1), undefined, 'a bulk change is not replayed in place');
      await sync.sync();
      const second = registry.matcher('ips')!;
      assert.notEqual(second, first);
      assert.deepEqual([second.version, second.size], [2, 2500]);
      assert.equal(second.contains('::ffff:10.0.9.195', NOW), true);
      assert.equal(second.contains('10.0.9.196', NOW), false);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
