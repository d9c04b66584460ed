/*
 * A seeded generator (mulberry32): the same seed gives the same inputs on every machine, so a
 * violation is reproduced from its seed and index, or from the input itself (`--replay`).
 */

/** A 32-bit seed from any string or number (FNV-1a over its text). */
export function seedOf(value) {
  let h = 0x811c9dc5;
  for (const ch of String(value)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  constructor(seed) {
    this.state = seedOf(seed);
  }

  /** A float in [0, 1). */
  next() {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n) {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }

  chance(p) {
    return this.next() < p;
  }

  pick(items) {
    return items[this.int(items.length)];
  }

  /** One of `entries` ([weight, value] pairs), by weight. */
  weighted(entries) {
    let total = 0;
    for (const [w] of entries) total += w;
    let r = this.next() * total;
    for (const [w, v] of entries) {
      r -= w;
      if (r < 0) return v;
    }
    return entries[entries.length - 1][1];
  }

  /** A child generator, so that one part's draws do not shift another's. */
  fork(label) {
    return new Rng(`${this.state}:${label}`);
  }
}
