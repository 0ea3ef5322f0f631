/**
 * What one command of the `stemstream` command line declares. main.ts lists
 * the entries in its table; the help, the option parsing and the "did you
 * mean" suggestions are all made from them, so a command is added by adding
 * its entry. A command's own file may export its entry (this module imports
 * nothing of the command line, so that file need not import main.ts).
 */

/** What parsing needs of an option (node:util parseArgs' fields). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One letter, e.g. 'o' for -o. */
  short?: string;
}

export interface CommandOption extends OptionSpec {
  /** How the value is shown in the help, e.g. DIR or 0.25 (string options). */
  value?: string;
  /** One line for the help. */
  description: string;
}

export type CommandOptions = Readonly<Record<string, CommandOption>>;

/** What parsing gives for `O`: a string or a boolean per option given. */
export type OptionValues<O extends Readonly<Record<string, OptionSpec>>> = {
  -readonly [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string;
};

export interface CommandExample {
  /** The whole command line, starting with `stemstream`. */
  command: string;
  /** What it does, one line. */
  what: string;
}

export interface Command<O extends CommandOptions = CommandOptions> {
  name: string;
  /** One line, for `stemstream --help`. */
  summary: string;
  /** Synopses without the leading `stemstream `, e.g. `separate <input> [options]`. */
  usage: readonly string[];
  /** Lines printed under the usage in the command's help: rules, defaults, exit codes. */
  details?: readonly string[];
  /** The options (without --help, which every command has). */
  options: O;
  examples: readonly CommandExample[];
  /** Runs with the parsed command line; returns the exit code. */
  run(positionals: string[], values: OptionValues<O>): Promise<number>;
}

/** Types an entry: the option values `run` receives follow from its `options`. */
export function defineCommand<const O extends CommandOptions>(command: Command<O>): Command<O> {
  return command;
}
