import type { StateSettings } from '@risk/domain';

/**
 * The shipped defaults of ALLOWED_LATENESS, DEDUP_RETENTION and
 * LATEST_VALUE_RETENTION, written out for tests that build a store or a
 * pipeline directly (the engine and the CLI take theirs from CONFIG_TABLE).
 */
export const TEST_STATE_SETTINGS: StateSettings = {
  allowedLatenessMs: 10 * 60_000,
  dedupRetentionMs: 24 * 3_600_000,
  latestValueRetentionMs: 30 * 24 * 3_600_000,
};

/** The shipped MAX_EVENT_TIME_SKEW. */
export const TEST_MAX_EVENT_TIME_SKEW_MS = 5 * 60_000;
