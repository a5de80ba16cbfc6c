import type { Writable } from 'node:stream';
import { generateStream } from '@risk/domain';
import { writeChunk } from '@risk/infra/files/ndjson-file.sinks';
import { UsageError, parseArgs } from './args';

export const GENERATE_USAGE = 'usage: risk-engine generate --events <n> --seed <s> [--start <ISO time>] [--duration <duration>]';

/** Prints a seeded, realistic event stream as NDJSON on stdout. */
export async function runGenerate(argv: readonly string[], io: { stdout: Writable; stderr: Writable }): Promise<number> {
  let events: number;
  let seed: number;
  let startMs: number | undefined;
  try {
    const args = parseArgs(argv, ['events', 'seed', 'start']);
    events = Number(args.get('events') ?? '10000');
    seed = Number(args.get('seed') ?? '1');
    if (!Number.isInteger(events) || events < 1 || events > 50_000_000)
      throw new UsageError('--events must be an integer from 1 to 50000000');
    if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
    if (args.has('start')) {
      startMs = Date.parse(args.get('start')!);
      if (Number.isNaN(startMs)) throw new UsageError('--start must be an ISO-8601 time');
    }
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${GENERATE_USAGE}\n`);
    return 2;
  }
  const lines = generateStream({ events, seed, ...(startMs === undefined ? {} : { startMs }) });
  for (let i = 0; i < lines.length; i += 5000) await writeChunk(io.stdout, lines.slice(i, i + 5000).join('\n') + '\n');
  return 0;
}
