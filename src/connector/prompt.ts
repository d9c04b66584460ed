/*
 * Reading a secret from a person or a pipe: at a terminal, a prompt on stderr, the terminal in
 * raw mode so that nothing typed is echoed (the erase key works; Ctrl-C or Ctrl-D gives up);
 * from a pipe, the first line (a trailing CR or LF is not part of the secret).
 */

type Input = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };

export function readSecretInput(
  input: Input,
  question: string,
  output: NodeJS.WritableStream = process.stderr,
): Promise<string> {
  if (!input.isTTY || !input.setRawMode) return firstLine(input);
  const tty = input as Input & { setRawMode: (raw: boolean) => void };
  return new Promise((resolve) => {
    output.write(question);
    tty.setRawMode(true);
    let typed = '';
    const finish = (value: string) => {
      tty.off('data', onData);
      tty.setRawMode(false);
      tty.pause();
      output.write('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const c of chunk.toString()) {
        if (c === '\r' || c === '\n') return finish(typed);
        if (c === '\u0003' || c === '\u0004') return finish('');
        typed = c === '\u007f' || c === '\b' ? typed.slice(0, -1) : typed + c;
      }
    };
    tty.on('data', onData);
    tty.resume();
  });
}

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!.replace(/\r$/, '');
}
