/** stemstream: HT-Demucs stem separation for the web and Node. */
export * from './constants.js';
export { StemstreamError, type StemstreamErrorCode } from './errors.js';
export type { AudioData } from './audio/types.js';
export { resample } from './audio/resample.js';
export { toChannelCount } from './audio/channels.js';
export { describeModel, loadModel, readModelBytes, type LoadModelOptions, type ModelInfo, type ModelSource, type SeparationModel } from './model/model.js';
export type { ModelLayout, CanonicalLayout, DemucsLayout, TensorInfo } from './model/layout.js';
export { loadRuntime, type InferenceRuntime, type RuntimeOptions, type RuntimeChoice } from './model/runtime.js';
export { separate, separateStream, type SeparateOptions, type SeparateProgress, type Separation, type SeparationStats, type StemBlock } from './separate/separate.js';
export { SegmentRunner } from './separate/segment-runner.js';
export { trackStats } from './separate/normalize.js';
export { convertModel, CANONICAL_NAMES, type ConvertOptions, type ConvertResult } from './model/convert.js';
export { checkParity, convertChecked, formatParity, noiseInput, PARITY_MAX_ABS_DIFF, PARITY_MIN_SDR_DB, type ParityInput, type ParityReport } from './model/parity.js';
export { loadModelSet, singleModelSet, type ModelSet, type ModelSetMember } from './model/model-set.js';
export { parseManifest, manifestMembers, type Manifest, type ModelManifest, type SetManifest, type SetMemberManifest } from './model/manifest.js';
export { separateWithSet, karaoke, type SetSeparateOptions, type SetSeparation } from './separate/separate-set.js';
export { memorySource, channelSource, finiteSource, scanSource, type AudioSource } from './separate/audio-source.js';
export { WavFileReader } from './audio/wav.js';
