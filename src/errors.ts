/**
 * Errors a user can meet. Each says what happened and what to do; `code` lets
 * callers (the CLI, the UI) react without parsing messages.
 */
export type StemstreamErrorCode =
  | 'NOT_ONNX'
  | 'TRUNCATED_MODEL'
  | 'UNKNOWN_LAYOUT'
  | 'MODEL_LOAD_FAILED'
  | 'SAMPLE_RATE_MISMATCH'
  | 'CHANNEL_MISMATCH'
  | 'BAD_AUDIO_FILE'
  | 'UNSUPPORTED_AUDIO_FORMAT'
  | 'BAD_OPTION'
  | 'NO_RUNTIME'
  | 'ABORTED'
  | 'PARITY_FAILED'
  /** A downloaded file's SHA-256 differs from the one its manifest declares. */
  | 'CHECKSUM_MISMATCH'
  | 'IO';

export class StemstreamError extends Error {
  readonly code: StemstreamErrorCode;
  constructor(code: StemstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StemstreamError';
    this.code = code;
  }
}
