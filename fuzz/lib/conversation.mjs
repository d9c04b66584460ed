/*
 * One long-lived message stream (a WebSocket, an SSE session, a Unix-socket or stdio session)
 * with many inputs in flight. Replies are matched by id; what carries no id we know (an error
 * with id null, a control-dialect error frame) is attributed with a fence: after each input a
 * message with an id of ours goes out, and whatever arrives before the fence's answer belongs to
 * that input. A request's reply may come after its fence (a slow backend); it is awaited until its
 * deadline without holding up the next input.
 *
 * Inputs are pipelined: `exchange` resolves once the input and its fence are written, with
 * `fenced` (the fence's answer) and `done` (the verdict). For that, the fence must be answered
 * in order with the errors that name no id, which the gateway writes as it reads a line or frame:
 * `EDGE_FENCE` is a ping that the edge itself refuses at once (array `params`), with our id, so
 * its answer never overtakes, nor lags behind, a refusal of the next input. A fence that travels
 * the whole session path (the default `ping`) may be overtaken; a surface that uses it sends one
 * input at a time.
 */
import { expectedReplies, idKey } from './generate.mjs';
import { judgeMessage } from './verdict.mjs';
import { nestingDepth, rawMembers } from './json-raw.mjs';

/** A fence the gateway's edge answers as it reads it: in order with every id-less refusal. */
export const EDGE_FENCE = (id) => `{"jsonrpc":"2.0","id":"${id}","method":"ping","params":[]}`;

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
    sparse = false,
  }) {
    this.sendText = send;
    // `sparse`: no fence after an input that names itself (see `selfIdentifying`).
    this.sparse = sparse;
    this.deadlineMs = deadlineMs;
    this.fenceText = fence;
    this.pending = new Map(); // id key → [waiter]
    this.stray = [];
    this.closed = undefined;
    this.fences = 0;
    this.owners = new Map(); // id key → the payload that carried it, for replies that come late
    this.previous = undefined; // the answer of the input sent last (see `exchange`)
  }

  /** Remembers which payload carried each id, so that a late reply is judged against it. */
  own(payload, expected, whole = payload) {
    // A payload that owes no reply gets none late either: nothing to remember.
    if (expected && expected.length === 0) return;
    if (expected && whole === payload) {
      // The ids that are owed a reply were read already; only those can come back late.
      for (const e of expected) this.owners.set(e.key, whole);
      // Enough for the inputs between two fences (a stray reply is judged at the next one).
      if (this.owners.size > 50_000) this.owners.delete(this.owners.keys().next().value);
      return;
    }
    let value;
    try {
      value = JSON.parse(payload.replace(/^\ufeff/, ''));
    } catch {
      if (payload.includes('\n'))
        for (const line of payload.split('\n')) this.own(line, undefined, whole);
      return;
    }
    for (const m of Array.isArray(value) ? value : [value]) {
      if (m !== null && typeof m === 'object' && 'id' in m && m.id !== null)
        this.owners.set(idKey(m.id), whole);
    }
    // Enough for the inputs between two fences (a stray reply is judged at the next one).
    if (this.owners.size > 50_000) this.owners.delete(this.owners.keys().next().value);
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
      // A fence takes what came before it, at once: what arrives after it is the next input's.
      if (waiter?.fence) return waiter.resolve({ raw, message, before: this.stray.splice(0) });
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
      for (const w of waiters)
        w.resolve(w.fence ? { closed: reason, before: this.stray.splice(0) } : { closed: reason });
    this.pending.clear();
  }

  /**
   * A promise of the message with id `key` (or `{ closed }`, or `{ timeout }` after the deadline).
   * `start`: a promise after which the deadline starts to run (see `exchange`).
   */
  wait(key, registry, fence = false, start = undefined) {
    return new Promise((resolve) => {
      if (this.closed)
        return resolve(
          fence ? { closed: this.closed, before: this.stray.splice(0) } : { closed: this.closed },
        );
      let timer;
      let settled = false;
      const waiter = {
        fence,
        resolve: (r) => {
          settled = true;
          clearTimeout(timer);
          resolve(r);
        },
      };
      registry?.push(waiter);
      const arm = () => {
        if (settled) return;
        timer = setTimeout(() => {
          const list = this.pending.get(key);
          const at = list?.indexOf(waiter) ?? -1;
          if (at >= 0) list.splice(at, 1);
          if (list?.length === 0) this.pending.delete(key);
          waiter.resolve(fence ? { timeout: true, before: [] } : { timeout: true });
        }, this.deadlineMs);
      };
      if (start) start.then(arm);
      else arm();
      const list = this.pending.get(key) ?? [];
      list.push(waiter);
      this.pending.set(key, list);
    });
  }

  /**
   * Sends `text` (the input as written to the wire, `payload` the JSON-RPC text inside it) and its
   * fence, and resolves once both are written (or the input was refused outright), with `fenced`:
   * a promise of the fence's answer (`{ closed }`, `{ timeout }` or an answer), and `done`: a
   * promise of `{ cls, violations }` once every reply it is owed is in (so that neither the next
   * input nor its fence waits for a slow one).
   */
  async exchange(text, payload = text, { expectClose = false, sendInput, owner } = {}) {
    const expected = expectedReplies(payload);
    // `owner`: the text whose ids a late reply may carry, when `payload` owes no reply.
    if (typeof (owner ?? payload) === 'string')
      this.own(owner ?? payload, owner === undefined ? expected : undefined);
    const waiters = [];
    // Pipelined, an input waits behind those before it: its deadline runs from the moment the
    // one before it was answered (its fence, or its replies), as if they had gone one by one.
    const start = this.previous;
    const replies = expected.map((e) => this.wait(e.key, waiters, false, start));
    const fenceId = `fence-${++this.fences}`;
    try {
      // A surface that may refuse the input outright (SSE's POST) answers it there instead.
      const refused = sendInput ? await sendInput(text) : (this.sendText(text), undefined);
      if (refused) {
        for (const w of waiters) w.resolve({ refused: true });
        this.previous = undefined;
        return { fenced: Promise.resolve({ refused: true }), done: Promise.resolve(refused) };
      }
    } catch (error) {
      this.close(`write failed: ${error.message}`);
    }
    if (this.sparse && selfIdentifying(payload, expected)) {
      // Whatever the gateway says of it carries its id: its replies are its fence.
      const fenced = Promise.all(replies).then((got) => ({
        closed: got.find((r) => r.closed)?.closed,
        before: [],
      }));
      this.previous = fenced;
      return {
        fenced,
        done: fenced.then((f) => this.finish(payload, expected, replies, f, f.before, expectClose)),
      };
    }
    const fenced = this.wait(idKey(fenceId), undefined, true, start);
    this.previous = fenced;
    try {
      if (!this.closed) this.sendText(this.fenceText(fenceId));
    } catch (error) {
      this.close(`write failed: ${error.message}`);
    }
    return {
      fenced,
      done: fenced.then((f) => this.finish(payload, expected, replies, f, f.before, expectClose)),
    };
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
    // Closed for this input: before its fence came back, or before a reply it was owed did (a
    // close after that, by a later input, is not this input's).
    const closed = fenced.closed ?? got.find((r) => r.closed)?.closed;
    if (closed) {
      if (!expectClose && (unanswered > 0 || fenced.closed))
        v.push({ kind: 'reset', detail: `connection closed: ${closed}` });
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

/**
 * Whether every answer the gateway may give `payload` names its id, so that it needs no fence:
 * one request (not a batch, not two lines) with a readable id (a string or a safe integer, as
 * digits), small, shallow and valid JSON.
 * Its refusals (`-32600`, `-32602`, a parse of its params) carry that id; the id-less ones (a
 * parse error, too deep, too big) cannot happen to it.
 */
export function selfIdentifying(payload, expected) {
  const id = expected[0]?.id;
  return (
    expected.length === 1 &&
    // An id the gateway could not give back as written (beyond 2^53, 1e3) is refused without it.
    (typeof id === 'string' || (Number.isSafeInteger(id) && /^-?\d+$/.test(expected[0].rawId))) &&
    typeof payload === 'string' &&
    payload.length <= 4096 &&
    payload.charCodeAt(0) === 123 /* { */ &&
    !payload.includes('\n') &&
    nestingDepth(payload) < 32
  );
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
