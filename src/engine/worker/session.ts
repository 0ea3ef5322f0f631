/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * What the worker's dispatcher asks of a session, live or track, and how a
 * session's loop that failed for good is reported.
 */
import { StemstreamError, type StemstreamErrorCode } from '../../errors.js';
import type { BackendPool } from './backend-pool.js';
import type { FromWorker, WorkerStats } from '../protocol.js';

export interface WorkerSession {
  readonly kind: 'live' | 'track';
  /** The counters and what the main thread shows: backend, real-time factor, seconds ready ahead. */
  stats(): WorkerStats;
  /** Ends the loop; 'stopped' with `id` once the models are released (at once when the loop is not running). */
  stop(id: number): void;
  /** The next jobs run on `next`; resolves with the model it replaced (to be released). */
  swapModel(next: BackendPool, generation: number): Promise<BackendPool | undefined>;
}

/**
 * The loop failed for good: orphaned requests and the worker itself answered
 * with a fatal error, with the run's own code (else INFERENCE_FAILED), so that
 * the main thread starts a fresh worker.
 */
export function reportFailure(post: (m: FromWorker) => void, err: unknown, requests: number[]): void {
  const code: StemstreamErrorCode = err instanceof StemstreamError ? err.code : 'INFERENCE_FAILED';
  const message = err instanceof Error ? err.message : String(err);
  for (const id of requests) post({ type: 'error', id, code, message, fatal: true });
  post({ type: 'error', id: -1, code, message, fatal: true });
}

/** Yields to the worker's event loop for `ms` (between pumps, while waiting for input or a track). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
