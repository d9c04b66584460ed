#!/usr/bin/env node
/*
 * Our gateway in a process of its own, built from a JSON configuration given as the first
 * argument (what quick mode cannot express, such as `processModel: 'shared'`). Prints
 * `{"port":N}` on stdout once listening (and `"tcpPort"` when its TCP frontend is on); SIGTERM
 * or SIGINT closes it and exits.
 *
 *   node bench/gateway-process.mjs '{"server":{"port":0},"backends":{...}}'
 */
import { createGateway, parseConfig } from '../dist/index.js';

const config = parseConfig(JSON.parse(process.argv[2] ?? '{}'));
const gateway = createGateway(config);
const address = await gateway.listen();
const tcp = gateway.tcpAddress?.();
process.stdout.write(
  `${JSON.stringify({ port: address.port, ...(tcp && { tcpPort: tcp.port }) })}\n`,
);

let stopping = false;
const stop = () => {
  if (stopping) process.exit(1);
  stopping = true;
  gateway.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
