import {
  decodeEvent,
  ListMatcher,
  ListRegistry,
  MemoryFeatureStore,
  RiskPipeline,
  RuleSetHolder,
  type FeatureDefinition,
  type InboundMessage,
  type RuleDefinition,
} from '@risk/domain';
import { SeededRandom } from '@risk/generator';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { VerdictSink, type Verdict } from '@risk/domain';
import { ENGINE_DEFAULTS } from './engine-defaults';
import { fmt, line } from './stats';

class DroppingSink extends VerdictSink {
  bytes = 0;
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) this.bytes += JSON.stringify(v).length + 1;
    return Promise.resolve();
  }
}

const IP_ENTRIES = 1_000_000;
const CIDR_ENTRIES = 100_000;

/** Two rules on lists: a 1,000,000-address list and a 100,000-range list (IPv4 /16 – /28 and IPv6 /48 – /64). */
function listRules(): RuleDefinition[] {
  const rule = (id: string, list: string, level: 'HIGH' | 'MEDIUM', score: number): RuleDefinition => ({
    id,
    name: `ip in ${list}`,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'ip_address', operator: 'inList', value: list }] },
    event: { type: 'risk', params: { risk_level: level, score, reason: `ip in ${list}` } },
  });
  return [rule('bench-blocked-ip', 'bench_blocked_ips', 'HIGH', 90), rule('bench-blocked-range', 'bench_blocked_ranges', 'MEDIUM', 40)];
}

/**
 * The lists, seeded: the addresses include a share of the stream's own IPs
 * (so that the rules fire and the explanation path runs), the rest random;
 * the ranges are random, a few covering the stream's attacker ranges.
 */
