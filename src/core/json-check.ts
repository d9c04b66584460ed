/**
 * Checks that bytes are one JSON object, without building it, and says where its top-level
 * members lie. For large messages only: `JSON.parse` must decode the bytes to a string and copy
 * every string it meets, about 2 ms per MiB; this walks the bytes, jumping over string contents
 * with `indexOf`, and costs about a fifth of that. It accepts exactly what JSON.parse accepts,
 * except that it gives up (returns undefined, and the caller parses as usual) on any byte below
 * 0x20, which compact JSON never holds: that keeps the per-string check for control characters
 * to one pass over the whole text. The bytes must already be known to be valid UTF-8.
 */

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isDigit = (c: number) => c >= ZERO && c <= NINE;
const isHex = (c: number) =>
  (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** After a backslash: " \ / b f n r t (u is checked apart). */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** Whether any byte of `b[start, end)` is below 0x20; four bytes at a time where aligned. */
export function hasControlByte(b: Buffer, start: number, end: number): boolean {
  let i = start;
  const base = b.byteOffset;
  while (i < end && (base + i) % 4 !== 0) if (b[i++]! < SPACE) return true;
  const words = Math.floor((end - i) / 4);
  if (words > 0) {
    const view = new Uint32Array(b.buffer, base + i, words);
    for (let w = 0; w < words; w++) {
      const v = view[w]!;
      // A byte below 0x20 borrows in the subtraction while its own top bit is clear.
      if (((v - 0x20202020) & ~v & 0x80808080) !== 0) return true;
    }
    i += words * 4;
  }
  while (i < end) if (b[i++]! < SPACE) return true;
  return false;
}

class Walker {
  /** Where the next backslash is at or after the last search (Infinity: none left). */
  private backslash = -1;

  constructor(
    private readonly b: Buffer,
    private readonly end: number,
  ) {}

  space(i: number): number {
    const { b, end } = this;
    while (i < end) {
      const c = b[i]!;
      if (c !== SPACE && c !== TAB && c !== LF && c !== CR) break;
      i++;
    }
    return i;
  }

  private nextBackslash(from: number): number {
    if (this.backslash < from && this.backslash !== Infinity) {
      const at = this.b.indexOf(BACKSLASH, from);
      this.backslash = at === -1 || at >= this.end ? Infinity : at;
    }
    return this.backslash;
  }

  /** Past the string whose quote is at `i`, or -1. */
  string(i: number): number {
    const { b, end } = this;
    let at = i + 1;
    for (;;) {
      const quote = b.indexOf(QUOTE, at);
      if (quote === -1 || quote >= end) return -1;
      const slash = this.nextBackslash(at);
      if (slash > quote) return quote + 1;
      // An escape before the quote: check it and go on after it.
      const kind = b[slash + 1];
      if (kind === undefined || slash + 1 >= end) return -1;
      if (kind === 0x75 /* u */) {
        if (slash + 5 >= end) return -1;
        for (let k = 2; k <= 5; k++) if (!isHex(b[slash + k]!)) return -1;
        at = slash + 6;
      } else if (SIMPLE_ESCAPES.has(kind)) {
        at = slash + 2;
      } else {
        return -1;
      }
    }
  }

  /** Past the number at `i`, or -1. */
  number(i: number): number {
    const { b, end } = this;
    if (b[i] === MINUS) i++;
    if (i >= end) return -1;
    if (b[i] === ZERO) i++;
    else if (isDigit(b[i]!)) while (i < end && isDigit(b[i]!)) i++;
    else return -1;
    if (i < end && b[i] === DOT) {
      i++;
      if (i >= end || !isDigit(b[i]!)) return -1;
      while (i < end && isDigit(b[i]!)) i++;
    }
    if (i < end && (b[i] === 0x65 || b[i] === 0x45) /* e E */) {
      i++;
      if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
      if (i >= end || !isDigit(b[i]!)) return -1;
      while (i < end && isDigit(b[i]!)) i++;
    }
    return i;
  }

  literal(i: number, word: string): number {
    if (i + word.length > this.end) return -1;
    for (let k = 0; k < word.length; k++) if (this.b[i + k] !== word.charCodeAt(k)) return -1;
    return i + word.length;
  }

  /** Past the scalar (string, number, true, false, null) at `i`, or -1. */
  scalar(i: number): number {
    const c = this.b[i]!;
    if (c === QUOTE) return this.string(i);
    if (c === MINUS || isDigit(c)) return this.number(i);
    if (c === 0x74) return this.literal(i, 'true');
    if (c === 0x66) return this.literal(i, 'false');
    if (c === 0x6e) return this.literal(i, 'null');
    return -1;
  }
}

/** A top-level member: where its key's text (with quotes) and its value lie. */
export interface MemberSpan {
  key: [number, number];
  value: [number, number];
}

/**
 * Checks that `b[start, end)` is exactly one JSON object (whitespace around it allowed) and
 * returns its top-level members in order; undefined when it is not, or holds a byte below 0x20.
 */
export function checkJsonObject(b: Buffer, start: number, end: number): MemberSpan[] | undefined {
  if (hasControlByte(b, start, end)) return undefined;
  const w = new Walker(b, end);
  let i = w.space(start);
  if (b[i] !== OPEN_OBJECT) return undefined;
  const members: MemberSpan[] = [];
  /** Open containers: true for an object. */
  const stack: boolean[] = [true];
  i++;
  let key: [number, number] | undefined;
  let valueStart = 0;
  // Expecting: a key or the end of an empty object.
  let expectKey = true;
  let allowClose = true;
  for (;;) {
    i = w.space(i);
    if (i >= end) return undefined;
    const inObject = stack[stack.length - 1]!;
    const c = b[i]!;
    if (allowClose && c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      // An empty container: fall through to what follows a value.
      stack.pop();
      i++;
    } else if (expectKey) {
      if (c !== QUOTE) return undefined;
      const keyEnd = w.string(i);
      if (keyEnd === -1) return undefined;
      if (stack.length === 1) key = [i, keyEnd];
      i = w.space(keyEnd);
      if (b[i] !== COLON) return undefined;
      i = w.space(i + 1);
      if (stack.length === 1) valueStart = i;
      expectKey = false;
      allowClose = false;
      continue;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      stack.push(c === OPEN_OBJECT);
      i++;
      expectKey = c === OPEN_OBJECT;
      allowClose = true;
      continue;
    } else {
      const next = w.scalar(i);
      if (next === -1) return undefined;
      i = next;
    }
    // After a value (or a closed container): a comma, a close, or the end of the text.
    for (;;) {
      if (stack.length === 1 && key) {
        members.push({ key, value: [valueStart, i] });
        key = undefined;
      }
      if (stack.length === 0) return w.space(i) === end ? members : undefined;
      i = w.space(i);
      if (i >= end) return undefined;
      const inside = stack[stack.length - 1]!;
      const d = b[i]!;
      if (d === COMMA) {
        i++;
        expectKey = inside;
        allowClose = false;
        break;
      }
      if (d !== (inside ? CLOSE_OBJECT : CLOSE_ARRAY)) return undefined;
      stack.pop();
      i++;
    }
  }
}
