import { inForce, type Clock } from './expiry';

/**
 * CIDR ranges of one family in a binary trie keyed by the prefix bits, stored
 * in typed arrays (two child indexes and one expiry per node) rather than one
 * object per node: 100,000 ranges make about a million nodes, a few
 * megabytes. A lookup walks at most `bits` nodes: O(prefix length), no
 * allocation, no regex.
 *
 * A node's expiry is NaN when no range ends there, +Infinity for a range that
 * never expires, else the epoch millisecond after which it no longer matches.
 * Removing a range only clears its node's expiry (nodes are not reclaimed; a
 * full reload of the list rebuilds the trie compactly).
 */
export class CidrTrie {
  private children: Int32Array;
  private expiries: Float64Array;
  private nodes = 1;
  private ranges = 0;

  constructor(readonly bits: 32 | 128) {
    this.children = new Int32Array(2 * 1024);
    this.expiries = new Float64Array(1024).fill(Number.NaN);
  }

  get size(): number {
    return this.ranges;
  }

  /** Adds (or re-dates) the range `words/prefix`. */
  insert(words: Uint32Array, prefix: number, expiresAt: number): void {
    let node = 0;
    for (let bit = 0; bit < prefix; bit++) {
      const side = 2 * node + ((words[bit >>> 5] >>> (31 - (bit & 31))) & 1);
      let next = this.children[side];
      if (next === 0) {
        next = this.allocate();
        this.children[side] = next;
      }
      node = next;
    }
    if (Number.isNaN(this.expiries[node])) this.ranges++;
    this.expiries[node] = expiresAt;
  }

  /** Removes the range `words/prefix`; false when it was not there. */
  remove(words: Uint32Array, prefix: number): boolean {
    let node = 0;
    for (let bit = 0; bit < prefix; bit++) {
      node = this.children[2 * node + ((words[bit >>> 5] >>> (31 - (bit & 31))) & 1)];
      if (node === 0) return false;
    }
    if (Number.isNaN(this.expiries[node])) return false;
    this.expiries[node] = Number.NaN;
    this.ranges--;
    return true;
  }

  /** Whether a range in force at `now` holds the address `words`. */
  contains(words: Uint32Array, now: Clock): boolean {
    const expiries = this.expiries;
    const children = this.children;
    let node = 0;
    for (let bit = 0; ; bit++) {
      // NaN (no range ends here) is never in force.
      if (inForce(expiries[node], now)) return true;
      if (bit === this.bits) return false;
      node = children[2 * node + ((words[bit >>> 5] >>> (31 - (bit & 31))) & 1)];
      if (node === 0) return false;
    }
  }

  private allocate(): number {
    if (this.nodes === this.expiries.length) {
      const capacity = this.nodes * 2;
      const children = new Int32Array(2 * capacity);
      children.set(this.children);
      const expiries = new Float64Array(capacity).fill(Number.NaN);
      expiries.set(this.expiries);
      this.children = children;
      this.expiries = expiries;
    }
    return this.nodes++;
  }
}
