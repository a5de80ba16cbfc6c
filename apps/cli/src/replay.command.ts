import type { Readable, Writable } from 'node:stream';
import {
  AlertSuppressor,
  MemoryCooldownStore,
  RiskEngineError,
  RiskPipeline,
  RuleSetHolder,
  knownFacts,
  loadFieldFile,
  loadRuleFiles,
  loadRulesDirLists,
  parseDuration,
  parseEventTime,
  type InboundMessage,
  type OutcomeCounts,
} from '@risk/domain';
import { loadConfig } from '@risk/infra/config/engine-config';
import { CountingAlertPublisher, NdjsonRejectSink, NdjsonVerdictSink } from '@risk/infra/files/ndjson-file.sinks';
import { readLineBatches, type NdjsonLine } from '@risk/infra/files/ndjson-lines';
import { describeFsError } from '@risk/infra/files/replacing-file';
import { UsageError, parseArgs } from './args';
import { Interruption, exitCodeOf } from './interruption';
import { resolveReplayPaths } from './replay-paths';
import { openReplayOutputs, type ReplayOutputs } from './replay-outputs';
import { memoryState, type ReplayState, type StateFactory } from './replay-state';
import { loadRulesDirFeatures } from '@risk/infra/wiring/rules-dir-features';

export type { StateFactory } from './replay-state';

export interface ReplayIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** File descriptor behind `stdin`, to refuse `--input - --output f < f`. */
  readonly stdinFd?: number;
}

export interface ReplaySummary extends OutcomeCounts {
  readonly lines: number;
  readonly seconds: number;
}

/** Options of `risk-engine replay`; see SPEC §7. */
export const REPLAY_USAGE =
  'usage: risk-engine replay --input <file|-> --output <file|-> [--rules <dir>] [--rejects <file|->] [--allowed-lateness <duration>] [--state redis://host:port] [--batch-size <n>] [--now <ISO time>] [--max-event-time-skew <duration>]';

/**
 * Runs the service's pipeline over an NDJSON file with in-memory state.
 * Exit code 0 once the input was read to the end (whatever the events held);
 * 2 for unusable arguments, unreadable input, an output that cannot be
 * written, or a state backend that failed; 130 / 143 on SIGINT / SIGTERM.
 * Outputs appear only when complete (see ReplacingFile).
 */
