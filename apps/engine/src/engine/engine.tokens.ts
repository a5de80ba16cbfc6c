import type { EngineConfig } from '@risk/infra/config/engine-config';

/**
 * Injection token for the validated configuration. An abstract class, like
 * the ports, so it can be injected by type without string tokens.
 */
export abstract class EngineSettings {
  abstract readonly config: EngineConfig;
}

/** Something that must be stopped, drained or closed during shutdown, in phases. */
export interface ShutdownParticipant {
  /** Phase 1: stop taking new input (consumers, HTTP ingest). */
  stopIntake?(): Promise<void>;
  /** Phase 2: finish in-flight work, flush sinks, commit. */
  drain?(): Promise<void>;
  /** Phase 3: close clients. */
  close?(): Promise<void>;
}
