import { FeatureStore, MemoryFeatureStore, type StateSettings, type loadFeatureFile } from '@risk/domain';

/** The outcome of releasing a replay's state: clean, or what was left behind and how to remove it. */
export type StateRelease = { readonly clean: true } | { readonly clean: false; readonly message: string };

/** The feature state of one replay run. */
export interface ReplayState {
  readonly store: FeatureStore;
  /** Names the backend in error messages. */
  readonly description: string;
  /** Deletes what the replay stored and closes its connections, in bounded time, whether or not the run succeeded. */
  release(): Promise<StateRelease>;
}

export type StateOpened = { readonly ok: true; readonly state: ReplayState } | { readonly ok: false; readonly message: string };

/** Opens the `--state` backend for a URL. */
export type StateFactory = (url: string, features: ReturnType<typeof loadFeatureFile>, lateness: number) => Promise<StateOpened>;

export function memoryState(features: ReturnType<typeof loadFeatureFile>, settings: StateSettings): ReplayState {
  const store = new MemoryFeatureStore(features, settings);
  return {
    store,
    description: 'in-memory state',
    release: async () => {
      await store.close();
      return { clean: true };
    },
  };
}
