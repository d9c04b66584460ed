/* global document, location, EventSource */

/*
 * The seed bridge's test client, for this gateway: raw JSON-RPC over the WebSocket endpoint and
 * the legacy HTTP+SSE endpoint, both reached through the admin listener's /gateway/… paths.
 */

const $ = (selector) => document.querySelector(selector);
let nextId = 1;

const TEMPLATES = {
  initialize: () => ({
    jsonrpc: '2.0',
    id: nextId++,
    method: 'initialize',
    params: {
      protocolVersion: '2024-11-05',
      capabilities: {},
      clientInfo: { name: 'mcp-bridge-test-client', version: '1' },
    },
  }),
  initialized: () => ({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  'tools/list': () => ({ jsonrpc: '2.0', id: nextId++, method: 'tools/list', params: {} }),
  create_session: () => ({ type: 'create_session', client_id: 'mcp-bridge-test-client' }),
};

function log(target, direction, text) {
  const node = $(target);
  const time = new Date().toLocaleTimeString();
  node.textContent += `${time} ${direction} ${text}\n`;
  node.scrollTop = node.scrollHeight;
}

function status(target, text, kind = '') {
  $(target).textContent = text;
  $(target).className = `status ${kind}`;
}

/** `/gateway` + the chosen endpoint's base (`''` aggregated, `/servers/<name>`) + `suffix`. */
const endpoint = (suffix) => `/gateway${$('#endpoint').value}${suffix}`;

async function loadEndpoints() {
  const res = await fetch('/api/overview', { cache: 'no-store' });
  if (!res.ok) return;
  const view = await res.json();
  const options = [['all backends (root endpoint)', '']];
  for (const b of view.backends) options.push([b.name, `/servers/${encodeURIComponent(b.name)}`]);
  $('#endpoint').replaceChildren(
    ...options.map(([label, value]) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
}

// ── WebSocket ──────────────────────────────────────────────────────────────────────────────

let socket;

function wsConnect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}${endpoint('/ws')}`, 'mcp');
  status('#ws-status', 'connecting…');
  socket.onopen = () => {
    status('#ws-status', 'open', 'ok');
    $('#ws-send').disabled = false;
    $('#ws-close').disabled = false;
    $('#ws-connect').disabled = true;
  };
  socket.onmessage = (event) => log('#ws-log', '←', event.data);
  socket.onclose = (event) => {
    status('#ws-status', `closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
    $('#ws-send').disabled = true;
    $('#ws-close').disabled = true;
    $('#ws-connect').disabled = false;
  };
}

function wsSend() {
  const text = $('#ws-message').value.trim();
  if (!text || socket?.readyState !== WebSocket.OPEN) return;
  socket.send(text);
  log('#ws-log', '→', text);
}

// ── SSE ────────────────────────────────────────────────────────────────────────────────────

let events;
let postUrl;

function sseConnect() {
  events = new EventSource(endpoint('/sse'));
  status('#sse-status', 'connecting…');
  events.addEventListener('endpoint', (event) => {
    // The gateway names its own path (/messages?sessionId=…); it is reached through /gateway.
    postUrl = event.data.startsWith('/')
      ? `/gateway${event.data}`
      : new URL(event.data, events.url).href;
    log('#sse-log', '←', `endpoint ${event.data}`);
    status('#sse-status', 'open', 'ok');
    $('#sse-send').disabled = false;
    $('#sse-close').disabled = false;
    $('#sse-connect').disabled = true;
  });
  events.addEventListener('message', (event) => log('#sse-log', '←', event.data));
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) sseClosed('closed by the server');
  };
}

function sseClosed(why) {
  events?.close();
  events = undefined;
  postUrl = undefined;
  status('#sse-status', why);
  $('#sse-send').disabled = true;
  $('#sse-close').disabled = true;
  $('#sse-connect').disabled = false;
}

async function sseSend() {
  const text = $('#sse-message').value.trim();
  if (!text || !postUrl) return;
  log('#sse-log', '→', text);
  const res = await fetch(postUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
  if (res.status !== 202) log('#sse-log', '!', `HTTP ${res.status} ${await res.text()}`);
}

// ── wiring ─────────────────────────────────────────────────────────────────────────────────

for (const button of document.querySelectorAll('[data-ws-template]'))
  button.addEventListener('click', () => {
    $('#ws-message').value = JSON.stringify(TEMPLATES[button.dataset.wsTemplate](), null, 2);
  });
for (const button of document.querySelectorAll('[data-sse-template]'))
  button.addEventListener('click', () => {
    $('#sse-message').value = JSON.stringify(TEMPLATES[button.dataset.sseTemplate](), null, 2);
  });
$('#ws-connect').addEventListener('click', wsConnect);
$('#ws-close').addEventListener('click', () => socket?.close(1000, 'closed by the user'));
$('#ws-send').addEventListener('click', wsSend);
$('#sse-connect').addEventListener('click', sseConnect);
$('#sse-close').addEventListener('click', () => sseClosed('closed'));
$('#sse-send').addEventListener('click', () => void sseSend());
$('#ws-message').value = JSON.stringify(TEMPLATES.initialize(), null, 2);
$('#sse-message').value = JSON.stringify(TEMPLATES.initialize(), null, 2);
void loadEndpoints();
