/**
 * The stemstream Lit components. Importing this module (or any one component
 * module) registers the elements; `defineStemstreamElements()` is for code that
 * wants the registration to be an explicit call (it is idempotent).
 */
import { EngineStatus } from './engine-status.js';
import { ModelLoader } from './model-loader.js';
import { StemMixer } from './stem-mixer.js';
import { StemPlayer } from './stem-player.js';
import { StemTransport } from './stem-transport.js';
import { defineOnce } from './theme.js';

export { EngineStatus, backendLabel } from './engine-status.js';
export { ModelLoader, type ModelLoadProgress, type ModelSelectDetail } from './model-loader.js';
export { StemMixer, FADER_MAX_DB, FADER_MIN_DB, FADER_STEP_DB, faderToGain, gainToFader, type StemChangeDetail } from './stem-mixer.js';
export { StemTransport, DEFAULT_LOOP_S, SEEK_STEP_S } from './stem-transport.js';
export { StemPlayer, STEM_PLAYER_FORWARDED_EVENTS, stemList, type StemPlayerEngineFactory } from './stem-player.js';
export type { EngineStatusSnapshot, EngineStatusSource, StemCacheStatus, StemMixerSource, TrackTransportSource } from './engine-view.js';

/** Tag names, for pages that check or wait on them (`customElements.whenDefined`). */
export const STEMSTREAM_ELEMENTS = {
  'stem-mixer': StemMixer,
  'stem-transport': StemTransport,
  'engine-status': EngineStatus,
  'model-loader': ModelLoader,
  'stem-player': StemPlayer,
} as const;

/** Registers the five elements, skipping any tag already defined (by this or another copy of the library). */
export function defineStemstreamElements(): void {
  for (const [tag, ctor] of Object.entries(STEMSTREAM_ELEMENTS)) defineOnce(tag, ctor);
}
