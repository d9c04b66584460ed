#!/usr/bin/env node
/*
 * Where a CPU profile's time went: reads .cpuprofile files (node --cpu-prof) and prints the
 * functions with the most self time, and the files of our own code with the most self time.
 *
 *   node bench/profile-summary.mjs /tmp/prof/*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
const top = Number(values.top);

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  // Self time per node: each sample's node gets the interval up to the next sample.
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const byFunction = new Map();
  const byFile = new Map();
  for (const [id, us] of self) {
    const { callFrame } = nodes.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const url = callFrame.url.replace(/^file:\/\/.*?\/(dist|node_modules|bench)\//, '$1/');
    const key = `${name}  ${url ? `${url}:${callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const where = !url
      ? name.startsWith('(')
        ? name
        : '(native)'
      : url.startsWith('node:')
        ? 'node: internals'
        : url.startsWith('node_modules/')
          ? url
              .split('/')
              .slice(0, url.split('/')[1].startsWith('@') ? 3 : 2)
              .join('/')
          : url;
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us, of) => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
  const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`);
  console.log(`\ntop ${top} functions by self time (% of busy time):`);
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (key.startsWith('(idle)')) continue;
    console.log(`${pct(us, busy)} ${ms(us)}  ${key}`);
  }
  // Native entries (no URL) say little on their own: name the first frame of our code above them.
  const natives = [...byFunction]
    .filter(([key]) => key.endsWith('  ') && !key.startsWith('('))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([key]) => key.trim());
  for (const name of natives) {
    const callers = new Map();
    for (const [id, us] of self) {
      if ((nodes.get(id).callFrame.functionName || '(anonymous)') !== name) continue;
      let p = parentOf.get(id);
      while (p !== undefined && !nodes.get(p).callFrame.url.includes('/dist/')) p = parentOf.get(p);
      const frame = p === undefined ? undefined : nodes.get(p).callFrame;
      const caller = frame
        ? `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/dist\//, 'dist/')}:${frame.lineNumber + 1}`
        : '(no frame of ours)';
      callers.set(caller, (callers.get(caller) ?? 0) + us);
    }
    console.log(`\n${name}: first caller in dist/`);
    for (const [caller, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 5))
      console.log(`${pct(us, busy)} ${ms(us)}  ${caller}`);
  }
  console.log('\nself time by file or package (% of busy time):');
  for (const [where, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (where === '(idle)') continue;
    console.log(`${pct(us, busy)} ${ms(us)}  ${where}`);
  }
  console.log('');
}
