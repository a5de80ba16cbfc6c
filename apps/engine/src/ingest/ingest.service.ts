import { Injectable, type OnModuleInit } from '@nestjs/common';
import {
  decodeEvent,
  InvalidInputError,
  RiskEngineError,
  RiskPipeline,
  type FieldError,
  type InboundMessage,
  type MessageOutcome,
  type OutcomeCounts,
  type Verdict,
} from '@risk/domain';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { SerialQueue } from '../engine/serial-queue';

export const MAX_EVENTS_PER_REQUEST = 10_000;
/** HTTP ingest is one partition: requests are decided one after another, in arrival order. */
export const HTTP_PARTITION = 'http';

/** One line of the answer: the outcome, and the verdict when the event was accepted (late or not). */
export interface IngestItem {
  readonly line: number;
  readonly outcome: MessageOutcome['kind'];
  readonly event_id?: string;
  readonly alerted?: boolean;
  readonly verdict?: Verdict;
}

export interface IngestResult {
  readonly counts: OutcomeCounts;
  readonly results: readonly IngestItem[];
}

export class IngestUnavailableError extends RiskEngineError {
  constructor() {
    super('SHUTTING_DOWN', 'the engine is shutting down; retry against another instance', true);
  }
}

@Injectable()
export class IngestService implements OnModuleInit {
  private readonly queue = new SerialQueue();
  private stopped = false;

  constructor(
    private readonly pipeline: RiskPipeline,
    private readonly metrics: EngineMetrics,
    private readonly lifecycle: EngineLifecycle,
  ) {}

  onModuleInit(): void {
    this.lifecycle.register({
      stopIntake: () => {
        this.stopped = true;
        return Promise.resolve();
      },
      drain: () => this.queue.idle(),
    });
  }

  /**
   * Splits a body into events: one JSON object, or NDJSON (one event per
   * non-blank line). Every event is validated before any is decided: one bad
   * event fails the whole request with a 400 naming each bad field, and
   * nothing is applied, so the caller can fix and resend the body as a whole.
   */
  async ingest(body: string, receivedAt: number): Promise<IngestResult> {
    if (this.stopped) throw new IngestUnavailableError();
    const lines = splitEvents(body);
    if (lines.length === 0) {
      throw new InvalidInputError('INVALID_EVENTS', 'the body holds no event', [
        { path: '$', message: 'expected a JSON event or NDJSON lines' },
      ]);
    }
    if (lines.length > MAX_EVENTS_PER_REQUEST) {
      throw new InvalidInputError('TOO_MANY_EVENTS', `at most ${MAX_EVENTS_PER_REQUEST} events per request`, [
        { path: '$', message: `holds ${lines.length} events, more than ${MAX_EVENTS_PER_REQUEST}` },
      ]);
    }
    const errors: FieldError[] = [];
    const messages: InboundMessage[] = [];
    for (const { line, text } of lines) {
      const decoded = decodeEvent(text);
      if (decoded.ok) messages.push({ value: text, source: { line }, event: decoded.event });
      else {
        const prefix = lines.length === 1 && line === 1 ? '' : `line ${line}: `;
        for (const e of decoded.errors) errors.push({ path: `${prefix}${e.path}`, message: e.message });
      }
    }
    if (errors.length > 0) {
      throw new InvalidInputError('INVALID_EVENTS', `${errors.length} problem(s) in the request; nothing was applied`, errors);
    }
    return this.queue.run(async () => {
      const started = performance.now();
      const decided = await this.pipeline.process(HTTP_PARTITION, messages);
      const seconds = (performance.now() - started) / 1000;
      this.metrics.recordBatch('http', decided.counts, seconds);
      this.metrics.recordLatency('http', (Date.now() - receivedAt) / 1000);
      for (const alert of decided.alerts) this.metrics.recordAlerts(alert.risk_level, 1);
      return {
        counts: decided.counts,
        results: decided.outcomes.map((outcome, i) => toItem(lines[i].line, outcome)),
      };
    });
  }
}

function toItem(line: number, outcome: MessageOutcome): IngestItem {
  switch (outcome.kind) {
    case 'accepted':
    case 'late':
      return {
        line,
        outcome: outcome.kind,
        event_id: outcome.verdict.event_id,
        alerted: outcome.alert !== undefined,
        verdict: outcome.verdict,
      };
    case 'duplicate':
      return { line, outcome: outcome.kind, event_id: outcome.event_id };
    default:
      return { line, outcome: outcome.kind };
  }
}

function splitEvents(body: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (text.trim().length > 0) out.push({ line: i + 1, text });
  }
  // A pretty-printed single JSON object spans several lines: treat the body as one event.
  if (out.length > 1 && body.trimStart().startsWith('{') && !out.every((l) => l.text.trimStart().startsWith('{'))) {
    return [{ line: 1, text: body }];
  }
  return out;
}
