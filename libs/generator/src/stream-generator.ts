import { SeededRandom } from './random';

export interface StreamOptions {
  readonly events: number;
  readonly seed: number;
  /** Event time of the first event, epoch ms. Default 2026-11-20T00:00:00Z. */
  readonly startMs?: number;
  /** Span of event time covered by the stream. Default: 1 event per 400 ms on average. */
  readonly durationMs?: number;
  /** Share of events shifted back within the allowed lateness. Default 0.05. */
  readonly outOfOrderRate?: number;
  /** Share of events shifted back beyond it (late). Default 0.002. */
  readonly lateRate?: number;
  /** Share of events re-sent with the same event_id (some with a changed payload). Default 0.01. */
  readonly duplicateRate?: number;
  /** Share of malformed lines. Default 0.001. */
  readonly malformedRate?: number;
}

const CITIES = ['Paris', 'Lyon', 'Berlin', 'Madrid', 'Lisbon', 'Warsaw', 'Rome', 'Vienna', 'Dublin', 'Prague', 'Oslo', 'Athens'];
const DEFAULT_START = Date.UTC(2026, 10, 20, 0, 0, 0);

interface User {
  readonly id: string;
  readonly city: string;
  readonly devices: readonly string[];
  readonly ip: string;
}

interface Draft {
  time: number;
  event: Record<string, unknown>;
}

/**
 * A realistic, seeded stream of events as NDJSON lines: normal traffic plus
 * account takeover, credential stuffing, registration farms and device
 * farms, with out-of-order, late and duplicate events and a few malformed
 * lines. The same options always give the same lines.
 */
export function generateStream(options: StreamOptions): string[] {
  const random = new SeededRandom(options.seed);
  const total = options.events;
  const start = options.startMs ?? DEFAULT_START;
  const duration = options.durationMs ?? Math.max(total * 400, 60_000);
  const userCount = Math.max(Math.floor(total / 25), 10);
  const users: User[] = [];
  for (let i = 0; i < userCount; i++) {
    const devices = [`dev-${i}-a`];
    if (random.chance(0.3)) devices.push(`dev-${i}-b`);
    users.push({ id: `user-${i}`, city: random.pick(CITIES), devices, ip: ipv4(random, i) });
  }

  const drafts: Draft[] = [];
  let seq = 0;
  const nextId = (): string => `evt-${options.seed}-${seq++}`;
  const emit = (time: number, event: Record<string, unknown>): void => {
    drafts.push({ time, event: { event_id: nextId(), ...event } });
  };

  // Attacks are sprinkled through the stream, about 1 per 400 events.
  const budget = total;
  while (drafts.length < budget) {
    const time = start + Math.floor(random.next() * duration);
    const roll = random.next();
    if (roll < 0.0025) accountTakeover(random, users, time, emit);
    else if (roll < 0.004) credentialStuffing(random, users, time, emit);
    else if (roll < 0.0048) registrationFarm(random, time, emit);
    else if (roll < 0.0056) deviceFarm(random, users, time, emit);
    else normalEvent(random, random.pick(users), time, emit);
  }
  drafts.length = Math.min(drafts.length, budget);
  drafts.sort((a, b) => a.time - b.time);

  const lines: string[] = [];
  const outOfOrder = options.outOfOrderRate ?? 0.05;
  const late = options.lateRate ?? 0.002;
  const duplicates = options.duplicateRate ?? 0.01;
  const malformed = options.malformedRate ?? 0.001;
  const emitted: Record<string, unknown>[] = [];
  for (const draft of drafts) {
    let time = draft.time;
    const roll = random.next();
    if (roll < late) time -= random.int(11 * 60_000, 40 * 60_000);
    else if (roll < late + outOfOrder) time -= random.int(1, 9 * 60_000);
    const event = { ...draft.event, event_time: random.chance(0.1) ? time : new Date(time).toISOString() };
    lines.push(JSON.stringify(event));
    emitted.push(event);
    if (random.chance(duplicates) && emitted.length > 1) {
      const original = emitted[random.int(Math.max(0, emitted.length - 50), emitted.length)];
      const copy = random.chance(0.3) ? { ...original, location_city: random.pick(CITIES) } : original;
      lines.push(JSON.stringify(copy));
    }
    if (random.chance(malformed)) lines.push(malformedLine(random, time));
    if (lines.length >= total) break;
  }
  while (lines.length < total) lines.push(malformedLine(random, start));
  return lines.slice(0, total);
}

