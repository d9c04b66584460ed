import { describe, expect, it } from 'vitest';
import { accepts } from './http-io.js';

describe('accepts', () => {
  it.each([
    ['application/json, text/event-stream', 'text/event-stream', true],
    ['application/json;q=0.9, text/event-stream;q=1', 'application/json', true],
    ['*/*', 'text/event-stream', true],
    ['text/*', 'text/event-stream', true],
    ['application/json', 'text/event-stream', false],
    [undefined, 'application/json', false],
  ])('%s admits %s: %s', (header, type, expected) => expect(accepts(header, type)).toBe(expected));
});
