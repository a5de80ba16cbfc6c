import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import {
  DEFAULT_STATE_SETTINGS,
  MemoryFeatureStore,
  RiskPipeline,
  RuleSetHolder,
  knownFacts,
  loadFeatureFile,
  loadRuleFiles,
  parseDuration,
  type FeatureStore,
  type InboundMessage,
  type OutcomeCounts,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink, NdjsonVerdictSink } from '@risk/infra/files/ndjson-file.sinks';
import { readLineBatches } from '@risk/infra/files/ndjson-lines';
import { UsageError, parseArgs } from './args';

export interface ReplayIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export interface ReplaySummary extends OutcomeCounts {
  readonly lines: number;
  readonly seconds: number;
}

/** Options of `risk-engine replay`; see SPEC §7. */
export const REPLAY_USAGE =
  'usage: risk-engine replay --input <file|-> --output <file|-> [--rules <dir>] [--rejects <file>] [--allowed-lateness <duration>] [--state redis://host:port] [--batch-size <n>]';

/** Opens the `--state` backend for a URL; the store's `close` releases it. */
export type StateFactory = (url: string, features: ReturnType<typeof loadFeatureFile>, lateness: number) => Promise<FeatureStore>;

/**
 * Runs the service's pipeline over an NDJSON file with in-memory state.
 * Exit code 0 once the input was readable (whatever the events held), 2 for
 * unusable arguments or unreadable input.
 */
export async function runReplay(argv: readonly string[], io: ReplayIo, stateFactory: StateFactory): Promise<number> {
  let args: Map<string, string>;
  let lateness: number;
  let batchSize: number;
  try {
    args = parseArgs(argv, ['input', 'output', 'rules', 'rejects', 'allowed-lateness', 'state', 'batch-size']);
    if (!args.has('input') || !args.has('output')) throw new UsageError('--input and --output are required');
    lateness = args.has('allowed-lateness') ? parseDuration(args.get('allowed-lateness')!) : DEFAULT_STATE_SETTINGS.allowedLatenessMs;
    batchSize = Number(args.get('batch-size') ?? '1000');
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
      throw new UsageError('--batch-size must be an integer from 1 to 100000');
    if (args.has('state') && !/^rediss?:\/\//.test(args.get('state')!)) throw new UsageError('--state must be a redis:// URL');
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${REPLAY_USAGE}\n`);
    return 2;
  }

  const rulesDir = args.get('rules') ?? 'rules';
  let features;
  let rules;
  try {
    features = loadFeatureFile(rulesDir);
    rules = loadRuleFiles(rulesDir, knownFacts(features));
  } catch (error) {
    io.stderr.write(`cannot load rules from ${rulesDir}: ${(error as Error).message}\n`);
    return 2;
  }

  const inputPath = args.get('input')!;
  let input: Readable;
  if (inputPath === '-') input = io.stdin;
  else {
    try {
      await access(inputPath);
    } catch (error) {
      io.stderr.write(`cannot read input ${inputPath}: ${(error as Error).message}\n`);
      return 2;
    }
    input = createReadStream(inputPath, { highWaterMark: 1 << 20 });
  }
  const outputPath = args.get('output')!;
  const output: Writable = outputPath === '-' ? io.stdout : createWriteStream(outputPath);
  const rejectsPath = args.get('rejects');
  const rejectsOut = rejectsPath === undefined ? undefined : createWriteStream(rejectsPath);

  const settings = { ...DEFAULT_STATE_SETTINGS, allowedLatenessMs: lateness };
  let store: FeatureStore;
  if (args.has('state')) {
    try {
      store = await stateFactory(args.get('state')!, features, lateness);
    } catch (error) {
      io.stderr.write(`cannot open state ${args.get('state')!}: ${(error as Error).message}\n`);
      return 2;
    }
  } else store = new MemoryFeatureStore(features, settings);

  const verdicts = new NdjsonVerdictSink(output);
  const rejects = new NdjsonRejectSink(rejectsOut);
  const pipeline = new RiskPipeline(
    store,
    new RuleSetHolder({ version: 1, rules }),
    { verdicts, alerts: new CountingAlertPublisher(), rejects },
    { alertThreshold: 'MEDIUM' },
  );

  const counts: OutcomeCounts = { accepted: 0, late: 0, duplicate: 0, rejected: 0 };
  const started = performance.now();
  let lineNumber = 0;
  try {
    for await (const lines of readLineBatches(input, batchSize)) {
      const messages: InboundMessage[] = [];
      for (const text of lines) {
        lineNumber++;
        // Blank lines carry no event; they are skipped, not rejected.
        if (text.length === 0 || text.trim().length === 0) continue;
        messages.push({ value: text, source: { line: lineNumber } });
      }
      // A replay file is one partition (SPEC §7).
      const batch = await pipeline.process('replay', messages);
      counts.accepted += batch.counts.accepted;
      counts.late += batch.counts.late;
      counts.duplicate += batch.counts.duplicate;
      counts.rejected += batch.counts.rejected;
    }
  } catch (error) {
    io.stderr.write(`cannot read input ${inputPath}: ${(error as Error).message}\n`);
    return 2;
  } finally {
    await store.close();
  }
  await Promise.all([endStream(output, outputPath === '-'), rejectsOut === undefined ? Promise.resolve() : endStream(rejectsOut, false)]);
  const seconds = (performance.now() - started) / 1000;
  const summary: ReplaySummary = { lines: lineNumber, ...counts, seconds };
  io.stderr.write(formatSummary(summary) + '\n');
  return 0;
}

export function formatSummary(s: ReplaySummary): string {
  const rate = s.seconds > 0 ? Math.round((s.accepted + s.late + s.duplicate + s.rejected) / s.seconds) : 0;
  return (
    `replay: ${s.lines} lines; accepted ${s.accepted + s.late} (of which late ${s.late}), duplicates ${s.duplicate}, rejected ${s.rejected}; ` +
    `${s.seconds.toFixed(2)} s, ${rate} events/s`
  );
}

function endStream(stream: Writable, isStdout: boolean): Promise<void> {
  if (isStdout) return new Promise((resolve) => (stream.write('') ? resolve() : stream.once('drain', () => resolve())));
  return new Promise((resolve, reject) => {
    (stream as WriteStream).once('error', reject);
    stream.end(() => resolve());
  });
}
