import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient, startGateway } from '../helpers.js';
import type { RunningGateway } from '../helpers.js';
import { answerServerRequests, cases } from '../cases.js';
import type { Answered } from '../cases.js';

/*
 * The core path, end to end: the official SDK client over Streamable HTTP, through the gateway,
 * to @modelcontextprotocol/server-everything over stdio, one process per session. The same case
 * list runs over every transport pair in matrix.test.ts.
 */
describe('core path: SDK client → Streamable HTTP → gateway → stdio server-everything', () => {
  let gw: RunningGateway;
  let client: Client;
  let answered: Answered;

  beforeAll(async () => {
    gw = await startGateway();
    client = await connectClient(gw.url, undefined, (c) => (answered = answerServerRequests(c)));
  });

  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it.each(cases)('%s', (_name, run) => run(client, answered));
});
