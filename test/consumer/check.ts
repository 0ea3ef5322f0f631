// The consumer tests' type check (test/consumer.test.ts): the packed package's
// types, as a TypeScript page sees them (no Node types, skipLibCheck off).
import { StemEngine, type StemEngineOptions, type StemPlayer } from 'stemstream/web';

const options: StemEngineOptions = { model: 'model.onnx', sourceKind: 'track', cache: { maxBytes: 1 << 30 } };

export async function karaoke(context: AudioContext): Promise<number> {
  const engine = await StemEngine.create(context, options);
  engine.mute('vocals');
  const player = document.querySelector('stem-player') as StemPlayer;
  player.mute = 'vocals';
  return engine.latencySamples;
}

export async function faces(context: AudioContext, mic: AudioNode): Promise<void> {
  const live = await StemEngine.create(context, { model: 'model.onnx', mode: 'low-latency' });
  live.connectInput(mic);
  const track = await StemEngine.create(context, { model: 'model.onnx', sourceKind: 'track' });
  // @ts-expect-error connectInput is the live face's: a track engine plays tracks (tsc fails here if it were allowed)
  track.connectInput(mic);
}
