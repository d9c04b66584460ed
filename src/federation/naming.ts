import { createHash } from 'node:crypto';

/*
 * Names on the aggregated endpoint. A backend's tool or prompt `name` is offered as
 * `<prefix><separator><name>` (prefix: the backend's name unless configured). Names are kept to
 * 64 characters, the limit many clients and models enforce:
 *
 *   - a longer name keeps its first 55 characters and ends in `_` and 8 hex digits of the
 *     SHA-256 of the full name, so it is the same on every gateway and every run;
 *   - when two entries still come out the same (two backends given one prefix, say), the later
 *     one, in configuration order, gets `_2`, `_3`… (shortened again if needed).
 */

export const MAX_NAME = 64;
const HASH_DIGITS = 8;

export function shorten(name: string, max = MAX_NAME): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_DIGITS);
  return `${name.slice(0, max - HASH_DIGITS - 1)}_${hash}`;
}

/** Turns `*` and `?` globs into one anchored regular expression; undefined for an empty list. */
export function globMatcher(patterns: readonly string[] | undefined): RegExp | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const parts = patterns.map((p) =>
    p
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.'),
  );
  return new RegExp(`^(?:${parts.join('|')})$`);
}

/** Where an offered name leads. */
export interface Route {
  backend: string;
  /** The name the backend knows. */
  name: string;
}

/**
 * Assigns offered names for one kind (tools or prompts) across backends, in a fixed order so the
 * result does not depend on which backend answered first.
 */
export class NameTable {
  private byOffered = new Map<string, Route>();

  /**
   * Rebuilds the table. `entries` lists, per backend in configuration order, the wanted (already
   * prefixed) names and the backend's own names.
   */
  rebuild(
    entries: Array<{ backend: string; items: Array<{ wanted: string; name: string }> }>,
  ): Map<string, string> {
    const next = new Map<string, Route>();
    /** `${backend}\0${name}` → offered name */
    const offered = new Map<string, string>();
    for (const { backend, items } of entries) {
      for (const { wanted, name } of items) {
        const base = shorten(wanted);
        let candidate = base;
        for (let n = 2; next.has(candidate); n++) candidate = shorten(`${wanted}_${n}`);
        next.set(candidate, { backend, name });
        offered.set(`${backend}\0${name}`, candidate);
      }
    }
    this.byOffered = next;
    return offered;
  }

  resolve(offered: string): Route | undefined {
    return this.byOffered.get(offered);
  }
}
