/*
 * A bound on how deeply a client's JSON nests, checked on the text before it is parsed.
 * JSON.parse copes with any depth, but JSON.stringify recurses: a message nested 10^5 deep
 * overflowed the stack on its way to a stdio backend, and the client got "internal error".
 * Only client input is checked; replies from backends (which can be large) never are.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/** Whether `text` holds at most `max` of `{` and `[` together, wherever they are (memchr jumps). */
function fewOpeners(text: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1))
    if (++count > max) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1))
    if (++count > max) return false;
  return true;
}

/**
 * Whether `text` opens more than `max` arrays and objects inside one another, counting `[` and
 * `{` outside strings and stopping at the first one too deep. The text need not be valid JSON:
 * whatever it is, JSON.parse judges it afterwards.
 *
 * Almost every message holds fewer openers than `max` in all, which native `indexOf` jumps
 * show at a small fraction of JSON.parse's cost (bench/json-depth.mjs); only a message with
 * more is walked character by character, jumping over strings.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  const n = text.length;
  // Too short to hold max + 1 openers, or holding fewer: nothing can be that deep.
  if (n <= max || fewOpeners(text, max)) return false;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // To the quote that ends the string, stepping over escapes. Inline rather than indexOf:
      // a text this full of containers has short strings, where a call costs more than a loop.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === QUOTE) break;
        if (d === BACKSLASH) i++;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
