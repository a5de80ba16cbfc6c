import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  Backtest,
  LabelCollector,
  parseDuration,
  parseEventTime,
  type BacktestLabels,
  type BacktestReport,
  type DeclaredField,
  type InboundMessage,
} from '@risk/domain';
import { loadConfig } from '@risk/infra/config/engine-config';
import { readLineBatches } from '@risk/infra/files/ndjson-lines';
import { ReplacingFile, describeFsError } from '@risk/infra/files/replacing-file';
import { UsageError, parseArgs } from './args';
import { loadVersion, openVersionStore, parseVersionReference, type OpenedVersionStore, type VersionReference } from './backtest-versions';
import { formatBacktest } from './backtest-table';
import { exitCodeOf, Interruption } from './interruption';
import type { ReplayIo } from './replay.command';

export const BACKTEST_USAGE =
  'usage: risk-engine backtest --input <file|-> --baseline <rules dir | version N> --candidate <rules dir | version N> [--labels <file>] [--report <file>] [--store redis://host:port [--key-prefix risk:] | --data-dir <dir>] [--rules <dir>] [--allowed-lateness <duration>] [--now <ISO time>]';

const BATCH = 1000;

/**
 * Two rule set versions over one NDJSON file in one pass (docs/backtest.md):
 * prints the comparison table to stdout, the input summary to stderr, and
 * with `--report` writes the whole result as JSON (the file appears only when
 * complete). Exit 0 once the input was read to the end; 2 for unusable
 * arguments, versions, labels or input; 130 / 143 on SIGINT / SIGTERM.
 */
