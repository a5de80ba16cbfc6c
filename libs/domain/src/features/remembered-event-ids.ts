/**
 * The memory store's dedup memory (SPEC §2): every accepted event_id still
 * remembered, in acceptance order with its event time, so that the oldest
 * can be forgotten first.
 *
 * Why not a `Set<string>`: with ~200,000 ids remembered (a day of a replay)
 * each `Set.add` of a new id walked a hash chain whose every key is a string
 * somewhere else in the heap, a cache miss per key compared, and was the
 * second most expensive line of the in-memory store. Here the index is two
 * typed arrays (a 32-bit hash and the id's position in the order queue per
 * slot, open addressing): a new id costs a hash of its characters and one or
 * two probes of adjacent slots, and an id string is only read when its full
 * hash matches. The typed arrays hold no pointers, so the garbage collector
 * neither scans them nor records a write barrier per insertion.
 */
export class RememberedEventIds {
  /** Acceptance order from `head` on: ids, their event times and their hashes (for removal from the index). */
  private ids: string[] = [];
  private times: number[] = [];
  private hashes: number[] = [];
  private head = 0;
  /** Sequence number of `ids[0]`: positions in the index are sequence numbers, stable across compaction. */
  private base = 0;
  /** Per slot: the id's hash, and its sequence number + 1 (0: empty). Linear probing, at most half full. */
  private slotHash: Int32Array;
  private slotSeq: Float64Array;
  private mask: number;
  private count = 0;
  /** Per store: keeps which ids collide unpredictable from outside (ids come from clients). */
  private readonly seed = (Math.random() * 0x7fffffff) | 0;

  constructor(private readonly initialCapacity = 1024) {
    this.slotHash = new Int32Array(initialCapacity);
    this.slotSeq = new Float64Array(initialCapacity);
    this.mask = initialCapacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Remembers `id` accepted at `time`; false (and nothing changes) when it is already remembered. */
  add(id: string, time: number): boolean {
    const hash = hashOf(id, this.seed);
    const slotHash = this.slotHash;
    const slotSeq = this.slotSeq;
    const mask = this.mask;
    let slot = hash & mask;
    for (let seq = slotSeq[slot]; seq !== 0; seq = slotSeq[slot]) {
      if (slotHash[slot] === hash && this.ids[seq - 1 - this.base] === id) return false;
      slot = (slot + 1) & mask;
    }
    slotHash[slot] = hash;
    slotSeq[slot] = this.base + this.ids.length + 1;
    this.ids.push(id);
    this.times.push(time);
    this.hashes.push(hash);
    if (++this.count * 2 > slotSeq.length) this.resize(slotSeq.length * 2);
    return true;
  }

  /**
   * Forgets, oldest accepted first, the ids accepted at or before `cutoff`,
   * stopping at the first one still retained (acceptance order roughly
   * follows event time), calling `forgotten` with each.
   */
  forgetUntil(cutoff: number, forgotten: (id: string) => void): void {
    while (this.head < this.ids.length && this.times[this.head] <= cutoff) forgotten(this.forgetHead());
    this.compact();
  }

  /** Forgets the `count` oldest accepted ids (fewer when fewer are held), calling `forgotten` with each; returns how many. */
  forgetOldest(count: number, forgotten: (id: string) => void): number {
    const end = Math.min(this.ids.length, this.head + count);
    const from = this.head;
    while (this.head < end) forgotten(this.forgetHead());
    this.compact();
    return end - from;
  }

  clear(): void {
    this.ids = [];
    this.times = [];
    this.hashes = [];
    this.head = 0;
    this.base = 0;
    this.count = 0;
    this.slotHash = new Int32Array(this.initialCapacity);
    this.slotSeq = new Float64Array(this.initialCapacity);
    this.mask = this.initialCapacity - 1;
  }

  private forgetHead(): string {
    const at = this.head++;
    this.removeSlot(this.hashes[at], this.base + at + 1);
    this.count--;
    return this.ids[at];
  }

  /** Removes the slot of sequence `seq` + 1 (present), shifting later entries of its run back (no tombstones). */
  private removeSlot(hash: number, seqPlusOne: number): void {
    const slotHash = this.slotHash;
    const slotSeq = this.slotSeq;
    const mask = this.mask;
    let hole = hash & mask;
    while (slotSeq[hole] !== seqPlusOne) hole = (hole + 1) & mask;
    for (let next = (hole + 1) & mask; slotSeq[next] !== 0; next = (next + 1) & mask) {
      const home = slotHash[next] & mask;
      // The entry at `next` may fill the hole when its home slot is not cyclically within (hole, next].
      const homeAfterHole = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (homeAfterHole) continue;
      slotHash[hole] = slotHash[next];
      slotSeq[hole] = slotSeq[next];
      hole = next;
    }
    slotSeq[hole] = 0;
  }

  /** Drops the forgotten prefix of the order queue once it is most of it; shrinks an index left mostly empty. */
  private compact(): void {
    const head = this.head;
    if (head > 65536 && head * 2 > this.ids.length) {
      this.ids = this.ids.slice(head);
      this.times = this.times.slice(head);
      this.hashes = this.hashes.slice(head);
      this.base += head;
      this.head = 0;
    }
    const capacity = this.slotSeq.length;
    if (capacity > this.initialCapacity && this.count * 8 < capacity) this.resize(capacity / 2);
  }

  private resize(capacity: number): void {
    const slotHash = new Int32Array(capacity);
    const slotSeq = new Float64Array(capacity);
    const mask = capacity - 1;
    for (let at = this.head; at < this.ids.length; at++) {
      const hash = this.hashes[at];
      let slot = hash & mask;
      while (slotSeq[slot] !== 0) slot = (slot + 1) & mask;
      slotHash[slot] = hash;
      slotSeq[slot] = this.base + at + 1;
    }
    this.slotHash = slotHash;
    this.slotSeq = slotSeq;
    this.mask = mask;
  }
}

/** FNV-1a over the UTF-16 code units from a per-store seed, then mixed so that the low bits (the slot) depend on every unit. */
function hashOf(id: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}
