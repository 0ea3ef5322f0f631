/**
 * Thread: inference worker (docs/ARCHITECTURE.md §9).
 * The inference worker for Node (worker_threads): loads the model with the
 * runtime the init message names (onnxruntime-node by default), then runs the
 * shared worker body (inference-worker-core.ts).
 */
import { parentPort } from 'node:worker_threads';
import { loadModel } from '../../model/model.js';
import { createInferenceWorker } from './inference-worker-core.js';
import { transferList, type FromWorker, type ToWorker } from '../protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker-node must run in a worker thread');

const handle = createInferenceWorker({
  post: (m: FromWorker) => port.postMessage(m, transferList(m)),
  loadModel: (bytes, options) => loadModel(bytes, { runtime: options.runtime, threads: options.threads, executionProviders: options.executionProviders }),
});
port.on('message', (msg: ToWorker) => handle(msg));
