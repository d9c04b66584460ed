/* global document, window */
import { McpHttpClient } from './mcp-http-client.js';
import { update as updatePlots, drawnPoints } from './plots.js';

/*
 * The dashboard: polls /api/overview and /api/history every two seconds (the tiles' rates are
 * differences between two polls; the plots are the gateway's own samples), shows a backend's
 * detail when its row is chosen, and runs the playground, an MCP client of the gateway through
 * /gateway/…. Everything a backend says is put in the page as text, never as HTML.
 */

const POLL_MS = 2000;
/** How far back the plots reach. */
const PLOT_MS = 10 * 60 * 1000;
const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'class') node.className = value;
    else node[key] = value;
  }
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

const badge = (text) => el('span', { class: `badge ${text}` }, text);
const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

function duration(seconds) {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

// ── live view ──────────────────────────────────────────────────────────────────────────────

let previous;

function rates(now, before, elapsed) {
  if (!now || !before || elapsed <= 0) return { rate: NaN, errors: NaN, latency: NaN };
  const requests = now.requests - before.requests;
  return {
    rate: requests / elapsed,
    errors: (now.errors - before.errors) / elapsed,
    latency: requests > 0 ? (now.durationMs - before.durationMs) / requests : NaN,
  };
}

function render(view) {
  const elapsed = previous ? (Date.parse(view.time) - Date.parse(previous.time)) / 1000 : 0;
  const before = new Map((previous?.backends ?? []).map((b) => [b.name, b.totals]));
  $('#version').textContent = `v${view.version}`;
  $('#uptime').textContent = duration(view.uptimeSeconds);

  const rows = view.backends.map((b) => {
    const r = rates(b.totals, before.get(b.name), elapsed);
    return el(
      'tr',
      {
        dataset: { backend: b.name },
        title: b.lastError ?? '',
        tabIndex: 0,
        class: b.name === detailOf ? 'chosen' : '',
        onclick: () => showDetail(b.name),
        onkeydown: (event) => event.key === 'Enter' && showDetail(b.name),
      },
      el('td', {}, el('button', { type: 'button', class: 'link' }, b.name)),
      el('td', {}, badge(b.state)),
      el('td', {}, b.breaker ? badge(b.breaker) : '–'),
      el('td', {}, String(b.restarts)),
      el('td', {}, String(b.sessions)),
      el('td', {}, String(b.processes)),
      el('td', {}, fixed(r.rate, 2)),
      el('td', {}, fixed(r.errors, 2)),
      el('td', {}, Number.isFinite(r.latency) ? `${fixed(r.latency)} ms` : '–'),
    );
  });
  $('#backends tbody').replaceChildren(...rows);
  const failing = view.backends.filter((b) => b.lastError);
  $('#backends-hint').textContent = failing.map((b) => `${b.name}: ${b.lastError}`).join(' · ');

  $('#sessions tbody').replaceChildren(
    ...view.sessions.map((s) =>
      el(
        'tr',
        {},
        el('td', { title: s.id }, s.id.slice(0, 8)),
        el('td', {}, caller(s.caller)),
        el('td', {}, s.transport),
        el('td', {}, s.backend === '*' ? 'all (aggregated)' : s.backend),
        el('td', { title: s.openedAt ?? '' }, s.openedAt ? clock(Date.parse(s.openedAt)) : '–'),
        el('td', {}, s.idleSeconds === undefined ? '–' : duration(s.idleSeconds)),
        el('td', {}, s.pid === undefined ? '–' : String(s.pid)),
        el('td', {}, String(s.inFlight)),
      ),
    ),
  );

  const sum = (v) => {
    const all = [...v.backends.map((b) => b.totals), v.aggregate].filter(Boolean);
    return all.reduce(
      (t, x) => ({
        requests: t.requests + x.requests,
        errors: t.errors + x.errors,
        durationMs: t.durationMs + x.durationMs,
        inFlight: t.inFlight + x.inFlight,
      }),
      { requests: 0, errors: 0, durationMs: 0, inFlight: 0 },
    );
  };
  const total = sum(view);
  const r = previous ? rates(total, sum(previous), elapsed) : rates();
  $('#t-sessions').textContent = String(view.sessions.length);
  $('#t-rate').textContent = fixed(r.rate, 2);
  $('#t-errors').textContent = fixed(r.errors, 2);
  $('#t-inflight').textContent = String(total.inFlight);
  $('#t-ratelimited').textContent = String(view.rateLimited);
  $('#t-auth').textContent = String(view.authFailures);
  previous = view;
  fillBackendChoice(view);
  if (detailOf) renderDetail(view.backends.find((b) => b.name === detailOf));
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

/** Who a session belongs to: the client's own name, the principal, the address. */
function caller(c = {}) {
  const parts = [c.client, c.principal, c.address].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : '–';
}

// ── plots ──────────────────────────────────────────────────────────────────────────────────

let historySince = 0;

async function pollHistory(backendNames) {
  const res = await fetch(`/api/history?since=${historySince}`, { cache: 'no-store' });
  if (!res.ok) return;
  const history = await res.json();
  if (history.samples.length > 0) historySince = history.samples.at(-1).time;
  updatePlots(history.samples, backendNames, PLOT_MS);
  const minutes = Math.round(PLOT_MS / 60000);
  $('#traffic-window').textContent =
    history.intervalMs === null
      ? '(off)'
      : `last ${minutes} minutes, every ${history.intervalMs / 1000} s · ${drawnPoints()} samples`;
  document.body.dataset.samples = String(drawnPoints());
}

// ── a backend's detail ─────────────────────────────────────────────────────────────────────

let detailOf;
let toolsOf;

function showDetail(name) {
  detailOf = name;
  toolsOf = undefined;
  for (const row of document.querySelectorAll('#backends tbody tr'))
    row.classList.toggle('chosen', row.dataset.backend === name);
  $('#detail').hidden = false;
  $('#detail-tools').replaceChildren(el('li', { class: 'hint' }, 'listing…'));
  if (previous) renderDetail(previous.backends.find((b) => b.name === name));
  void listTools(name);
  $('#detail').scrollIntoView({ block: 'nearest' });
}

/** The backend's tools, through the playground's way to the gateway (one short session). */
async function listTools(name) {
  if (!previous?.playground) {
    $('#detail-tools').replaceChildren(el('li', { class: 'hint' }, 'needs the HTTP listener'));
    return;
  }
  const probe = new McpHttpClient(`/gateway/servers/${encodeURIComponent(name)}/mcp`);
  try {
    await probe.connect();
    const tools = [];
    let cursor;
    do {
      const page = await probe.request('tools/list', cursor ? { cursor } : {});
      tools.push(...(page.tools ?? []));
      cursor = page.nextCursor;
    } while (cursor && tools.length < 1000);
    if (detailOf !== name) return;
    toolsOf = tools;
    $('#detail-tools').replaceChildren(
      ...(tools.length === 0
        ? [el('li', { class: 'hint' }, 'none')]
        : tools.map((t) => el('li', { title: t.description ?? '' }, t.name))),
    );
    $('#detail-tools').dataset.count = String(tools.length);
  } catch (error) {
    if (detailOf === name)
      $('#detail-tools').replaceChildren(
        el('li', { class: 'bad' }, `cannot list: ${error.message}`),
      );
  } finally {
    await probe.close();
  }
}

function renderDetail(b) {
  if (!b) {
    $('#detail').hidden = true;
    detailOf = undefined;
    return;
  }
  $('#detail-name').textContent = b.name;
  const facts = [
    ['state', badge(b.state)],
    ['transport', b.transport],
    ['restarts', String(b.restarts)],
    ['sessions', String(b.sessions)],
    ['processes', String(b.processes)],
    ['breaker', b.breaker ? badge(b.breaker) : '–'],
    ['since', b.lastChange ? clock(Date.parse(b.lastChange)) : '–'],
    ['last error', b.lastError ?? '–'],
  ];
  if (toolsOf) facts.splice(2, 0, ['tools', String(toolsOf.length)]);
  $('#detail-facts').replaceChildren(
    ...facts.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]),
  );
  const states = [...(b.states ?? [])].reverse();
  $('#detail-states').replaceChildren(
    ...(states.length === 0
      ? [el('li', { class: 'hint' }, 'none yet')]
      : states.map((s) =>
          el(
            'li',
            {},
            el('time', {}, clock(s.time)),
            ' ',
            badge(s.state),
            ` restarts ${s.restarts}`,
          ),
        )),
  );
  const errors = [...(b.errors ?? [])].reverse();
  $('#detail-errors').replaceChildren(
    ...(errors.length === 0
      ? [el('li', { class: 'hint' }, 'none')]
      : errors.map((e) =>
          el(
            'li',
            {},
            el('time', {}, clock(e.time)),
            ` ${e.method}: `,
            el('code', {}, String(e.error)),
          ),
        )),
  );
}

