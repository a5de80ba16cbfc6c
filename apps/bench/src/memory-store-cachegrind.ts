// Not a test: the in-memory feature store alone, for a reproducible count of its instructions and cache misses.
// `node <out>/apps/bench/src/memory-store-cachegrind.js <events.ndjson> [events] [passes] [wide]` decodes the first
// `events` (default 100,000) lines of the file up front, then applies them `passes` times (default 1; 0 measures the
// reading and decoding to subtract) to a fresh MemoryFeatureStore in batches of 1,000, with the default features or,
// with `wide`, the twenty of the memory bench, and prints the CPU time of each pass. The file: the replay stream of
// docs/benchmarks.md ("In-memory feature store CPU (H1"), `generateStream({ events: 200000, seed: 42, durationMs: 24 * 3600000 })` one per line
// (generating it here would cost more instructions than the store, and not the same number from run to run).
// On a shared machine CPU time moves ±10 % between runs; the counts do not when run as
//   valgrind --tool=cachegrind --cache-sim=yes --LL=8388608,16,64 --D1=32768,8,64 \
//     node --single-threaded <out>/apps/bench/src/memory-store-cachegrind.js events.ndjson
// (--single-threaded: no concurrent marking or compiling threads; two runs then agree to ~0.2 %, and two builds
// still differ by ~±2 % in LL misses from heap layout alone). docs/benchmarks.md ("In-memory feature store CPU (H1") has the figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent, MemoryFeatureStore, parseFeatureDefinitions, type StateInput } from '@risk/domain';
import { ENGINE_DEFAULTS } from './engine-defaults';
import { wideFeatures } from './memory.bench';

function main(): void {
  const [input, count, passCount, set] = process.argv.slice(2);
  if (input === undefined) throw new Error('usage: memory-store-cachegrind <events.ndjson> [events] [passes] [wide]');
  const events = Number(count ?? 100_000);
  const passes = Number(passCount ?? 1);
  const wide = set === 'wide';
  const defaults = parseFeatureDefinitions(JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')));
  const features = wide ? wideFeatures(defaults) : defaults;
  const batches: StateInput[][] = [];
  let batch: StateInput[] = [];
  for (const line of readFileSync(input, 'utf8').split('\n').slice(0, events)) {
    if (line === '') continue;
    const decoded = decodeEvent(line);
    if (!decoded.ok) continue;
    batch.push({ event: decoded.event, messageId: undefined });
    if (batch.length === 1_000) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  const figures: string[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const store = new MemoryFeatureStore(features, ENGINE_DEFAULTS.state);
    const before = process.cpuUsage();
    for (const inputs of batches) store.applySync('bench/0', inputs);
    const used = process.cpuUsage(before);
    figures.push(`${((used.user + used.system) / 1000).toFixed(0)} ms`);
  }
  process.stdout.write(`memory store, ${events} events, ${wide ? 'twenty' : 'default'} features: CPU per pass ${figures.join(', ')}\n`);
}

main();
