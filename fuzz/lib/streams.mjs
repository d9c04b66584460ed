/*
 * The batch loop of the stream frontends (WebSocket, SSE, Unix socket, stdio): a few connections,
 * each a `Conversation` that many inputs go through in turn; an input that needs a connection of
 * its own (an oversize or binary frame, a close mid-line) gets one. A connection the gateway
 * closed is opened again, so one refusal does not end the batch.
 */

/**
 * `open()` resolves with `{ conversation, frame(input) → { text, payload }, close() }`;
 * `single(input)` handles an input that needs a connection of its own and resolves with its
 * verdict; `build(index)` makes input `index`.
 */
export async function runStreams({ from, to, tally, connections, build, inputs, open, single }) {
  const done = [];
  const result = { reinitializes: 0 };
  let next = from;
  const opened = [];
  const worker = async () => {
    let conn;
    try {
      for (;;) {
        const index = next++;
        if (index >= to) return;
        const input = inputs ? inputs[index - from] : build(index);
        // An initialize in a live session (a mutation may make any message one): see reinitialize-leak.
        if (input.kind === 'initialize' || /"method"\s*:\s*"initialize"/.test(input.text ?? ''))
          result.reinitializes++;
        if (input.single) {
          const verdict = await single(input).catch((error) => ({
            cls: 'closed',
            violations: [{ kind: 'reset', detail: String(error.message) }],
          }));
          tally.record(index, input, verdict.cls, verdict.violations);
          continue;
        }
        if (!conn || conn.conversation.closed) {
          await conn?.close();
          conn = await open();
          opened.push(conn);
        }
        const { text, payload, owner } = conn.frame(input);
        const t0 = Date.now();
        const { done: verdict } = await conn.conversation.exchange(text, payload, {
          owner,
          ...(conn.exchangeOptions?.(input) ?? {}),
        });
        if (process.env.FUZZ_TRACE)
          process.stderr.write(
            `#${index} ${Date.now() - t0}ms ${input.kind}:${input.tags ?? ''} ${String(text).slice(0, 300)}\n`,
          );
        done.push(verdict.then((v) => tally.record(index, input, v.cls, v.violations)));
      }
    } finally {
      await Promise.allSettled(done);
      await conn?.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await Promise.allSettled(done);
  return result;
}
