/*
 * Random JSON for the property tests of the gateway's own JSON handling (src/core/json-check.ts,
 * src/core/raw-json.ts), seeded so that a failure can be replayed.
 */

/** A seeded generator of numbers in [0, 1). */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const pick = <T>(next: () => number, items: readonly T[]): T =>
  items[Math.floor(next() * items.length)]!;

/** A string of up to five `pieces`. */
export function randomString(next: () => number, pieces: readonly string[]): string {
  let s = '';
  for (let n = Math.floor(next() * 6); n > 0; n--) s += pick(next, pieces);
  return s;
}

/** Any JSON value, nested at most four deep, its strings made of `pieces`. */
export function randomValue(next: () => number, pieces: readonly string[], depth = 0): unknown {
  const r = next();
  if (depth > 3 || r < 0.35) {
    return pick(next, [
      randomString(next, pieces),
      Math.floor(next() * 1e6) - 5e5,
      (next() - 0.5) * 1e-3,
      1e21 * next(),
      true,
      false,
      null,
    ]);
  }
  if (r < 0.65)
    return Array.from({ length: Math.floor(next() * 4) }, () =>
      randomValue(next, pieces, depth + 1),
    );
  return randomObject(next, pieces, depth + 1);
}

/** An object of up to four members. */
export function randomObject(
  next: () => number,
  pieces: readonly string[],
  depth = 0,
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let k = Math.floor(next() * 5); k > 0; k--)
    o[randomString(next, pieces)] = randomValue(next, pieces, depth);
  return o;
}

/** `value` as JSON text with `gaps` (whitespace) between its tokens, as some servers write. */
export function spaced(value: unknown, next: () => number, gaps: readonly string[]): string {
  const gap = () => pick(next, gaps);
  if (Array.isArray(value))
    return `[${gap()}${value.map((v) => spaced(v, next, gaps)).join(`${gap()},${gap()}`)}${gap()}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(
      ([k, v]) => `${gap()}${JSON.stringify(k)}${gap()}:${gap()}${spaced(v, next, gaps)}`,
    );
    return `{${members.join(',')}${gap()}}`;
  }
  return JSON.stringify(value);
}
