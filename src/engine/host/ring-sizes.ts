/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * How big the live engine's buffers are, from the model's geometry and the
 * declared latency: one place, the formulas written beside the numbers (and in
 * docs/ARCHITECTURE.md, "Buffers and their sizes"). Nothing here depends on the
 * length of the input: a live session of an hour takes the same memory as one
 * of a minute. (Track mode is the one that grows with the input: the decoded
 * track and its stems, (C + S·C) · 4 bytes per frame, src/realtime/track-state.ts.)
 *
 * Why these bounds hold (L = declared latency, n = frames the audio thread has
 * rendered, so it needs the stems of input frame n − L now):
 * - Capture ring ≥ L + slack. The stems of input frame f are due when the audio
 *   thread renders frame f + L; input still unread in the ring when it is full is
 *   at least `capacity` frames old, so with capacity ≥ L it is input whose stems
 *   are already due. A compute stall short enough to leave any stem on time
 *   therefore loses no input. (onnxruntime-node and onnxruntime-web's WASM backend
 *   block the worker's thread during `session.run`, so during a run the ring is
 *   the only place input can wait; with an asynchronous backend (WebGPU) the
 *   worker also drains it into its own history while the run is in flight.)
 * - Stem ring ≥ L + slack. The worker cannot compute the stems of input it has not
 *   received, and the audio thread has consumed the stems of every frame below
 *   n − L, so the ring never holds more than L frames: the worker never waits for
 *   room, which is half of why the as-fast-as-possible clock cannot deadlock
 *   (src/node/node-harness.ts has the other half).
 * - Worker history ≥ max(L + N, 2N) + stride + slack (2N + stride: what the jobs
 *   need on their own, which low-latency mode's short L can fall under). The worker reads input greedily; the
 *   oldest frame it still needs is the next job's first (the last, centred job
 *   reaches half a segment further back). A job still worth running ends after
 *   n − L, so it starts at most a stride before that and reads N frames from there.
 */
import { RENDER_QUANTUM } from '../../constants.js';

/** Room for the frames in flight within one hand-off (a few render quanta and the worker's 4096-frame chunks). */
const SLACK_FRAMES = 8 * 1024;

export interface LiveGeometry {
  /** Declared latency L, frames. */
  latencyFrames: number;
  /** The model's segment N, frames. */
  segmentFrames: number;
  /** Frames between jobs: the stride (quality) or the hop (low-latency). */
  strideFrames: number;
  channels: number;
  sources: number;
}

export interface LiveBufferSizes {
  /** Capture ring (worklet → worker), frames: L + slack. */
  inputRingFrames: number;
  /** Stem ring (worker → worklet), frames: L + slack. */
  stemRingFrames: number;
  /** The worker's input history (stream-separator.ts), frames: max(L + N, 2N) + stride + slack. */
  historyFrames: number;
}

/** Rounds up to whole render quanta. */
function quanta(frames: number): number {
  return Math.ceil(frames / RENDER_QUANTUM) * RENDER_QUANTUM;
}

export function liveBufferSizes(g: LiveGeometry): LiveBufferSizes {
  return {
    inputRingFrames: quanta(g.latencyFrames + SLACK_FRAMES),
    stemRingFrames: quanta(g.latencyFrames + SLACK_FRAMES),
    // Never below what the separator's jobs need on their own (2N + stride, stream-separator.ts).
    historyFrames: quanta(Math.max(g.latencyFrames + g.segmentFrames, 2 * g.segmentFrames) + g.strideFrames + SLACK_FRAMES),
  };
}
