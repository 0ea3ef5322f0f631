// The consumer tests' page (test/consumer.test.ts): written as a user of the
// packed package writes it, plain JavaScript importing 'stemstream/web' (a
// bundler resolves it from node_modules; the no-bundler page maps it with an
// import map). It separates song.wav with tiny.onnx in track mode, exports the
// stems as float32 WAVs and leaves them in window.consumerTest for the test,
// which compares them with separate() in Node.
import { StemEngine } from 'stemstream/web';

const result = { done: false };
globalThis.consumerTest = result;

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

try {
  const context = new AudioContext({ sampleRate: 44100 });
  const engine = await StemEngine.create(context, { model: new URL('tiny.onnx', location.href).href, sourceKind: 'track' });
  const song = await context.decodeAudioData(await (await fetch('song.wav')).arrayBuffer());
  await engine.loadTrack(song);
  const stems = await engine.exportStems({ format: 'float32' });
  result.crossOriginIsolated = globalThis.crossOriginIsolated;
  result.files = stems.files.map((f) => ({ name: f.name, base64: toBase64(f.data) }));
  await engine.dispose();
  await context.close();
} catch (e) {
  result.error = String(e?.stack ?? e);
}
result.done = true;
