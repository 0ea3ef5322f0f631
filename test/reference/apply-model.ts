/**
 * A whole-buffer, float64 reference of Demucs' apply_model (split=True, shifts)
 * and of its command line's normalisation, written from Demucs' Python for the
 * tests. `model(readStart, segmentInput)` returns the segment's output rows.
 */
export type ReferenceModel = (segment: Float64Array[]) => Float64Array[];

function demucsWeight(segment: number): Float64Array {
  const w: number[] = [];
  for (let i = 1; i <= Math.floor(segment / 2); i++) w.push(i);
  for (let i = segment - Math.floor(segment / 2); i >= 1; i--) w.push(i);
  const max = Math.max(...w);
  return Float64Array.from(w, (v) => v / max);
}

/** Track samples [from, from + n) of each channel, zeros outside the track. */
function slice(track: Float64Array[], from: number, n: number): Float64Array[] {
  return track.map((ch) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = from + i;
      if (t >= 0 && t < ch.length) out[i] = ch[t];
    }
    return out;
  });
}

function split(track: Float64Array[], regionStart: number, regionEnd: number, segment: number, overlap: number, model: ReferenceModel, rows: number): Float64Array[] {
  const length = regionEnd - regionStart;
  const out = Array.from({ length: rows }, () => new Float64Array(length));
  const sum = new Float64Array(length);
  const stride = Math.floor((1 - overlap) * segment);
  const weight = demucsWeight(segment);
  for (let offset = 0; offset < length; offset += stride) {
    const chunk = Math.min(segment, length - offset);
    const delta = segment - chunk;
    const res = model(slice(track, regionStart + offset - Math.floor(delta / 2), segment));
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < chunk; i++) out[r][offset + i] += weight[i] * res[r][Math.floor(delta / 2) + i];
    }
    for (let i = 0; i < chunk; i++) sum[offset + i] += weight[i];
  }
  for (const row of out) for (let i = 0; i < length; i++) row[i] /= sum[i];
  return out;
}

export interface ReferenceOptions {
  segment: number;
  overlap: number;
  rows: number;
  shiftOffsets?: number[];
  maxShift?: number;
  normalize?: boolean;
}

export function referenceApplyModel(mix: Float32Array[], model: ReferenceModel, o: ReferenceOptions): Float64Array[] {
  let track = mix.map((ch) => Float64Array.from(ch));
  let mean = 0;
  let std = 1;
  if (o.normalize) {
    const n = track[0].length;
    const ref = new Float64Array(n);
    for (const ch of track) for (let i = 0; i < n; i++) ref[i] += ch[i] / track.length;
    mean = ref.reduce((a, b) => a + b, 0) / n;
    std = Math.sqrt(ref.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    track = track.map((ch) => ch.map((v) => (v - mean) / std));
  }
  const length = track[0].length;
  const shifts = o.shiftOffsets ?? [];
  let out: Float64Array[];
  if (shifts.length === 0) {
    out = split(track, 0, length, o.segment, o.overlap, model, o.rows);
  } else {
    const maxShift = o.maxShift ?? 0;
    out = Array.from({ length: o.rows }, () => new Float64Array(length));
    for (const offset of shifts) {
      const res = split(track, offset - maxShift, length, o.segment, o.overlap, model, o.rows);
      for (let r = 0; r < o.rows; r++) for (let i = 0; i < length; i++) out[r][i] += res[r][maxShift - offset + i] / shifts.length;
    }
  }
  return out.map((row) => row.map((v) => v * std + mean));
}
