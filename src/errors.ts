/**
 * Errors a user can meet. Each says what happened and what to do; `code` lets
 * callers (the CLI, the UI) react without parsing messages.
 */
export type StemstreamErrorCode =
  | 'NOT_ONNX'
  | 'TRUNCATED_MODEL'
  | 'UNKNOWN_LAYOUT'
  /** Loading a model failed (only for loading: a failure while running has its own code below). */
  | 'MODEL_LOAD_FAILED'
  /** session.run threw (the execution provider failed mid-stream). */
  | 'INFERENCE_FAILED'
  /** session.run did not return within the watchdog's limit (a hung backend). */
  | 'INFERENCE_TIMEOUT'
  /** The GPU device running the model was lost (WebGPU's GPUDevice.lost). */
  | 'DEVICE_LOST'
  /** The inference worker died: an uncaught error, an unreadable message, a missed heartbeat, an exit. */
  | 'WORKER_CRASHED'
  | 'SAMPLE_RATE_MISMATCH'
  | 'CHANNEL_MISMATCH'
  | 'BAD_AUDIO_FILE'
  | 'UNSUPPORTED_AUDIO_FORMAT'
  | 'BAD_OPTION'
  /** A call that the engine's state does not allow now (disposed, no track loaded, a live-only call on a track engine or the reverse). */
  | 'INVALID_STATE'
  | 'NO_RUNTIME'
  /** The page is not cross-origin isolated, so the real-time engine (SharedArrayBuffer) cannot run there; checked before any model download. */
  | 'NOT_ISOLATED'
  | 'ABORTED'
  /** A model run (session.run) or the separation around it failed mid-way. */
  | 'RUN_FAILED'
  | 'PARITY_FAILED'
  /** A downloaded file's SHA-256 differs from the one its manifest declares. */
  | 'CHECKSUM_MISMATCH'
  /** A model or manifest declares stem names, sizes or counts outside model-limits.ts' bounds. */
  | 'BAD_MODEL'
  | 'IO';

export class StemstreamError extends Error {
  readonly code: StemstreamErrorCode;
  constructor(code: StemstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StemstreamError';
    this.code = code;
  }
}
