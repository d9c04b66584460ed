import { ServerResponse } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

/** Sent with every response of the gateway's listener. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};
const SECURITY_NAMES = Object.keys(SECURITY_HEADERS);

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[];

/**
 * The listener's response class: it adds the security headers as the head is written, in the
 * same call, instead of one `setHeader` per header per request beforehand, which made Node take
 * its slow path for the whole head (about 8 µs a request, a tenth of a forwarded call). A header
 * set on the response or given to `writeHead` wins over the default.
 */
export class SecureResponse<
  Request extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Request> {
  override writeHead(
    statusCode: number,
    reasonOrHeaders?: string | Headers,
    headers?: Headers,
  ): this {
    if (typeof reasonOrHeaders === 'string')
      return super.writeHead(statusCode, reasonOrHeaders, this.secured(headers));
    return super.writeHead(statusCode, this.secured(reasonOrHeaders));
  }

  private secured(headers: Headers | undefined): Headers {
    const out: Record<string, OutgoingHttpHeader | undefined> = {};
    for (const name of SECURITY_NAMES) {
      if (!this.hasHeader(name)) out[name] = SECURITY_HEADERS[name];
    }
    if (headers === undefined) return out as OutgoingHttpHeaders;
    if (!Array.isArray(headers)) {
      for (const name in headers) out[name.toLowerCase()] = headers[name];
      return out as OutgoingHttpHeaders;
    }
    // [name, value, name, value, …]
    for (let i = 0; i + 1 < headers.length; i += 2)
      out[String(headers[i]).toLowerCase()] = headers[i + 1];
    return out as OutgoingHttpHeaders;
  }
}
