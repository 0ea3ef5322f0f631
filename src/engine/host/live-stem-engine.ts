/**
 * Thread: main (the engine's host; docs/ARCHITECTURE.md §9).
 * The live face of the real-time engine (StemEngine.create with sourceKind
 * 'live', the default): separates whatever is connected to `input`. Every
 * output is the input delayed by exactly `latencySamples` frames (output n ↔
 * input n − latency), for the whole session.
 */
import { StemstreamError } from '../../errors.js';
import type { EngineStatusSnapshot } from './engine-status.js';
import { StemEngineCore } from './stem-engine-core.js';

export class LiveStemEngine extends StemEngineCore {
  readonly sourceKind = 'live' as const;

  /** Connects `source` (a microphone, a media element, any node) to the engine. */
  connectInput(source: AudioNode): void {
    source.connect(this.input);
  }

  protected override statusSourceKind(): EngineStatusSnapshot['sourceKind'] {
    return 'live';
  }
}

/** JavaScript callers: track-only calls on a live engine say what is wrong (TypeScript refuses them). */
for (const name of ['loadTrack', 'play', 'pause', 'seek', 'setLoop', 'exportStems']) {
  Object.defineProperty(LiveStemEngine.prototype, name, {
    value(): unknown {
      const error = new StemstreamError('INVALID_STATE', name === 'loadTrack'
        ? "loadTrack() needs an engine created with sourceKind: 'track' (this one separates its live input)"
        : "transport controls need an engine created with sourceKind: 'track'");
      // As the track face's own: its async calls reject, the others throw.
      if (name === 'loadTrack' || name === 'exportStems') return Promise.reject(error);
      throw error;
    },
  });
}
