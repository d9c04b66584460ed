/*
 * What counts as a clear answer, and the tally of what each frontend got. Violation kinds:
 *
 *   stack-trace       a reply shows a stack frame or a file path of ours (`    at `, `dist/…js:1:2`)
 *   internal-error    GATEWAY_INTERNAL or HTTP 500: a bug, by the gateway's own table (a backend's
 *                     own -32603 passes through unchanged and is the backend's business)
 *   non-json-error    an HTTP 4xx/5xx whose body is not JSON (content-type and parse)
 *   bad-reply         a 2xx that is not JSON-RPC where JSON-RPC was due, a non-JSON stdout line
 *   reset             the connection closed or reset with no response
 *   hang              a request with a readable id got nothing within its deadline
 *   slow-error        GATEWAY_TIMEOUT: the gateway forwarded something the backend never answered
 *   missing-reply     a response that should hold a request's answer does not
 *   id-changed        a reply's id is not the id as the client wrote it
 *   origin-accepted   a foreign Origin (or Host) was served instead of refused with 403
 *   content-encoding-ignored  a compressed body neither decoded nor refused with 415
 *   log-flood, leak-processes, leak-fds, crash, health   batch checks
 */
import { explain } from './known.mjs';
import { portable } from './generate.mjs';

const STACK = [
  /\n\s+at \S/,
  /\bat (?:async )?[\w$.<>]+ \((?:file:\/\/|\/|node:)/,
  /(?:file:\/\/\/|\/work\/|\bdist\/[\w/.-]+\.js)/,
  /node:internal\//,
];

/** The first stack-like fragment in `reply` that the input itself did not contain. */
export function internalsIn(reply, inputText = '') {
  for (const re of STACK) {
    const m = re.exec(reply);
    if (m && !inputText.includes(m[0].trim())) return m[0];
  }
  return undefined;
}

/** Class and violations of one JSON-RPC message the gateway sent. */
export function judgeMessage(message, rawText, inputText) {
  const violations = [];
  // A string id is the client's own, sent back: what it holds is no leak of ours (an orphan
  // reply, judged with a later input, once showed a generated id "    at Object.<anonymous> …").
  const ownId = typeof message?.id === 'string' ? message.id : '';
  const leak = internalsIn(rawText, `${inputText}\n${ownId}`);
  if (leak) violations.push({ kind: 'stack-trace', detail: leak });
  if (message === null || typeof message !== 'object' || Array.isArray(message))
    return {
      cls: 'bad',
      violations: [...violations, { kind: 'bad-reply', detail: rawText.slice(0, 200) }],
    };
  const error = message.error;
  if (error && typeof error === 'object') {
    const code = error.data?.code;
    if (code === 'GATEWAY_TIMEOUT')
      violations.push({
        kind: 'slow-error',
        detail: `${error.message} (id ${JSON.stringify(message.id)})`,
      });
    else if (code === 'GATEWAY_INTERNAL')
      violations.push({ kind: 'internal-error', detail: error.message });
    return { cls: 'rpc-error', violations };
  }
  return { cls: 'ok', violations };
}

export const CLASSES = ['ok', 'rpc-error', 'http-4xx', 'http-5xx', 'closed', 'timeout'];

/** Per-frontend counts, with violations kept (the first `keep`) for the report and replay. */
export class Tally {
  constructor(frontend, seed, keep = 100) {
    this.frontend = frontend;
    this.seed = seed;
    this.keep = keep;
    this.inputs = 0;
    this.replies = Object.fromEntries(CLASSES.map((c) => [c, 0]));
    this.crashes = 0;
    this.hangs = 0;
    this.slowErrors = 0;
    this.leaks = 0;
    this.violationCount = 0;
    this.violationKinds = {};
    this.violations = [];
    this.known = {};
    this.knownKinds = {};
    this.batches = 0;
    this.elapsedMs = 0;
  }

  /** Records one input's outcome: its reply class and any violations. Returns the real ones. */
  record(index, input, cls, violations = []) {
    this.inputs++;
    if (cls) this.replies[cls] = (this.replies[cls] ?? 0) + 1;
    return this.violate(index, input, violations);
  }

  /** Violations not tied to one more input (batch checks, late replies). */
  violate(index, input, violations) {
    const real = [];
    const seenKnown = new Set();
    for (const v of violations) {
      if (v.kind === 'slow-error') this.slowErrors++;
      const known = explain(input, v);
      if (known) {
        if (!seenKnown.has(known)) this.known[known] = (this.known[known] ?? 0) + 1;
        seenKnown.add(known);
        this.knownKinds[v.kind] = (this.knownKinds[v.kind] ?? 0) + 1;
        continue;
      }
      if (v.kind === 'hang') this.hangs++;
      if (v.kind.startsWith('leak')) this.leaks++;
      if (v.kind === 'crash') this.crashes++;
      real.push(v);
    }
    if (real.length > 0) {
      this.violationCount++;
      for (const v of real) this.violationKinds[v.kind] = (this.violationKinds[v.kind] ?? 0) + 1;
      if (this.violations.length < this.keep)
        this.violations.push({
          frontend: this.frontend,
          seed: this.seed,
          index,
          violations: real,
          input: portable(input),
        });
    }
    return real;
  }

  /** Counts of violations explained by no known defect, by kind: hangs and leaks included. */
  get unexplained() {
    return this.violationCount;
  }

  summary() {
    return {
      frontend: this.frontend,
      inputs: this.inputs,
      batches: this.batches,
      seconds: Math.round(this.elapsedMs / 100) / 10,
      inputsPerSecond: this.elapsedMs > 0 ? Math.round((this.inputs * 1000) / this.elapsedMs) : 0,
      replies: this.replies,
      crashes: this.crashes,
      hangs: this.hangs,
      slowErrors: this.slowErrors,
      leaks: this.leaks,
      violations: this.violationCount,
      violationKinds: this.violationKinds,
      knownDefects: this.known,
      knownKinds: this.knownKinds,
    };
  }
}
