import { describe, expect, it } from 'vitest';
import { Balancer } from './balancer.js';
import type { Replica } from './balancer.js';
import { replicaTransport } from './backend.js';

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

describe('Balancer, latency', () => {
  it('tries unmeasured replicas first, then prefers the fast one, weighted by sessions', () => {
    const b = new Balancer(urls([1, 1]), 'latency', { probeIntervalMs: 60_000 });
    const [fast, slow] = b.replicas as [Replica, Replica];
    expect(new Set([b.pick(), b.pick()])).toEqual(new Set([fast, slow]));
    b.observe(fast, 2);
    b.observe(slow, 300);
    // (2 + 5) × (sessions + 1) stays under (300 + 5) × 1 for up to 42 sessions on the fast one.
    for (let i = 0; i < 10; i++) {
      const picked = b.pick();
      expect(picked).toBe(fast);
      picked.active++;
    }
    fast.active = 50;
    expect(b.pick()).toBe(slow);
  });

  it('moves an average towards new samples (EWMA) rather than jumping', () => {
    const b = new Balancer(urls([1]), 'latency');
    const [r] = b.replicas as [Replica];
    b.observe(r, 100);
    b.observe(r, 0);
    expect(r.latencyMs).toBeCloseTo(70);
  });

  it('sends one session per interval to a replica not measured lately, so a recovered one is seen', () => {
    const b = new Balancer(urls([1, 1]), 'latency', { probeIntervalMs: 1000 });
    const [fast, slow] = b.replicas as [Replica, Replica];
    b.observe(fast, 2);
    b.observe(slow, 300);
    slow.lastSeen = Date.now() - 5000;
    expect(b.pick()).toBe(slow);
    expect(b.pick()).toBe(fast); // the probe is once per interval, not every pick
  });
});

describe('replicaTransport', () => {
  it('takes a replica’s own transport, else its scheme, else the backend’s HTTP transport', () => {
    expect(replicaTransport('ws://a/ws', undefined, 'streamable-http')).toBe('websocket');
    expect(replicaTransport('tcps://a:8444', undefined, 'auto')).toBe('tcp');
    expect(replicaTransport('http://a/mcp', undefined, 'sse')).toBe('sse');
    expect(replicaTransport('http://a/mcp', undefined, 'websocket')).toBe('auto');
    expect(replicaTransport('http://a/sse', 'sse', 'websocket')).toBe('sse');
  });
});
