import { describe, expect, it } from 'vitest';
import { Balancer } from './balancer.js';

const urls = (weights: number[]) => weights.map((weight, i) => ({ url: `http://r${i}`, weight }));

describe('Balancer', () => {
  it('weighted: places sessions in proportion to the weights, interleaved', () => {
    const b = new Balancer(urls([5, 1, 1]), 'weighted');
    const picks = Array.from({ length: 7 }, () => b.pick().url);
    expect(picks.filter((u) => u === 'http://r0')).toHaveLength(5);
    expect(picks.filter((u) => u === 'http://r1')).toHaveLength(1);
    // smooth: the heavy replica is not picked five times in a row
    expect(picks.slice(0, 5)).not.toEqual(Array(5).fill('http://r0'));
  });

  it('round-robin: takes turns', () => {
    const b = new Balancer(urls([1, 1, 1]), 'round-robin');
    expect(Array.from({ length: 6 }, () => b.pick().url)).toEqual([
      'http://r0',
      'http://r1',
      'http://r2',
      'http://r0',
      'http://r1',
      'http://r2',
    ]);
  });

  it('least-connections: fills the emptiest replica, and skips one that failed recently', () => {
    const b = new Balancer(urls([1, 1, 1]), 'least-connections');
    b.replicas[0]!.active = 2;
    b.replicas[1]!.active = 1;
    expect(b.pick().url).toBe('http://r2');
    b.replicas[2]!.unhealthyUntil = Date.now() + 60_000;
    expect(b.pick().url).toBe('http://r1');
  });

  it('uses every replica again when all of them failed recently', () => {
    const b = new Balancer(urls([1, 1]), 'round-robin');
    for (const r of b.replicas) r.unhealthyUntil = Date.now() + 60_000;
    expect(['http://r0', 'http://r1']).toContain(b.pick().url);
  });
});
