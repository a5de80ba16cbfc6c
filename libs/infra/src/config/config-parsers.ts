import { createHash } from 'node:crypto';
import { parseDuration } from '@risk/domain';

/**
 * Turns the text of one environment variable into its value, or throws an
 * Error whose message says what was expected (loadConfig prefixes the name).
 */
export type Parser<T> = (text: string) => T;

export const text: Parser<string> = (value) => value;

export const duration: Parser<number> = (value) => parseDuration(value);

/** `512kb`, `5mb`, `1gb` or a bare number of bytes. */
export const size: Parser<number> = (value) => {
  const match = /^(\d+)(b|kb|mb|gb)?$/.exec(value.toLowerCase());
  if (match === null) throw new Error(`expected a size such as 512kb or 5mb, got "${value}"`);
  return Number(match[1]) * { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b') as 'b' | 'kb' | 'mb' | 'gb'];
};

export function integer(min: number, max: number): Parser<number> {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max)
      throw new Error(`expected an integer from ${min} to ${max}, got "${value}"`);
    return parsed;
  };
}

export const flag: Parser<boolean> = (value) => {
  const lower = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw new Error(`expected true or false, got "${value}"`);
};

/** One of `choices`, matched without regard to case and returned as listed. */
export function oneOf<T extends string>(choices: readonly T[]): Parser<T> {
  const listed = `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
  return (value) => {
    const found = choices.find((choice) => choice.toLowerCase() === value.toLowerCase());
    if (found === undefined) throw new Error(`expected ${listed}, got "${value}"`);
    return found;
  };
}

/** Comma-separated items, blanks dropped; every bad item is named. */
export function list<T>(item: Parser<T>): Parser<readonly T[]> {
  return (value) => {
    const items = value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0);
    const problems: string[] = [];
    const parsed: T[] = [];
    for (const entry of items) {
      try {
        parsed.push(item(entry));
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (problems.length > 0) throw new Error([...new Set(problems)].join('; '));
    return parsed;
  };
}

export const hostPort: Parser<string> = (value) => {
  if (!/^[^:\s]+:\d+$/.test(value)) throw new Error(`"${value}" is not host:port`);
  return value;
};

/** A URL whose scheme is one of `schemes` (`redis` also admits `rediss`). */
export function url(schemes: readonly string[], example: string): Parser<string> {
  const pattern = new RegExp(`^(${schemes.join('|')})://`);
  return (value) => {
    if (!pattern.test(value)) throw new Error(`expected ${example}, got "${value}"`);
    return value;
  };
}

/**
 * A share of the V8 heap limit (`50%`, so it follows --max-old-space-size) or
 * a size (`256mb`). The rest of the heap is for everything else (requests in
 * flight, rules, the framework), so a share above 80 % is refused.
 */
export function heapShareOrSize(heapLimitBytes: number): Parser<number> {
  return (value) => {
    const share = /^(\d+(?:\.\d+)?)%$/.exec(value);
    if (share !== null) {
      const percent = Number(share[1]);
      if (percent <= 0 || percent > 80) throw new Error(`expected a share from 1% to 80% of the heap limit, got "${value}"`);
      return Math.floor((heapLimitBytes * percent) / 100);
    }
    const bytes = size(value);
    if (bytes > heapLimitBytes)
      throw new Error(`${value} is more than the V8 heap limit (${heapLimitBytes} bytes; raise --max-old-space-size)`);
    return bytes;
  };
}

export interface ApiKeyConfig {
  readonly name: string;
  readonly role: 'viewer' | 'editor';
  /** SHA-256 of the key, hex. Keys are hashed as soon as they are read. */
  readonly sha256: string;
}

/** `name:role:key`; the key is hashed at once, so plaintext never sits in the config object. */
export const apiKey: Parser<ApiKeyConfig> = (entry) => {
  const [name, role, ...rest] = entry.split(':');
  const key = rest.join(':');
  if (name === undefined || name === '' || (role !== 'viewer' && role !== 'editor') || key.length < 16) {
    throw new Error('each entry must be name:role:key with role viewer or editor and a key of at least 16 characters');
  }
  return { name, role, sha256: createHash('sha256').update(key, 'utf8').digest('hex') };
};
