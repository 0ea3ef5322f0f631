/** Model sets (Demucs bags) and the karaoke path, on tiny generated models. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/model/model.js';
import { parseManifest } from '../src/model/manifest.js';
import { loadModelSet, singleModelSet } from '../src/model/model-set.js';
import { noiseInput } from '../src/model/parity.js';
import { separate } from '../src/separate/separate.js';
import { karaoke, separateWithSet } from '../src/separate/separate-set.js';
import { makeCanonicalModel, makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { maxAbsDiff } from './reference/compare.js';

const dir = mkdtempSync(join(tmpdir(), 'stemstream-set-'));
const audio = { sampleRate: 44100, channels: noiseInput(2, 25000, 11).audio };
const STEMS = ['drums', 'bass', 'other', 'vocals'];

/** Member m: spec gain (m + 1) / 10 + s / 100 on every stem s, so each member's stems differ. */
function member(m: number): string {
  const file = `member${m}.onnx`;
  const gains = STEMS.map((_, s) => [(m + 1) / 10 + s / 100, (m + 1) / 10 + s / 50]);
  writeFileSync(join(dir, file), makeDemucsLayoutModel({ specGains: gains }));
  return file;
}
const files = [0, 1, 2, 3].map(member);

function manifest(name: string, body: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

describe('model sets', () => {
  it('a bag of specialists: each stem comes from its own model (htdemucs_ft-like)', async () => {
    const set = await loadModelSet(manifest('ft.json', { name: 'ft', models: files.map((file, m) => ({ file, weights: STEMS.map((_, k) => (k === m ? 1 : 0)) })) }));
    expect(set.sources).toEqual(STEMS);
    const sep = await separateWithSet(audio, set);
    expect(sep.modelsRun).toHaveLength(4);
    for (const [k, stem] of STEMS.entries()) {
      const alone = await separate(audio, set.members[k].model);
      for (let c = 0; c < 2; c++) expect(maxAbsDiff(sep.stems[stem][c], alone.stems[stem][c])).toBe(0);
    }
    await set.dispose();
  });

  it('weights average the members per source, as in Demucs', async () => {
    const set = await loadModelSet(manifest('avg.json', { models: [{ file: files[0], weights: [1, 1, 1, 1] }, { file: files[1], weights: [3, 1, 0, 1] }] }));
    const sep = await separateWithSet(audio, set);
    const a = await separate(audio, set.members[0].model);
    const b = await separate(audio, set.members[1].model);
    const w = [[1, 3], [1, 1], [1, 0], [1, 1]];
    for (const [k, stem] of STEMS.entries()) {
      for (let c = 0; c < 2; c++) {
        const expected = a.stems[stem][c].map((v, t) => (w[k][0] * v + w[k][1] * b.stems[stem][c][t]) / (w[k][0] + w[k][1]));
        expect(maxAbsDiff(sep.stems[stem][c], expected)).toBeLessThan(1e-6);
      }
    }
    await set.dispose();
  });

  it('karaoke path: only the vocals specialist runs; accompaniment = mix − vocals', async () => {
    const set = await loadModelSet(manifest('ft2.json', { models: files.map((file, m) => ({ file, weights: STEMS.map((_, k) => (k === m ? 1 : 0)) })) }));
    const k = await karaoke(audio, set);
    expect(k.modelsRun).toEqual([join(dir, files[3])]);
    const alone = await separate(audio, set.members[3].model);
    for (let c = 0; c < 2; c++) {
      expect(maxAbsDiff(k.vocals[c], alone.stems.vocals[c])).toBe(0);
      expect(maxAbsDiff(k.vocals[c].map((v, t) => v + k.accompaniment[c][t]), audio.channels[c])).toBeLessThan(1e-6);
    }
    await set.dispose();
    // A single model works as a set of one.
    const single = singleModelSet(await loadModel(join(dir, files[0])));
    expect((await karaoke(audio, single)).modelsRun).toHaveLength(1);
    await single.dispose();
  });

  it('six-source models (htdemucs_6s layout) make a six-stem set', async () => {
    const six = ['drums', 'bass', 'other', 'vocals', 'guitar', 'piano'];
    writeFileSync(join(dir, 'six.onnx'), makeCanonicalModel({ sources: 6, metadata: { sources: JSON.stringify(six) } }));
    const set = await loadModelSet(manifest('six.json', { models: [{ file: 'six.onnx' }] }));
    expect(set.sources).toEqual(six);
    const sep = await separateWithSet(audio, set, { stems: ['guitar', 'piano'] });
    expect(Object.keys(sep.stems)).toEqual(['guitar', 'piano']);
    const alone = await separate(audio, set.members[0].model);
    expect(maxAbsDiff(sep.stems.piano[1], alone.stems.piano[1])).toBe(0);
    await set.dispose();
  });

  it('refuses bad manifests with a clear reason', async () => {
    expect(() => parseManifest('{', 'x.json')).toThrow(/x.json is not valid JSON/);
    expect(() => parseManifest('{"models": []}', 'x.json')).toThrow(/non-empty "models"/);
    expect(() => parseManifest('{"models": [{"file": "a.onnx", "weights": [1, -1]}]}', 'x.json')).toThrow(/non-negative/);
    writeFileSync(join(dir, 'six2.onnx'), makeDemucsLayoutModel({ sources: 6 }));
    await expect(loadModelSet(manifest('mixed.json', { models: [{ file: files[0] }, { file: 'six2.onnx' }] }))).rejects.toThrow(/separates drums, bass, other, vocals, guitar, piano, but the set's sources are drums, bass, other, vocals/);
    await expect(loadModelSet(manifest('gap.json', { models: [{ file: files[0], weights: [1, 1, 0, 1] }] }))).rejects.toThrow(/no model of the set has a weight for other/);
    await expect(loadModelSet(manifest('missing.json', { models: [{ file: 'nope.onnx' }] }))).rejects.toMatchObject({ code: 'IO' });
    const set = await loadModelSet(manifest('one.json', { models: [{ file: files[0] }] }));
    await expect(separateWithSet(audio, set, { stems: ['kazoo'] })).rejects.toThrow(/no stem "kazoo"/);
    await set.dispose();
  });

  it('loads the web\'s manifests too: a single model (with its sha256 and bytes checked) is a set of one', async () => {
    const bytes = readFileSync(join(dir, files[2]));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // The shape test/fixtures/demo-site.ts and scripts/prepare-demo-model.mjs write.
    const set = await loadModelSet(manifest('single.json', { name: 'tiny', url: files[2], sha256: sha256.toUpperCase(), bytes: bytes.length, license: 'test' }));
    expect(set).toMatchObject({ name: 'tiny', sources: STEMS });
    expect(set.members.map((m) => [m.file, m.model.info.name, m.weights])).toEqual([[join(dir, files[2]), join(dir, files[2]), [1, 1, 1, 1]]]);
    const alone = await separate(audio, await loadModel(join(dir, files[2])));
    expect(maxAbsDiff((await separateWithSet(audio, set)).stems.bass[0], alone.stems.bass[0])).toBe(0);
    await set.dispose();
    await expect(loadModelSet(manifest('badsha.json', { url: files[2], sha256: 'f'.repeat(64) }))).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(/but its manifest expects f{64}; the file was replaced or corrupted/) });
    await expect(loadModelSet(manifest('badsize.json', { models: [{ url: files[2], bytes: bytes.length + 1 }] }))).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(new RegExp(`has ${bytes.length} bytes, but its manifest says ${bytes.length + 1}`)) });
  });

  it('a manifest parsed once (here from a file: URL) loads without being parsed again, members resolved as URLs', async () => {
    const path = manifest('url.json', { models: [{ url: files[0] }, { file: files[1] }] });
    const parsed = parseManifest(readFileSync(path, 'utf8'), pathToFileURL(path).href);
    const set = await loadModelSet(parsed);
    expect(set.members.map((m) => m.file)).toEqual([pathToFileURL(join(dir, files[0])).href, pathToFileURL(join(dir, files[1])).href]);
    expect(set.name).toBe('model set');
    await set.dispose();
  });
});
