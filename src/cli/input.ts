/**
 * The audio file a command works on: checked early, decoded with its damage
 * reported (or refused with --strict), NaN/±Infinity silenced, never empty.
 *
 * `openInputAudio` gives a WAV already at the model's rate (mono, stereo or
 * multichannel, downmixed per read) as a source read from disk as the
 * separation goes, so memory does not grow with its length; anything else
 * (FLAC, MP3, Ogg, a WAV to resample) is decoded whole, as `readInputAudio` does.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeAudioFile, sniffAudio } from '../audio/decode.js';
import { describeDownmix, downmixFor, downmixSource, maskChannelLayout, type ChannelLayout, type LaidOutAudio } from '../audio/downmix.js';
import { describeNonFinite, replaceNonFinite } from '../audio/finite.js';
import { audioFrames, type AudioData } from '../audio/types.js';
import { WavFileReader } from '../audio/wav.js';
import { StemstreamError } from '../errors.js';
import { channelSource, finiteSource, scanSource, type AudioSource } from '../separate/audio-source.js';
import { fitAudio } from './fit-audio.js';
import { readAt } from './read-at.js';

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
 * or with `strict` refused before anything is written. Three or more channels
 * come with the layout the file declares or its codec has (fitAudio downmixes
 * by it; none: the FLAC/WAV default order for the count).
 */
export async function readInputAudio(path: string, opts: InputOptions): Promise<LaidOutAudio> {
  const warnings: string[] = [];
  const audio: LaidOutAudio = await decodeAudioFile(path, { onWarning: (m) => warnings.push(m) });
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
  if (audio.channels.length >= 3 && audio.layout === undefined) audio.layout = await wavChannelLayout(path, audio.channels.length);
  return audio;
}

/**
 * The speakers of a WAV's `count` channels from its WAVE_FORMAT_EXTENSIBLE
 * channel mask (parseWav, which decodeAudioFile uses, does not keep it);
 * undefined for any other file, whose decoder gives its layout.
 */
async function wavChannelLayout(path: string, count: number): Promise<ChannelLayout | undefined> {
  let fd: number | undefined;
  let head: Buffer;
  try {
    fd = openSync(path, 'r');
    head = readAt(fd, 0, 16);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (sniffAudio(head) !== 'wav') return undefined;
  const reader = await WavFileReader.open(path, { onWarning: () => undefined });
  reader.close();
  return maskChannelLayout(count, reader.channelMask);
}

export interface InputAudio {
  /** The input at the wanted rate and channel count: a WAV read from disk as needed, or the whole decoded file. */
  audio: AudioData | AudioSource;
  /** True when the file is read as the run goes (not held in memory). */
  streamed: boolean;
  /** Frames of audio (at the wanted rate). */
  frames: number;
  /** Releases the file (a no-op for decoded audio). */
  close(): void;
}

export interface OpenInputOptions extends InputOptions {
  /** The model's rate and channel count. */
  sampleRate: number;
  channels: number;
  /** Log fitAudio's "resampling"/"converting" lines (separate does, stream does not). */
  logFit?: boolean;
  /** Decode the whole file even when it could be streamed (stream --track needs the track in memory). */
  whole?: boolean;
}

/** "RIFF....WAVE" at the start of the file (RF64 and damaged headers go to the decoder, which reports them). */
function looksLikeWav(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(12);
    const n = readSync(fd, head, 0, 12, 0);
    return n === 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE';
  } catch {
    return false; // the decoder reports why it cannot be read
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The input for a model that takes `sampleRate` Hz and `channels` channels,
 * with readInputAudio()'s warnings, --strict refusals and silenced NaN/±Infinity,
 * and fitAudio()'s conversions. A PCM or float WAV at that rate with that many
 * channels (or mono ↔ stereo, or 3+ channels to downmix) is read from disk as
 * needed (one pass first when it is float, to count NaN/±Infinity); anything
 * else is decoded whole.
 */
export async function openInputAudio(path: string, opts: OpenInputOptions): Promise<InputAudio> {
  const whole = async (): Promise<InputAudio> => {
    const audio = fitAudio(await readInputAudio(path, opts), opts.sampleRate, opts.channels, opts.logFit ? opts.log : undefined);
    return { audio, streamed: false, frames: audioFrames(audio), close: () => undefined };
  };
  if (opts.whole || !looksLikeWav(path)) return whole();
  const name = basename(path);
  const warnings: string[] = [];
  let reader: WavFileReader;
  try {
    reader = await WavFileReader.open(path, { onWarning: (m) => warnings.push(`${name}: ${m}`) });
  } catch (err) {
    // The message decodeAudioFile gives for the same file.
    if (err instanceof StemstreamError && err.code !== 'IO') throw new StemstreamError(err.code, `cannot decode ${name}: ${err.message}`, { cause: err });
    throw err;
  }
  const have = reader.channelCount;
  const monoStereo = (have === 1 && opts.channels === 2) || (have === 2 && opts.channels === 1);
  const downmix = have >= 3 && (opts.channels === 1 || opts.channels === 2);
  if (reader.sampleRate !== opts.sampleRate || (have !== opts.channels && !monoStereo && !downmix)) {
    reader.close();
    return whole();
  }
  try {
    if (reader.length === 0) {
      throw new StemstreamError('BAD_AUDIO_FILE', `${path} holds no audio (0 samples): there is nothing to separate`);
    }
    let source: AudioSource = reader;
    if (reader.isFloat) {
      // Only float samples can be NaN or ±Infinity: count them (one pass over the file), read them as 0.
      const { nonFinite } = scanSource(reader, { stats: false });
      if (nonFinite.count > 0) {
        warnings.push(`${name}: ${describeNonFinite(nonFinite, reader.sampleRate)}; they were replaced by silence`);
      }
      source = finiteSource(reader);
    }
    if (warnings.length > 0 && opts.strict) {
      const more = warnings.length > 1 ? ` (and ${warnings.length - 1} more problem(s))` : '';
      throw new StemstreamError('BAD_AUDIO_FILE', `${warnings[0]}${more}; --strict refuses damaged input, nothing was written`);
    }
    for (const w of warnings) opts.log(`warning: ${w}`);
    if (downmix) {
      const mix = downmixFor(have, maskChannelLayout(have, reader.channelMask));
      if (opts.logFit) opts.log(describeDownmix(mix, opts.channels));
      source = downmixSource(source, mix, opts.channels as 1 | 2);
    } else if (have !== opts.channels) {
      if (opts.logFit) opts.log(`converting ${have} channel(s) → ${opts.channels}`);
      source = channelSource(source, opts.channels);
    }
    return { audio: source, streamed: true, frames: reader.length, close: () => reader.close() };
  } catch (err) {
    reader.close();
    throw err;
  }
}
