/*
 * What a URL's scheme says of the transport that reaches it, in one table for the config's
 * checks, the backends' replicas and the connector: http(s) is Streamable HTTP or SSE, ws(s) a
 * WebSocket, tcp(s) our framed TCP protocol.
 */

export type SchemeFamily = 'http' | 'websocket' | 'tcp';

const FAMILIES: Readonly<Record<string, SchemeFamily>> = {
  'http:': 'http',
  'https:': 'http',
  'ws:': 'websocket',
  'wss:': 'websocket',
  'tcp:': 'tcp',
  'tcps:': 'tcp',
};

/**
 * The family of `url`'s scheme, undefined for any other. A string is read up to its first colon
 * (case-insensitively), so that a URL the WHATWG parser would refuse still gets its answer.
 */
export function schemeFamily(url: string | URL): SchemeFamily | undefined {
  const scheme =
    typeof url === 'string' ? url.slice(0, url.indexOf(':') + 1).toLowerCase() : url.protocol;
  return FAMILIES[scheme];
}
