/** The help texts, made from the command table's entries (command.ts). */
import type { Command, CommandOption } from './command.js';

/** Every command has it; not listed in the entries. */
export const HELP_OPTION: CommandOption = { type: 'boolean', short: 'h', description: 'show this help and exit' };

/** `-o, --output DIR` or `    --overlap 0.25`: the left column of an option's line. */
function optionLabel(name: string, o: CommandOption): string {
  const short = o.short !== undefined ? `-${o.short}, ` : '    ';
  const value = o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : '';
  return `${short}--${name}${value}`;
}

/** Two columns: labels padded to the longest (up to a limit, beyond which the text starts on the next line). */
function columns(rows: readonly (readonly [string, string])[], indent = 2, widest = 30): string[] {
  const width = Math.min(widest, Math.max(...rows.map(([l]) => l.length)));
  const pad = ' '.repeat(indent);
  return rows.flatMap(([label, text]) =>
    label.length > width ? [`${pad}${label}`, `${pad}${' '.repeat(width + 2)}${text}`] : [`${pad}${label.padEnd(width)}  ${text}`],
  );
}

/** `stemstream <command> --help`: usage, what it does, options, examples. */
export function commandHelp(command: Command): string {
  const usage = command.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}stemstream ${u}`);
  const options = Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, o]) => [optionLabel(name, o), o.description] as const);
  const examples = command.examples.flatMap((e) => [`  ${e.command}`, `      ${e.what}`]);
  return [
    ...usage,
    '',
    `${command.summary.charAt(0).toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details && command.details.length > 0 ? ['', ...command.details] : []),
    '',
    'options:',
    ...columns(options),
    ...(examples.length > 0 ? ['', 'examples:', ...examples] : []),
  ].join('\n');
}

/** `stemstream --help`: the commands, a synopsis of each, and where to read more. */
export function overviewHelp(commands: readonly Command[], notes: readonly string[]): string {
  const list = commands.map((c) => [c.name, c.summary] as const);
  const synopses = commands.flatMap((c) => c.usage.map((u) => `  stemstream ${u}`));
  return [
    'usage: stemstream <command> [options]',
    '',
    'commands:',
    ...columns([...list, ['help', 'show a command\'s usage, options and examples (stemstream help <command>)']]),
    '',
    ...synopses,
    '  stemstream --help | --version',
    '',
    'stemstream <command> --help (or stemstream help <command>) lists its options, with examples.',
    ...notes,
  ].join('\n');
}
