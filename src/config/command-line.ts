import { parse } from 'shell-quote';

/**
 * Splits a command line given as one string (`--stdio "npx -y some-server --flag"`) into the
 * program and its arguments, with shell quoting rules. Nothing is expanded or run by a shell:
 * `$VAR` stays literal, and operators such as `|` or `&&` are refused.
 */
export function splitCommandLine(line: string): { command: string; args: string[] } {
  const words: string[] = [];
  for (const token of parse(line, (name) => `$${name}`)) {
    if (typeof token !== 'string') {
      const what =
        'op' in token ? `the shell operator "${String(token.op)}"` : 'a comment or pattern';
      throw new Error(
        `the command contains ${what}; give a single program and its arguments (wrap it in "sh -c" if you need a shell)`,
      );
    }
    words.push(token);
  }
  const [command, ...args] = words;
  if (!command) throw new Error('the command is empty');
  return { command, args };
}
