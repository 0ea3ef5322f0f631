/**
 * One segment through a model set (a Demucs bag: several models combined with
 * per-source weights, model-set.ts) for the real-time engine: every member runs
 * the same input; stem s = Σ_m w[m][s] · out_m[s] / Σ_m w[m][s]. Combining per
 * segment equals Demucs' combining after the overlap-add (both are linear), up
 * to float rounding. Members whose weights are all 0 are not run.
 */
import { assertSameShape } from '../model/same-shape.js';
import { StemstreamError } from '../errors.js';
import type { SeparationModel } from '../model/model.js';
import { SegmentRunner, type SegmentTiming } from './segment-runner.js';

/** What the streaming stages need of a runner: fill `input`, run(), read `output`. */
export interface SegmentRunnerLike {
  readonly input: Float32Array[];
  readonly output: Float32Array[];
  readonly segmentSamples: number;
  run(): Promise<SegmentTiming>;
}

export interface SetMember {
  model: SeparationModel;
  /** One weight per source (default all 1). */
  weights?: number[];
}

export class SetSegmentRunner implements SegmentRunnerLike {
  readonly input: Float32Array[];
  readonly output: Float32Array[];
  readonly segmentSamples: number;
  private readonly runners: SegmentRunner[];
  /** Normalised weights, [member][source]: each source's weights sum to 1. */
  private readonly share: number[][];
  private readonly channels: number;

  constructor(members: readonly SetMember[]) {
    if (members.length === 0) throw new StemstreamError('BAD_OPTION', 'a model set needs at least one model');
    const first = members[0].model.info;
    const S = first.sources.length;
    const C = first.channels;
    for (const m of members) {
      const i = m.model.info;
      assertSameShape(i, first, 'a model set', 'give it models of one kind');
      if (m.weights && (m.weights.length !== S || m.weights.some((w) => !(w >= 0)))) {
        throw new StemstreamError('BAD_OPTION', `${i.name}: a set member needs ${S} non-negative weights, got ${JSON.stringify(m.weights)}`);
      }
    }
    const weights = members.map((m) => m.weights ?? new Array<number>(S).fill(1));
    const totals = Array.from({ length: S }, (_, s) => weights.reduce((a, w) => a + w[s], 0));
    totals.forEach((t, s) => {
      if (t === 0) throw new StemstreamError('BAD_OPTION', `no model of the set weighs stem "${first.sources[s]}"`);
    });
    const running = members.map((_, k) => k).filter((k) => weights[k].some((w) => w > 0));
    this.runners = running.map((k) => new SegmentRunner(members[k].model));
    this.share = running.map((k) => weights[k].map((w, s) => w / totals[s]));
    this.channels = C;
    this.segmentSamples = first.segmentSamples;
    this.input = this.runners[0].input;
    this.output = Array.from({ length: S * C }, () => new Float32Array(first.segmentSamples));
  }

  get membersRun(): number {
    return this.runners.length;
  }

  async run(): Promise<SegmentTiming> {
    const N = this.segmentSamples;
    const C = this.channels;
    let runMs = 0;
    let dspMs = 0;
    for (let m = 0; m < this.runners.length; m++) {
      const r = this.runners[m];
      if (m > 0) for (let c = 0; c < C; c++) r.input[c].set(this.input[c]);
      const t = await r.run();
      runMs += t.runMs;
      dspMs += t.dspMs;
      const share = this.share[m];
      for (let row = 0; row < this.output.length; row++) {
        const k = share[Math.floor(row / C)];
        const out = this.output[row];
        const src = r.output[row];
        if (m === 0) for (let i = 0; i < N; i++) out[i] = k * src[i];
        else if (k !== 0) for (let i = 0; i < N; i++) out[i] += k * src[i];
      }
    }
    return { runMs, dspMs };
  }
}
