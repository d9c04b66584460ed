import { describe, expect, it } from 'vitest';
import { methodLabel } from './mcp-names.js';

describe('methodLabel', () => {
  it('labels methods outside the specification as other', () => {
    expect(methodLabel('tools/call')).toBe('tools/call');
    expect(methodLabel('x/'.repeat(50))).toBe('other');
  });
});
