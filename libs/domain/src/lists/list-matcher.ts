import { CidrTrie } from './cidr-trie';
import { inForce, type Clock } from './expiry';
import { ipv6Key, parseIp } from './ip-address';
import { expiryOf, type ListEntry, type ListKind } from './list';

/** The address last looked up, parsed: shared by every matcher (JavaScript runs one lookup at a time). */
const LOOKUP_WORDS = new Uint32Array(4);
let lastFact: string | undefined;
let lastFamily: 0 | 4 | 6 = 0;

/**
 * The in-memory form of one list that the compiled rules look values up in:
 * exact values in Maps (O(1)), CIDR ranges in one binary trie per family
 * (O(prefix length)). Each value maps to its expiry (epoch ms, +Infinity for
 * none), checked at lookup against the caller's clock, so an entry stops
 * matching the moment it expires without any rebuild.
 *
 * Built off the hot path (a full load) and then changed in place by small
 * deltas; both happen between event evaluations (JavaScript runs one at a
 * time), never during one.
 */
export class ListMatcher {
  /** `string` lists: value → expiry. */
  private readonly strings = new Map<string, number>();
  /** `ip` lists: IPv4 address (as a signed 32-bit key) → expiry. */
  private readonly ipv4 = new Map<number, number>();
  /** `ip` lists: IPv6 address (`ipv6Key`) → expiry. */
  private readonly ipv6 = new Map<string, number>();
  private readonly ranges4 = new CidrTrie(32);
  private readonly ranges6 = new CidrTrie(128);
  /** Scratch for parsing stored values (lookups use LOOKUP_WORDS). */
  private readonly words = new Uint32Array(4);
  /** The prefix length `parseValue` read last. */
  private prefix = 0;

  constructor(
    readonly name: string,
    readonly kind: ListKind,
    /** The list version this matcher holds; deltas move it forward. */
    public version: number,
  ) {}

  static of(name: string, kind: ListKind, version: number, entries: Iterable<ListEntry>): ListMatcher {
    const matcher = new ListMatcher(name, kind, version);
    for (const entry of entries) matcher.put(entry.value, expiryOf(entry));
    return matcher;
  }

  get size(): number {
    if (this.kind === 'string') return this.strings.size;
    return this.ipv4.size + this.ipv6.size + this.ranges4.size + this.ranges6.size;
  }

  /** Adds or re-dates a canonical value (as stored: see `parseListValue`); false when it is not one of this kind. */
  put(value: string, expiresAtMs: number): boolean {
    if (this.kind === 'string') {
      this.strings.set(value, expiresAtMs);
      return true;
    }
    const family = this.parseValue(value);
    const prefix = this.prefix;
    if (family === 4) {
      if (prefix === 32) this.ipv4.set(this.words[0] | 0, expiresAtMs);
      else this.ranges4.insert(this.words, prefix, expiresAtMs);
    } else if (family === 6) {
      if (prefix === 128) this.ipv6.set(ipv6Key(this.words), expiresAtMs);
      else this.ranges6.insert(this.words, prefix, expiresAtMs);
    }
    return family !== 0;
  }

  /** Removes a canonical value; false when it was not in the list. */
  remove(value: string): boolean {
    if (this.kind === 'string') return this.strings.delete(value);
    const family = this.parseValue(value);
    const prefix = this.prefix;
    if (family === 4) return prefix === 32 ? this.ipv4.delete(this.words[0] | 0) : this.ranges4.remove(this.words, prefix);
    if (family === 6) return prefix === 128 ? this.ipv6.delete(ipv6Key(this.words)) : this.ranges6.remove(this.words, prefix);
    return false;
  }

  /**
   * Whether the list holds `fact` at `now` (epoch ms). A value that is not a
   * string never matches; for an `ip` list, neither does a string that is not
   * an address. An address matches its own entry or any range holding it.
   */
  contains(fact: unknown, now: Clock): boolean {
    if (typeof fact !== 'string') return false;
    if (this.kind === 'string') return inForce(this.strings.get(fact), now);
    // Several IP lists usually test the same event's address one after another: it is parsed once.
    if (fact !== lastFact) {
      lastFamily = parseIp(fact, LOOKUP_WORDS);
      lastFact = fact;
    }
    const words = LOOKUP_WORDS;
    const family = lastFamily;
    if (family === 4) {
      if (inForce(this.ipv4.get(words[0] | 0), now)) return true;
      return this.ranges4.size > 0 && this.ranges4.contains(words, now);
    }
    if (family === 6) {
      if (this.ipv6.size > 0 && inForce(this.ipv6.get(ipv6Key(words)), now)) return true;
      return this.ranges6.size > 0 && this.ranges6.contains(words, now);
    }
    return false;
  }

  /** Parses a stored value into `words` and `prefix` (no closure per entry: a million are loaded at once). */
  private parseValue(value: string): 0 | 4 | 6 {
    const slash = value.indexOf('/');
    const family = parseIp(slash < 0 ? value : value.slice(0, slash), this.words);
    if (family !== 0) this.prefix = slash < 0 ? (family === 4 ? 32 : 128) : Number(value.slice(slash + 1));
    return family;
  }
}