async function poll() {
  try {
    const res = await fetch('/api/overview', { cache: 'no-store' });
    if (res.ok) {
      const view = await res.json();
      render(view);
      await pollHistory(view.backends.map((b) => b.name));
    }
  } catch {
    // The gateway is restarting, or this page outlived it; the next poll tries again.
  }
  window.setTimeout(poll, POLL_MS);
}

// ── playground ─────────────────────────────────────────────────────────────────────────────

let client;
let choices = '';
let selected;

function fillBackendChoice(view) {
  if (!view.playground) {
    $('#playground-off').hidden = false;
    $('#connect').disabled = true;
    return;
  }
  const options = view.backends.map((b) => [
    b.name,
    `/gateway/servers/${encodeURIComponent(b.name)}/mcp`,
  ]);
  if (view.backends.length > 1)
    options.push(['all (aggregated)', `/gateway${view.playground.mcpPath}`]);
  const key = JSON.stringify(options);
  if (key === choices) return;
  choices = key;
  const current = $('#backend-select').value;
  $('#backend-select').replaceChildren(
    ...options.map(([label, url]) => el('option', { value: url }, label)),
  );
  if (options.some(([, url]) => url === current)) $('#backend-select').value = current;
}

function setStatus(text, kind = '') {
  const node = $('#connection');
  node.textContent = text;
  node.className = `status ${kind}`;
}

