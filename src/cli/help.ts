/** `rollcall --help` and `rollcall help <command>`, generated from the commands and options tables. */
import type { Command } from './command.js';
import { EXIT_CODE_HELP } from './exit-codes.js';
import { OPTIONS, type OptionSpec } from './options.js';
import { REGISTRIES } from './registries.js';

export function generalHelp(commands: readonly Command[]): string {
  return [
    'rollcall: see what the service registry holds, and watch it change',
    '',
    'Usage: rollcall <command> [arguments] [options]',
    '',
    'Commands:',
    ...columns(commands.map((command) => [`${command.name} ${command.arguments}`.trim(), command.summary])),
    '',
    ...registryHelp(),
    '',
    'Options:',
    ...optionLines(OPTIONS.filter((option) => option.registry !== true && option.commands === undefined)),
    '',
    'Exit codes:',
    ...columns(EXIT_CODE_HELP.map(([code, meaning]) => [String(code), meaning])),
    '',
    'rollcall help <command> describes one command and its own options.',
  ].join('\n') + '\n';
}

export function commandHelp(command: Command): string {
  const own = OPTIONS.filter((option) => option.commands?.includes(command.name) === true);
  return [
    `Usage: rollcall ${`${command.name} ${command.arguments}`.trim()} [options]`,
    '',
    `${command.summary[0]?.toUpperCase() ?? ''}${command.summary.slice(1)}.`,
    ...(command.details.length === 0 ? [] : ['', ...command.details]),
    ...(own.length === 0 ? [] : ['', 'Options:', ...optionLines(own)]),
    '',
    ...registryHelp(),
    '',
    'Common options:',
    ...optionLines(OPTIONS.filter((option) => option.registry !== true && option.commands === undefined)),
    '',
    'Exit codes: see rollcall --help.',
  ].join('\n') + '\n';
}

function registryHelp(): string[] {
  return [
    `Registry (one of; without a flag, whichever of ${REGISTRIES.map((choice) => choice.variable).join(', ')} is set):`,
    ...optionLines(OPTIONS.filter((option) => option.registry === true)),
  ];
}

function optionLines(options: readonly OptionSpec[]): string[] {
  return columns(
    options.map((option) => {
      const flag = `${option.short === undefined ? '' : `-${option.short}, `}--${option.name}${option.value === undefined ? '' : ` ${option.value}`}`;
      return [flag, option.help];
    }),
  );
}

/** Two columns: the first padded to its widest entry, indented by two. */
function columns(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}
