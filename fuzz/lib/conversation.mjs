/*
 * One long-lived message stream (a WebSocket, an SSE session, a Unix-socket or stdio session)
 * with many inputs in flight. Replies are matched by id; what carries no id we know (an error
 * with id null, a control-dialect error frame) is attributed with a fence: after each input a
 * ping with an id of ours goes out, and whatever arrives before the fence's answer belongs to that
 * input. A request's reply may come after its fence (a slow backend); it is awaited until its
 * deadline without holding up the next input.
 */
import { expectedReplies, idKey } from './generate.mjs';
import { judgeMessage } from './verdict.mjs';
import { rawMembers } from './json-raw.mjs';

export class Conversation {
  /**
   * `send(text)` writes one message; `deliver` is called by the owner with each message the
   * gateway sent, as `{ raw, message }` (already taken out of any envelope), or `{ raw, stray }`
   * for a frame that is a problem report rather than a JSON-RPC message.
   */
  constructor({
    send,
    deadlineMs,
    fence = (id) => `{"jsonrpc":"2.0","id":"${id}","method":"ping"}`,
  }) {
    this.sendText = send;
    this.deadlineMs = deadlineMs;
    this.fenceText = fence;
    this.pending = new Map(); // id key → [waiter]
    this.stray = [];
    this.closed = undefined;
    this.fences = 0;
    this.owners = new Map(); // id key → the payload that carried it, for replies that come late
  }

  /** Remembers which payload carried each id, so that a late reply is judged against it. */
  own(payload, whole = payload) {
    let value;
    try {
      value = JSON.parse(payload.replace(/^\ufeff/, ''));
    } catch {
      if (payload.includes('\n')) for (const line of payload.split('\n')) this.own(line, whole);
      return;
    }
    for (const m of Array.isArray(value) ? value : [value]) {
      if (m !== null && typeof m === 'object' && 'id' in m && m.id !== null)
        this.owners.set(idKey(m.id), whole);
    }
    if (this.owners.size > 4000) this.owners.delete(this.owners.keys().next().value);
  }

  deliver({ raw, message, stray, whole }) {
    if (
      !stray &&
      message &&
      (typeof message.id === 'string' || typeof message.id === 'number') &&
      !('method' in message)
    ) {
      const waiters = this.pending.get(idKey(message.id));
      const waiter = waiters?.shift();
      if (waiters?.length === 0) this.pending.delete(idKey(message.id));
      if (waiter) return waiter.resolve({ raw, message });
    }
    if (message && typeof message.method === 'string') return; // the server's own request or notification
    if (process.env.FUZZ_TRACE && message && message.id !== null && message.id !== undefined)
      process.stderr.write(`orphan ${raw.slice(0, 300)}\n`);
    this.stray.push({ raw, message, stray, whole });
  }

  /** The connection ended: every waiter learns it. */
  close(reason) {
    this.closed = reason;
    for (const waiters of this.pending.values())
      for (const w of waiters) w.resolve({ closed: reason });
    this.pending.clear();
  }

  wait(key, registry) {
    return new Promise((resolve) => {
      if (this.closed) return resolve({ closed: this.closed });
      const waiter = { resolve: (r) => (clearTimeout(timer), resolve(r)) };
      registry?.push(waiter);
      const timer = setTimeout(() => {
        const list = this.pending.get(key);
        const at = list?.indexOf(waiter) ?? -1;
        if (at >= 0) list.splice(at, 1);
        resolve({ timeout: true });
      }, this.deadlineMs);
      const list = this.pending.get(key) ?? [];
      list.push(waiter);
      this.pending.set(key, list);
    });
  }

  /**
   * Sends `text` (the input as written to the wire, `payload` the JSON-RPC text inside it) and
   * resolves once its fence is answered, with `done`: a promise of `{ cls, violations }` once
   * every reply it is owed is in (so the next input need not wait for a slow one).
   */
  async exchange(text, payload = text, { expectClose = false, sendInput, owner } = {}) {
    const expected = expectedReplies(payload);
    // `owner`: the text whose ids a late reply may carry, when `payload` owes no reply.
    if (typeof (owner ?? payload) === 'string') this.own(owner ?? payload);
    const waiters = [];
    const replies = expected.map((e) => this.wait(e.key, waiters));
    const fenceId = `fence-${++this.fences}`;
    try {
      // A surface that may refuse the input outright (SSE's POST) answers it there instead.
      const refused = sendInput ? await sendInput(text) : (this.sendText(text), undefined);
      if (refused) {
        for (const w of waiters) w.resolve({ refused: true });
        return { done: Promise.resolve(refused) };
      }
    } catch (error) {
      this.close(`write failed: ${error.message}`);
    }
    const fence = this.wait(idKey(fenceId));
    try {
      if (!this.closed) this.sendText(this.fenceText(fenceId));
    } catch (error) {
      this.close(`write failed: ${error.message}`);
    }
    const fenced = await fence;
    const stray = this.stray.splice(0);
    return { done: this.finish(payload, expected, replies, fenced, stray, expectClose) };
  }

  async finish(payload, expected, replies, fenced, stray, expectClose) {
    const got = await Promise.all(replies);
    const v = [];
    let cls = 'ok';
    const judge = ({ raw, message, stray: problem }) => {
      if (problem) {
        cls = 'rpc-error';
        return;
      }
      // A reply to an earlier input (its answer came after that input's fence) is that input's.
      const owner =
        message && message.id !== null && message.id !== undefined
          ? this.owners.get(idKey(message.id))
          : undefined;
      const late = owner !== undefined && owner !== payload ? owner : undefined;
      const j = judgeMessage(message, raw, late ?? payload);
      v.push(...(late ? j.violations.map((x) => ({ ...x, late: { text: late } })) : j.violations));
      if (j.cls !== 'ok') cls = 'rpc-error';
    };
    for (const s of stray) judge(s);
    let unanswered = 0;
    expected.forEach((e, i) => {
      const r = got[i];
      if (r.closed || r.timeout) {
        unanswered++;
        return;
      }
      judge(r);
      if (typeof e.id === 'number') {
        const rawId = rawMembers(r.raw)?.get('id');
        if (rawId !== e.rawId)
          v.push({
            kind: 'id-changed',
            rawId: e.rawId,
            detail: `id ${e.rawId} came back as ${rawId}`,
          });
      }
    });
    // An error that names no id refuses the line or batch as a whole: it answers every request in it.
    if (stray.some((s) => s.stray || s.whole || s.message?.id === null)) unanswered = 0;
    if (fenced.closed || this.closed) {
      if (!expectClose && (unanswered > 0 || fenced.closed))
        v.push({ kind: 'reset', detail: `connection closed: ${this.closed ?? fenced.closed}` });
      return { cls: 'closed', violations: v };
    }
    if (fenced.timeout || unanswered > 0) {
      v.push({
        kind: 'hang',
        detail: fenced.timeout
          ? 'the fence ping got no answer'
          : `${unanswered} request(s) unanswered within ${this.deadlineMs} ms`,
      });
      return { cls: 'timeout', violations: v };
    }
    return { cls, violations: v };
  }
}

/** Splits a byte stream into lines (for the Unix socket and stdio). */
export function lineReader(onLine) {
  let pending = '';
  return (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) onLine(line);
  };
}

/** `{ raw, message }` of a line or frame of plain JSON-RPC. */
export function plain(raw) {
  try {
    return { raw, message: JSON.parse(raw) };
  } catch {
    return { raw, stray: 'not JSON' };
  }
}