function normalEvent(random: SeededRandom, user: User, time: number, emit: (t: number, e: Record<string, unknown>) => void): void {
  const roll = random.next();
  const type =
    roll < 0.45
      ? 'login'
      : roll < 0.6
        ? 'logout'
        : roll < 0.85
          ? 'payment'
          : roll < 0.93
            ? 'login_failed'
            : roll < 0.97
              ? 'password_reset'
              : 'page_view';
  const event: Record<string, unknown> = {
    user_id: user.id,
    event_type: type,
    ip_address: random.chance(0.9) ? user.ip : '',
    device_id: random.chance(0.95) ? random.pick(user.devices) : undefined,
    location_city: random.chance(0.95) ? user.city : '',
  };
  if (type === 'payment') event.amount = random.chance(0.95) ? Math.round(Math.exp(random.next() * 6) * 100) / 100 : undefined;
  if (random.chance(0.1)) event.user_agent = 'Mozilla/5.0';
  emit(time, event);
}

/** A new device in a new city logs in within minutes of the user's normal activity. */
function accountTakeover(random: SeededRandom, users: User[], time: number, emit: (t: number, e: Record<string, unknown>) => void): void {
  const user = random.pick(users);
  emit(time, { user_id: user.id, event_type: 'login', ip_address: user.ip, device_id: user.devices[0], location_city: user.city });
  const attackerCity = CITIES.find((c) => c !== user.city)!;
  const attackerIp = `198.51.100.${random.int(1, 255)}`;
  const device = `dev-ato-${random.int(0, 1e9)}`;
  emit(time + random.int(60_000, 20 * 60_000), {
    user_id: user.id,
    event_type: 'login',
    ip_address: attackerIp,
    device_id: device,
    location_city: attackerCity,
  });
  emit(time + random.int(20 * 60_000, 40 * 60_000), {
    user_id: user.id,
    event_type: 'payment',
    ip_address: attackerIp,
    device_id: device,
    location_city: attackerCity,
    amount: 950 + random.int(0, 5000),
  });
}

/** One IP tries many accounts; a few succeed and then log in repeatedly. */
function credentialStuffing(
  random: SeededRandom,
  users: User[],
  time: number,
  emit: (t: number, e: Record<string, unknown>) => void,
): void {
  const ip = `203.0.113.${random.int(1, 255)}`;
  const attempts = random.int(10, 30);
  for (let i = 0; i < attempts; i++) {
    const user = random.pick(users);
    emit(time + i * random.int(500, 5_000), { user_id: user.id, event_type: 'login_failed', ip_address: ip, device_id: `dev-bot-${ip}` });
  }
  const victim = random.pick(users);
  for (let i = 0; i < random.int(6, 10); i++) {
    emit(time + attempts * 5_000 + i * random.int(10_000, 60_000), {
      user_id: victim.id,
      event_type: 'login',
      ip_address: ip,
      device_id: `dev-bot-${ip}`,
    });
  }
}

/** Many new accounts registered from one IP within minutes. */
function registrationFarm(random: SeededRandom, time: number, emit: (t: number, e: Record<string, unknown>) => void): void {
  const ip = random.chance(0.2) ? `2001:db8::${random.int(1, 0xffff).toString(16)}` : `192.0.2.${random.int(1, 255)}`;
  const count = random.int(15, 40);
  for (let i = 0; i < count; i++) {
    emit(time + i * random.int(2_000, 15_000), {
      user_id: `farm-${ip}-${i}-${random.int(0, 1e6)}`,
      event_type: 'register',
      ip_address: ip,
      device_id: `dev-farm-${random.int(0, 5)}`,
    });
  }
}

/** One physical device shared by many accounts. */
function deviceFarm(random: SeededRandom, users: User[], time: number, emit: (t: number, e: Record<string, unknown>) => void): void {
  const device = `dev-shared-${random.int(0, 1e6)}`;
  for (let i = 0; i < random.int(8, 25); i++) {
    const user = random.pick(users);
    emit(time + i * random.int(30_000, 300_000), {
      user_id: user.id,
      event_type: random.chance(0.5) ? 'login' : 'payment',
      amount: 20,
      device_id: device,
      location_city: user.city,
    });
  }
}

function malformedLine(random: SeededRandom, time: number): string {
  switch (random.int(0, 6)) {
    case 0:
      return '{"event_id": "broken", "user_id": ';
    case 1:
      return JSON.stringify({ event_id: `bad-${random.int(0, 1e9)}`, event_type: 'login', event_time: new Date(time).toISOString() });
    case 2:
      return JSON.stringify({ event_id: `bad-${random.int(0, 1e9)}`, user_id: 'u', event_type: 'login', event_time: '20/11/2026 10:00' });
    case 3:
      return JSON.stringify({
        event_id: `bad-${random.int(0, 1e9)}`,
        user_id: 'u',
        event_type: 'login',
        event_time: time,
        ip_address: '999.1.1.1',
      });
    case 4:
      return JSON.stringify([1, 2, 3]);
    default:
      return JSON.stringify({ event_id: `bad-${random.int(0, 1e9)}`, user_id: 'u', event_type: 'payment', event_time: time, amount: -5 });
  }
}

function ipv4(random: SeededRandom, i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) ^ random.int(0, 2)}`;
}
