/* global document, window */
import { McpHttpClient } from './mcp-http-client.js';

/*
 * The dashboard: polls /api/overview every two seconds (rates and latencies are differences
 * between two polls) and runs the playground, an MCP client of the gateway through /gateway/….
 * Everything a backend says is put in the page as text, never as HTML.
 */

const POLL_MS = 2000;
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
      { dataset: { backend: b.name }, title: b.lastError ?? '' },
      el('td', {}, b.name),
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
        el('td', {}, s.transport),
        el('td', {}, s.backend === '*' ? 'all (aggregated)' : s.backend),
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
}

async function poll() {
  try {
    const res = await fetch('/api/overview', { cache: 'no-store' });
    if (res.ok) render(await res.json());
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
