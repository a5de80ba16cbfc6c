import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { Controller, HttpCode, PayloadTooLargeException, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import {
  Backtest,
  InvalidInputError,
  LabelCollector,
  NotFoundError,
  RiskEngineError,
  RuleSetHolder,
  knownFacts,
  type BacktestLabels,
  type BacktestReport,
  type BacktestVersion,
  type FieldError,
  type InboundMessage,
  type RuleDefinition,
} from '@risk/domain';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import { RuleAdministration, checkRulePayload } from '@risk/domain/rules/lifecycle';
import { readLineBatches } from '@risk/infra/files/ndjson-lines';
import { AdminRoute } from '../auth/roles';
import { EngineSettings } from '../engine/engine.tokens';
import { decodeUtf8, stripBom } from '../http/request-body';
import { parseBacktestRequest, type BacktestRequest } from './backtest-request';

/** Events one backtest may decide (an upload or a stored sample): bounds its memory and its time. */
export const MAX_BACKTEST_EVENTS = 200_000;
/** Events decided between two yields to the event loop: ingest waits at most one chunk. */
const CHUNK = 1000;

/** 503: this instance is already running a backtest; retry when it is done. */
class BacktestBusyError extends RiskEngineError {
  constructor() {
    super('BACKTEST_BUSY', 'a backtest is already running on this instance; retry when it is done', true);
  }
}

/**
 * `POST /backtests` (docs/backtest.md): the CLI's `risk-engine backtest`
 * over HTTP, with the same domain code. The events are an uploaded NDJSON
 * body (`?baseline=3&candidate=4`) or a stored sample (a JSON body naming
 * `DATA_DIR/samples/<name>.ndjson`). It decides in chunks of 1000 events with
 * a yield to the event loop between them, one backtest at a time per
 * instance, and answers the whole report.
 */
@ApiTags('rules')
@ApiSecurity('api-key')
@Controller('backtests')
export class BacktestsController {
  private running = false;

  constructor(
    private readonly admin: RuleAdministration,
    private readonly holder: RuleSetHolder,
    private readonly lists: ListRegistry,
    private readonly settings: EngineSettings,
  ) {}

  @Post()
  @HttpCode(200)
  @AdminRoute('viewer')
  @ApiOperation({
    summary:
      'Backtest two rule set versions over a stored sample or an uploaded NDJSON body: hits per rule, level changes, alerts added/removed',
    description:
      `JSON: {"baseline": 3, "candidate": 4 | {"rules": [...]}, "sample": "<name>", "labels"?: [{"event_id", "fraud"}]}. ` +
      `NDJSON (application/x-ndjson): the events, with ?baseline=3&candidate=4. At most ${MAX_BACKTEST_EVENTS} events (413).`,
  })
  @ApiBody({ required: false, schema: { type: 'object', additionalProperties: true } })
  async run(@Req() request: Request, @Query() query: Record<string, unknown>): Promise<BacktestReport> {
    const upload = Buffer.isBuffer(request.body);
    const asked = parseBacktestRequest(request.body, query, upload);
    // Checked before anything is read: a second backtest would hold another copy of its events and state.
    if (this.running) throw new BacktestBusyError();
    this.running = true;
    try {
      const versions = await this.versions(asked);
      const events = upload ? uploadedLines(request.body as Buffer) : await this.sampleLines(asked.sample!);
      const labels = asked.labels ?? (upload ? undefined : await this.sampleLabels(asked.sample!));
      return await this.decide(versions, events, labels);
    } finally {
      this.running = false;
    }
  }

  private async versions(asked: BacktestRequest): Promise<{ baseline: BacktestVersion; candidate: BacktestVersion }> {
    const stored = await this.admin.getVersion(asked.baseline);
    const baseline: BacktestVersion = {
      source: `version ${stored.version}`,
      ruleSet: stored,
      features: this.admin.featuresOf(stored),
      lists: this.lists,
    };
    if ('version' in asked.candidate) {
      const other = await this.admin.getVersion(asked.candidate.version);
      return {
        baseline,
        candidate: { source: `version ${other.version}`, ruleSet: other, features: this.admin.featuresOf(other), lists: this.lists },
      };
    }
    // A draft: checked as the admin API checks a rule, against the baseline's features and the lists that exist.
    const facts = knownFacts(baseline.features, this.holder.current.fields);
    const known = new Set(this.lists.names());
    const errors: FieldError[] = [];
    const ids = new Set<string>();
    const drafts = asked.candidate.rules;
    if (drafts.length > this.admin.limits.maxRules)
      errors.push({ path: 'candidate.rules', message: `at most ${this.admin.limits.maxRules} rules` });
    else
      drafts.forEach((rule, i) => {
        const problems = checkRulePayload(rule, facts, this.admin.limits, known);
        for (const e of problems) errors.push({ path: `candidate.rules[${i}].${e.path}`, message: e.message });
        const id = (rule as { id?: unknown }).id;
        if (problems.length === 0 && ids.has(id as string))
          errors.push({ path: `candidate.rules[${i}].id`, message: `duplicate rule id "${String(id)}"` });
        ids.add(id as string);
      });
    if (errors.length > 0) throw new InvalidInputError('INVALID_RULE', errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
    return {
      baseline,
      candidate: {
        source: 'draft',
        ruleSet: { version: 0, rules: drafts as RuleDefinition[] },
        features: baseline.features,
        lists: this.lists,
      },
    };
  }

  private samplePath(name: string, suffix: string): string {
    return join(this.settings.config.dataDir, 'samples', `${name}${suffix}`);
  }

  /** The sample's lines, numbered from 1; a missing sample is a 404, one over the bound a 413. */
  private async sampleLines(name: string): Promise<SampleLine[]> {
    const path = this.samplePath(name, '.ndjson');
    const found = await stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!found) throw new NotFoundError('sample', `${name} (${path})`);
    const lines: SampleLine[] = [];
    let events = 0;
    for await (const batch of readLineBatches(createReadStream(path), CHUNK)) {
      for (const line of batch) {
        lines.push(line);
        if (typeof line !== 'string' || line.trim().length > 0) events++;
      }
      if (events > MAX_BACKTEST_EVENTS) throw tooManyEvents(`sample ${name}`);
    }
    return lines;
  }

  /** `DATA_DIR/samples/<name>.labels.ndjson`, used when present and the request brings no labels. */
  private async sampleLabels(name: string): Promise<BacktestLabels | undefined> {
    const path = this.samplePath(name, '.labels.ndjson');
    if (!existsSync(path)) return undefined;
    const collector = new LabelCollector();
    const errors: FieldError[] = [];
    let lineNumber = 0;
    for await (const batch of readLineBatches(createReadStream(path), CHUNK)) {
      for (const line of batch) {
        lineNumber++;
        if (typeof line === 'string') errors.push(...collector.addLine(line, lineNumber));
        else errors.push({ path: `line ${lineNumber}`, message: line.reason });
      }
    }
    if (errors.length > 0) {
      const named = errors.map((e) => ({ path: `${name}.labels.ndjson ${e.path}`, message: e.message }));
      throw new InvalidInputError('INVALID_LABELS', named.map((e) => `${e.path}: ${e.message}`).join('; '), named);
    }
    return collector.labels();
  }

  /** One pass over the lines in chunks, yielding to the event loop between them. */
  private async decide(
    versions: { baseline: BacktestVersion; candidate: BacktestVersion },
    lines: readonly SampleLine[],
    labels: BacktestLabels | undefined,
  ): Promise<BacktestReport> {
    const config = this.settings.config;
    const backtest = new Backtest(versions, {
      alertThreshold: config.alerts.threshold,
      settings: config.state,
      fields: this.holder.current.fields,
      maxEventTimeSkewMs: config.maxEventTimeSkewMs,
      labels,
    });
    try {
      let messages: InboundMessage[] = [];
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        if (typeof line !== 'string') backtest.countRejected(1);
        else if (line.trim().length > 0) messages.push({ value: line, source: { line: i + 1 } });
        if (messages.length === CHUNK || i === lines.length - 1) {
          if (messages.length > 0) await backtest.decide(messages);
          messages = [];
          await yieldToIo();
        }
      }
      return backtest.report();
    } finally {
      await backtest.close();
    }
  }
}

/** A line of text, or bytes that are not UTF-8 (rejected, counted). */
type SampleLine = string | { readonly reason: string };

/** The uploaded body's lines, each decoded as strict UTF-8 on its own; over the bound, a 413. */
function uploadedLines(body: Buffer): SampleLine[] {
  const bytes = stripBom(body);
  const lines: SampleLine[] = [];
  let events = 0;
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    const text = decodeUtf8(bytes.subarray(start, end > start && bytes[end - 1] === 0x0d ? end - 1 : end));
    const line: SampleLine = text ?? { reason: 'not valid UTF-8 (events are UTF-8, SPEC §1)' };
    lines.push(line);
    if (typeof line !== 'string' || line.trim().length > 0) events++;
    if (events > MAX_BACKTEST_EVENTS) throw tooManyEvents('the body');
    start = end + 1;
  }
  return lines;
}

function tooManyEvents(what: string): PayloadTooLargeException {
  return new PayloadTooLargeException(`${what} holds more than ${MAX_BACKTEST_EVENTS} events, the most one backtest decides`);
}
