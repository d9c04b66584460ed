import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCReply, JSONRPCRequest, RequestId } from '../core/jsonrpc.js';
import { errorReply, isNotification, isReply, isRequest } from '../core/jsonrpc.js';
import type { GatewayError } from '../core/errors.js';
import type { BackendTransport } from '../backends/transport.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { INPUT_KEY_META, META, MODERN_VERSION, carriedCapabilities } from './modern.js';

/** What a backend is known to speak: found out once, then every session goes the right way. */
export interface EraVerdict {
  era: 'legacy' | 'modern' | undefined;
}

export interface UpgradeOptions {
  /** `modern`: translate from the first message; `auto`: only if `initialize` is refused as legacy. */
  mode: 'modern' | 'auto';
  verdict: EraVerdict;
  /** `input_required` rounds one request may take before it fails. @default 8 */
  maxInputRounds?: number;
  /**
   * In `auto` mode, ask `server/discover` before the first `initialize` (cheap over HTTP: one
   * POST), so that a backend serving both eras is spoken to in 2026-07-28.
   */
  probe?: boolean;
}

/** The legacy revisions a legacy client may be answered in. */
const LEGACY_VERSIONS: ReadonlySet<string> = new Set(SUPPORTED_PROTOCOL_VERSIONS);

type Params = Record<string, unknown>;

function newCall(linkId: RequestId, method: string, params: Params | undefined): Call {
  return { linkId, method, params, rounds: 0, responses: {}, awaited: 0, requestState: undefined };
}

/** A client request forwarded to the modern backend, across its rounds. */
interface Call {
  /** The id the gateway's link gave it (what the reply must carry). */
  readonly linkId: RequestId;
  readonly method: string;
  readonly params: Params | undefined;
  rounds: number;
  /** This round's answers, by input key, and how many are still awaited. */
  responses: Params;
  awaited: number;
  requestState: string | undefined;
  /** For the `server/discover` standing in for `initialize`: the revision to answer in. */
  answerAs?: string;
}

/**
 * The up-level adapter: a legacy (2025) session in front of a 2026-07-28 backend, on any
 * backend transport. It wraps the backend's transport and speaks modern to it: `initialize` is
 * answered from `server/discover`; every request gets the envelope in `_meta` (the session's
 * client capabilities, client info and log level); `ping` and `logging/setLevel` are answered
 * here; an `input_required` result is played to the legacy client as real server requests
 * (sampling, elicitation, roots), whose answers go back in a retry of the original request.
 * In `auto` mode it passes everything through until the backend refuses `initialize` as a
 * legacy request (`-32022`), and from then on translates, for every later session too.
 */