export async function runBacktest(argv: readonly string[], io: ReplayIo): Promise<number> {
  const defaults = loadConfig({});
  const fail = (message: string): number => {
    io.stderr.write(`backtest: ${message}\n`);
    return 2;
  };
  let args: Map<string, string>;
  let baselineRef: VersionReference;
  let candidateRef: VersionReference;
  let lateness: number;
  let referenceTime: number | undefined;
  try {
    args = parseArgs(argv, [
      'input',
      'baseline',
      'candidate',
      'labels',
      'report',
      'store',
      'key-prefix',
      'data-dir',
      'rules',
      'allowed-lateness',
      'now',
    ]);
    for (const flag of ['input', 'baseline', 'candidate'])
      if (!args.has(flag)) throw new UsageError('--input, --baseline and --candidate are required');
    const parsed = [
      parseVersionReference('--baseline', args.get('baseline')!),
      parseVersionReference('--candidate', args.get('candidate')!),
    ];
    for (const p of parsed) if (typeof p === 'string') throw new UsageError(p);
    [baselineRef, candidateRef] = parsed as VersionReference[];
    if (args.has('store') && args.has('data-dir')) throw new UsageError('give --store or --data-dir, not both');
    if (args.has('store') && !/^rediss?:\/\//.test(args.get('store')!)) throw new UsageError('--store must be a redis:// URL');
    if (args.has('key-prefix') && !args.has('store')) throw new UsageError('--key-prefix goes with --store');
    lateness = args.has('allowed-lateness') ? parseDuration(args.get('allowed-lateness')!) : defaults.state.allowedLatenessMs;
    referenceTime = args.has('now') ? parseEventTime(args.get('now')!) : undefined;
    if (Number.isNaN(referenceTime)) throw new UsageError('--now must be an ISO-8601 time with a zone, e.g. 2026-11-20T10:00:00Z');
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${BACKTEST_USAGE}\n`);
    return 2;
  }

  // The versions: folders as `replay --rules` loads them, stored ones from the store named.
  let opened: OpenedVersionStore | undefined;
  if ((baselineRef.kind === 'stored' || candidateRef.kind === 'stored') && (args.has('store') || args.has('data-dir'))) {
    const result = await openVersionStore({
      redisUrl: args.get('store'),
      keyPrefix: args.get('key-prefix'),
      dataDir: args.get('data-dir'),
    });
    if (typeof result === 'string') return fail(result);
    opened = result;
  }
  const featureDefaults = {
    rulesDir: args.get('rules') ?? 'rules',
    warn: (message: string) => io.stderr.write(`backtest: ${message}\n`),
    clock: referenceTime === undefined ? Date.now : () => referenceTime,
  };
  const baseline = await loadVersion(baselineRef, opened, featureDefaults);
  const candidate = typeof baseline === 'string' ? baseline : await loadVersion(candidateRef, opened, featureDefaults);
  await opened?.close();
  if (typeof baseline === 'string') return fail(`--baseline: ${baseline}`);
  if (typeof candidate === 'string') return fail(`--candidate: ${candidate}`);
  const fieldsProblem = differentFields(baseline.fields, candidate.fields);
  if (fieldsProblem !== undefined) return fail(fieldsProblem);

  let labels: BacktestLabels | undefined;
  if (args.has('labels')) {
    const read = await readLabels(args.get('labels')!);
    if (typeof read === 'string') return fail(read);
    labels = read;
  }

  const inputPath = args.get('input')!;
  let input: Readable;
  if (inputPath === '-') input = io.stdin;
  else {
    const problem = await stat(inputPath).then(
      (s) => (s.isDirectory() ? 'it is a folder, not a file' : undefined),
      (error: Error) => describeFsError(error),
    );
    if (problem !== undefined) return fail(`cannot read input ${inputPath}: ${problem}`);
    input = createReadStream(inputPath, { highWaterMark: 1 << 20 });
  }

  let report: ReplacingFile | undefined;
  const interruption = new Interruption(() => report?.discard());
  try {
    if (args.has('report')) {
      const target = resolve(args.get('report')!);
      // The report replaces its target when done: never the input or the labels it was computed from.
      const clash = await sameFileAsOneOf(target, [inputPath, args.get('labels')]);
      if (clash !== undefined) {
        input.destroy();
        return fail(`--report ${args.get('report')!} is ${clash}: refusing to overwrite it`);
      }
      const openedReport = await ReplacingFile.open(target, `--report ${args.get('report')!}`);
      if (!openedReport.ok) {
        input.destroy();
        return fail(openedReport.message);
      }
      report = openedReport.file;
    }

    const backtest = new Backtest(
      { baseline: baseline.version, candidate: candidate.version },
      {
        alertThreshold: defaults.alerts.threshold,
        settings: { ...defaults.state, allowedLatenessMs: lateness },
        fields: baseline.fields,
        maxEventTimeSkewMs: defaults.maxEventTimeSkewMs,
        eventTimeReference: referenceTime === undefined ? undefined : () => referenceTime,
        labels,
      },
    );
    const started = performance.now();
    const outcome = await Promise.race([
      decideAll(input, backtest),
      interruption.signalled.then((signal): RunOutcome => ({ kind: 'interrupted', signal })),
    ]);
    await backtest.close();
    if (outcome.kind !== 'done') {
      input.destroy();
      report?.discard();
      if (outcome.kind === 'interrupted') {
        io.stderr.write(`backtest: interrupted by ${outcome.signal}\n`);
        return exitCodeOf(outcome.signal);
      }
      return fail(`cannot read input ${inputPath}: ${describeFsError(outcome.error)}`);
    }
    const result = backtest.report();
    if (report !== undefined) {
      const written = await writeReport(report, `--report ${args.get('report')!}`, result);
      if (!written.ok) return fail(written.message);
    }
    io.stdout.write(formatBacktest(result));
    const seconds = (performance.now() - started) / 1000;
    io.stderr.write(formatSummary(outcome.lines, result, seconds) + '\n');
    return 0;
  } finally {
    interruption.dispose();
  }
}

type RunOutcome =
  | { readonly kind: 'done'; readonly lines: number }
  | { readonly kind: 'failed'; readonly error: Error }
  | { readonly kind: 'interrupted'; readonly signal: NodeJS.Signals };

/** Reads every line and decides it with both versions, one batch at a time; never throws. */
async function decideAll(input: Readable, backtest: Backtest): Promise<RunOutcome> {
  let lineNumber = 0;
  try {
    for await (const lines of readLineBatches(input, BATCH)) {
      const messages: InboundMessage[] = [];
      for (const line of lines) {
        lineNumber++;
        if (typeof line !== 'string') {
          // Not UTF-8: rejected as replay rejects it, before the decoder.
          backtest.countRejected(1);
          continue;
        }
        if (line.trim().length === 0) continue;
        messages.push({ value: line, source: { line: lineNumber } });
      }
      if (messages.length > 0) await backtest.decide(messages);
    }
    return { kind: 'done', lines: lineNumber };
  } catch (error) {
    return { kind: 'failed', error: error as Error };
  }
}

/** The labels file: one `{"event_id", "fraud": true|false}` per line; the first bad line stops the run, named. */
async function readLabels(path: string): Promise<BacktestLabels | string> {
  const problem = await stat(path).then(
    (s) => (s.isDirectory() ? 'it is a folder, not a file' : undefined),
    (error: Error) => describeFsError(error),
  );
  if (problem !== undefined) return `cannot read --labels ${path}: ${problem}`;
  const collector = new LabelCollector();
  let lineNumber = 0;
  try {
    for await (const lines of readLineBatches(createReadStream(path), BATCH)) {
      for (const line of lines) {
        lineNumber++;
        const errors =
          typeof line === 'string' ? collector.addLine(line, lineNumber) : [{ path: `line ${lineNumber}`, message: line.reason }];
        if (errors.length > 0) return `--labels ${path}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
      }
    }
  } catch (error) {
    return `cannot read --labels ${path}: ${describeFsError(error as Error)}`;
  }
  return collector.labels();
}

