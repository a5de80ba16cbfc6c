import type { FieldError } from '../shared/errors';
import type { Alert, Verdict } from '../verdicts/verdict';

/**
 * Where verdicts go (Elasticsearch, memory, a replay file). `write` resolves
 * only when every verdict of the batch is durably written; the caller commits
 * its input only then. Writing the same verdict twice must be harmless
 * (upsert by event_id).
 */
export abstract class VerdictSink {
  abstract write(verdicts: readonly Verdict[]): Promise<void>;
  /** Pushes out anything buffered; called during shutdown. */
  async flush(): Promise<void> {}
}

/** Where alerts go (Kafka `risk-alerts`, memory). Resolves once acknowledged. */
export abstract class AlertPublisher {
  abstract publish(alerts: readonly Alert[]): Promise<void>;
  async flush(): Promise<void> {}
}

/** Where the input came from, for dead letters. */
export interface SourcePosition {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: string;
  /** 1-based line number in a replay or NDJSON body. */
  readonly line?: number;
}

/** A message the engine could not accept, kept with its reason (SPEC §1). */
export interface RejectedMessage {
  /** The original bytes or text, untouched. */
  readonly raw: Buffer | string;
  /** The Kafka key, when there was one. */
  readonly key?: Buffer | string | null;
  readonly errors: readonly FieldError[];
  readonly source: SourcePosition;
  /** Set when a sink (not validation) refused the verdict, e.g. a mapping error. */
  readonly stage?: 'validation' | 'verdict-sink';
}

/** Dead-letter topic, rejects file, or memory. Resolves once the rejects are durably kept. */
export abstract class RejectSink {
  abstract reject(messages: readonly RejectedMessage[]): Promise<void>;
  async flush(): Promise<void> {}
}
