/**
 * MP4/M4A demuxing for audio: where each encoded frame (an MP4 "sample") of
 * the first sound track is, its codec and configuration, and how much of the
 * decoded audio is the song (the encoder delay and padding to drop).
 *
 * Read: ftyp/moov/trak/mdia (mdhd, hdlr)/minf/stbl with stsd (mp4a + esds,
 * alac, and a 'chan' channel layout), stts, stsc, stsz or stz2, stco or co64; the edit list (edts/elst)
 * and iTunes' gapless tag (iTunSMPB) for the delay and the length. Not read:
 * fragmented files (moof), which music files are not.
 *
 * No Node built-ins: bundles for browsers.
 */
import { StemstreamError } from '../errors.js';
import { fourcc } from './bytes.js';
import { readCoreAudioLayout } from './core-audio-layout.js';
import type { Speaker } from './downmix.js';

export type Mp4Codec = 'aac' | 'alac';

export interface Mp4Audio {
  codec: Mp4Codec;
  channels: number;
  /** Output rate: ALAC's cookie, AAC's AudioSpecificConfig (with SBR, the doubled rate), else the sample entry. */
  sampleRate: number;
  /** Units of `durations`, `skip` and `length` (mdhd). */
  timescale: number;
  /** ALAC: the 24-byte ALACSpecificConfig. AAC: the AudioSpecificConfig. */
  config: Uint8Array;
  /** AAC's audio object type (2: LC, 5: HE-AAC, 29: HE-AAC v2). */
  objectType?: number;
  /** The speakers a 'chan' box (QuickTime, Apple) names, in its order; absent without one, or one not understood. */
  chan?: Speaker[];
  /** Per sample: where its bytes start in the file, how many, how long it plays (timescale units). */
  offsets: Float64Array;
  sizes: Uint32Array;
  durations: Uint32Array;
  /** The first `present` samples lie wholly in the file; fewer than `offsets.length`: it was cut short. */
  present: number;
  /** Media time to drop at the start (the encoder delay). */
  skip: number;
  /** Media time of the song after `skip`: what a whole file decodes to. */
  length: number;
  /** Where `skip` and `length` come from, for messages. */
  lengthFrom: 'edit list' | 'iTunSMPB tag' | 'sample table';
}

const CONVERT = 'convert it with e.g. `ffmpeg -i INPUT output.flac` (or `afconvert`/Music on a Mac)';

/** Most samples a track may list: 10 million AAC frames are 64 hours (a 5-minute song has ~13 000). */
const MAX_SAMPLES = 10_000_000;

function bad(message: string): StemstreamError {
  return new StemstreamError('BAD_AUDIO_FILE', message);
}

function unsupported(message: string): StemstreamError {
  return new StemstreamError('UNSUPPORTED_AUDIO_FORMAT', message);
}

interface Box {
  type: string;
  /** Where the box starts, where its body starts, where it ends (may be past the data: a box cut short). */
  start: number;
  body: number;
  end: number;
}

/** The boxes in [from, to) of `b`; stops at a header that does not fit. */
function boxes(b: Uint8Array, view: DataView, from: number, to: number): Box[] {
  const out: Box[] = [];
  let p = from;
  while (p + 8 <= to) {
    let size = view.getUint32(p, false);
    const type = fourcc(b, p + 4);
    let body = p + 8;
    if (size === 1) {
      if (p + 16 > to) break;
      size = view.getUint32(p + 8, false) * 2 ** 32 + view.getUint32(p + 12, false);
      body = p + 16;
    } else if (size === 0) {
      size = to - p; // to the end of the enclosing box or file
    }
    if (size < body - p) break; // damaged: a size smaller than its own header
    out.push({ type, start: p, body, end: p + size });
    p += size;
  }
  return out;
}

function child(b: Uint8Array, view: DataView, box: Box | undefined, type: string, skip = 0): Box | undefined {
  if (!box) return undefined;
  return boxes(b, view, box.body + skip, Math.min(box.end, b.length)).find((x) => x.type === type);
}

/** Reads an MPEG-4 descriptor's length (1–4 bytes of 7 bits). */
function descriptorLength(b: Uint8Array, p: number): { length: number; next: number } {
  let length = 0;
  for (let i = 0; i < 4; i++) {
    const byte = b[p + i] ?? 0;
    length = (length << 7) | (byte & 0x7f);
    if (!(byte & 0x80)) return { length, next: p + i + 1 };
  }
  return { length, next: p + 4 };
}

