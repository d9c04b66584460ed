/*
 * The table's cells: each figure with its ratio to the direct baseline, and the targets
 * checked against mcp-bridge's figures.
 */

const MiB = 1024 * 1024;

export const int = (n) => Math.round(n).toLocaleString('en-US');
export const fixed = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : '?');
const ms = (n) => `${fixed(n, n < 1 ? 3 : n < 10 ? 2 : 1)} ms`;
const mib = (bytes) =>
  bytes >= 1024 * MiB ? `${fixed(bytes / 1024 / MiB, 2)} GiB` : `${fixed(bytes / MiB, 1)} MiB`;
const ratio = (a, b) => (Number.isFinite(a / b) && b !== 0 ? `${fixed(a / b, 2)}×` : '?');
const mark = (ok) => (ok ? 'PASS' : 'MISS');

/** The text of one cell: the figure, its ratio to the direct baseline, and errors if any. */
export function cell(key, r, direct) {
  if (!r) return '';
  if (r.na) return `n/a [${r.na}]`;
  if (r.failed) return `failed [${r.failed}]`;
  const base = direct && !direct.na && !direct.failed ? direct : undefined;
  const vs = (a, b) => (base ? ` (${ratio(a, b)})` : '');
  const errs = r.errors?.count ? `, **${r.errors.count} errors**` : '';
  switch (key) {
    case 'i':
    case 'i-ws':
      return `p50 ${ms(r.p50)}${vs(r.p50, base?.p50)}, p99 ${ms(r.p99)}${vs(r.p99, base?.p99)}${errs}`;
    case 'ii':
    case 'iii':
    case 'ii-ws':
    case 'iii-ws':
    case 'rest-s':
    case 'rest-1':
      return `${int(r.rps)} req/s${vs(r.rps, base?.rps)}${errs}`;
    case 'iv':
      return `${fixed(r.rps, 1)} req/s = ${int(r.mibps)} MiB/s${vs(r.rps, base?.rps)}${errs}`;
    case 'v':
      return `${fixed(r.setup, 2)} s${vs(r.setup, base?.setup)}, ${mib(r.perSession)}/session${vs(r.perSession, base?.perSession)} (${mib(r.pss)} total)${errs}`;
    case 'v2':
      return `${mib(r.pss)}, ${r.errors.count} errors (${fixed(r.setup, 1)} s to open)`;
    case 'vi':
      return `${mib(r.pss)} (${fixed(r.perSession / 1024, 1)} KiB/connection)${errs}`;
    default:
      return JSON.stringify(r);
  }
}

/** The targets of the issue, checked against mcp-bridge's figures. */
export function verdict(key, row) {
  const b = row.bridge;
  if (!b || b.na || b.failed) return '';
  const d = row.direct && !row.direct.na && !row.direct.failed ? row.direct : undefined;
  const peers = ['supergateway', 'mcp-proxy']
    .map((c) => row[c])
    .filter((r) => r && !r.na && !r.failed && Number.isFinite(r.rps));
  switch (key) {
    case 'i':
      return d ? `p50 ≤ 2.5× direct: ${mark(b.p50 <= 2.5 * d.p50)} (${ratio(b.p50, d.p50)})` : '';
    case 'ii': {
      const best = peers.length ? Math.max(...peers.map((p) => p.rps)) : NaN;
      return (
        `≥ 10,000 req/s: ${mark(b.rps >= 10_000)}; ≥ 5× best peer: ` +
        (peers.length ? `${mark(b.rps >= 5 * best)} (${ratio(b.rps, best)})` : 'no peer ran')
      );
    }
    case 'iii':
      return `≥ 10,000 req/s: ${mark(b.rps >= 10_000)}`;
    case 'iv':
      return d ? `≥ 0.7× direct: ${mark(b.rps >= 0.7 * d.rps)} (${ratio(b.rps, d.rps)})` : '';
    case 'v':
      return `≤ 3 s: ${mark(b.setup <= 3)}; ≤ 40 MiB/session: ${mark(b.perSession <= 40 * MiB)}${b.errors.count ? '; errors: MISS' : ''}`;
    case 'v2':
      return `≤ 600 MiB: ${mark(b.pss <= 600 * MiB)}; 0 errors: ${mark(b.errors.count === 0)}`;
    case 'vi':
      return `≤ 1 GiB: ${mark(b.pss <= 1024 * MiB)}${b.errors.count ? '; errors: MISS' : ''}`;
    default:
      return '—';
  }
}
