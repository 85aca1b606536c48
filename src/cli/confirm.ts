/**
 * Asks a yes/no question on stderr and reads the answer from stdin, as `rm -i` does: a terminal
 * or a pipe (`echo y | rollcall deregister ...`). Only `y` or `yes` confirms; anything else, or
 * stdin ending first, does not.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export function confirm(question: string, input: Readable, output: Writable): Promise<boolean> {
  return new Promise((resolve) => {
    const reader = createInterface({ input, output, terminal: false });
    let answered = false;
    const settle = (yes: boolean): void => {
      if (answered) return;
      answered = true;
      reader.close();
      resolve(yes);
    };
    output.write(`${question} [y/N] `);
    reader.once('line', (line) => settle(/^\s*y(es)?\s*$/i.test(line)));
    reader.once('close', () => {
      if (!answered) output.write('\n');
      settle(false);
    });
  });
}