/** Which of `paths` (the input, the labels) names the same existing file as `target`, by device and inode. */
async function sameFileAsOneOf(target: string, paths: readonly (string | undefined)[]): Promise<string | undefined> {
  const identity = await stat(target).then(
    (s) => `${s.dev}:${s.ino}`,
    () => undefined,
  );
  if (identity === undefined) return undefined;
  for (const path of paths) {
    if (path === undefined || path === '-') continue;
    const other = await stat(path).then(
      (s) => `${s.dev}:${s.ino}`,
      () => undefined,
    );
    if (other === identity) return `the same file as ${path}`;
  }
  return undefined;
}

/** Both versions decode events alike: they must declare the same event fields (docs/fields.md). */
function differentFields(baseline: readonly DeclaredField[], candidate: readonly DeclaredField[]): string | undefined {
  const describe = (fields: readonly DeclaredField[]): string =>
    fields
      .map((f) => `${f.name}: ${f.type}`)
      .sort()
      .join(', ');
  const [a, b] = [describe(baseline), describe(candidate)];
  if (a === b) return undefined;
  return `the versions declare different event fields (baseline: ${a || 'none'}; candidate: ${b || 'none'}): a backtest decodes events once`;
}

async function writeReport(
  file: ReplacingFile,
  label: string,
  report: BacktestReport,
): Promise<{ readonly ok: true } | { readonly ok: false; readonly message: string }> {
  file.stream.write(JSON.stringify(report, null, 2) + '\n');
  const finished = await file.finish(label);
  if (!finished.ok) {
    file.discard();
    return finished;
  }
  return file.publish(label);
}

function formatSummary(lines: number, report: BacktestReport, seconds: number): string {
  const { accepted, late, duplicates, rejected } = report.input;
  const rate = seconds > 0 ? Math.round((accepted + duplicates + rejected) / seconds) : 0;
  return (
    `backtest: ${lines} lines; accepted ${accepted} (of which late ${late}), duplicates ${duplicates}, rejected ${rejected}; ` +
    `${seconds.toFixed(2)} s, ${rate} events/s`
  );
}
