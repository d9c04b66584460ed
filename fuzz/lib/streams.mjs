/*
 * The batch loop of the stream frontends (WebSocket, SSE, Unix socket, stdio, TCP): a few
 * connections, each a `Conversation` that many inputs go through, pipelined: up to `window`
 * inputs are in flight on a connection (sent, their fence not yet answered), so that a connection
 * is never idle waiting on a round trip. An input that needs a connection of its own (an oversize
 * or binary frame, a close mid-line) gets one. A connection the gateway closed is opened again,
 * so one refusal does not end the batch.
 *
 * When the gateway closes a connection, the first input in flight whose fence did not come back
 * is the one it closed on, and is judged as such; the inputs sent after it on that connection
 * never had a chance, and are sent again, once, on a fresh connection.
 */

/**
 * `open()` resolves with `{ conversation, frame(input) → { text, payload }, close(), window? }`;
 * `single(input)` handles an input that needs a connection of its own and resolves with its
 * verdict; `build(index)` makes input `index`. `window`: inputs in flight per connection (a
 * connection's own `window` wins: 1 where its fence may be overtaken). `singles`: inputs on
 * connections of their own that one worker may have open at once.
 */
export async function runStreams({
  from,
  to,
  tally,
  connections,
  build,
  inputs,
  open,
  single,
  window = 1,
  singles = 1,
}) {
  const done = [];
  const result = { reinitializes: 0, resent: 0 };
  let next = from;
  const again = []; // [index, input] to send once more, on a fresh connection
  const resent = new WeakSet(); // inputs sent once more already (never twice)
  const take = () => {
    if (again.length > 0) return again.shift();
    const index = next++;
    if (index >= to) return undefined;
    const input = inputs ? inputs[index - from] : build(index);
    // An initialize in a live session (a mutation may make any message one): see reinitialize-leak.
    if (input.kind === 'initialize' || /"method"\s*:\s*"initialize"/.test(input.text ?? ''))
      result.reinitializes++;
    return [index, input];
  };
  const worker = async () => {
    let conn;
    let culprit = false; // the current connection's close was blamed on an input already
    const openSingles = new Set();
    const inFlight = [];
    /** Waits for the oldest input in flight's fence; records it, or sends it again. */
    const retire = async () => {
      const entry = inFlight.shift();
      const fenced = await entry.fenced;
      if (fenced.closed && culprit && !resent.has(entry.input)) {
        resent.add(entry.input);
        result.resent++;
        again.push([entry.index, entry.input]);
        return;
      }
      if (fenced.closed) culprit = true;
      done.push(
        entry.verdict.then((v) => tally.record(entry.index, entry.input, v.cls, v.violations)),
      );
    };
    try {
      for (;;) {
        const item = take();
        if (!item) return;
        const [index, input] = item;
        if (input.single) {
          // On a connection of its own, beside this worker's: at most `singles` at a time.
          while (openSingles.size >= singles) await Promise.race(openSingles);
          const one = single(input)
            .catch((error) => ({
              cls: 'closed',
              violations: [{ kind: 'reset', detail: String(error.message) }],
            }))
            .then((verdict) => {
              openSingles.delete(one);
              tally.record(index, input, verdict.cls, verdict.violations);
            });
          openSingles.add(one);
          done.push(one);
          continue;
        }
        if (!conn || conn.conversation.closed) {
          // What was in flight on a closed connection is judged, or put back for the fresh one.
          while (inFlight.length > 0) await retire();
          await conn?.close();
          conn = await open();
          culprit = false;
        }
        const { text, payload, owner } = conn.frame(input);
        const t0 = Date.now();
        const sent = await conn.conversation.exchange(text, payload, {
          owner,
          ...(conn.exchangeOptions?.(input) ?? {}),
        });
        if (process.env.FUZZ_TRACE)
          sent.fenced.then(() =>
            process.stderr.write(
              `#${index} ${Date.now() - t0}ms ${input.kind}:${input.tags ?? ''} ${String(text).slice(0, 300)}\n`,
            ),
          );
        inFlight.push({ index, input, fenced: sent.fenced, verdict: sent.done });
        while (inFlight.length >= (conn.window ?? window)) await retire();
      }
    } finally {
      while (inFlight.length > 0) await retire();
      await Promise.allSettled(done);
      await conn?.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  // Inputs put back by the last connection to close: one more connection for them.
  if (again.length > 0) await worker();
  await Promise.allSettled(done);
  return result;
}
