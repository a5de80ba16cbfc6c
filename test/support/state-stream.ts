import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFeatureDefinitions, type FeatureDefinition, type RiskEvent, type StateInput } from '@risk/domain';
import { SeededRandom } from '@risk/generator';

export interface StreamOptions {
  readonly seed: number;
  readonly events: number;
  /** Event-time span of the stream. */
  readonly spanMs: number;
  readonly users: number;
  readonly ips: number;
  readonly devices: number;
  readonly allowedLatenessMs: number;
  readonly startMs?: number;
  /** Share of events out of order but within the allowed lateness. */
  readonly outOfOrder?: number;
  /** Share of events older than the watermark (late). */
  readonly late?: number;
  /** Share of inputs repeating an earlier event_id (half with another payload, some as a redelivery of the same message). */
  readonly duplicates?: number;
  /** Messages carry `<partition>/<offset>` ids; default true. */
  readonly messageIds?: boolean;
  readonly partition?: string;
}

const TYPES: readonly [string, number][] = [
  ['login', 0.38],
  ['login_failed', 0.14],
  ['payment', 0.2],
  ['register', 0.1],
  ['logout', 0.1],
  ['password_reset', 0.05],
  ['profile_update', 0.03],
];
const CITIES = ['Paris', 'Lyon', 'Berlin', 'Madrid', 'Rome', 'Oslo', 'Lisbon', 'Vienna', 'Prague', 'Dublin', 'Zurich', 'Athens'];

/**
 * A reproducible stream of valid events: many users, IPs and devices (users
 * mostly stick to a few of their own, IPs and devices are shared), event
 * times mostly in order with some out of order within and beyond the allowed
 * lateness, and duplicates (same id, same or other payload, same or other message).
 */
export function generateStream(options: StreamOptions): StateInput[] {
  const rng = new SeededRandom(options.seed);
  const random = (): number => rng.next();
  const start = options.startMs ?? Date.UTC(2026, 10, 20, 0, 0, 0);
  const pick = <T>(list: readonly T[]): T => rng.pick(list);
  const int = (n: number): number => rng.int(0, n);
  const partition = options.partition ?? 'events/0';
  const out: StateInput[] = [];
  const step = options.spanMs / options.events;
  for (let i = 0; i < options.events; i++) {
    const messageId = options.messageIds === false ? undefined : `${partition}/${i}`;
    const roll = random();
    if (out.length > 10 && roll < (options.duplicates ?? 0.03)) {
      const earlier = out[out.length - 1 - int(Math.min(out.length, 500))];
      const kind = random();
      if (kind < 0.3 && earlier.messageId !== undefined) {
        // The same message delivered again (e.g. after a rebalance).
        out.push({ event: earlier.event, messageId: earlier.messageId });
      } else if (kind < 0.65) {
        out.push({ event: earlier.event, messageId });
      } else {
        const event: RiskEvent = { ...earlier.event, event_type: 'payment', amount: 1000 + int(50), device_id: `dev-x${int(5)}` };
        out.push({ event, messageId });
      }
      continue;
    }
    const now = Math.floor(start + i * step);
    let time = now;
    const timeRoll = random();
    if (timeRoll < (options.late ?? 0.03)) time = now - options.allowedLatenessMs - 1 - int(options.allowedLatenessMs * 2);
    else if (timeRoll < (options.late ?? 0.03) + (options.outOfOrder ?? 0.1)) time = now - int(options.allowedLatenessMs);
    const userIndex = int(options.users);
    const user = `u-${userIndex}`;
    // Users mostly keep to "their" devices, IPs and city; a few roam.
    const roams = random() < 0.15;
    const device = random() < 0.1 ? undefined : roams ? `d-${int(options.devices)}` : `d-${(userIndex * 7 + int(2)) % options.devices}`;
    const ip =
      random() < 0.08 ? undefined : roams ? `10.0.${int(options.ips) >> 8}.${int(options.ips) & 255}` : ipOf((userIndex * 3) % options.ips);
    const city = random() < 0.1 ? undefined : roams ? pick(CITIES) : CITIES[userIndex % CITIES.length];
    let typeRoll = random();
    let type = 'login';
    for (const [name, share] of TYPES) {
      if (typeRoll < share) {
        type = name;
        break;
      }
      typeRoll -= share;
    }
    const amount =
      type === 'payment' && random() < 0.95 ? Math.round(random() * 100_000) / 100 : type === 'login' && random() < 0.02 ? 0 : undefined;
    out.push({
      event: {
        event_id: `e-${options.seed}-${i}`,
        user_id: user,
        event_type: type,
        event_time: time,
        ip_address: ip,
        device_id: device,
        location_city: city,
        amount,
      },
      messageId,
    });
  }
  return out;
}

function ipOf(index: number): string {
  return `192.168.${index >> 8}.${index & 255}`;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The shipped feature definitions (rules/features.json), which the conformance suite and the Redis benches use. */
export function defaultDefinitions(): FeatureDefinition[] {
  return parseFeatureDefinitions(JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')));
}
