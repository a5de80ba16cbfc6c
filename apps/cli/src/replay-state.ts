import type { FeatureStore, StateSettings, loadFeatureFile } from '@risk/domain';
import { openFeatureStore } from '@risk/infra/wiring/open-feature-store';

export const REPLAY_CLEAN_USAGE = 'usage: risk-engine replay-clean --state redis://host:port --prefix replay-<hex>:';

/** The outcome of releasing a replay's state: clean, or what was left behind and how to remove it. */
export type StateRelease = { readonly clean: true } | { readonly clean: false; readonly message: string };

/** The feature state of one replay run. */
export interface ReplayState {
  readonly store: FeatureStore;
  /** Names the backend in error messages. */
  readonly description: string;
  /** Resolves once everything the batches decided so far is stored, rejects if some of it failed; the run waits for it before it completes. */
  settle?(): Promise<void>;
  /** Deletes what the replay stored and closes its connections, in bounded time, whether or not the run succeeded. */
  release(): Promise<StateRelease>;
}

export type StateOpened = { readonly ok: true; readonly state: ReplayState } | { readonly ok: false; readonly message: string };

/** Opens the `--state` backend for a URL. */
export type StateFactory = (url: string, features: ReturnType<typeof loadFeatureFile>, settings: StateSettings) => Promise<StateOpened>;

/** The service's in-memory state, without a budget: a replay holds what its input needs. */
export async function memoryState(features: ReturnType<typeof loadFeatureFile>, settings: StateSettings): Promise<ReplayState> {
  const opened = await openFeatureStore(features, { settings, redis: undefined, redisReadyTimeoutMs: 0 });
  return {
    store: opened.store,
    description: 'in-memory state',
    release: async () => {
      await opened.close();
      return { clean: true };
    },
  };
}