function show(value) {
  $('#result').textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

function showError(error) {
  show(error.reply ? { error: error.reply } : `Error: ${error.message}`);
}

/** A starting point for a call's arguments, from the tool's or prompt's declared parameters. */
function skeleton(schema) {
  const properties = schema?.properties ?? {};
  const required = new Set(schema?.required ?? Object.keys(properties));
  const value = {};
  for (const [name, spec] of Object.entries(properties)) {
    if (!required.has(name)) continue;
    if ('default' in spec) value[name] = spec.default;
    else if (spec.type === 'number' || spec.type === 'integer') value[name] = 0;
    else if (spec.type === 'boolean') value[name] = false;
    else if (spec.type === 'array') value[name] = [];
    else if (spec.type === 'object') value[name] = {};
    else value[name] = '';
  }
  return value;
}

function item(label, detail, data, onClick) {
  return el(
    'li',
    {},
    el(
      'button',
      { type: 'button', dataset: data, onclick: onClick },
      label,
      el('small', {}, detail ?? ''),
    ),
  );
}

function openForm(title, description, args, run) {
  $('#call-form').hidden = false;
  $('#call-title').textContent = title;
  $('#call-description').textContent = description ?? '';
  $('#call-args').value = JSON.stringify(args, null, 2);
  selected = run;
}

async function listAll(kind) {
  const key = { tools: 'tools', resources: 'resources', prompts: 'prompts' }[kind];
  const items = [];
  let cursor;
  do {
    const page = await client.request(`${kind}/list`, cursor ? { cursor } : {});
    items.push(...(page[key] ?? []));
    cursor = page.nextCursor;
  } while (cursor && items.length < 1000);
  return items;
}

async function loadLists(capabilities) {
  const tools = capabilities.tools ? await listAll('tools') : [];
  $('#tools-list').replaceChildren(
    ...tools.map((tool) =>
      item(tool.name, tool.description, { tool: tool.name }, () =>
        openForm(tool.name, tool.description, skeleton(tool.inputSchema), (args) =>
          client.request('tools/call', { name: tool.name, arguments: args }),
        ),
      ),
    ),
  );
  const resources = capabilities.resources ? await listAll('resources') : [];
  $('#resources-list').replaceChildren(
    ...resources.map((resource) =>
      item(resource.name ?? resource.uri, resource.uri, { uri: resource.uri }, async () => {
        $('#call-form').hidden = true;
        try {
          show(await client.request('resources/read', { uri: resource.uri }));
        } catch (error) {
          showError(error);
        }
      }),
    ),
  );
  const prompts = capabilities.prompts ? await listAll('prompts') : [];
  $('#prompts-list').replaceChildren(
    ...prompts.map((prompt) => {
      const schema = {
        properties: Object.fromEntries(
          (prompt.arguments ?? []).map((a) => [a.name, { type: 'string' }]),
        ),
        required: (prompt.arguments ?? []).filter((a) => a.required).map((a) => a.name),
      };
      return item(prompt.name, prompt.description, { prompt: prompt.name }, () =>
        openForm(prompt.name, prompt.description, skeleton(schema), (args) =>
          client.request('prompts/get', { name: prompt.name, arguments: args }),
        ),
      );
    }),
  );
  return { tools: tools.length, resources: resources.length, prompts: prompts.length };
}

async function connect() {
  const url = $('#backend-select').value;
  if (!url) return;
  $('#connect').disabled = true;
  $('#call-form').hidden = true;
  await client?.close();
  client = new McpHttpClient(url);
  setStatus('connecting…');
  try {
    const init = await client.connect();
    const counts = await loadLists(init.capabilities ?? {});
    setStatus(
      `connected to ${init.serverInfo?.name ?? 'server'}: ${counts.tools} tools, ${counts.resources} resources, ${counts.prompts} prompts`,
      'ok',
    );
  } catch (error) {
    setStatus(`failed: ${error.message}`, 'bad');
    showError(error);
  } finally {
    $('#connect').disabled = false;
  }
}

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role=tab]'))
    tab.setAttribute('aria-selected', String(tab.dataset.tab === name));
  for (const panel of document.querySelectorAll('[data-panel]'))
    panel.hidden = panel.dataset.panel !== name;
}

$('#connect').addEventListener('click', () => void connect());
for (const tab of document.querySelectorAll('[role=tab]'))
  tab.addEventListener('click', () => selectTab(tab.dataset.tab));
$('#call-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!selected) return;
  let args;
  try {
    args = JSON.parse($('#call-args').value || '{}');
  } catch (error) {
    show(`The arguments are not JSON: ${error.message}`);
    return;
  }
  $('#call').disabled = true;
  show('…');
  try {
    show(await selected(args));
  } catch (error) {
    showError(error);
  } finally {
    $('#call').disabled = false;
  }
});
window.addEventListener('pagehide', () => void client?.close());

void poll();
