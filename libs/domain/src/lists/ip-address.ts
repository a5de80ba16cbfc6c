/**
 * IP addresses for lists, parsed by hand (no regex, no allocation for IPv4)
 * because the compiled rules parse an event's `ip_address` on every list
 * lookup. An address is held as four 32-bit words, most significant first:
 * IPv4 uses only `words[0]`, IPv6 all four.
 *
 * Normalisation (docs/lists.md): an IPv4-mapped IPv6 address
 * (`::ffff:203.0.113.7`, `::ffff:cb00:7107`) is the IPv4 address it maps; a
 * zone (`fe80::1%eth0`) is dropped; hex digits are case-insensitive. Leading
 * zeros in IPv4 octets are refused (`010.0.0.1` is octal to some tools).
 */

/** 4 for IPv4, 6 for IPv6, 0 when the text is not an address. */
export type IpFamily = 0 | 4 | 6;

const MAPPED_PREFIX_BITS = 96;

/**
 * Parses `text` into `words` (reused by the caller) and answers its family.
 * `words` is left in an unspecified state when the answer is 0.
 */
export function parseIp(text: string, words: Uint32Array): IpFamily {
  const length = text.length;
  if (length === 0 || length > 64) return 0;
  let colon = false;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) === 58 /* : */) {
      colon = true;
      break;
    }
  }
  if (!colon) return parseIpv4(text, 0, length, words, 0) ? 4 : 0;
  if (!parseIpv6(text, words)) return 0;
  // IPv4-mapped: ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    words[0] = words[3];
    return 4;
  }
  return 6;
}

/**
 * Writes the dotted quad text[start, end) into words[index]; false when it is
 * not one. Computed in 32-bit integers and stored as such, so that no
 * address above 2^31 becomes a heap number on the lookup path.
 */
function parseIpv4(text: string, start: number, end: number, words: Uint32Array, index: number): boolean {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0) return false;
      value = (value << 8) | octet;
      octet = 0;
      digits = 0;
      if (++dots > 3) return false;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return false; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) return false;
    } else return false;
  }
  if (dots !== 3 || digits === 0) return false;
  words[index] = (value << 8) | octet;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Eight 16-bit groups, `::` once at most, an IPv4 tail allowed, a `%zone` ignored. */
function parseIpv6(text: string, words: Uint32Array): boolean {
  let end = text.length;
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 37 /* % */) {
      if (i === end - 1) return false;
      end = i;
      break;
    }
  }
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (i === end) return fill(groups, count, gap, words);
  } else if (text.charCodeAt(0) === 58) return false;
  while (i < end) {
    if (count >= 8) return false;
    // An IPv4 tail: the rest holds a dot before the next colon.
    let j = i;
    let dotted = false;
    while (j < end && text.charCodeAt(j) !== 58) {
      if (text.charCodeAt(j) === 46) dotted = true;
      j++;
    }
    if (dotted) {
      if (j !== end || count > 6 || !parseIpv4(text, i, end, words, 3)) return false;
      groups[count++] = words[3] >>> 16;
      groups[count++] = words[3] & 0xffff;
      break;
    }
    if (j === i || j - i > 4) return false;
    let group = 0;
    for (let k = i; k < j; k++) {
      const h = hexValue(text.charCodeAt(k));
      if (h < 0) return false;
      group = group * 16 + h;
    }
    groups[count++] = group;
    if (j === end) break;
    // j is a colon: `::` marks the gap, a single colon separates.
    if (j + 1 < end && text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i = j + 2;
    } else {
      if (j + 1 === end) return false;
      i = j + 1;
    }
  }
  return fill(groups, count, gap, words);
}

function fill(groups: number[], count: number, gap: number, words: Uint32Array): boolean {
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const full = [0, 0, 0, 0, 0, 0, 0, 0];
  if (gap < 0) for (let k = 0; k < 8; k++) full[k] = groups[k];
  else {
    for (let k = 0; k < gap; k++) full[k] = groups[k];
    const tail = count - gap;
    for (let k = 0; k < tail; k++) full[8 - tail + k] = groups[gap + k];
  }
  for (let w = 0; w < 4; w++) words[w] = ((full[2 * w] << 16) | full[2 * w + 1]) >>> 0;
  return true;
}

/** `203.0.113.7`. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIpv6(words: Uint32Array): string {
  const groups: number[] = [];
  for (let w = 0; w < 4; w++) groups.push(words[w] >>> 16, words[w] & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8;) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let run = k;
    while (run < 8 && groups[run] === 0) run++;
    if (run - k > bestLength) {
      bestStart = k;
      bestLength = run - k;
    }
    k = run;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** A parsed list entry value of an `ip` list: one address, or a CIDR range. */
export interface IpRange {
  readonly family: 4 | 6;
  /** The network address; bits past `prefix` are zero. */
  readonly words: Uint32Array;
  /** 32 (IPv4) or 128 (IPv6) for a single address. */
  readonly prefix: number;
  /** The canonical text: `203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`. */
  readonly canonical: string;
}

/** Parses an address or `address/prefix`; a reason when it is neither. */
export function parseIpRange(text: string): IpRange | string {
  const slash = text.indexOf('/');
  const words = new Uint32Array(4);
  const family = parseIp(slash < 0 ? text : text.slice(0, slash), words);
  if (family === 0) return 'is not an IPv4 or IPv6 address or CIDR range';
  const mappedText = family === 4 && (slash < 0 ? text : text.slice(0, slash)).includes(':');
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(digits)) return 'has a bad prefix length after "/"';
    prefix = Number(digits);
    // An IPv4-mapped range is written with an IPv6 prefix length (::ffff:10.0.0.0/104).
    if (mappedText) {
      if (prefix < MAPPED_PREFIX_BITS) return 'an IPv4-mapped range needs a prefix of at least /96';
      prefix -= MAPPED_PREFIX_BITS;
    }
    if (prefix > bits) return `has a prefix longer than /${bits}`;
    if (!hostBitsClear(words, prefix, bits)) return `has bits set after the /${prefix} prefix; write the network address`;
  }
  if (family === 4) {
    const address = formatIpv4(words[0]);
    return { family, words, prefix, canonical: prefix === 32 ? address : `${address}/${prefix}` };
  }
  const address = formatIpv6(words);
  return { family, words, prefix, canonical: prefix === 128 ? address : `${address}/${prefix}` };
}

function hostBitsClear(words: Uint32Array, prefix: number, bits: number): boolean {
  for (let bit = prefix; bit < bits; bit++) {
    if (((words[bit >>> 5] >>> (31 - (bit & 31))) & 1) !== 0) return false;
  }
  return true;
}

/** The key of a single IPv6 address in an exact-match map (cheaper than its RFC 5952 text). */
export function ipv6Key(words: Uint32Array): string {
  return `${words[0]}:${words[1]}:${words[2]}:${words[3]}`;
}
