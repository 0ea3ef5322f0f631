/** `stemstream info <model>`: layout, sources, rate, channels, segment, size, metadata. */
import { readFile } from 'node:fs/promises';
import { StemstreamError } from '../errors.js';
import { describeModel } from '../model/model.js';
import { escapeUnsafe } from '../untrusted-text.js';
import { modelOrDefault } from './default-model.js';
import { stderrLog } from './messages.js';

export async function runInfo(path: string | undefined, opts: { json: boolean; quiet?: boolean }): Promise<number> {
  // The licence note goes to stderr: stdout stays the description (and valid JSON with --json).
  const file = await modelOrDefault(path, stderrLog(opts.quiet === true));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : (err as Error).message;
    throw new StemstreamError('IO', `cannot read ${file}: ${why}`, { cause: err });
  }
  const info = describeModel(bytes, file);
  const { layout } = info;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...info, file: undefined, inputs: info.file.inputs, outputs: info.file.outputs }, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `model:      ${file}`,
    `size:       ${(info.sizeBytes / 1e6).toFixed(1)} MB`,
    `layout:     ${layout.kind === 'canonical' ? 'canonical (spec_real, spec_imag, audio)' : 'demucs (waveform + complex-as-channels spectrogram)'}`,
    `sources:    ${info.sources.join(', ')}`,
    `rate:       ${info.sampleRate} Hz`,
    `channels:   ${info.channels}`,
    `segment:    ${info.segmentSamples} samples (${(info.segmentSamples / info.sampleRate).toFixed(2)} s), ${layout.frames} frames`,
    `inputs:     ${info.file.inputs.map((t) => `${t.name} [${t.dims.join(', ')}]`).join(', ')}`,
    `outputs:    ${info.file.outputs.map((t) => `${t.name} [${t.dims.join(', ')}]`).join(', ')}`,
    `producer:   ${info.file.producerName} ${info.file.producerVersion} (IR ${info.file.irVersion}, opset ${info.file.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')})`,
    `metadata:   ${Object.keys(info.metadata).length === 0 ? '(none)' : ''}`,
    ...Object.entries(info.metadata).map(([k, v]) => `  ${k} = ${v}`),
  ];
  // Tensor names, the producer and metadata come from the file: no terminal control characters from it.
  process.stdout.write(`${lines.map(escapeUnsafe).join('\n')}\n`);
  return 0;
}
