import { createHash } from 'node:crypto';
import { GatewayError } from '../core/errors.js';

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

/**
 * When a name gets its backend's prefix: always; only where two backends offer the same name
 * (every one of those is prefixed, so none of them wins by configuration order); or never.
 */
export type PrefixMode = 'always' | 'on-collision' | 'never';

export interface OfferedBy {
  backend: string;
  /** `<prefix><separator>`, put before a name that is prefixed. */
  prefix: string;
  /** The names the backend offers, as it offers them. */
  names: readonly string[];
}

/**
 * The names wanted for every backend's items under `mode`, for NameTable.rebuild. With `never`,
 * a name two backends share cannot be offered: the error names it and both backends.
 */
export function wantedNames(
  offers: readonly OfferedBy[],
  mode: PrefixMode,
): Array<{ backend: string; items: Array<{ wanted: string; name: string }> }> {
  const owners = new Map<string, string[]>();
  if (mode !== 'always') {
    for (const { backend, names } of offers) {
      for (const name of new Set(names)) owners.set(name, [...(owners.get(name) ?? []), backend]);
    }
  }
  if (mode === 'never') {
    for (const [name, backends] of owners) {
      if (backends.length > 1)
        throw new GatewayError(
          'GATEWAY_NAME_COLLISION',
          `"${name}" is offered by ${backends.join(' and ')}; set aggregate.prefix to on-collision or always, or rename it in backends.<name>.tools.overrides`,
        );
    }
  }
  return offers.map(({ backend, prefix, names }) => ({
    backend,
    items: names.map((name) => ({
      wanted: mode === 'always' || (owners.get(name)?.length ?? 0) > 1 ? prefix + name : name,
      name,
    })),
  }));
}
