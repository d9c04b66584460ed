/* global document, window, getComputedStyle, ResizeObserver */
import uPlot from '/vendor/uplot.js';

/*
 * The dashboard's plots, drawn by uPlot (served by the admin listener from the npm package, not a
 * CDN) from /api/history: requests/s, errors/s and p50/p99 latency per backend, and the sessions
 * and processes open, over the last minutes. Each plot is rebuilt when the set of backends
 * changes, and otherwise only given the new data.
 */

const PALETTE = ['#2457c5', '#c2410c', '#15803d', '#7e22ce', '#0e7490', '#b91c1c', '#a16207'];
const color = (i) => PALETTE[i % PALETTE.length];
const label = (name) => (name === '*' ? 'aggregated' : name);

/** The plots: each with the series it draws from a list of samples. */
const PLOTS = [
  {
    id: 'plot-requests',
    title: 'Requests/s',
    unit: '/s',
    series: (names) => names.map((n) => ({ name: n, get: (b) => b?.requestsPerSecond ?? 0 })),
  },
  {
    id: 'plot-errors',
    title: 'Errors/s',
    unit: '/s',
    series: (names) => names.map((n) => ({ name: n, get: (b) => b?.errorsPerSecond ?? 0 })),
  },
  {
    id: 'plot-latency',
    title: 'Latency p50 / p99 (ms)',
    unit: ' ms',
    series: (names) =>
      names.flatMap((n) => [
        { name: n, suffix: 'p50', get: (b) => b?.p50Ms ?? null },
        { name: n, suffix: 'p99', get: (b) => b?.p99Ms ?? null, dash: [6, 4] },
      ]),
  },
  {
    id: 'plot-load',
    title: 'Sessions and processes',
    unit: '',
    totals: true,
    series: () => [
      { name: 'sessions', get: (s) => s.sessions },
      { name: 'processes', get: (s) => s.processes, dash: [6, 4] },
    ],
  },
];

let samples = [];
let built = '';
const charts = new Map();

function widthOf(node) {
  return Math.max(240, Math.floor(node.clientWidth));
}

function build(names) {
  const styles = getComputedStyle(document.documentElement);
  const fg = styles.getPropertyValue('--muted').trim() || '#5c6577';
  const grid = styles.getPropertyValue('--line').trim() || '#dde1e8';
  for (const chart of charts.values()) chart.plot.destroy();
  charts.clear();
  for (const spec of PLOTS) {
    const holder = document.getElementById(spec.id);
    const lines = spec.series(names);
    const order = spec.totals ? lines.map((_, i) => i) : lines.map((l) => names.indexOf(l.name));
    const options = {
      width: widthOf(holder),
      height: 170,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: 72,
          values: (u, values) => values.map((v) => `${+v.toFixed(2)}${spec.unit}`),
        },
      ],
      series: [
        {},
        ...lines.map((line, i) => ({
          label: `${spec.totals ? line.name : label(line.name)}${line.suffix ? ` ${line.suffix}` : ''}`,
          stroke: color(order[i]),
          width: 2,
          dash: line.dash,
          spanGaps: false,
          points: { show: false },
        })),
      ],
    };
    holder.replaceChildren();
    const plot = new uPlot(options, data(spec, lines), holder);
    charts.set(spec.id, { plot, spec, lines, holder });
  }
}

function data(spec, lines) {
  const x = samples.map((s) => s.time / 1000);
  const ys = lines.map((line) =>
    samples.map((s) => (spec.totals ? line.get(s) : line.get(s.backends[line.name]))),
  );
  return [x, ...ys];
}

/** Adds the samples the gateway took since the last call; `names` are the backends to draw. */
export function update(newSamples, names, keepMs) {
  samples = samples.concat(newSamples);
  const cutoff = Date.now() - keepMs;
  samples = samples.filter((s) => s.time >= cutoff);
  // The aggregated endpoint's own answers (its lists) are a line of their own once it has any.
  const drawn = [...names];
  if (samples.some((s) => (s.backends['*']?.requestsPerSecond ?? 0) > 0)) drawn.push('*');
  const key = JSON.stringify(drawn);
  if (key !== built) {
    built = key;
    build(drawn);
    return;
  }
  for (const chart of charts.values()) chart.plot.setData(data(chart.spec, chart.lines));
}

/** How many samples each plot has drawn (the browser test reads it). */
export function drawnPoints() {
  return samples.length;
}

const resize = new ResizeObserver(() => {
  for (const chart of charts.values())
    chart.plot.setSize({ width: widthOf(chart.holder), height: 170 });
});
window.addEventListener('DOMContentLoaded', () => {
  for (const spec of PLOTS) resize.observe(document.getElementById(spec.id));
});
