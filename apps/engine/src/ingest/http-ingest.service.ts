import { Injectable, type OnModuleInit } from '@nestjs/common';
import {
  contentMessageId,
  InvalidInputError,
  MAX_EVENT_BYTES,
  RejectSink,
  RiskEngineError,
  RiskPipeline,
  settleResends,
  VerdictQuery,
  type FieldError,
  type ValidationResult,
  type InboundMessage,
  type MessageOutcome,
  type OutcomeCounts,
  type RejectedMessage,
  type Verdict,
} from '@risk/domain';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { EngineSettings } from '../engine/engine.tokens';
import { SerialQueue } from '../engine/serial-queue';
import { decodeUtf8, stripBom } from '../http/request-body';

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

/** The answer's counts: the four outcomes. Suppression shows per item (`alerted`, `verdict.suppressed`). */
export type IngestCounts = Pick<OutcomeCounts, 'accepted' | 'late' | 'duplicate' | 'rejected'>;

export interface IngestResult {
  readonly counts: IngestCounts;
  readonly results: readonly IngestItem[];
}

export class IngestUnavailableError extends RiskEngineError {
  constructor() {
    super('SHUTTING_DOWN', 'the engine is shutting down; retry against another instance', true);
  }
}

@Injectable()
export class HttpIngestService implements OnModuleInit {
  private readonly queue = new SerialQueue();
  private stopped = false;
  /** With Redis state, a resent event is recognised by its content (see `settleResends`). */
  private readonly recognisesResends: boolean;

  constructor(
    private readonly pipeline: RiskPipeline,
    private readonly rejects: RejectSink,
    private readonly metrics: EngineMetrics,
    private readonly lifecycle: EngineLifecycle,
    private readonly verdicts: VerdictQuery,
    settings: EngineSettings,
  ) {
    this.recognisesResends = settings.config.redis !== undefined;
  }

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
   * event fails the whole request with a 400 naming each bad line and field,
   * and nothing is applied, so the caller can fix and resend the body as a
   * whole. The bad lines still go to the reject sink and the rejects metric,
   * like rejects from Kafka or replay.
   */
  async ingest(body: Buffer, receivedAt: number): Promise<IngestResult> {
    if (this.stopped) throw new IngestUnavailableError();
    const lines = splitEvents(stripBom(body));
    if (lines.length === 0) {
      throw new InvalidInputError('INVALID_EVENTS', 'the body holds no event', [
        { path: '$', message: 'expected a JSON event or NDJSON lines' },
      ]);
    }
    if (lines.length > MAX_EVENTS_PER_REQUEST) {
      throw new InvalidInputError('TOO_MANY_EVENTS', `at most ${MAX_EVENTS_PER_REQUEST} events per request`, [
        { path: '$', message: `holds more than ${MAX_EVENTS_PER_REQUEST} events` },
      ]);
    }
    const errors: FieldError[] = [];
    const rejects: RejectedMessage[] = [];
    const rejectedByReason: NonNullable<OutcomeCounts['rejectedByReason']> = {};
    const messages: InboundMessage[] = [];
    for (const { line, text, bytes } of lines) {
      const decoded: ValidationResult =
        text === undefined
          ? { ok: false, errors: [{ path: '$', message: 'not valid UTF-8' }], reason: 'invalid' }
          : this.pipeline.validate(text);
      if (decoded.ok)
        messages.push({
          value: text!,
          source: { line },
          event: decoded.event,
          messageId: this.recognisesResends ? contentMessageId(HTTP_PARTITION, decoded.event) : undefined,
        });
      else {
        const prefix = lines.length === 1 && line === 1 ? '' : `line ${line}: `;
        for (const e of decoded.errors) errors.push({ path: `${prefix}${e.path}`, message: e.message });
        rejects.push({ raw: text ?? bytes, errors: decoded.errors, source: { line }, stage: 'validation' });
        rejectedByReason[decoded.reason] = (rejectedByReason[decoded.reason] ?? 0) + 1;
      }
    }
    if (errors.length > 0) {
      await this.queue.run(() => this.rejects.reject(rejects));
      this.metrics.recordRejects('http', rejects.length, rejectedByReason);
      throw new InvalidInputError('INVALID_EVENTS', `${errors.length} problem(s) in the request; nothing was applied`, errors);
    }
    return this.queue.run(async () => {
      const started = performance.now();
      const decided = await settleResends(await this.pipeline.decide(HTTP_PARTITION, messages), this.verdicts);
      await this.pipeline.deliver(decided);
      const seconds = (performance.now() - started) / 1000;
      this.metrics.recordBatch('http', decided.counts, seconds);
      this.metrics.recordLatency('http', (Date.now() - receivedAt) / 1000);
      for (const alert of decided.alerts) this.metrics.recordAlerts(alert.risk_level, 1);
      this.metrics.recordRuleHits(decided.verdicts);
      return {
        // Not the pipeline's counts object: its breakdowns by kind and reason are for the metrics, not the API.
        counts: {
          accepted: decided.counts.accepted,
          late: decided.counts.late,
          duplicate: decided.counts.duplicate,
          rejected: decided.counts.rejected,
        },
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

/** One non-blank line of a body: its text, or `undefined` when its bytes are not UTF-8. */
interface BodyLine {
  readonly line: number;
  readonly text: string | undefined;
  readonly bytes: Buffer;
}

/**
 * Cuts at "\n" bytes (never inside a UTF-8 sequence) and decodes each line
 * strictly, so a bad byte is reported on its own line. Stops counting past
 * `MAX_EVENTS_PER_REQUEST` events: such a body is refused whatever it holds.
 */
function splitEvents(body: Buffer): BodyLine[] {
  const out: BodyLine[] = [];
  let start = 0;
  for (let line = 1; start <= body.length && out.length <= MAX_EVENTS_PER_REQUEST; line++) {
    const newline = body.indexOf(0x0a, start);
    const end = newline === -1 ? body.length : newline;
    const bytes = body.subarray(start, end > start && body[end - 1] === 0x0d ? end - 1 : end);
    if (bytes.length > 0) {
      const text = decodeUtf8(bytes);
      if (text === undefined || text.trim().length > 0) out.push({ line, text, bytes });
    }
    if (newline === -1) break;
    start = newline + 1;
  }
  // A pretty-printed JSON event spans several lines: then the body as a whole
  // is one JSON value while its first line alone is not. NDJSON has a whole
  // event (or a bad line) on line 1, and a bad line further down is named by
  // its number. Only a body that could be one event (64 KiB) is tried whole.
  if (out.length > 1 && body.length <= MAX_EVENT_BYTES && !parsesAsJson(out[0].text)) {
    const whole = decodeUtf8(body);
    if (parsesAsJson(whole)) return [{ line: 1, text: whole, bytes: body }];
  }
  return out;
}

function parsesAsJson(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
