/**
 * The inference worker the browser test pages start (StemEngine's `workerUrl`):
 * the product's worker body and browser host, with the model loading wrapped
 * by faultyHost() (test/fixtures/worker-faults.ts) as this worker's URL query
 * says: ?fault=throw|hang|crash|exit|lose&faultAfter=N, ?failRunsAfter=N,
 * ?everyWorker=1.
 */
import { createInferenceWorker } from '../../src/engine/worker/inference-worker-core.js';
import { createWebWorkerHost, destroyWebgpuDevice } from '../../src/engine/worker/web-worker-host.js';
import type { FromWorker, ToWorker } from '../../src/engine/protocol.js';
import { faultyHost, type TestWorkerSpec, type WorkerFaults } from '../fixtures/worker-faults.js';

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  close(): void;
  location: { search: string };
}
const scope = globalThis as unknown as WorkerScope;

const FAULTS: Record<string, keyof WorkerFaults> = { throw: 'throwAfterRuns', hang: 'hangAfterRuns', crash: 'crashAfterRuns', exit: 'exitSilentlyAfterRuns', lose: 'loseDeviceAfterRuns' };

function specFromQuery(search: string): TestWorkerSpec {
  const q = new URLSearchParams(search);
  const spec: TestWorkerSpec = {};
  const fault = q.get('fault');
  if (fault) {
    const key = FAULTS[fault];
    if (!key) throw new Error(`unknown fault ${fault}`);
    spec.faults = { [key]: Number(q.get('faultAfter') ?? 6), everyWorker: q.get('everyWorker') === '1' };
  }
  if (q.has('failRunsAfter')) spec.failRunsAfter = Number(q.get('failRunsAfter'));
  return spec;
}

const { host, observe } = faultyHost(createWebWorkerHost((m: FromWorker) => scope.postMessage(m)), specFromQuery(scope.location.search), {
  // exit: the worker closes itself with no event (noticed by the missed heartbeat).
  exit: () => scope.close(),
  loseDevice: destroyWebgpuDevice,
});
const handle = createInferenceWorker(host);
scope.addEventListener('message', (event: MessageEvent) => {
  const msg = event.data as ToWorker;
  observe(msg);
  handle(msg);
});