function buildBenchLists(lines: readonly string[]): ListRegistry {
  const random = new SeededRandom(14);
  const streamIps = new Set<string>();
  for (let i = 0; i < lines.length && streamIps.size < 50_000; i += 7) {
    const decoded = decodeEvent(lines[i]);
    if (decoded.ok && decoded.event.ip_address !== undefined && random.chance(0.002)) streamIps.add(decoded.event.ip_address);
  }
  const ips = new ListMatcher('bench_blocked_ips', 'ip', 1);
  for (const ip of streamIps) ips.put(ip, Number.POSITIVE_INFINITY);
  while (ips.size < IP_ENTRIES) {
    const a = random.int(1, 223);
    ips.put(
      `${a}.${random.int(0, 255)}.${random.int(0, 255)}.${random.int(0, 255)}`,
      random.chance(0.1) ? Date.now() + 86_400_000 : Infinity,
    );
  }
  const ranges = new ListMatcher('bench_blocked_ranges', 'ip', 1);
  ranges.put('198.51.100.0/24', Number.POSITIVE_INFINITY);
  while (ranges.size < CIDR_ENTRIES) {
    if (random.chance(0.2)) {
      const prefix = random.pick([48, 56, 64]);
      const groups = [
        0x2001,
        random.int(0, 0xffff),
        random.int(0, 0xffff),
        prefix > 48 ? random.int(0, 0xffff) & (prefix === 56 ? 0xff00 : 0xffff) : 0,
      ];
      ranges.put(`${groups.map((g) => g.toString(16)).join(':')}::/${prefix}`, Number.POSITIVE_INFINITY);
    } else {
      const prefix = random.pick([16, 20, 24, 24, 24, 28]);
      const address =
        (((random.int(11, 223) << 24) | (random.int(0, 255) << 16) | (random.int(0, 255) << 8) | random.int(0, 255)) >>> 0) &
        maskOf(prefix);
      ranges.put(
        `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}/${prefix}`,
        Number.POSITIVE_INFINITY,
      );
    }
  }
  const registry = new ListRegistry();
  registry.install(ips);
  registry.install(ranges);
  return registry;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Events per second of wall time, and per second of this process's CPU time (less sensitive to other processes on a shared machine). */
async function throughput(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  holder: () => RuleSetHolder,
): Promise<{ wall: number; cpu: number }> {
  const pipeline = new RiskPipeline(
    new MemoryFeatureStore(features, ENGINE_DEFAULTS.state),
    holder(),
    { verdicts: new DroppingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
    { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
  );
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < lines.length; i += 1000) {
    const messages: InboundMessage[] = [];
    for (let j = i; j < Math.min(i + 1000, lines.length); j++) messages.push({ value: lines[j], source: { line: j + 1 } });
    await pipeline.process('bench', messages);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { wall: lines.length / ((performance.now() - started) / 1000), cpu: lines.length / ((cpu.user + cpu.system) / 1e6) };
}

/**
 * Issue 14 item 1: the in-memory pipeline with the bench rules plus two rules
 * on a 1,000,000-address list and a 100,000-range list, against the same
 * pipeline without them, alternating runs in one process (best of three
 * each, after a warm-up of both). Target ≥ 0.9×.
 */
export async function benchLists(lines: readonly string[], features: readonly FeatureDefinition[], rules: RuleDefinition[]): Promise<void> {
  const builtAt = performance.now();
  const registry = buildBenchLists(lines);
  const buildSeconds = (performance.now() - builtAt) / 1000;
  const withLists = [...rules, ...listRules()];
  const plain = (): RuleSetHolder => new RuleSetHolder({ version: 1, rules });
  const listed = (): RuleSetHolder => new RuleSetHolder({ version: 1, rules: withLists }, [], registry);
  await throughput(lines, features, plain);
  await throughput(lines, features, listed);
  // Alternating pairs: on a shared machine the load moves between runs, so each pair's ratio is reported and the median taken.
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  let base = 0;
  let lists = 0;
  for (let run = 0; run < 5; run++) {
    const b = await throughput(lines, features, plain);
    const l = await throughput(lines, features, listed);
    base = Math.max(base, b.wall);
    lists = Math.max(lists, l.wall);
    ratios.push(l.wall / b.wall);
    cpuRatios.push(l.cpu / b.cpu);
  }
  const median = [...ratios].sort((a, b) => a - b)[2];
  const cpuMedian = [...cpuRatios].sort((a, b) => a - b)[2];
  // The lookups alone, on the stream's own addresses: two per event, as the two rules do.
  const addresses: string[] = [];
  for (const text of lines) {
    const decoded = decodeEvent(text);
    if (decoded.ok && decoded.event.ip_address !== undefined) addresses.push(decoded.event.ip_address);
  }
  const ips = registry.handle('bench_blocked_ips');
  const ranges = registry.handle('bench_blocked_ranges');
  let hits = 0;
  const lookedUpAt = performance.now();
  for (const address of addresses) {
    if (ips.has(address)) hits++;
    if (ranges.has(address)) hits++;
  }
  const lookupNs = ((performance.now() - lookedUpAt) * 1e6) / addresses.length;
  process.stdout.write(`\nlists: ${fmt(IP_ENTRIES)} addresses + ${fmt(CIDR_ENTRIES)} CIDR ranges in two extra rules (issue 14 item 1)\n`);
  line('matchers built', `${fmt(buildSeconds, 1)} s`);
  line('without lists (best of 5)', `${fmt(base)} events/s (${rules.length} rules)`);
  line('with lists (best of 5)', `${fmt(lists)} events/s (${withLists.length} rules): ${fmt(lists / base, 2)}×`);
  line('pairwise ratios', `${ratios.map((r) => fmt(r, 2)).join(' ')}; median ${fmt(median, 2)}×   (target ≥ 0.9×)`);
  line('pairwise ratios, per CPU second', `${cpuRatios.map((r) => fmt(r, 2)).join(' ')}; median ${fmt(cpuMedian, 2)}×`);
  line(
    'the two lookups alone',
    `${fmt(lookupNs)} ns/event (${fmt(hits)} hits), ${fmt((lookupNs * base) / 1e7, 1)} % of an event's time without lists`,
  );
}
