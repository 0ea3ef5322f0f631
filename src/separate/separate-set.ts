/**
 * Separation with a model set (Demucs' bag of models): each member runs
 * separate(), stems are combined with the set's per-source weights. Members
 * with no weight on the stems asked for are not run at all, which gives the
 * karaoke path: with a vocals specialist, vocals cost one model, and
 * accompaniment = mix − vocals.
 */
import type { AudioData } from '../audio/types.js';
import { StemstreamError } from '../errors.js';
import type { ModelSet } from '../model/model-set.js';
import { separate, type SeparateOptions } from './separate.js';

export interface SetSeparateOptions extends SeparateOptions {
  /** Stems to compute (default: all of the set's). */
  stems?: string[];
}

export interface SetSeparation {
  sampleRate: number;
  sources: string[];
  stems: Record<string, Float32Array[]>;
  /** Files of the members that ran. */
  modelsRun: string[];
}

export async function separateWithSet(audio: AudioData, set: ModelSet, options: SetSeparateOptions = {}): Promise<SetSeparation> {
  const wanted = options.stems ?? set.sources;
  const ks = wanted.map((name) => {
    const k = set.sources.indexOf(name);
    if (k < 0) throw new StemstreamError('BAD_OPTION', `the model set has no stem "${name}"; it has ${set.sources.join(', ')}`);
    return k;
  });
  const running = set.members.filter((m) => ks.some((k) => m.weights[k] > 0));
  const length = audio.channels[0]?.length ?? 0;
  const C = set.channels;
  const sums = ks.map(() => Array.from({ length: C }, () => new Float32Array(length)));
  const totals = ks.map(() => 0);
  let before = 0;
  for (const [i, member] of running.entries()) {
    const sep = await separate(audio, member.model, {
      ...options,
      // Each member draws its own shifts, as each model of a Demucs bag does.
      seed: (options.seed ?? 0) + i,
      onProgress: options.onProgress
        ? (p) => options.onProgress?.({ ...p, segmentsDone: before + p.segmentsDone, segmentsTotal: p.segmentsTotal * running.length, etaMs: (p.elapsedMs / (before + p.segmentsDone)) * (p.segmentsTotal * running.length - before - p.segmentsDone) })
        : undefined,
    });
    before += sep.stats.segments;
    ks.forEach((k, j) => {
      const w = member.weights[k];
      if (w === 0) return;
      const stem = sep.stems[set.sources[k]];
      for (let c = 0; c < C; c++) {
        const dst = sums[j][c];
        const src = stem[c];
        for (let t = 0; t < length; t++) dst[t] += w * src[t];
      }
      totals[j] += w;
    });
  }
  const stems: Record<string, Float32Array[]> = {};
  ks.forEach((k, j) => {
    for (const ch of sums[j]) for (let t = 0; t < length; t++) ch[t] /= totals[j];
    stems[set.sources[k]] = sums[j];
  });
  return { sampleRate: audio.sampleRate, sources: wanted, stems, modelsRun: running.map((m) => m.file) };
}

/** Vocals and accompaniment (mix − vocals), running only the members that weigh vocals. */
export async function karaoke(audio: AudioData, set: ModelSet, options: SeparateOptions = {}): Promise<{ vocals: Float32Array[]; accompaniment: Float32Array[]; modelsRun: string[] }> {
  const sep = await separateWithSet(audio, set, { ...options, stems: ['vocals'] });
  const vocals = sep.stems.vocals;
  const accompaniment = audio.channels.map((mix, c) => mix.map((v, t) => v - vocals[c][t]));
  return { vocals, accompaniment, modelsRun: sep.modelsRun };
}
