import { describe, expect, it } from 'vitest';
import { LineSplitter, idOfOversizeLine } from './ndjson.js';

function split(chunks: string[], max = 1024) {
  const lines: string[] = [];
  const oversize: number[] = [];
  const splitter = new LineSplitter(
    max,
    (l) => lines.push(l),
    (o) => oversize.push(o.bytes),
  );
  for (const c of chunks) splitter.push(Buffer.from(c));
  return { lines, oversize };
}

describe('LineSplitter', () => {
  it('joins lines split across chunks and splits chunks holding several lines', () => {
    expect(split(['{"a":', '1}\n{"b":2}\n{"c"', ':3}\n']).lines).toEqual([
      '{"a":1}',
      '{"b":2}',
      '{"c":3}',
    ]);
  });

  it('drops empty lines and a trailing CR', () => {
    expect(split(['\n\r\n{"a":1}\r\n']).lines).toEqual(['{"a":1}']);
  });

  it('keeps multi-byte characters split across chunks intact', () => {
    const bytes = Buffer.from('{"t":"é😀"}\n');
    const lines: string[] = [];
    const splitter = new LineSplitter(
      1024,
      (l) => lines.push(l),
      () => {},
    );
    for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1));
    expect(lines).toEqual(['{"t":"é😀"}']);
  });

  it('drops an oversize line, reports it, and carries on with the next', () => {
    const { lines, oversize } = split(['x'.repeat(10), 'y'.repeat(10), 'z\n{"ok":1}\n'], 16);
    expect(lines).toEqual(['{"ok":1}']);
    expect(oversize).toHaveLength(1);
  });
});

describe('LineSplitter: large lines as bytes', () => {
  it('offers lines of the threshold or more as bytes, whole or joined, and decodes what is declined', () => {
    const offered: string[] = [];
    const decoded: string[] = [];
    const splitter = new LineSplitter(
      1 << 20,
      (line) => decoded.push(line),
      () => {},
      (source, start, end) => {
        const line = source.toString('utf8', start, end);
        offered.push(line);
        return !line.startsWith('decline');
      },
      10,
    );
    splitter.push(Buffer.from('short\nlong line one\r\ndecline this one\nlong line '));
    splitter.push(Buffer.from('two, in two chunks\n'));
    expect(offered).toEqual(['long line one', 'decline this one', 'long line two, in two chunks']);
    expect(decoded).toEqual(['short', 'decline this one']);
  });
});

describe('idOfOversizeLine', () => {
  function oversize(line: string) {
    let found: ReturnType<typeof idOfOversizeLine> | 'none' = 'none';
    const splitter = new LineSplitter(
      64,
      () => {},
      (o) => (found = idOfOversizeLine(o)),
    );
    splitter.push(Buffer.from(line + '\n'));
    return found;
  }

  it('reads the id at the end, as the TypeScript SDK writes replies', () => {
    expect(oversize(`{"result":{"text":"${'x'.repeat(5000)}"},"jsonrpc":"2.0","id":17}`)).toBe(17);
  });

  it('reads the id at the start, as other SDKs write replies', () => {
    expect(oversize(`{"jsonrpc":"2.0","id":"req-9","result":{"text":"${'x'.repeat(5000)}"}}`)).toBe(
      'req-9',
    );
  });

  it('does not take an id nested inside the result', () => {
    expect(
      oversize(`{"result":{"id":3,"text":"${'x'.repeat(5000)}"},"jsonrpc":"2.0"}`),
    ).toBeUndefined();
  });
});