interface EsdsInfo {
  objectTypeIndication: number;
  config?: Uint8Array;
}

/** The esds box: ES_Descriptor → DecoderConfigDescriptor (object type) → DecoderSpecificInfo (AudioSpecificConfig). */
function parseEsds(b: Uint8Array, box: Box): EsdsInfo | undefined {
  const end = Math.min(box.end, b.length);
  let p = box.body + 4; // version and flags
  if (b[p] !== 0x03) return undefined;
  p = descriptorLength(b, p + 1).next;
  const flags = b[p + 2];
  p += 3;
  if (flags & 0x80) p += 2; // dependsOn_ES_ID
  if (flags & 0x40) p += 1 + (b[p] ?? 0); // URL
  if (flags & 0x20) p += 2; // OCR_ES_Id
  if (b[p] !== 0x04 || p >= end) return undefined;
  const dcd = descriptorLength(b, p + 1);
  p = dcd.next;
  const info: EsdsInfo = { objectTypeIndication: b[p] };
  p += 13;
  if (b[p] === 0x05 && p < end) {
    const dsi = descriptorLength(b, p + 1);
    info.config = b.slice(dsi.next, Math.min(end, dsi.next + dsi.length));
  }
  return info;
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AudioSpecificConfig {
  objectType: number;
  /** The core (AAC) rate and, with SBR signalled, the output rate. */
  sampleRate: number;
  outputRate: number;
  channels: number;
}

/** The start of an AAC AudioSpecificConfig (ISO 14496-3): object type, rates, channel configuration. */
export function parseAudioSpecificConfig(c: Uint8Array): AudioSpecificConfig | undefined {
  let bit = 0;
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v = (v << 1) | (((c[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1);
    return v >>> 0;
  };
  if (c.length < 2) return undefined;
  const objectTypeOf = () => {
    const t = read(5);
    return t === 31 ? 32 + read(6) : t;
  };
  const rateOf = () => {
    const i = read(4);
    return i === 15 ? read(24) : AAC_RATES[i];
  };
  const objectType = objectTypeOf();
  const sampleRate = rateOf();
  const channels = read(4);
  let outputRate = sampleRate;
  if (objectType === 5 || objectType === 29) {
    outputRate = rateOf(); // explicit SBR: the extension rate
  } else if (objectType === 2 && channels > 0 && c.length * 8 - (bit + 3) >= 16) {
    // Backward-compatible SBR: an LC config, then (after GASpecificConfig's 3 bits) sync word 0x2B7, type 5, SBR flag, rate.
    bit += 3;
    if (read(11) === 0x2b7 && objectTypeOf() === 5 && read(1) === 1) {
      outputRate = rateOf();
      if (!(sampleRate > 0)) return undefined;
      return { objectType: 5, sampleRate, outputRate: outputRate > 0 ? outputRate : sampleRate, channels };
    }
  }
  if (!(sampleRate > 0)) return undefined;
  return { objectType, sampleRate, outputRate: outputRate > 0 ? outputRate : sampleRate, channels };
}

/** iTunes' gapless tag: " 00000000 DELAY PADDING LENGTH …" in hex. */
function parseItunSmpb(text: string): { delay: number; padding: number; length: number } | undefined {
  const f = text.trim().split(/\s+/);
  if (f.length < 4) return undefined;
  const [delay, padding, length] = [f[1], f[2], f[3]].map((x) => Number.parseInt(x, 16));
  if (![delay, padding, length].every((x) => Number.isFinite(x) && x >= 0)) return undefined;
  return { delay, padding, length };
}

/** The iTunSMPB value in moov/udta/meta/ilst, if any. */
function findItunSmpb(b: Uint8Array, view: DataView, moov: Box): string | undefined {
  const udta = child(b, view, moov, 'udta');
  const meta = child(b, view, udta, 'meta');
  if (!meta) return undefined;
  // ISO 'meta' is a full box (4 bytes of version and flags before its children); QuickTime's is not.
  const skip = view.getUint32(meta.body, false) === 0 ? 4 : 0;
  const ilst = child(b, view, meta, 'ilst', skip);
  if (!ilst) return undefined;
  for (const item of boxes(b, view, ilst.body, Math.min(ilst.end, b.length))) {
    if (item.type !== '----') continue;
    const parts = boxes(b, view, item.body, Math.min(item.end, b.length));
    const name = parts.find((x) => x.type === 'name');
    const data = parts.find((x) => x.type === 'data');
    if (!name || !data) continue;
    if (new TextDecoder('latin1').decode(b.subarray(name.body + 4, name.end)) !== 'iTunSMPB') continue;
    return new TextDecoder('latin1').decode(b.subarray(data.body + 8, Math.min(data.end, b.length)));
  }
  return undefined;
}

interface SampleEntry {
  codec: Mp4Codec;
  channels: number;
  sampleRate: number;
  config: Uint8Array;
  objectType?: number;
  chan?: Speaker[];
}

/** The speakers of a 'chan' box (a full box: version and flags, then Core Audio's AudioChannelLayout). */
function chanSpeakers(b: Uint8Array, box: Box | undefined): Speaker[] | undefined {
  if (!box) return undefined;
  return readCoreAudioLayout(b, box.body + 4, Math.min(box.end, b.length) - box.body - 4);
}

function parseSampleEntry(b: Uint8Array, view: DataView, stsd: Box): SampleEntry {
  const entries = boxes(b, view, stsd.body + 8, Math.min(stsd.end, b.length));
  const entry = entries[0];
  if (!entry) throw bad('its sound track has no sample description (stsd); the file is damaged');
  const type = entry.type;
  if (type === 'enca' || type === 'drms' || type === 'drmi') {
    throw unsupported('it is DRM-protected (encrypted, e.g. an iTunes Store purchase before 2009 or an Apple Music download): no program but Apple\'s can decode it');
  }
  if (type !== 'mp4a' && type !== 'alac') {
    const names: Record<string, string> = { 'ac-3': 'AC-3', 'ec-3': 'E-AC-3', Opus: 'Opus', fLaC: 'FLAC', '.mp3': 'MP3', samr: 'AMR', sawb: 'AMR-WB' };
    throw unsupported(`its audio is ${names[type] ?? `"${type}"`} in MP4, which stemstream does not decode (it reads AAC and ALAC); ${CONVERT}`);
  }
  // AudioSampleEntry: 8 bytes of SampleEntry, then version (QuickTime: 1 and 2 add fields), channels, size, rate 16.16.
  const p = entry.body;
  const version = view.getUint16(p + 8, false);
  let channels = view.getUint16(p + 16, false);
  let sampleRate = view.getUint32(p + 24, false) / 65536;
  let childrenAt = p + 28;
  if (version === 1) childrenAt += 16;
  else if (version === 2) {
    sampleRate = view.getFloat64(p + 32, false);
    channels = view.getUint32(p + 40, false);
    childrenAt += 36;
  }
  const end = Math.min(entry.end, b.length);
  const kids = boxes(b, view, childrenAt, end);
  // QuickTime puts the decoder configuration (esds, the ALAC cookie) inside a 'wave' box.
  const wave = kids.find((x) => x.type === 'wave');
  const waveKids = wave ? boxes(b, view, wave.body, Math.min(wave.end, b.length)) : [];
  const configBox = (kind: string) => kids.find((x) => x.type === kind) ?? waveKids.find((x) => x.type === kind);
  const chan = chanSpeakers(b, kids.find((x) => x.type === 'chan'));
  if (type === 'alac') {
    const cookie = configBox('alac');
    if (!cookie || cookie.body + 4 + 24 > b.length) throw bad('its ALAC track has no decoder configuration (the "alac" box); the file is damaged');
    const config = b.slice(cookie.body + 4, cookie.body + 28);
    const cv = new DataView(config.buffer);
    return { codec: 'alac', channels: config[9], sampleRate: cv.getUint32(20, false) || Math.round(sampleRate), config, chan };
  }
  const esdsBox = configBox('esds');
  const esds = esdsBox && parseEsds(b, esdsBox);
  if (!esds) throw bad('its AAC track has no decoder configuration (the "esds" box); the file is damaged');
  const oti = esds.objectTypeIndication;
  if (oti === 0x69 || oti === 0x6b) throw unsupported(`its audio is MP3 in MP4, which stemstream does not decode; ${CONVERT}`);
  if (oti !== 0x40 && oti !== 0x66 && oti !== 0x67 && oti !== 0x68) {
    throw unsupported(`its audio has MPEG-4 object type 0x${oti.toString(16)}, not AAC; ${CONVERT}`);
  }
  const asc = esds.config && parseAudioSpecificConfig(esds.config);
  if (!asc || !esds.config) throw bad('its AAC track has no valid AudioSpecificConfig; the file is damaged');
  if (asc.objectType !== 2 && asc.objectType !== 5 && asc.objectType !== 29 && asc.objectType !== 1 && asc.objectType !== 4) {
    throw unsupported(`its audio is MPEG-4 audio object type ${asc.objectType}, not AAC-LC or HE-AAC; ${CONVERT}`);
  }
  // Implicit SBR (HE-AAC signalled as LC at half the rate) shows in the sample entry's rate.
  const outputRate = asc.outputRate !== asc.sampleRate ? asc.outputRate : sampleRate > asc.sampleRate ? sampleRate : asc.sampleRate;
  return { codec: 'aac', channels: asc.channels || channels, sampleRate: Math.round(outputRate), config: esds.config, objectType: asc.objectType, chan };
}

/** Expands stts into one duration per sample. */
function sampleDurations(b: Uint8Array, view: DataView, stts: Box | undefined, count: number): Uint32Array {
  const out = new Uint32Array(count);
  if (!stts) return out;
  const n = view.getUint32(stts.body + 4, false);
  let i = 0;
  for (let e = 0, p = stts.body + 8; e < n && p + 8 <= Math.min(stts.end, b.length) && i < count; e++, p += 8) {
    const run = view.getUint32(p, false);
    const delta = view.getUint32(p + 4, false);
    for (let k = 0; k < run && i < count; k++) out[i++] = delta;
  }
  // Samples stts does not cover take the last duration (a damaged table).
  for (; i < count && i > 0; i++) out[i] = out[i - 1];
  return out;
}

function sampleSizes(b: Uint8Array, view: DataView, stsz: Box | undefined, stz2: Box | undefined): Uint32Array {
  if (stsz) {
    const fixed = view.getUint32(stsz.body + 4, false);
    const count = view.getUint32(stsz.body + 8, false);
    if (count > MAX_SAMPLES) throw bad(`its sample table lists ${count} samples, more than any song has; the file is damaged`);
    if (fixed !== 0) return new Uint32Array(count).fill(fixed);
    if (stsz.body + 12 + 4 * count > Math.min(stsz.end, b.length)) throw bad('its sample size table (stsz) is cut short; the file is damaged');
    const out = new Uint32Array(count);
    for (let i = 0, p = stsz.body + 12; i < count; i++, p += 4) out[i] = view.getUint32(p, false);
    return out;
  }
  if (stz2) {
    const field = b[stz2.body + 7];
    const count = view.getUint32(stz2.body + 8, false);
    if (count > MAX_SAMPLES) throw bad(`its sample table lists ${count} samples, more than any song has; the file is damaged`);
    if (field !== 4 && field !== 8 && field !== 16) throw bad(`its compact sample size table (stz2) has ${field}-bit fields; the file is damaged`);
    if (stz2.body + 12 + Math.ceil((field * count) / 8) > Math.min(stz2.end, b.length)) throw bad('its sample size table (stz2) is cut short; the file is damaged');
    const out = new Uint32Array(count);
    const p = stz2.body + 12;
    for (let i = 0; i < count; i++) {
      if (field === 16) out[i] = view.getUint16(p + 2 * i, false);
      else if (field === 8) out[i] = b[p + i];
      else out[i] = (b[p + (i >> 1)] >> (i & 1 ? 0 : 4)) & 0x0f;
    }
    return out;
  }
  throw bad('its sound track has no sample size table (stsz); the file is damaged');
}

/** Each sample's file offset, from the chunk offsets (stco/co64), samples per chunk (stsc) and sizes. */
function sampleOffsets(b: Uint8Array, view: DataView, stbl: Box, sizes: Uint32Array): Float64Array {
  const stco = child(b, view, stbl, 'stco');
  const co64 = child(b, view, stbl, 'co64');
  const stsc = child(b, view, stbl, 'stsc');
  const table = stco ?? co64;
  if (!table || !stsc) throw bad('its sound track has no chunk table (stco/stsc); the file is damaged');
  const chunkCount = view.getUint32(table.body + 4, false);
  const entry = stco ? 4 : 8;
  if (table.body + 8 + entry * chunkCount > Math.min(table.end, b.length)) throw bad('its chunk offset table is cut short; the file is damaged');
  const chunkOffset = (c: number) => {
    const p = table.body + 8 + entry * c;
    return stco ? view.getUint32(p, false) : view.getUint32(p, false) * 2 ** 32 + view.getUint32(p + 4, false);
  };
  const runs = view.getUint32(stsc.body + 4, false);
  if (stsc.body + 8 + 12 * runs > Math.min(stsc.end, b.length)) throw bad('its sample-to-chunk table (stsc) is cut short; the file is damaged');
  const out = new Float64Array(sizes.length);
  let s = 0;
  for (let r = 0; r < runs && s < sizes.length; r++) {
    const p = stsc.body + 8 + 12 * r;
    const first = view.getUint32(p, false) - 1;
    const perChunk = view.getUint32(p + 4, false);
    const next = r + 1 < runs ? view.getUint32(p + 12, false) - 1 : chunkCount;
    for (let c = first; c < next && c < chunkCount && s < sizes.length; c++) {
      let offset = chunkOffset(c);
      for (let k = 0; k < perChunk && s < sizes.length; k++) {
        out[s] = offset;
        offset += sizes[s++];
      }
    }
  }
  if (s < sizes.length) throw bad(`its chunk tables place ${s} of its ${sizes.length} samples; the file is damaged`);
  return out;
}

interface EditList {
  /** Media time where the song starts (−1: an empty edit, none found). */
  mediaTime: number;
  /** The song's length in movie time units (0: not given). */
  duration: number;
}

/** The first edit that plays media (empty edits, a pause before the track, are passed over). */
function firstEdit(b: Uint8Array, view: DataView, trak: Box): EditList | undefined {
  const elst = child(b, view, child(b, view, trak, 'edts'), 'elst');
  if (!elst) return undefined;
  const version = b[elst.body];
  const n = view.getUint32(elst.body + 4, false);
  const size = version === 1 ? 20 : 12;
  for (let e = 0, p = elst.body + 8; e < n && p + size <= Math.min(elst.end, b.length); e++, p += size) {
    const duration = version === 1 ? view.getUint32(p, false) * 2 ** 32 + view.getUint32(p + 4, false) : view.getUint32(p, false);
    const mediaTime = version === 1 ? view.getInt32(p + 8, false) * 2 ** 32 + view.getUint32(p + 12, false) : view.getInt32(p + 4, false);
    if (mediaTime >= 0) return { mediaTime, duration };
  }
  return undefined;
}

/** Parses the `moov` box (`b` holds the whole file, or at least the moov at its place) for the first sound track. */
function parseMoov(b: Uint8Array, moov: Box, fileLength: number): Mp4Audio {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const moovEnd = Math.min(moov.end, b.length);
  const mvhd = child(b, view, moov, 'mvhd');
  const movieScale = mvhd ? view.getUint32(mvhd.body + (b[mvhd.body] === 1 ? 20 : 12), false) : 0;
  const traks = boxes(b, view, moov.body, moovEnd).filter((x) => x.type === 'trak');
  let trak: Box | undefined;
  let mdia: Box | undefined;
  for (const t of traks) {
    const m = child(b, view, t, 'mdia');
    const hdlr = child(b, view, m, 'hdlr');
    if (hdlr && fourcc(b, hdlr.body + 8) === 'soun') {
      trak = t;
      mdia = m;
      break;
    }
  }
  if (!trak || !mdia) {
    if (child(b, view, moov, 'mvex')) throw unsupported(`it is a fragmented MP4 (a stream recording), which stemstream does not read; ${CONVERT}`);
    throw unsupported(`it is an MP4 file without an audio track (${traks.length} other track(s))`);
  }
  const mdhd = child(b, view, mdia, 'mdhd');
  if (!mdhd) throw bad('its sound track has no media header (mdhd); the file is damaged');
  const timescale = view.getUint32(mdhd.body + (b[mdhd.body] === 1 ? 20 : 12), false);
  const stbl = child(b, view, child(b, view, mdia, 'minf'), 'stbl');
  const stsd = child(b, view, stbl, 'stsd');
  if (!stbl || !stsd) throw bad('its sound track has no sample table (stbl); the file is damaged');
  const entry = parseSampleEntry(b, view, stsd);
  const sizes = sampleSizes(b, view, child(b, view, stbl, 'stsz'), child(b, view, stbl, 'stz2'));
  if (sizes.length === 0) {
    if (child(b, view, moov, 'mvex')) throw unsupported(`it is a fragmented MP4 (a stream recording), which stemstream does not read; ${CONVERT}`);
    throw bad('its sound track holds no samples');
  }
  const offsets = sampleOffsets(b, view, stbl, sizes);
  const durations = sampleDurations(b, view, child(b, view, stbl, 'stts'), sizes.length);
  let present = 0;
  while (present < sizes.length && offsets[present] + sizes[present] <= fileLength) present++;
  if (!(timescale > 0)) throw bad('its media header gives time scale 0; the file is damaged');

  let total = 0;
  for (let i = 0; i < durations.length; i++) total += durations[i];
  let skip = 0;
  let length = total;
  let lengthFrom: Mp4Audio['lengthFrom'] = 'sample table';
  const edit = firstEdit(b, view, trak);
  if (edit && edit.mediaTime < total) {
    skip = edit.mediaTime;
    const rest = total - skip;
    // The segment is in movie time (often ms): the sample table gives the exact end when it agrees within that rounding.
    const segment = movieScale > 0 && edit.duration > 0 ? (edit.duration * timescale) / movieScale : rest;
    length = Math.abs(segment - rest) <= Math.ceil(timescale / Math.max(1, movieScale)) ? rest : Math.min(rest, Math.round(segment));
    if (skip > 0 || length < total) lengthFrom = 'edit list';
  }
  if (lengthFrom === 'sample table') {
    const smpb = findItunSmpb(b, view, moov);
    const gapless = smpb ? parseItunSmpb(smpb) : undefined;
    // In output samples; with implicit SBR the media time scale may be the core rate.
    const scale = timescale / entry.sampleRate;
    if (gapless && gapless.length > 0 && (gapless.delay + gapless.length) * scale <= total) {
      skip = Math.round(gapless.delay * scale);
      length = Math.round(gapless.length * scale);
      lengthFrom = 'iTunSMPB tag';
    }
  }
  return {
    codec: entry.codec,
    channels: entry.channels,
    sampleRate: entry.sampleRate,
    timescale,
    config: entry.config,
    objectType: entry.objectType,
    chan: entry.chan,
    offsets,
    sizes,
    durations,
    present,
    skip,
    length,
    lengthFrom,
  };
}

/**
 * Where the top-level boxes of an MP4 file are, from a reader of its bytes:
 * the moov box (if any) and whether a box runs past the end of the file.
 */
export function findMoov(readAt: (pos: number, n: number) => Uint8Array, fileLength: number): { moov?: { start: number; end: number }; cut: boolean; mdat: boolean } {
  let p = 0;
  let mdat = false;
  while (p + 8 <= fileLength) {
    const h = readAt(p, 16);
    if (h.length < 8) break;
    const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
    let size = view.getUint32(0, false);
    const type = fourcc(h, 4);
    if (size === 1 && h.length >= 16) size = view.getUint32(8, false) * 2 ** 32 + view.getUint32(12, false);
    else if (size === 0) size = fileLength - p;
    if (!/^[\x20-\x7e©]{4}$/.test(type) || size < 8) return { cut: false, mdat };
    if (type === 'mdat') mdat = true;
    if (type === 'moov') return { moov: { start: p, end: p + size }, cut: p + size > fileLength, mdat };
    if (p + size > fileLength) return { cut: true, mdat };
    p += size;
  }
  return { cut: false, mdat };
}

/** Demuxes an MP4/M4A file held in memory: its first sound track. Throws a StemstreamError saying why not. */
export function parseMp4(bytes: Uint8Array): Mp4Audio {
  const located = findMoov((pos, n) => bytes.subarray(pos, pos + n), bytes.length);
  if (!located.moov) {
    if (located.mdat || located.cut) {
      throw bad(
        "the MP4 index (the 'moov' box, which most encoders write after the audio) is missing: the file was cut short, " +
          'or its recording never finished; nothing can be decoded without it. Copy or download the file again',
      );
    }
    throw bad("it starts like MP4/M4A but has no 'moov' box (the index of the audio); the file is damaged or not an audio file");
  }
  const { start, end } = located.moov;
  if (end > bytes.length) throw bad(`the MP4 index (the 'moov' box) is cut short at byte ${bytes.length} of its ${end}: the file was cut short; copy or download it again`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = boxes(bytes, view, start, end)[0];
  return parseMoov(bytes, header, bytes.length);
}

/**
 * The length in seconds of an MP4's sound track from its moov box alone
 * (`moov`: the box's bytes), as decoding the whole file would give; undefined when it cannot be told.
 */
export function mp4MoovSeconds(moov: Uint8Array): number | undefined {
  try {
    const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
    const header = boxes(moov, view, 0, moov.length)[0];
    if (!header || header.type !== 'moov') return undefined;
    const track = parseMoov(moov, header, Number.POSITIVE_INFINITY);
    return track.length / track.timescale;
  } catch {
    return undefined;
  }
}