export class UpgradeTransport implements BackendTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private modern: boolean;
  private readonly maxRounds: number;
  private clientCapabilities: Params = {};
  private clientInfo: unknown;
  private logLevel: string | undefined;
  /** What the legacy client subscribed to, and the listen carrying it. */
  private readonly subscribed = new Set<string>();
  private listenId: RequestId | undefined;
  /** The backend's capabilities, from its `server/discover`. */
  private serverCapabilities: Params = {};
  /** The `server/discover` probe in flight, and the initialize it stands in front of. */
  private probing: { id: RequestId; initialize: JSONRPCRequest } | undefined;
  /** The legacy initialize, while `auto` waits to see whether the backend takes it. */
  private initializing: JSONRPCRequest | undefined;
  private readonly calls = new Map<RequestId, Call>();
  /** The input requests played to the client: our id → the call and its input key. */
  private readonly asked = new Map<RequestId, { call: Call; key: string }>();
  private nextId = 1;

  constructor(
    private readonly inner: BackendTransport,
    private readonly options: UpgradeOptions,
  ) {
    this.modern = options.mode === 'modern' || options.verdict.era === 'modern';
    this.maxRounds = options.maxInputRounds ?? 8;
  }

  get pid(): number | undefined {
    return this.inner.pid;
  }

  get replica(): string | undefined {
    return this.inner.replica;
  }

  unavailable(): GatewayError {
    return this.inner.unavailable();
  }

  async start(): Promise<void> {
    if (this.modern) this.inner.setProtocolVersion?.(MODERN_VERSION);
    this.inner.onmessage = (message) => this.fromBackend(message);
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (error) => this.onerror?.(error);
    await this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  setProtocolVersion(version: string): void {
    // The backend's revision is the modern one whatever the client agreed on.
    this.inner.setProtocolVersion?.(this.modern ? MODERN_VERSION : version);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isRequest(message) && message.method === 'initialize') return this.initialize(message);
    if (!this.modern) return this.inner.send(message, options);
    if (isRequest(message)) return this.request(message, options);
    if (isNotification(message)) {
      switch (message.method) {
        case 'notifications/initialized':
        case 'notifications/roots/list_changed':
          return;
        case 'notifications/cancelled': {
          const linkId = message.params?.requestId as RequestId | undefined;
          for (const [backendId, call] of this.calls) {
            if (call.linkId !== linkId) continue;
            this.calls.delete(backendId);
            return this.inner.send({
              ...message,
              params: { ...message.params, requestId: backendId },
            });
          }
          return;
        }
        default:
          return this.inner.send(this.withEnvelope(message) as JSONRPCMessage, options);
      }
    }
    // The client's answer to an input request we played to it.
    const id = (message as { id?: RequestId }).id;
    const asked = id === undefined ? undefined : this.asked.get(id);
    if (asked === undefined) return;
    this.asked.delete(id!);
    const { call, key } = asked;
    // A client error leaves the key out: the server sees no response for it.
    if ('result' in message) call.responses[key] = message.result;
    if (--call.awaited === 0) await this.retry(call);
  }

  // ── to the backend ─────────────────────────────────────────────────────────────────────

  private async initialize(message: JSONRPCRequest): Promise<void> {
    const params = (message.params ?? {}) as Params;
    this.clientCapabilities = carriedCapabilities(params.capabilities);
    this.clientInfo = params.clientInfo;
    if (!this.modern && this.options.probe && this.options.verdict.era === undefined)
      return this.probe(message);
    if (!this.modern) {
      // auto: the backend may well be legacy; let it answer.
      this.initializing = message;
      try {
        return await this.inner.send(message);
      } catch (error) {
        // Over HTTP a modern-only server refuses with a 400 whose body the SDK's client puts in
        // its error: the same verdict as a -32022 reply.
        if (!/"code"\s*:\s*-32022\b/.test(String((error as Error).message))) throw error;
        this.initializing = undefined;
        this.switchToModern();
        return this.discover(message);
      }
    }
    return this.discover(message);
  }

  /** Asks `server/discover` first; the answer decides the era, then `initialize` is answered. */
  private async probe(initialize: JSONRPCRequest): Promise<void> {
    const id = `probe-${this.nextId++}`;
    this.probing = { id, initialize };
    try {
      await this.inner.send({
        jsonrpc: '2.0',
        id,
        method: 'server/discover',
        params: { _meta: this.envelope() },
      });
    } catch {
      // Refused outright (a 2025 server over HTTP answers 400 without a session): legacy.
      this.probing = undefined;
      this.options.verdict.era = 'legacy';
      this.initializing = initialize;
      await this.inner.send(initialize);
    }
  }

  /** The probe's answer: modern when it is a DiscoverResult naming 2026-07-28. */
  private probed(initialize: JSONRPCRequest, reply: JSONRPCReply): void {
    const versions = 'result' in reply ? (reply.result as Params).supportedVersions : undefined;
    if (Array.isArray(versions) && versions.includes(MODERN_VERSION)) {
      this.switchToModern();
      this.discovered(this.callFor(initialize), reply);
      return;
    }
    this.options.verdict.era = 'legacy';
    this.initializing = initialize;
    this.inner.send(initialize).catch((error: unknown) => this.onerror?.(error as Error));
  }

  /** The `server/discover` that stands in for `initialize`, answered in the client's revision. */
  private callFor(initialize: JSONRPCRequest): Call {
    const requested = (initialize.params as Params | undefined)?.protocolVersion;
    const call = newCall(initialize.id, 'server/discover', undefined);
    call.answerAs =
      typeof requested === 'string' && LEGACY_VERSIONS.has(requested) ? requested : '2025-11-25';
    return call;
  }

  private discover(initialize: JSONRPCRequest): Promise<void> {
    return this.forward(this.callFor(initialize));
  }

  private async request(message: JSONRPCRequest, options?: TransportSendOptions): Promise<void> {
    if (message.method === 'ping')
      return this.answer({ jsonrpc: '2.0', id: message.id, result: {} });
    if (message.method === 'logging/setLevel') {
      const level = (message.params as Params | undefined)?.level;
      this.logLevel = typeof level === 'string' ? level : undefined;
      return this.answer({ jsonrpc: '2.0', id: message.id, result: {} });
    }
    if (message.method === 'resources/subscribe' || message.method === 'resources/unsubscribe') {
      const uri = (message.params as Params | undefined)?.uri;
      if (typeof uri !== 'string')
        return this.answer(errorReply(message.id, -32602, 'params.uri must be a string'));
      if (message.method === 'resources/subscribe') this.subscribed.add(uri);
      else this.subscribed.delete(uri);
      await this.relisten();
      return this.answer({ jsonrpc: '2.0', id: message.id, result: {} });
    }
    await this.forward(newCall(message.id, message.method, message.params as Params), options);
  }

  /** Sends a call (again, for a retry) under a new backend id. */
  private async forward(call: Call, options?: TransportSendOptions): Promise<void> {
    const id = `up-${this.nextId++}`;
    this.calls.set(id, call);
    const params: Params = { ...call.params };
    if (call.rounds > 0) {
      params.inputResponses = call.responses;
      if (call.requestState !== undefined) params.requestState = call.requestState;
    }
    params._meta = { ...(params._meta as Params | undefined), ...this.envelope() };
    await this.inner.send({ jsonrpc: '2.0', id, method: call.method, params }, options);
  }

  /**
   * A legacy client's subscriptions as one `subscriptions/listen`: the URIs it subscribed to,
   * and the list changes the server can report. A change opens a new listen and cancels the
   * old one; only the newest listen's notifications reach the client.
   */
  private async relisten(): Promise<void> {
    const previous = this.listenId;
    const caps = this.serverCapabilities as Record<string, { listChanged?: boolean }>;
    const notifications: Params = {};
    if (caps.tools?.listChanged) notifications.toolsListChanged = true;
    if (caps.prompts?.listChanged) notifications.promptsListChanged = true;
    if (caps.resources?.listChanged) notifications.resourcesListChanged = true;
    if (this.subscribed.size > 0) notifications.resourceSubscriptions = [...this.subscribed];
    if (this.subscribed.size === 0) {
      this.listenId = undefined;
    } else {
      this.listenId = `listen-${this.nextId++}`;
      await this.inner.send({
        jsonrpc: '2.0',
        id: this.listenId,
        method: 'subscriptions/listen',
        params: { notifications, _meta: this.envelope() },
      });
    }
    if (previous !== undefined) {
      await this.inner
        .send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: previous, reason: 'subscriptions changed' },
        })
        .catch(() => {});
    }
  }

  private async retry(call: Call): Promise<void> {
    await this.forward(call);
    call.responses = {};
  }

  private envelope(): Params {
    return {
      [META.protocolVersion]: MODERN_VERSION,
      [META.clientCapabilities]: this.clientCapabilities,
      ...(this.clientInfo !== undefined && { [META.clientInfo]: this.clientInfo }),
      ...(this.logLevel !== undefined && { [META.logLevel]: this.logLevel }),
    };
  }

  private withEnvelope(message: JSONRPCMessage): JSONRPCMessage {
    const params = ((message as { params?: Params }).params ?? {}) as Params;
    return {
      ...message,
      params: { ...params, _meta: { ...(params._meta as Params | undefined), ...this.envelope() } },
    } as JSONRPCMessage;
  }

  private switchToModern(): void {
    this.modern = true;
    this.options.verdict.era = 'modern';
    this.inner.setProtocolVersion?.(MODERN_VERSION);
  }

  // ── from the backend ───────────────────────────────────────────────────────────────────

  private fromBackend(message: JSONRPCMessage): void {
    if (this.probing !== undefined && isReply(message) && message.id === this.probing.id) {
      const { initialize } = this.probing;
      this.probing = undefined;
      return this.probed(initialize, message);
    }
    if (
      this.initializing !== undefined &&
      isReply(message) &&
      message.id === this.initializing.id
    ) {
      const initialize = this.initializing;
      this.initializing = undefined;
      if ('error' in message && refusesLegacy(message)) {
        // A modern-only server: translate from now on, for this session and the next ones.
        this.switchToModern();
        void this.discover(initialize).catch((error: unknown) => this.onerror?.(error as Error));
        return;
      }
      this.options.verdict.era ??= 'legacy';
    }
    if (!this.modern) return this.answer(message);
    if (isReply(message)) {
      const id = (message as { id: RequestId }).id;
      // A listen's end (graceful, or refused): the subscriptions it carried are gone with it.
      if (id === this.listenId) this.listenId = undefined;
      const call = this.calls.get(id);
      if (call === undefined) return;
      this.calls.delete(id);
      if (call.method === 'server/discover') return this.discovered(call, message);
      void this.settle(call, message);
      return;
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/subscriptions/acknowledged') return;
      const meta = message.params?._meta as Params | undefined;
      if (meta && META.subscriptionId in meta) {
        // A listen replaced since (or not ours) must not deliver twice.
        if (meta[META.subscriptionId] !== this.listenId) return;
        const rest = { ...meta };
        delete rest[META.subscriptionId];
        return this.answer({ ...message, params: { ...message.params, _meta: rest } });
      }
    }
    this.answer(message);
  }

  /** The `server/discover` standing in for `initialize`: remembered, then answered. */
  private discovered(call: Call, reply: JSONRPCReply): void {
    if ('result' in reply) {
      const caps = (reply.result as Params).capabilities;
      if (typeof caps === 'object' && caps !== null) this.serverCapabilities = caps as Params;
    }
    this.answer(initializeReply(call, reply));
  }

  /** A reply to a forwarded call: the result, or the next round played to the client. */
  private async settle(call: Call, reply: JSONRPCReply): Promise<void> {
    const result = 'result' in reply ? (reply.result as Params) : undefined;
    if (result?.resultType !== 'input_required') {
      return this.answer({ ...reply, id: call.linkId } as JSONRPCReply);
    }
    if (++call.rounds > this.maxRounds) {
      return this.answer(
        errorReply(
          call.linkId,
          -32603,
          `the backend asked for input more than ${this.maxRounds} times`,
        ),
      );
    }
    call.requestState = typeof result.requestState === 'string' ? result.requestState : undefined;
    call.responses = {};
    const requests = Object.entries((result.inputRequests ?? {}) as Record<string, Params>);
    call.awaited = requests.length;
    if (requests.length === 0) {
      // Only a requestState: the server sheds load; come back at once (bounded by the rounds).
      await new Promise((resolve) => setTimeout(resolve, 50 * call.rounds));
      return this.retry(call);
    }
    for (const [key, request] of requests) {
      const id = `input-${this.nextId++}`;
      this.asked.set(id, { call, key });
      // The key rides along, so that a hop that turns this back into a round (a modern client
      // of the gateway) can keep the backend's own name for it.
      const params = (request.params ?? {}) as Params;
      const meta = { ...(params._meta as Params | undefined), [INPUT_KEY_META]: key };
      this.answer({
        jsonrpc: '2.0',
        id,
        method: String(request.method),
        params: { ...params, _meta: meta },
      } as JSONRPCMessage);
    }
  }

  private answer(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }
}

/** Whether an error to `initialize` says the server takes only the modern revision. */
function refusesLegacy(reply: JSONRPCReply): boolean {
  if (!('error' in reply)) return false;
  const { code, data } = reply.error as { code: number; data?: { supported?: unknown } };
  if (code !== -32022) return false;
  const supported = data?.supported;
  return !Array.isArray(supported) || supported.some((v) => v === MODERN_VERSION);
}

/** The legacy `initialize` result made from a `server/discover` reply. */
function initializeReply(call: Call, reply: JSONRPCReply): JSONRPCReply {
  if ('error' in reply) return { ...reply, id: call.linkId } as JSONRPCReply;
  const result = reply.result as Params;
  const meta = (result._meta ?? {}) as Params;
  const capabilities = { ...(result.capabilities as Params | undefined) };
  return {
    jsonrpc: '2.0',
    id: call.linkId,
    result: {
      protocolVersion: call.answerAs ?? '2025-11-25',
      capabilities,
      serverInfo: meta[META.serverInfo] ?? { name: 'modern-backend', version: '0' },
      ...(typeof result.instructions === 'string' && { instructions: result.instructions }),
    },
  } as JSONRPCReply;
}
