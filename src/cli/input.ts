/**
 * The audio file a command works on: checked early, decoded with its damage
 * reported (or refused with --strict), NaN/±Infinity silenced, never empty.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeAudioFile } from '../audio/decode.js';
import { describeNonFinite, replaceNonFinite } from '../audio/finite.js';
import { audioFrames, type AudioData } from '../audio/types.js';
import { StemstreamError } from '../errors.js';

/** Fails fast, before a model is loaded, when `path` is no readable file. */
export function checkInputFile(path: string, what = 'the input'): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StemstreamError('IO', `cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  if (!isFile) throw new StemstreamError('IO', `cannot read ${what} ${path}: it is a folder, not a file`);
}

export interface InputOptions {
  /** Refuse damaged input instead of warning. */
  strict: boolean;
  log: (line: string) => void;
}

/**
 * Decodes `path`. Damage (fewer samples than the header declares, frames the
 * decoder skipped) and NaN/±Infinity samples (replaced by 0) are warned about,
 * or with `strict` refused before anything is written.
 */
export async function readInputAudio(path: string, opts: InputOptions): Promise<AudioData> {
  const warnings: string[] = [];
  const audio = await decodeAudioFile(path, { onWarning: (m) => warnings.push(m) });
  if (audioFrames(audio) === 0) {
    throw new StemstreamError('BAD_AUDIO_FILE', `${path} holds no audio (0 samples): there is nothing to separate`);
  }
  const nonFinite = replaceNonFinite(audio);
  if (nonFinite.count > 0) {
    warnings.push(`${basename(path)}: ${describeNonFinite(nonFinite, audio.sampleRate)}; they were replaced by silence`);
  }
  if (warnings.length > 0 && opts.strict) {
    const more = warnings.length > 1 ? ` (and ${warnings.length - 1} more problem(s))` : '';
    throw new StemstreamError('BAD_AUDIO_FILE', `${warnings[0]}${more}; --strict refuses damaged input, nothing was written`);
  }
  for (const w of warnings) opts.log(`warning: ${w}`);
  return audio;
}
