const ISO_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MAX_EPOCH_MS = 8.64e15;
/** 400 Gregorian years: 146,097 days. */
const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;

/**
 * Parses SPEC §1 `event_time`: ISO-8601 with a mandatory zone, or integer
 * epoch milliseconds. Returns NaN when unparseable. Hand-written because
 * `Date.parse` accepts dates such as February 30 and zone-less strings
 * (which it would read as local time).
 */
export function parseEventTime(value: unknown): number {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && Math.abs(value) <= MAX_EPOCH_MS ? value : NaN;
  }
  if (typeof value !== 'string') return NaN;
  const canonical = parseCanonical(value);
  if (canonical !== undefined) return canonical;
  const m = ISO_WITH_ZONE.exec(value);
  if (m === null) return NaN;
  const second = m[6] === undefined ? 0 : +m[6];
  const millis = m[7] === undefined ? 0 : Math.floor(+(m[7] + '00').slice(0, 3));
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const offsetHours = +m[10];
    const offsetMins = +m[11];
    if (offsetHours > 23 || offsetMins > 59) return NaN;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  return utcMillis(+m[1], +m[2], +m[3], +m[4], +m[5], second, millis) - offsetMinutes * 60_000;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form `toISOString` and the generator write,
 * read without the regular expression (it runs once per event on the hot
 * path). Undefined when `value` is not in exactly that form: the regular
 * expression then decides.
 */
function parseCanonical(value: string): number | undefined {
  if (
    value.length !== 24 ||
    value.charCodeAt(4) !== 0x2d || // -
    value.charCodeAt(7) !== 0x2d ||
    value.charCodeAt(10) !== 0x54 || // T
    value.charCodeAt(13) !== 0x3a || // :
    value.charCodeAt(16) !== 0x3a ||
    value.charCodeAt(19) !== 0x2e || // .
    value.charCodeAt(23) !== 0x5a // Z
  ) {
    return undefined;
  }
  const year = digits(value, 0, 4);
  const month = digits(value, 5, 2);
  const day = digits(value, 8, 2);
  const hour = digits(value, 11, 2);
  const minute = digits(value, 14, 2);
  const second = digits(value, 17, 2);
  const millis = digits(value, 20, 3);
  if ((year | month | day | hour | minute | second | millis) < 0) return undefined;
  return utcMillis(year, month, day, hour, minute, second, millis);
}

/** The decimal number in `length` ASCII digits from `start`; -1 when one of them is not a digit. */
function digits(text: string, start: number, length: number): number {
  let n = 0;
  for (let i = start; i < start + length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/** Epoch ms of a UTC calendar date and time, NaN when the date or time does not exist (February 30, 24:00). */
function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number {
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || day < 1) return NaN;
  const leap = month === 2 && ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1] + (leap ? 1 : 0)) return NaN;
  // Date.UTC reads years 0–99 as 1900–1999. The Gregorian calendar repeats
  // exactly every 400 years, so compute the same date 400 years later and step
  // back one cycle: exact for every year 0000–9999, no special case.
  return Date.UTC(year + 400, month - 1, day, hour, minute, second, millis) - GREGORIAN_CYCLE_MS;
}

const DAY_MS = 86_400_000;
let cachedDay = NaN;
let cachedDayPrefix = '';

/**
 * UTC ISO-8601 with milliseconds, as `Date#toISOString`. Runs for every
 * verdict: the date part is cached per day and the time part built from
 * integers, avoiding a Date per event.
 */
export function formatEventTime(epochMs: number): string {
  const day = Math.floor(epochMs / DAY_MS);
  if (day !== cachedDay) {
    const iso = new Date(day * DAY_MS).toISOString();
    // Years outside 0000–9999 use the expanded format; leave those to Date.
    if (iso.length !== 24) return new Date(epochMs).toISOString();
    cachedDay = day;
    cachedDayPrefix = iso.slice(0, 11);
  }
  let rest = epochMs - day * DAY_MS;
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const sec = rest % 60;
  rest = (rest - sec) / 60;
  const min = rest % 60;
  const hour = (rest - min) / 60;
  return `${cachedDayPrefix}${hour < 10 ? '0' : ''}${hour}:${min < 10 ? '0' : ''}${min}:${sec < 10 ? '0' : ''}${sec}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}
