import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import { RedisRuleSetStore } from '../redis/redis-rule-set.store';
import { FileRuleSetStore } from '../rule-store/file-rule-set.store';
import { openAdminState, type AdminStateOptions, type OpenedAdminStore } from './open-admin-state';

export type OpenedRuleSetStore = OpenedAdminStore<RuleSetStore>;

export type RuleSetStoreOptions = AdminStateOptions;

export async function openRuleSetStore(options: RuleSetStoreOptions): Promise<OpenedRuleSetStore> {
  const opened = await openAdminState<RuleSetStore>(options, {
    files: (dataDir) => new FileRuleSetStore(dataDir),
    redis: (client, keyPrefix) => new RedisRuleSetStore(client, keyPrefix),
  });
  return { store: opened.stores, backend: opened.backend, close: () => opened.close() };
}
