/**
 * Text from untrusted sources (a model's metadata, a manifest, a source list,
 * a ZIP entry's name) shown in messages or used as a file name: escaped, cut
 * short, and stem names held to one strict pattern. A leaf (it imports only
 * errors.ts) so that every layer can check a name without loading the model's
 * limits (src/model/model-limits.ts builds on this).
 */
import { StemstreamError, type StemstreamErrorCode } from './errors.js';

/** Lowercase letters, digits, '_' and '-', starting with a letter or digit, 1 to 32 characters. */
export const STEM_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const MAX_STEM_NAME_LENGTH = 32;

/** Where a checked value came from, and what the user can do when it is refused. */
export interface LimitContext {
  /** What is checked, as the message's subject: `m.onnx: the metadata "sources"`, `--sources`, `set.json: "sources"`. */
  what: string;
  /** What to do about it, appended to the message. */
  fix: string;
  /** Default 'BAD_MODEL'. */
  code?: StemstreamErrorCode;
}

const STEM_NAME_RULE = 'stem names are 1 to 32 lowercase letters, digits, "_" or "-", starting with a letter or digit, like drums, bass, other, vocals';

/** Characters that must not reach a terminal or a log unescaped: C0/C1 controls, line and bidi overrides. */
const UNSAFE_CHARS = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Replaces control, line-separator and bidi characters by \uXXXX, for messages that show untrusted text. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * An untrusted value for an error message: quoted, at most `max` characters
 * (whole code points), control and bidi characters escaped, so that a hostile
 * name can neither flood nor spoof the message.
 */
export function quoteUntrusted(value: unknown, max = 40): string {
  if (typeof value !== 'string') {
    // Numbers as String() writes them (JSON would show NaN as null); lists and objects as JSON.
    const shown = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    return escapeUnsafe(shown.length > max ? `${shown.slice(0, max)}…` : shown);
  }
  const points = Array.from(value);
  const head = points.slice(0, max).join('');
  const quoted = escapeUnsafe(JSON.stringify(head));
  return points.length > max ? `${quoted}… (${points.length} characters)` : quoted;
}

/** The error for a refused value: what was checked, the problem, what to do. */
export function refuseValue(ctx: LimitContext, problem: string): StemstreamError {
  return new StemstreamError(ctx.code ?? 'BAD_MODEL', `${ctx.what} ${problem}; ${ctx.fix}`);
}

export function isStemName(name: unknown): name is string {
  return typeof name === 'string' && STEM_NAME_PATTERN.test(name);
}

/** One stem name; throws when it does not match STEM_NAME_PATTERN. */
export function checkStemName(name: unknown, ctx: LimitContext): string {
  if (!isStemName(name)) throw refuseValue(ctx, `has ${quoteUntrusted(name)}, which is not a stem name (${STEM_NAME_RULE})`);
  return name;
}
