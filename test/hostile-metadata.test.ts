/**
 * Untrusted model metadata (issue 10): stem names become file names, ZIP entry
 * names and UI labels, and sizes become buffer sizes, so a model or manifest
 * that declares hostile ones is refused at load, with an error that says what
 * was wrong and what to do, by every path: describeModel/loadModel (the
 * library, the CLI and the engine go through them), the CLI, the converter,
 * set and web manifests, the stems export and the ZIP writer.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_STEMS } from '../src/realtime/control-block.js';
import { StemstreamError } from '../src/errors.js';
import { exportStemsSync } from '../src/export/stems-export.js';
import { zipFiles, ZipWriter } from '../src/export/zip.js';
import { convertModel } from '../src/model/convert.js';
import { convertChecked } from '../src/model/parity.js';
import { describeModel, loadModel } from '../src/model/model.js';
import { MAX_MODEL_STEMS } from '../src/model/model-limits.js';
import { quoteUntrusted } from '../src/untrusted-text.js';
import { parseManifest } from '../src/model/manifest.js';
import { loadModelSet } from '../src/model/model-set.js';
import { decodeModel, encodeModel, makeTensor, DataType } from '../src/model/onnx-proto.js';
import { canonicalMetadata, makeBrokenModels, makeCanonicalModel, makeDemucsLayoutModel } from './fixtures/tiny-models.js';

const ROOT = join(import.meta.dirname, '..');
const MIX = join(ROOT, 'test', 'fixtures', 'audio', 'tone-44k1-stereo.wav');
const STEMS4 = ['drums', 'bass', 'other', 'vocals'];

/** A tiny canonical model (4 stems, 2 channels) whose metadata has `patch` over the valid defaults. */
function modelWith(patch: Record<string, string>, opts: { sources?: number; channels?: number; segmentSamples?: number } = {}): Uint8Array {
  return makeCanonicalModel({ ...opts, metadata: { ...canonicalMetadata(opts), ...patch } });
}

function withSources(names: string[], sources = names.length): Uint8Array {
  return modelWith({ sources: JSON.stringify(names) }, { sources });
}

/** The demucs layout with N and T symbolic: the segment length comes from the metadata alone. */
function symbolicSegmentWith(metadata: Record<string, string>): Uint8Array {
  const model = decodeModel(makeBrokenModels().symbolicSegment);
  model.metadata_props = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  return encodeModel(model);
}

function caught(fn: () => unknown): StemstreamError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StemstreamError);
    return err as StemstreamError;
  }
  throw new Error('expected a StemstreamError, nothing was thrown');
}

