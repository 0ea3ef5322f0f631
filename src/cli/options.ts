/**
 * Command-line options, parsed strictly and checked before any work or any
 * file. Every problem is a BAD_OPTION (exit 2) worded one way:
 * "--name value: must be …".
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { StemstreamError } from '../errors.js';
import type { OptionSpec, OptionValues } from './command.js';
import { didYouMean } from './suggest.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

export const HELP_HINT = 'stemstream --help lists the commands';

/** Where a command's options are listed, for its usage errors. */
export function commandHint(command: string): string {
  return `stemstream ${command} --help lists its options`;
}

export function usageError(message: string): StemstreamError {
  return new StemstreamError('BAD_OPTION', message);
}

/** How a value is shown in a message: as typed, quoted when it would be invisible or ambiguous. */
function shown(raw: string): string {
  return raw === '' || /\s/.test(raw) ? JSON.stringify(raw) : raw;
}

/** A value that starts like a negative number: `--overlap -1` gives -1 to --overlap (the rule then refuses it). */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--name -1` → `--name=-1` for options that take a value: parseArgs would
 * otherwise call the value ambiguous, and the user would never hear the rule.
 */
function attachNegativeValues(args: readonly string[], specs: OptionSpecs): string[] {
  const longOf = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type !== 'string') continue;
    longOf.set(`--${name}`, name);
    if (spec.short) longOf.set(`-${spec.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const long = longOf.get(args[i]);
    if (args[i] === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (long !== undefined && i + 1 < args.length && NEGATIVE_NUMBER.test(args[i + 1])) {
      out.push(`--${long}=${args[++i]}`);
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** parseArgs' own wording, shortened to what a user needs; an unknown --name gets the command's nearest option. */
function rewordParseError(command: string, err: Error & { code?: string }, names: readonly string[]): string {
  const option = /'(-[^' ,]+)/.exec(err.message)?.[1];
  const hint = commandHint(command);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const guess = option?.startsWith('--') ? didYouMean(option.slice(2), names, (n) => `--${n}`) : '';
    return `${command}: unknown option ${option ?? err.message}${guess} (${hint})`;
  }
  if (/argument missing/.test(err.message)) return `${command}: ${option ?? 'an option'} needs a value (${hint})`;
  if (/ambiguous/.test(err.message)) {
    return `${command}: ${option ?? 'an option'} needs a value; for a value that starts with '-', write ${option ?? '--option'}=VALUE`;
  }
  if (/does not take an argument/.test(err.message)) return `${command}: ${option ?? 'an option'} takes no value (${hint})`;
  return `${command}: ${err.message.split('. ')[0]} (${hint})`;
}

/**
 * Parses `args` of `command` against its options (--help is handled before,
 * by the caller); unknown options and missing values are usage errors.
 */
export function parseCommandLine<O extends Readonly<Record<string, OptionSpec>>>(command: string, args: readonly string[], options: O): { positionals: string[]; values: OptionValues<O> } {
  // parseArgs takes only its own fields of each option.
  const specs: OptionSpecs = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, o.short !== undefined ? { type: o.type, short: o.short } : { type: o.type }]));
  try {
    const { positionals, values } = parseArgs({ args: attachNegativeValues(args, specs), allowPositionals: true, strict: true, options: specs });
    return { positionals, values: values as OptionValues<O> };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) throw usageError(rewordParseError(command, e, [...Object.keys(options), 'help']));
    throw err;
  }
}

/** Exactly `count` positional arguments, described as `what`. */
export function expectPositionals(command: string, positionals: string[], count: number, what: string): void {
  if (positionals.length !== count) {
    const extra = positionals.length > count ? `: ${positionals.slice(count).map(shown).join(' ')}` : '';
    throw usageError(`${command} takes ${what}, got ${positionals.length} argument(s)${extra} (${commandHint(command)})`);
  }
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

export interface NumberRule {
  min: number;
  max: number;
  /** Words after "must be", e.g. "in [0, 0.99]"; default "a number from min to max". */
  rule?: string;
  /** Why, appended in parentheses. */
  why?: string;
}

function refuse(name: string, raw: string, rule: string, why?: string): StemstreamError {
  return usageError(`--${name} ${shown(raw)}: must be ${rule}${why ? ` (${why})` : ''}`);
}

/**
 * A decimal number in [min, max]; undefined when the option is absent.
 * Strict: no '', hex, 'Infinity' or trailing text, which Number() would take.
 */
export function decimalOption(name: string, raw: string | undefined, r: NumberRule): number | undefined {
  if (raw === undefined) return undefined;
  const rule = r.rule ?? `a number from ${r.min} to ${r.max}`;
  const x = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  if (!(x >= r.min && x <= r.max)) throw refuse(name, raw, rule, r.why);
  return x;
}

/** An integer in [min, max]; undefined when the option is absent. */
export function integerOption(name: string, raw: string | undefined, r: NumberRule): number | undefined {
  if (raw === undefined) return undefined;
  const rule = r.rule ?? `an integer from ${r.min} to ${r.max}`;
  const x = INTEGER.test(raw) ? Number(raw) : Number.NaN;
  if (!(Number.isSafeInteger(x) && x >= r.min && x <= r.max)) throw refuse(name, raw, rule, r.why);
  return x;
}

/** One of `choices`; `fallback` when absent. */
export function choiceOption<T extends string>(name: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw refuse(name, raw, choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`);
  return raw as T;
}

/** A comma-separated list of names: at least one, none empty, none twice; undefined when absent. */
export function nameListOption(name: string, raw: string | undefined, example: string): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw refuse(name, raw, `a comma-separated list of names with none empty, e.g. --${name} ${example}`);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw refuse(name, raw, `a list that names each one once ("${twice}" is there twice)`);
  return names;
}

/** A non-empty string (a path or a name). */
export function textOption(name: string, raw: string | undefined): string | undefined {
  if (raw !== undefined && raw.trim() === '') throw refuse(name, raw, 'a non-empty path or name');
  return raw;
}

/** Intra-op threads for ONNX Runtime. */
export function threadsOption(raw: string | undefined): number | undefined {
  return integerOption('threads', raw, { min: 1, max: 1024, rule: 'a positive integer (at most 1024)' });
}
