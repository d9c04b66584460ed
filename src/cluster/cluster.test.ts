import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/schema.js';
import { NonceCache, forwardedRequest, signForward, verifyForward } from './forward.js';
import { mintSessionId, principalHash, verifySessionId } from './session-id.js';

const SECRET = 'a-cluster-secret-of-32-characters!!';

function incoming(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.headers = headers;
  return req;
}

describe('cluster session ids', () => {
  it('name the replica that minted them and carry a tag only the cluster secret makes', () => {
    const id = mintSessionId(SECRET, 'r2');
    expect(id).toMatch(/^v1\.r2\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/);
    expect(verifySessionId(SECRET, id)).toBe('r2');
    expect(mintSessionId(SECRET, 'r2')).not.toBe(id);
  });

  it('refuse a forged prefix, a forged tag, another secret and plain UUIDs', () => {
    const id = mintSessionId(SECRET, 'r2');
    expect(verifySessionId(SECRET, id.replace('v1.r2.', 'v1.r3.'))).toBeUndefined();
    expect(
      verifySessionId(SECRET, `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`),
    ).toBeUndefined();
    expect(verifySessionId('another-secret-of-32-characters!!!!', id)).toBeUndefined();
    expect(verifySessionId(SECRET, '0b6cbd5e-3c3e-4a55-9d0e-9a0c4d8a1f00')).toBeUndefined();
  });

  it('hash principals, and say nothing for an anonymous session', () => {
    expect(principalHash(undefined)).toBe('');
    expect(principalHash({ id: 'alice', scopes: [] })).toBe(
      principalHash({ id: 'alice', scopes: ['x'] }),
    );
    expect(principalHash({ id: 'alice', scopes: [] })).not.toBe(
      principalHash({ id: 'bob', scopes: [] }),
    );
  });
});

describe('signed forwards', () => {
  const headers = { host: 'lb', 'content-type': 'application/json', 'mcp-session-id': 'v1.r1.x' };
  const body = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
  const envelope = {
    base: '',
    principal: { id: 'alice', scopes: ['a'] },
    client: '10.0.0.9',
    from: 'r2',
  };

  /** What the owner receives: the signed headers as they came over the wire. */
  function received(signed: Record<string, string | string[]>, method = 'POST', url = '/mcp') {
    return incoming(method, url, signed as Record<string, string>);
  }

  it('verify with the secret, carrying the caller and the client address', () => {
    const signed = signForward(SECRET, incoming('POST', '/mcp', headers), body, envelope);
    const env = verifyForward(SECRET, received(signed), body, new NonceCache());
    expect(env).toMatchObject({
      base: '',
      principal: { id: 'alice' },
      client: '10.0.0.9',
      from: 'r2',
    });
  });

  it('refuse any change: the body, a header, the method, the URL, the envelope, the key', () => {
    const signed = signForward(SECRET, incoming('POST', '/mcp', headers), body, envelope);
    const nonces = () => new NonceCache();
    expect(verifyForward(SECRET, received(signed), Buffer.from(`${body} `), nonces())).toBe(
      'bad signature',
    );
    expect(
      verifyForward(SECRET, received({ ...signed, 'mcp-session-id': 'v1.r1.y' }), body, nonces()),
    ).toBe('bad signature');
    expect(verifyForward(SECRET, received(signed, 'DELETE'), body, nonces())).toBe('bad signature');
    expect(verifyForward(SECRET, received(signed, 'POST', '/servers/x/mcp'), body, nonces())).toBe(
      'bad signature',
    );
    const env = JSON.parse(
      Buffer.from(signed['x-mcp-bridge-forward'] as string, 'base64url').toString(),
    );
    env.principal = { id: 'mallory', scopes: ['admin'] };
    const forgedEnvelope = {
      ...signed,
      'x-mcp-bridge-forward': Buffer.from(JSON.stringify(env)).toString('base64url'),
    };
    expect(verifyForward(SECRET, received(forgedEnvelope), body, nonces())).toBe('bad signature');
    expect(
      verifyForward('another-secret-of-32-characters!!!!', received(signed), body, nonces()),
    ).toBe('bad signature');
    expect(verifyForward(SECRET, incoming('POST', '/mcp', headers), body, nonces())).toBe(
      'not a forward',
    );
  });

  it('are served once: a replay is refused', () => {
    const signed = signForward(SECRET, incoming('POST', '/mcp', headers), body, envelope);
    const nonces = new NonceCache();
    expect(typeof verifyForward(SECRET, received(signed), body, nonces)).toBe('object');
    expect(verifyForward(SECRET, received(signed), body, nonces)).toBe('replayed forward');
  });

  it('become a request with the signed headers only, and the body', async () => {
    const signed = signForward(SECRET, incoming('POST', '/mcp', headers), body, envelope);
    const wire = received({ ...signed, 'x-unsigned': 'added on the way' });
    const env = verifyForward(SECRET, wire, body, new NonceCache());
    if (typeof env === 'string') throw new Error(env);
    const copy = forwardedRequest(wire, env, body);
    expect(copy.headers['x-unsigned']).toBeUndefined();
    expect(copy.headers['mcp-session-id']).toBe('v1.r1.x');
    const chunks: Buffer[] = [];
    for await (const chunk of copy) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(body.toString());
  });
});

describe('cluster configuration', () => {
  const backends = { a: { command: 'x' } };

  it('is off by default, and then asks for nothing', () => {
    const config = parseConfig({ backends });
    expect(config.cluster.enabled).toBe(false);
    expect(config.cluster.failover).toBe('reinitialize');
  });

  it('needs Redis and a shared secret when on', () => {
    expect(() => parseConfig({ backends, cluster: { enabled: true } })).toThrow(
      /redis\.url[\s\S]*cluster\.secret/,
    );
    expect(
      parseConfig({
        backends,
        redis: { url: 'redis://r' },
        cluster: { enabled: true, secret: SECRET },
      }).cluster.enabled,
    ).toBe(true);
  });

  it('takes a failover per backend, and replica ids that can prefix a session id', () => {
    const config = parseConfig({ backends: { a: { command: 'x', failover: 'end' } } });
    expect(config.backends.a!.failover).toBe('end');
    expect(() => parseConfig({ backends, cluster: { replicaId: 'r.1' } })).toThrow(
      /cluster\.replicaId/,
    );
  });
});