/** Every file under `dir`, relative to it. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const HOSTILE_NAMES: [string, string[], number?][] = [
  ['a path that climbs out of the output folder', ['../../escaped', 'bass', 'other', 'vocals']],
  ['a path with a folder', ['a/b', 'bass', 'other', 'vocals']],
  ['an empty name', ['', 'bass', 'other', 'vocals']],
  ['upper case', ['UPPER', 'bass', 'other', 'vocals']],
  ['a duplicate', ['drums', 'bass', 'drums', 'vocals']],
  ['a 40-character name', ['d'.repeat(40), 'bass', 'other', 'vocals']],
  ['a NUL character', ['dr\u0000ums', 'bass', 'other', 'vocals']],
  ['a bidi override', ['vocals\u202ewav.exe', 'bass', 'other', 'drums']],
  ['9 stems (the engine has 8 slots)', Array.from({ length: 9 }, (_, i) => `stem${i}`), 9],
];

describe('hostile model metadata is refused at load', () => {
  it.each(HOSTILE_NAMES)('sources with %s: describeModel and loadModel refuse it with BAD_MODEL', async (_, names, count) => {
    const bytes = withSources(names, count ?? 4);
    const err = caught(() => describeModel(bytes, 'evil.onnx'));
    expect(err.code).toBe('BAD_MODEL');
    // What was wrong, quoted (escaped: no raw control characters reach a terminal), and what to do.
    expect(err.message).toMatch(/^evil\.onnx: the model's metadata "sources" /);
    expect(err.message).toMatch(/stem names are 1 to 32 lowercase letters|twice|1 to 8 stems/);
    expect(err.message).toContain('stemstream convert');
    expect(err.message).not.toMatch(/[\x00-\x1f\u202e]/);
    await expect(loadModel(bytes)).rejects.toMatchObject({ code: 'BAD_MODEL' });
  });

  it('the message quotes the offending name, truncated and escaped', () => {
    expect(caught(() => describeModel(withSources(['../../escaped', 'bass', 'other', 'vocals']), 'm.onnx')).message).toContain('"../../escaped"');
    expect(caught(() => describeModel(withSources(['dr\u0000ums', 'bass', 'other', 'vocals']))).message).toContain('"dr\\u0000ums"');
    const long = caught(() => describeModel(modelWith({ sources: JSON.stringify(['x'.repeat(900), 'b', 'c', 'd']) })));
    expect(long.message).toContain('(900 characters)');
    expect(long.message.length).toBeLessThan(500);
    // A sources text too long to be a list of 8 names is refused before it is parsed.
    expect(caught(() => describeModel(modelWith({ sources: JSON.stringify(Array.from({ length: 5000 }, (_, i) => `s${i}`)) }))).message).toMatch(/characters long \(at most 1024\)/);
    expect(quoteUntrusted(Number.NaN)).toBe('NaN');
  });

  it.each([
    ['sample_rate', '0'],
    ['sample_rate', '1e9'],
    ['sample_rate', '1000000000'],
    ['sample_rate', 'NaN'],
    ['sample_rate', '-44100'],
    ['sample_rate', '44100 Hz'],
    ['audio_channels', '0'],
    ['audio_channels', '1000'],
    ['segment_samples', '1e10'],
    ['segment_samples', '10000000000'],
    ['segment_samples', '100'],
  ])('metadata %s = %s: refused with BAD_MODEL, not replaced by a default', async (key, value) => {
    const bytes = modelWith({ [key]: value });
    const err = caught(() => describeModel(bytes, 'evil.onnx'));
    expect(err.code).toBe('BAD_MODEL');
    const shown = /^\d+$/.test(value) ? `${value}, must be a whole number from` : `"${value}", not a whole number`;
    expect(err.message).toContain(`evil.onnx: the model's metadata "${key}" is ${shown}`);
    expect(err.message).toMatch(/re-export it/);
    await expect(loadModel(bytes)).rejects.toMatchObject({ code: 'BAD_MODEL' });
  });

  it('a segment length only the metadata gives (symbolic N) is bounded before it is used', () => {
    const err = caught(() => describeModel(symbolicSegmentWith({ segment_samples: '10000000000' }), 'evil.onnx'));
    expect(err.code).toBe('BAD_MODEL');
    expect(err.message).toMatch(/"segment_samples" is 10000000000, must be a whole number from 1024 to 2646000 samples \(60 s at 44100 Hz\)/);
    // The bound follows the model's own (bounded) rate.
    expect(describeModel(symbolicSegmentWith({ segment_samples: String(60 * 48000), sample_rate: '48000' })).segmentSamples).toBe(60 * 48000);
    expect(caught(() => describeModel(symbolicSegmentWith({ segment_samples: String(60 * 48000 + 1), sample_rate: '48000' }))).code).toBe('BAD_MODEL');
  });

  it('sizes declared by the graph\'s tensors are bounded too; sizes at the bounds still load', () => {
    // The stem limit is the engine's: its control block has MAX_STEMS stem slots.
    expect(MAX_MODEL_STEMS).toBe(MAX_STEMS);
    expect(caught(() => describeModel(modelWith({}, { channels: 1000 }), 'c.onnx')).message).toMatch(/metadata "audio_channels" is 1000, must be a whole number from 1 to 8 channels/);
    const tensorsOnly = caught(() => describeModel(makeCanonicalModel({ channels: 1000 }), 'c.onnx'));
    expect(tensorsOnly).toMatchObject({ code: 'BAD_MODEL', message: expect.stringMatching(/^c\.onnx: the model's channel count C is 1000, must be a whole number from 1 to 8 channels/) });
    expect(caught(() => describeModel(makeDemucsLayoutModel({ sources: 9 }), 's.onnx')).message).toMatch(/stem count S is 9, must be a whole number from 1 to 8 stems/);
    expect(caught(() => describeModel(makeCanonicalModel({ segmentSamples: 1e10 }), 'n.onnx')).message).toMatch(/segment length N is 10000000000/);
    // Valid models still load: defaults, comma lists, 8 stems, the bounds themselves.
    expect(describeModel(makeDemucsLayoutModel()).sources).toEqual(STEMS4);
    expect(describeModel(modelWith({ sources: 'drums, bass, other, vocals' })).sources).toEqual(STEMS4);
    const eight = Array.from({ length: 8 }, (_, i) => `stem_${i}-x`);
    expect(describeModel(withSources(eight)).sources).toEqual(eight);
    expect(describeModel(withSources(['a'.repeat(32), 'b', 'c', '0d'])).sources[0]).toHaveLength(32);
    expect(describeModel(modelWith({ sample_rate: '8000' })).sampleRate).toBe(8000);
    expect(describeModel(modelWith({ sample_rate: '192000' })).sampleRate).toBe(192000);
  });
});

describe('the CLI refuses a hostile model and writes nothing', () => {
  it('separate -o a/b/out with sources "../../escaped": exit 1, no file anywhere under the work folder', () => {
    const work = mkdtempSync(join(tmpdir(), 'stemstream-hostile-'));
    writeFileSync(join(work, 'evil.onnx'), withSources(['../../escaped', 'bass', 'other', 'vocals']));
    writeFileSync(join(work, 'rate.onnx'), modelWith({ sample_rate: '1000000000' }));
    mkdirSync(join(work, 'a'));
    const before = tree(work);
    const r = cli('separate', MIX, '-o', join(work, 'a', 'b', 'out'), '--model', join(work, 'evil.onnx'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"../../escaped", which is not a stem name');
    const rate = cli('separate', MIX, '-o', join(work, 'a', 'b', 'out'), '--model', join(work, 'rate.onnx'));
    expect(rate.code).toBe(1);
    expect(rate.stderr).toMatch(/"sample_rate" is 1000000000, must be a whole number from 8000 to 192000 Hz/);
    expect(tree(work)).toEqual(before);
  }, 60_000);

  it('separate with a set manifest whose sources are hostile: exit 1, nothing written', () => {
    const work = mkdtempSync(join(tmpdir(), 'stemstream-hostile-set-'));
    writeFileSync(join(work, 'm.onnx'), makeDemucsLayoutModel());
    writeFileSync(join(work, 'set.json'), JSON.stringify({ sources: ['../../escaped', 'bass', 'other', 'vocals'], models: [{ file: 'm.onnx' }] }));
    const before = tree(work);
    const r = cli('separate', MIX, '-o', join(work, 'a', 'b', 'out'), '--model', join(work, 'set.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/set\.json: "sources" has "\.\.\/\.\.\/escaped", which is not a stem name/);
    expect(tree(work)).toEqual(before);
  }, 60_000);

  it('convert --sources with a path: exit 2 (bad option), no output written', () => {
    const work = mkdtempSync(join(tmpdir(), 'stemstream-hostile-convert-'));
    writeFileSync(join(work, 'm.onnx'), makeDemucsLayoutModel());
    const before = tree(work);
    const r = cli('convert', join(work, 'm.onnx'), '-o', join(work, 'out.onnx'), '--sources', '../../escaped,bass,other,vocals', '--no-parity-check');
    expect(r.code).toBe(2);
    // The names given replace the model's own at load, so the loader names them first.
    expect(r.stderr).toMatch(/"\.\.\/\.\.\/escaped", which is not a stem name/);
    expect(tree(work)).toEqual(before);
  }, 60_000);

  it('convert --sources repairs a model whose own names are refused, parity check included', () => {
    const work = mkdtempSync(join(tmpdir(), 'stemstream-hostile-repair-'));
    writeFileSync(join(work, 'evil.onnx'), withSources(['../../escaped', 'bass', 'other', 'vocals']));
    const r = cli('convert', join(work, 'evil.onnx'), '-o', join(work, 'fixed.onnx'), '--sources', 'drums,bass,other,vocals');
    expect(r.stderr).toContain('parity passed');
    expect(r.code).toBe(0);
    expect(describeModel(readFileSync(join(work, 'fixed.onnx'))).sources).toEqual(STEMS4);
  }, 120_000);

  it('info prints no control characters a model carries (terminal escapes are shown escaped)', () => {
    const work = mkdtempSync(join(tmpdir(), 'stemstream-hostile-info-'));
    writeFileSync(join(work, 'esc.onnx'), modelWith({ note: 'hi\u001b[2J\u0007there' }));
    const r = cli('info', join(work, 'esc.onnx'));
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(r.stdout).toContain('note = hi\\u001b[2J\\u0007there');
  }, 60_000);
});

describe('the converter refuses bad --sources before converting', () => {
  it.each([
    ['a path', ['../../escaped', 'bass', 'other', 'vocals']],
    ['upper case', ['Drums', 'bass', 'other', 'vocals']],
    ['an empty name', ['', 'bass', 'other', 'vocals']],
    ['a duplicate', ['bass', 'bass', 'other', 'vocals']],
    ['9 names', Array.from({ length: 9 }, (_, i) => `s${i}`)],
  ])('%s', async (_, sources) => {
    const err = await convertModel(makeDemucsLayoutModel(), { sources }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StemstreamError);
    expect(err).toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/^--sources .*e\.g\. --sources drums,bass,other,vocals$/) });
  });

  it('repairs a model whose own names are refused, as the error advises', async () => {
    const evil = withSources(['../../escaped', 'bass', 'other', 'vocals']);
    await expect(convertModel(evil)).rejects.toMatchObject({ code: 'BAD_MODEL' });
    const { bytes } = await convertModel(evil, { sources: STEMS4 });
    expect(describeModel(bytes).sources).toEqual(STEMS4);
    // loadModel takes the same override (what a parity check of the repair loads the source with).
    const loaded = await loadModel(evil, { sources: STEMS4 });
    expect(loaded.info.sources).toEqual(STEMS4);
    await loaded.dispose();
  });

  it('the parity-checked conversion (convertChecked, what the CLI runs) repairs it too', async () => {
    const evil = withSources(['../../escaped', 'bass', 'other', 'vocals']);
    await expect(convertChecked(evil, {})).rejects.toMatchObject({ code: 'BAD_MODEL' });
    const { bytes, parity } = await convertChecked(evil, { sources: STEMS4 });
    expect(parity.passed).toBe(true);
    expect(describeModel(bytes).sources).toEqual(STEMS4);
  });

  it('does not allocate from an initializer\'s declared dims before checking its data (float16 weights)', async () => {
    const model = decodeModel(makeCanonicalModel({ metadata: true }));
    const huge = makeTensor('huge', [1], new Float32Array([1]));
    huge.dims = [2 ** 40]; // declares 2^40 floats, holds one
    model.graph!.initializer!.push(huge as never);
    const { bytes, fp16Initializers } = await convertModel(encodeModel(model), { fp16Weights: true, fp16MinElements: 1 });
    expect(fp16Initializers).toBeGreaterThan(0); // the real weights were converted
    const kept = decodeModel(bytes).graph!.initializer!.find((t) => t.name === 'huge');
    expect(kept).toMatchObject({ data_type: DataType.FLOAT, dims: [2 ** 40] });
  });
});

describe('manifests: stem names and counts are checked before anything is loaded', () => {
  it('set manifests (parseManifest, and object manifests given to loadModelSet)', async () => {
    const bad = (json: unknown) => caught(() => parseManifest(JSON.stringify(json), 'set.json'));
    expect(bad({ sources: ['../x', 'bass', 'other', 'vocals'], models: [{ file: 'a.onnx' }] })).toMatchObject({ code: 'BAD_MODEL', message: expect.stringMatching(/^model manifest set\.json: "sources" has "\.\.\/x", which is not a stem name/) });
    expect(bad({ sources: ['a', 'a'], models: [{ file: 'a.onnx' }] }).message).toMatch(/lists "a" twice/);
    expect(bad({ models: [{ file: 'a.onnx', weights: new Array(9).fill(1) }] }).message).toMatch(/models\[0\]\.weights is 9, must be a whole number from 1 to 8 stems/);
    expect(bad({ sources: STEMS4, models: [{ file: 'a.onnx', weights: [1, 1] }] }).message).toMatch(/weights is 2, but "sources" names 4 stems/);
    expect(bad({ models: Array.from({ length: 17 }, () => ({ file: 'a.onnx' })) }).message).toMatch(/number of "models" is 17, must be a whole number from 1 to 16/);
    expect(caught(() => parseManifest({ name: 7, models: [{ file: 'a.onnx' }] }, 'set.json')).message).toMatch(/"name" must be a string/);
    // Names reach the terminal and the page: control and bidi characters are refused, lengths bounded.
    expect(bad({ name: 'ok\u202egnp.exe', models: [{ url: 'a.onnx' }] }).message).toMatch(/"name" is "ok\\u202egnp\.exe"; give 1 to 200 characters without control or bidi/);
    expect(bad({ name: 'x'.repeat(201), models: [{ url: 'a.onnx' }] }).code).toBe('BAD_MODEL');
    // Member hashes and sizes are checked like a single model's.
    expect(bad({ models: [{ url: 'a.onnx', sha256: 'abc' }] }).message).toMatch(/"models\[0\]\.sha256" is "abc", it must be 64 hex digits/);
    expect(bad({ models: [{ url: 'a.onnx', bytes: -1 }] }).message).toMatch(/"models\[0\]\.bytes" is -1/);
    expect(bad({ models: [{ url: 'a.onnx', bytes: 2 ** 40 }] }).message).toMatch(/from 0 to 4294967296/);
    expect(bad({ models: [{ url: 'member.json' }] }).message).toMatch(/a set's members are model files/);
    expect(bad({ models: ['a.onnx'] }).message).toMatch(/models\[0\] must be an object/);
    // A huge text is refused before JSON.parse builds it.
    expect(caught(() => parseManifest(' '.repeat(2 ** 20 + 1), 'big.json')).message).toMatch(/^model manifest big\.json: is 1048577 characters long/);
    // Raw JSON shaped like a parsed manifest is still checked (only parseManifest's own results skip it).
    await expect(loadModelSet({ kind: 'set', where: 'x', name: 'x', sources: ['UP'], members: [{ url: '/nonexistent.onnx' }], extra: {} })).rejects.toMatchObject({ code: 'BAD_MODEL' });
    // An object manifest is checked too, before any member is loaded (the file does not even exist).
    await expect(loadModelSet({ sources: ['UP'], models: [{ file: '/nonexistent.onnx' }] })).rejects.toMatchObject({ code: 'BAD_MODEL' });
  });

  it('single-model manifests (parseManifest, as the web loads them)', () => {
    const url = 'https://site.example/models/default.json';
    const bad = (json: Record<string, unknown>) => caught(() => parseManifest({ url: 'm.onnx', ...json }, url));
    expect(bad({ sources: ['../../escaped', 'bass'] })).toMatchObject({ code: 'BAD_MODEL', message: expect.stringContaining(`model manifest ${url}: "sources" has "../../escaped"`) });
    expect(bad({ sources: ['vocals', 'vocals'] }).code).toBe('BAD_MODEL');
    expect(bad({ sampleRate: 1e9 }).message).toMatch(/"sampleRate" is 1000000000, must be a whole number from 8000 to 192000 Hz/);
    expect(bad({ sampleRate: '44100' }).message).toMatch(/"sampleRate" must be a number/);
    expect(bad({ channels: 0 }).code).toBe('BAD_MODEL');
    expect(bad({ segmentSamples: 1e10 }).message).toMatch(/"segmentSamples" is 10000000000/);
    expect(parseManifest({ url: 'm.onnx', sources: STEMS4, sampleRate: 44100, segmentSamples: 343980 }, url).sources).toEqual(STEMS4);
    // The same checks hold on a set, whose declared geometry is the members'.
    expect(caught(() => parseManifest({ sampleRate: 1e9, models: [{ url: 'm.onnx' }] }, url)).message).toMatch(/"sampleRate" is 1000000000/);
  });
});

describe('exports refuse names that could leave the folder they are extracted to', () => {
  it('the ZIP writer takes plain file names only', () => {
    const d = new Uint8Array(1);
    for (const name of ['a/b.wav', 'stems/../../x.wav', '.', 'evil\u202ewav.exe', 'x\u0085.wav', 'x\u2028.wav', '\\\\server\\share.wav']) {
      const err = caught(() => zipFiles([{ name, data: d }]));
      expect(err.code).toBe('BAD_OPTION');
      expect(err.message).toMatch(/^ZIP entry name /);
      expect(err.message).not.toMatch(/[\x00-\x1f\x85\u2028\u202e]/);
    }
    expect(caught(() => new ZipWriter([{ name: 'ok.wav', size: 1 }, { name: 'sub/dir.wav', size: 1 }])).message).toMatch(/without "\/" or "\\"/);
  });

  it('the stems export refuses hostile source names and cleans the base name', () => {
    const stems = STEMS4.map(() => [new Float32Array(8), new Float32Array(8)]);
    const err = caught(() => exportStemsSync({ stems, sources: ['../../escaped', 'bass', 'other', 'vocals'], sampleRate: 44100, baseName: 'song' }));
    expect(err).toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/^cannot export stems: the source list has "\.\.\/\.\.\/escaped", which is not a stem name/) });
    // A track name is the user's: bidi overrides and C1 controls become "_" instead of failing the ZIP.
    const ok = exportStemsSync({ stems, sources: STEMS4, sampleRate: 44100, baseName: 'song\u202eavw.exe\u0085' });
    expect(ok.files.map((f) => f.name)).toEqual(STEMS4.map((s) => `song_avw.exe_-${s}.wav`));
  });
});
