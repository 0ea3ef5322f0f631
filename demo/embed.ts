// The README's embed example, verbatim between the markers (test/readme-example.test.ts checks it).
// README-EXAMPLE-START
import { StemEngine } from '../src/engine/host/stem-engine.js';
import { defineStemstreamElements, type StemMixer } from '../src/ui/index.js';

defineStemstreamElements();
const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? 'models/htdemucs-fp16.onnx';
const songUrl = params.get('song') ?? 'song.mp3';

async function separateThis(): Promise<StemEngine> {
  const context = new AudioContext({ sampleRate: 44100 }); // the model's rate
  const engine = await StemEngine.create(context, { model: modelUrl, sourceKind: 'track' });
  engine.output.connect(context.destination);
  const song = await context.decodeAudioData(await (await fetch(songUrl)).arrayBuffer());
  await engine.loadTrack(song);
  (document.getElementById('mixer') as StemMixer).engine = engine; // faders, mute, solo, meters
  engine.mute('vocals'); // karaoke
  await context.resume();
  engine.play();
  return engine;
}

document.getElementById('go')!.addEventListener('click', () => {
  separateThis().then(
    (engine) => Object.assign(window, { embedEngine: engine }),
    (err: Error) => Object.assign(window, { embedError: err.message }),
  );
});
// README-EXAMPLE-END
