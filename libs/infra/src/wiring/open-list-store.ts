import type { ListStore } from '@risk/domain/lists/list-store';
import { FileListStore } from '../list-store/file-list.store';
import { RedisListStore } from '../redis/redis-list.store';
import { openAdminState, type AdminStateOptions, type OpenedAdminStore } from './open-admin-state';

export type OpenedListStore = OpenedAdminStore<ListStore>;

export type ListStoreOptions = AdminStateOptions;

/** Where lists live: the same choice as for rule sets (docs/lists.md). */
export async function openListStore(options: ListStoreOptions): Promise<OpenedListStore> {
  const opened = await openAdminState<ListStore>(options, {
    files: (dataDir) => new FileListStore(dataDir),
    redis: (client, keyPrefix) => new RedisListStore(client, keyPrefix),
  });
  return { store: opened.stores, backend: opened.backend, close: () => opened.close() };
}
