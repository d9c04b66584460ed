/*
 * Reading JSON text without parsing numbers: the raw text of an object's top-level members and an
 * array's elements. The harness compares ids as written (`12345678901234567890` must come back
 * as those digits, not as a double), which `JSON.parse` cannot tell.
 */

function skipSpace(text, i) {
  while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  return i;
}

const QUOTE_OR_BACKSLASH = /["\\]/g;

/** The index of the `"` that closes the string whose opening quote is at `i`. */
function stringEnd(text, i) {
  QUOTE_OR_BACKSLASH.lastIndex = i + 1;
  for (;;) {
    const m = QUOTE_OR_BACKSLASH.exec(text);
    if (!m) return text.length;
    if (m[0] === '"') return m.index;
    QUOTE_OR_BACKSLASH.lastIndex = m.index + 2; // an escape: skip the escaped character
  }
}

/** The index just past the JSON value starting at `i` (which must be a value's first char). */
function valueEnd(text, i) {
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i = stringEnd(text, i);
      if (depth === 0) return i + 1;
    } else if (c === 123 || c === 91 /* { [ */) depth++;
    else if (c === 125 || c === 93 /* } ] */) {
      if (depth === 0) return i; // the end of an enclosing container: a scalar ended
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (c === 44 || c === 32 || c === 9 || c === 13 || c === 10)) return i;
  }
  return i;
}

/** Top-level members of the object in `text` (key → raw value text); undefined if not an object. */
export function rawMembers(text) {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return undefined;
  const members = new Map();
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] !== '"') return members;
    const keyEnd = valueEnd(text, i);
    let key;
    try {
      key = JSON.parse(text.slice(i, keyEnd));
    } catch {
      return members;
    }
    i = skipSpace(text, keyEnd);
    if (text[i] !== ':') return members;
    i = skipSpace(text, i + 1);
    const end = valueEnd(text, i);
    members.set(key, text.slice(i, end));
    i = skipSpace(text, end);
    if (text[i] !== ',') return members;
    i++;
  }
}

/** Top-level elements of the array in `text` as raw texts; undefined if not an array. */
export function rawElements(text) {
  let i = skipSpace(text, 0);
  if (text[i] !== '[') return undefined;
  const elements = [];
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (i >= text.length || text[i] === ']') return elements;
    const end = valueEnd(text, i);
    elements.push(text.slice(i, end));
    i = skipSpace(text, end);
    if (text[i] !== ',') return elements;
    i++;
  }
}

/** The deepest nesting of `[`/`{` in `text`, strings skipped. */
export function nestingDepth(text) {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) max = depth;
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}
