import type { Provider } from '@nestjs/common';
import { RuleSetStore } from '@risk/domain/rules/lifecycle';
import { ListAdministration } from '@risk/domain/lists/list-administration';
import { loadListFiles } from '@risk/domain/lists/list-files';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import { ListStore } from '@risk/domain/lists/list-store';
import { ListSync } from '@risk/domain/lists/list-sync';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { openListStore } from '@risk/infra/wiring/open-list-store';
import { OpenedLists } from './opened-lists';
import { ListsWatcher } from './lists.watcher';

/** Longest wait for Redis to answer when the engine starts. */
const REDIS_STARTUP_TIMEOUT_MS = 10_000;

/**
 * Lists (docs/lists.md): the store (Redis or files), the registry the
 * compiled rules read, loaded before the first event is decided (and seeded
 * from `rules/lists/` for lists the store does not hold yet), the sync that
 * keeps it current, the administration behind the admin API, and the watcher.
 */
export function listProviders(config: EngineConfig): Provider[] {
  return [
    {
      // Closed by ListsWatcher when it stops (its subscription first).
      provide: OpenedLists,
      useFactory: (): Promise<OpenedLists> =>
        openListStore({ redis: config.redis, dataDir: config.dataDir, redisReadyTimeoutMs: REDIS_STARTUP_TIMEOUT_MS }),
    },
    { provide: ListStore, useFactory: (opened: OpenedLists): ListStore => opened.store, inject: [OpenedLists] },
    {
      provide: ListAdministration,
      useFactory: (store: ListStore, rules: RuleSetStore, sync: ListSync): ListAdministration =>
        new ListAdministration(store, {
          activeRules: async () => {
            const version = await rules.activeVersion();
            return version === undefined ? [] : ((await rules.getVersion(version))?.rules ?? []);
          },
          // Read-your-writes: this instance decides with its own change at once.
          onChanged: () => sync.sync(),
        }),
      inject: [ListStore, RuleSetStore, ListSync],
    },
    { provide: ListRegistry, useValue: new ListRegistry() },
    {
      provide: ListSync,
      useFactory: async (store: ListStore, registry: ListRegistry, logger: JsonLogger, metrics: EngineMetrics): Promise<ListSync> => {
        const log = logger.child('lists');
        await seedListFiles(store, config.rulesDir, (name, entries) =>
          log.info('list seeded from the rules directory', { list: name, entries }),
        );
        const sync = new ListSync(store, registry, {
          onChange: (name, version, how, entries) => {
            log.info('list updated', { list: name, list_version: version, how, entries });
            metrics.setList(name, how === 'removed' ? undefined : version, entries);
          },
          onError: (error) => log.warn('cannot read the lists; will retry', { error: (error as Error).message }),
        });
        // Before the first event: rules naming lists decide with them from the start.
        await sync.sync();
        return sync;
      },
      inject: [ListStore, ListRegistry, JsonLogger, EngineMetrics],
    },
    ListsWatcher,
  ];
}

/**
 * Lists shipped in `rules/lists/` that the store has never held are created
 * and filled (actor `system`). A list deleted since (its audit trail remains)
 * is not brought back: afterwards the store is the truth.
 */
async function seedListFiles(store: ListStore, rulesDir: string, seeded: (name: string, entries: number) => void): Promise<void> {
  for (const file of loadListFiles(rulesDir)) {
    if ((await store.summary(file.name)) !== undefined || (await store.audit(file.name, 1, 0)).total > 0) continue;
    try {
      await store.create({ name: file.name, kind: file.kind, description: `seeded from ${rulesDir}/lists` }, 'system');
    } catch (error) {
      // Another instance seeded it first.
      if ((error as { code?: string }).code === 'LIST_EXISTS') continue;
      throw error;
    }
    await store.add(file.name, oneBatch(file.entries), 'system', 'upload');
    seeded(file.name, file.entries.length);
  }
}

async function* oneBatch<T>(items: readonly T[]): AsyncIterable<readonly T[]> {
  yield items;
}
