/* global document */

/*
 * Seed 000's browser test page, for this gateway: a session over the REST API, its tools, and a
 * call of one. Everything goes to this page's own origin, so the gateway's CSP
 * (connect-src 'self') lets it through.
 */

const $ = (selector) => document.querySelector(selector);
let sessionId;

function show(value) {
  $('#result').textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const key = $('#api-key').value.trim();
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok) {
    const message = json?.error?.message ?? text;
    throw new Error(`HTTP ${res.status}: ${message}`);
  }
  return json;
}

function setSession(id) {
  sessionId = id;
  $('#session').textContent = id ? `session ${id}` : 'no session';
  $('#open').disabled = Boolean(id);
  $('#close').disabled = !id;
  $('#tool').disabled = !id;
  $('#call').disabled = !id;
}

async function open() {
  const body = { client_id: $('#client-id').value.trim() || 'test-client' };
  const server = $('#server').value.trim();
  if (server) body.server = server;
  const session = await api('POST', '/sessions', body);
  setSession(session.session_id);
  const { tools } = await api('POST', '/tools/discover', { session_id: sessionId });
  $('#tool').replaceChildren(
    ...tools.map((tool) => {
      const option = document.createElement('option');
      option.value = tool.name;
      option.textContent = tool.description ? `${tool.name}: ${tool.description}` : tool.name;
      return option;
    }),
  );
  show(`${tools.length} tools`);
}

async function call() {
  let params;
  try {
    params = JSON.parse($('#params').value || '{}');
  } catch (error) {
    show(`the arguments are not JSON: ${error.message}`);
    return;
  }
  show('calling…');
  show(await api('POST', '/tools/call', { session_id: sessionId, tool: $('#tool').value, params }));
}

async function close() {
  const id = sessionId;
  setSession(undefined);
  $('#tool').replaceChildren();
  show(await api('DELETE', `/sessions/${encodeURIComponent(id)}`));
}

const guarded = (action) => (event) => {
  event?.preventDefault();
  action().catch((error) => show(error.message));
};

$('#session-form').addEventListener('submit', guarded(open));
$('#call-form').addEventListener('submit', guarded(call));
$('#close').addEventListener('click', guarded(close));
