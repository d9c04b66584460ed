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
