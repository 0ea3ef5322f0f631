/**
 * The layers of src/ and worklets/ (docs/ARCHITECTURE.md §9), checked by
 * `npm run lint:layers`. An arrow is "may import", and so may anything further
 * along it:
 *
 *   ui → web → engine → separate → model → audio, dsp
 *              engine → export → audio, dsp   (export: used by the worker and the CLI)
 *              engine, separate → realtime
 *   worklets → realtime
 *   cli (the Node side's top): anything but ui/, web/, web.ts; node (the harness) → engine, worklets
 *
 * Anything may import the leaves (constants, errors, untrusted text, the Node
 * built-in loader), which import only each other. Inside the engine, each
 * thread has its folder (host/ on the main thread, worker/ in the inference
 * worker) and the modules at its root are loaded by both; neither thread's
 * folder imports the other's.
 *
 * Parsed with swc rather than the TypeScript compiler: this project builds
 * with TypeScript 7, whose package has no compiler API for dependency-cruiser
 * to load. swc reads the source as written, so type-only imports count.
 * dependency-cruiser 17: 18 needs Node 22, and this project supports Node 20.
 */

const LEAVES = '^src/(constants|errors|untrusted-text|node-builtin)\\.ts$';
const SRC_OR_WORKLETS = '^(src|worklets)/';

/** What each part may import besides itself and the leaves (path patterns). */
const LAYERS = [
  { name: 'cli', from: '^src/cli/', may: ['^src/(node|engine|export|separate|model|audio|dsp|realtime)/', '^src/index\\.ts$', '^worklets/'], why: 'the Node command: anything but the browser side (ui/, web/, web.ts)' },
  { name: 'node-entry', from: '^src/index\\.ts$', may: ['^src/(export|separate|model|audio|dsp|realtime)/'], why: "the Node entry ('stemstream'): the offline library, no browser code" },
  { name: 'web-entry', from: '^src/web\\.ts$', may: ['^src/(ui|web|engine|export|separate|model|audio|dsp|realtime)/'], why: "the browser entry ('stemstream/web'): no Node command, no Node harness" },
  { name: 'ui', from: '^src/ui/', may: ['^src/(web|engine|export|separate|model|audio|dsp|realtime)/'], why: 'the components sit on top of the browser side' },
  { name: 'web', from: '^src/web/', may: ['^src/(engine|export|separate|model|audio|dsp|realtime)/'], why: 'page helpers (models, cross-origin isolation) sit above the engine, below the components' },
  { name: 'node', from: '^src/node/', may: ['^src/(engine|export|separate|model|audio|dsp|realtime)/', '^worklets/'], why: "the Node harness: the engine's main thread and the worklet cores, nothing of the browser side" },
  {
    name: 'engine',
    from: '^src/engine/',
    // Where the worklet comes from: the URL of its bundle, not its code.
    except: '^src/engine/host/engine-assets\\.ts$',
    may: ['^src/(export|separate|model|audio|dsp|realtime)/'],
    why: 'the engine runs the model on shared memory; it does not know the page, the components or the CLI',
  },
  { name: 'engine-assets', from: '^src/engine/host/engine-assets\\.ts$', may: ['^src/engine/', '^worklets/stem-out-processor\\.ts$'], why: "the engine's threads as Vite bundles them: the worker and the worklet module, by URL" },
  { name: 'separate', from: '^src/separate/', may: ['^src/(model|audio|dsp|realtime)/'], why: 'offline separation over the model' },
  { name: 'export', from: '^src/export/', may: ['^src/(audio|dsp)/'], why: 'stem files and ZIPs, used by the worker and the CLI: beside model/, below the engine' },
  { name: 'model', from: '^src/model/', may: ['^src/(audio|dsp)/'], why: 'reading and running ONNX models; separate/ and export/ build on it' },
  { name: 'audio', from: '^src/audio/', may: [], why: 'decoding, WAV, resampling, channels: a bottom layer' },
  { name: 'dsp', from: '^src/dsp/', may: [], why: 'the spectrogram kernel: a bottom layer' },
  { name: 'realtime', from: '^src/realtime/', may: [], why: 'what the threads share; the audio thread loads it, so it stays a bottom layer' },
  { name: 'worklets', from: '^worklets/', may: ['^src/realtime/'], why: 'the audio thread loads only the shared-memory layer' },
  { name: 'leaves', from: LEAVES, may: [], why: 'leaves import only leaves' },
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...LAYERS.map(({ name, from, except, may, why }) => ({
      name: `layer-${name}`,
      comment: `${from} may import only ${may.length ? may.join(', ') + ' and ' : ''}the leaves: ${why}.`,
      severity: 'error',
      from: except ? { path: from, pathNot: except } : { path: from },
      to: { path: SRC_OR_WORKLETS, pathNot: [from, LEAVES, ...may] },
    })),
    {
      name: 'engine-host-not-worker',
      comment: "The main thread (src/engine/host/, the Node harness) talks to the worker by messages (src/engine/protocol.ts); the worker's code is not loaded there.",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/engine/worker/' },
      to: { path: '^src/engine/worker/' },
    },
    {
      name: 'engine-worker-not-host',
      comment: "The inference worker does not load the main thread's code (src/engine/host/).",
      severity: 'error',
      from: { path: '^src/engine/worker/' },
      to: { path: '^src/engine/host/' },
    },
    {
      name: 'engine-shared-not-threads',
      comment: "Modules at src/engine/'s root are loaded by both threads: they import neither thread's folder.",
      severity: 'error',
      from: { path: '^src/engine/[^/]+$' },
      to: { path: '^src/engine/(host|worker)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves (a moved file leaves no stale path).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.d.ts'] },
    cache: false,
  },
};
