import { loadConfig } from '@risk/infra/config/engine-config';

/** The shipped defaults (CONFIG_TABLE, no environment read), for benches that build a store or a pipeline directly. */
export const ENGINE_DEFAULTS = loadConfig({});