export async function runReplay(argv: readonly string[], io: ReplayIo, stateFactory: StateFactory): Promise<number> {
  // The service's defaults (ALLOWED_LATENESS, MAX_EVENT_TIME_SKEW, the retentions), from the one config table; no environment is read.
  const defaults = loadConfig({});
  let args: Map<string, string>;
  let lateness: number;
  let batchSize: number;
  let maxEventTimeSkewMs: number;
  /** `--now`: the time events are judged against for being future-dated; default the wall clock. */
  let referenceTime: number | undefined;
  try {
    args = parseArgs(argv, [
      'input',
      'output',
      'rules',
      'rejects',
      'allowed-lateness',
      'state',
      'batch-size',
      'now',
      'max-event-time-skew',
    ]);
    if (!args.has('input') || !args.has('output')) throw new UsageError('--input and --output are required');
    lateness = args.has('allowed-lateness') ? parseDuration(args.get('allowed-lateness')!) : defaults.state.allowedLatenessMs;
    batchSize = Number(args.get('batch-size') ?? '1000');
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
      throw new UsageError('--batch-size must be an integer from 1 to 100000');
    if (args.has('state') && !/^rediss?:\/\//.test(args.get('state')!)) throw new UsageError('--state must be a redis:// URL');
    maxEventTimeSkewMs = args.has('max-event-time-skew') ? parseDuration(args.get('max-event-time-skew')!) : defaults.maxEventTimeSkewMs;
    referenceTime = args.has('now') ? parseEventTime(args.get('now')!) : undefined;
    if (Number.isNaN(referenceTime)) throw new UsageError('--now must be an ISO-8601 time with a zone, e.g. 2026-11-20T10:00:00Z');
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${REPLAY_USAGE}\n`);
    return 2;
  }

  const rulesDir = args.get('rules') ?? 'rules';
  let features;
  let fields;
  let rules;
  let lists;
  try {
    // A rules folder of one's own may leave out features.json: the shipped defaults then apply (issue 13 item 4).
    features = loadRulesDirFeatures(rulesDir, (message) => io.stderr.write(`replay: ${message}\n`));
    // Declared event fields (docs/fields.md): none when the folder has no fields.json.
    fields = loadFieldFile(rulesDir, features);
    rules = loadRuleFiles(rulesDir, knownFacts(features, fields));
    // Lists of rules/lists/ (docs/lists.md); expiry judged at --now when given, else the wall clock.
    lists = loadRulesDirLists(rulesDir, rules, referenceTime === undefined ? Date.now : () => referenceTime);
  } catch (error) {
    io.stderr.write(`cannot load rules from ${rulesDir}: ${(error as Error).message}\n`);
    return 2;
  }

  const inputPath = args.get('input')!;
  const outputPath = args.get('output')!;
  const rejectsPath = args.get('rejects');
  // Every path is checked before anything is written: a refused run leaves every file as it was.
  const resolved = await resolveReplayPaths({
    input: inputPath,
    output: outputPath,
    rejects: rejectsPath,
    stdin: io.stdin,
    stdinFd: io.stdinFd,
  });
  if (!resolved.ok) {
    io.stderr.write(`replay: ${resolved.message}\n`);
    return 2;
  }
  const { input } = resolved.paths;

  const settings = { ...defaults.state, allowedLatenessMs: lateness };
  let state: ReplayState;
  if (args.has('state')) {
    const opened = await stateFactory(args.get('state')!, features, settings);
    if (!opened.ok) {
      input.destroy();
      io.stderr.write(`replay: ${opened.message}\n`);
      return 2;
    }
    state = opened.state;
  } else state = await memoryState(features, settings);

  // A signal removes the temporary files at once; the run then stops and releases its state. Listening starts
  // before the files are opened: a signal between the two would otherwise kill the process and leave them behind.
  const current: { outputs?: ReplayOutputs } = {};
  const interruption = new Interruption(() => current.outputs?.discard());
  const opened = await openReplayOutputs(resolved.paths, { output: outputPath, rejects: rejectsPath }, io.stdout);
  if (!opened.ok) {
    interruption.dispose();
    input.destroy();
    io.stderr.write(`replay: ${opened.message}\n`);
    await releaseState(state, io);
    return 2;
  }
  const outputs = opened.outputs;
  current.outputs = outputs;

  const verdicts = new NdjsonVerdictSink(outputs.verdicts.stream);
  const rejects = new NdjsonRejectSink(outputs.rejects?.stream);
  const pipeline = new RiskPipeline(
    state.store,
    new RuleSetHolder({ version: 1, rules }, fields, lists),
    { verdicts, alerts: new CountingAlertPublisher(), rejects },
    {
      alertThreshold: 'MEDIUM',
      maxEventTimeSkewMs,
      eventTimeReference: referenceTime === undefined ? undefined : () => referenceTime,
      // Cooldowns on event time, kept for the replay's lateness; no snoozes (docs/suppression.md).
      suppressor: new AlertSuppressor(new MemoryCooldownStore({ latenessMs: lateness })),
    },
  );

  const started = performance.now();
  const outcome = await Promise.race([
    decideAll(input, pipeline, rejects, batchSize),
    interruption.signalled.then((signal): RunOutcome => ({ kind: 'interrupted', signal })),
  ]);
  try {
    if (outcome.kind !== 'done') {
      input.destroy();
      outputs.discard();
      const message =
        outcome.kind === 'interrupted'
          ? `interrupted by ${outcome.signal}`
          : outcome.stage === 'input'
            ? `cannot read input ${inputPath}: ${describeFsError(outcome.error)}`
            : describePipelineFailure(outcome.error, outputs, state);
      io.stderr.write(`replay: ${message}${outputs.leftAsItWas()}\n`);
      await releaseState(state, io);
      return outcome.kind === 'interrupted' ? exitCodeOf(outcome.signal) : 2;
    }
    // Cleanup trouble is reported, but does not undo a complete run: its verdicts are all there.
    await releaseState(state, io);
    const committed = await outputs.commit();
    if (!committed.ok) {
      io.stderr.write(`replay: ${committed.message}${outputs.leftAsItWas()}\n`);
      return 2;
    }
  } finally {
    interruption.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const summary: ReplaySummary = { lines: outcome.lines, ...outcome.counts, seconds };
  io.stderr.write(formatSummary(summary) + '\n');
  return 0;
}

type RunOutcome =
  | { readonly kind: 'done'; readonly lines: number; readonly counts: OutcomeCounts }
  | { readonly kind: 'failed'; readonly stage: 'input' | 'pipeline'; readonly error: Error }
  | { readonly kind: 'interrupted'; readonly signal: NodeJS.Signals };

/** Reads every line and runs it through the pipeline, one batch at a time; never throws. */
async function decideAll(input: Readable, pipeline: RiskPipeline, rejects: NdjsonRejectSink, batchSize: number): Promise<RunOutcome> {
  const counts: OutcomeCounts = { accepted: 0, late: 0, duplicate: 0, rejected: 0 };
  const decideBatch = async (messages: InboundMessage[]): Promise<void> => {
    if (messages.length === 0) return;
    // A replay file is one partition (SPEC §7).
    const batch = await pipeline.process('replay', messages);
    counts.accepted += batch.counts.accepted;
    counts.late += batch.counts.late;
    counts.duplicate += batch.counts.duplicate;
    counts.rejected += batch.counts.rejected;
  };
  const lineBatches = readLineBatches(input, batchSize)[Symbol.asyncIterator]();
  let lineNumber = 0;
  for (;;) {
    const next = await lineBatches.next().then(
      (result) => result,
      (error: Error) => error,
    );
    if (next instanceof Error) return { kind: 'failed', stage: 'input', error: next };
    if (next.done === true) return { kind: 'done', lines: lineNumber, counts };
    const failure = await decideLines(next.value).then(
      () => undefined,
      (error: Error) => error,
    );
    if (failure !== undefined) return { kind: 'failed', stage: 'pipeline', error: failure };
  }

  async function decideLines(lines: readonly NdjsonLine[]): Promise<void> {
    let messages: InboundMessage[] = [];
    for (const line of lines) {
      lineNumber++;
      if (typeof line === 'string') {
        // Blank lines carry no event; they are skipped, not rejected.
        if (line.length === 0 || line.trim().length === 0) continue;
        messages.push({ value: line, source: { line: lineNumber } });
        continue;
      }
      // Bytes that are not UTF-8 never reach the decoder (which would see U+FFFD); the lines
      // before it are decided first so that the rejects file stays in line order.
      await decideBatch(messages);
      messages = [];
      await rejects.reject([
        { raw: line.bytes, errors: [{ path: '$', message: line.reason }], source: { line: lineNumber }, stage: 'validation' },
      ]);
      counts.rejected++;
    }
    await decideBatch(messages);
  }
}

/** Names what failed: the output file, the rejects file, stdout, or the state backend. */
function describePipelineFailure(error: Error, outputs: ReplayOutputs, state: ReplayState): string {
  const failedOutput = outputs.failure(error);
  if (failedOutput !== undefined) return failedOutput;
  if (error instanceof RiskEngineError && (error.retriable || error.code.startsWith('REDIS')))
    return `${state.description} failed: ${error.message}`;
  return `failed: ${error.message}`;
}

async function releaseState(state: ReplayState, io: ReplayIo): Promise<void> {
  const released = await state.release();
  if (!released.clean) io.stderr.write(`replay: ${released.message}\n`);
}

export function formatSummary(s: ReplaySummary): string {
  const rate = s.seconds > 0 ? Math.round((s.accepted + s.late + s.duplicate + s.rejected) / s.seconds) : 0;
  return (
    `replay: ${s.lines} lines; accepted ${s.accepted + s.late} (of which late ${s.late}), duplicates ${s.duplicate}, rejected ${s.rejected}; ` +
    `${s.seconds.toFixed(2)} s, ${rate} events/s`
  );
}
