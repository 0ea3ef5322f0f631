/**
 * Apple's AudioChannelLayout, as an MP4/QuickTime 'chan' box and an AIFF
 * 'CHAN' chunk hold it (big-endian): a layout tag, a channel bitmap and
 * channel descriptions, which say which speaker each channel is. Read into
 * the speakers of downmix.ts (WAVE_FORMAT_EXTENSIBLE's names, which Core
 * Audio's bitmap shares bit for bit).
 *
 * Core Audio's "Ls/Rs" (left/right surround) are the WAVE back pair; in a
 * layout that also has rear surrounds ("Rls/Rrs"), they are the side pair.
 * The downmix treats back and side surrounds alike either way.
 *
 * No Node built-ins: bundles for browsers.
 */
import { MASK_SPEAKERS, type Speaker } from './downmix.js';

/** Core Audio's abbreviations (CoreAudioBaseTypes.h) for the speakers a stereo downmix may meet. */
const ABBREVIATIONS: Record<string, Speaker> = {
  L: 'FL', R: 'FR', C: 'FC', LFE: 'LFE', Ls: 'BL', Rs: 'BR', Lc: 'FLC', Rc: 'FRC', Cs: 'BC',
  Rls: 'BL', Rrs: 'BR', Lsd: 'SL', Rsd: 'SR', Ts: 'TC', Vhl: 'TFL', Vhc: 'TFC', Vhr: 'TFR',
};

/**
 * Layout tags (the upper 16 bits of kAudioChannelLayoutTag_*) of 3 to 8
 * channels whose speakers all have a WAVE name, with their channel order.
 */
const TAGS: Record<number, string> = {
  108: 'L R Ls Rs', // Quadraphonic
  109: 'L R Ls Rs C', // Pentagonal
  110: 'L R Ls Rs C Cs', // Hexagonal
  113: 'L R C', // MPEG_3_0_A
  114: 'C L R', // MPEG_3_0_B
  115: 'L R C Cs', // MPEG_4_0_A
  116: 'C L R Cs', // MPEG_4_0_B
  117: 'L R C Ls Rs', // MPEG_5_0_A
  118: 'L R Ls Rs C', // MPEG_5_0_B
  119: 'L C R Ls Rs', // MPEG_5_0_C
  120: 'C L R Ls Rs', // MPEG_5_0_D
  121: 'L R C LFE Ls Rs', // MPEG_5_1_A
  122: 'L R Ls Rs C LFE', // MPEG_5_1_B
  123: 'L C R Ls Rs LFE', // MPEG_5_1_C
  124: 'C L R Ls Rs LFE', // MPEG_5_1_D
  125: 'L R C LFE Ls Rs Cs', // MPEG_6_1_A
  126: 'L R C LFE Ls Rs Lc Rc', // MPEG_7_1_A
  127: 'C Lc Rc L R Ls Rs LFE', // MPEG_7_1_B
  128: 'L R C LFE Ls Rs Rls Rrs', // MPEG_7_1_C
  129: 'L R Ls Rs C LFE Lc Rc', // Emagic_Default_7_1
  131: 'L R Cs', // ITU_2_1
  132: 'L R Ls Rs', // ITU_2_2
  133: 'L R LFE', // DVD_4
  134: 'L R LFE Cs', // DVD_5
  135: 'L R LFE Ls Rs', // DVD_6
  136: 'L R C LFE', // DVD_10
  137: 'L R C LFE Cs', // DVD_11
  138: 'L R Ls Rs LFE', // DVD_18
  139: 'L R Ls Rs C Cs', // AudioUnit_6_0
  140: 'L R Ls Rs C Rls Rrs', // AudioUnit_7_0
  141: 'C L R Ls Rs Cs', // AAC_6_0
  142: 'C L R Ls Rs Cs LFE', // AAC_6_1
  143: 'C L R Ls Rs Rls Rrs', // AAC_7_0
  144: 'C L R Ls Rs Rls Rrs Cs', // AAC_Octagonal
  148: 'L R Ls Rs C Lc Rc', // AudioUnit_7_0_Front
  150: 'L C R', // AC3_3_0
  151: 'L C R Cs', // AC3_3_1
  152: 'L C R LFE', // AC3_3_0_1
  153: 'L R Cs LFE', // AC3_2_1_1
  154: 'L C R Cs LFE', // AC3_3_1_1
  155: 'L C R Ls Rs Cs', // EAC_6_0_A
  156: 'L C R Ls Rs Rls Rrs', // EAC_7_0_A
  157: 'L C R Ls Rs LFE Cs', // EAC3_6_1_A
  158: 'L C R Ls Rs LFE Ts', // EAC3_6_1_B
  159: 'L C R Ls Rs LFE Vhc', // EAC3_6_1_C
  160: 'L C R Ls Rs LFE Rls Rrs', // EAC3_7_1_A
  161: 'L C R Ls Rs LFE Lc Rc', // EAC3_7_1_B
  162: 'L C R Ls Rs LFE Lsd Rsd', // EAC3_7_1_C
  164: 'L C R Ls Rs LFE Vhl Vhr', // EAC3_7_1_E
  165: 'L C R Ls Rs LFE Cs Ts', // EAC3_7_1_F
  166: 'L C R Ls Rs LFE Cs Vhc', // EAC3_7_1_G
  167: 'L C R Ls Rs LFE Ts Vhc', // EAC3_7_1_H
  168: 'C L R LFE', // DTS_3_1
  169: 'C L R Cs LFE', // DTS_4_1
  170: 'Lc Rc L R Ls Rs', // DTS_6_0_A
  171: 'C L R Rls Rrs Ts', // DTS_6_0_B
  172: 'C Cs L R Rls Rrs', // DTS_6_0_C
  173: 'Lc Rc L R Ls Rs LFE', // DTS_6_1_A
  174: 'C L R Rls Rrs Ts LFE', // DTS_6_1_B
  175: 'C Cs L R Rls Rrs LFE', // DTS_6_1_C
  176: 'Lc C Rc L R Ls Rs', // DTS_7_0
  177: 'Lc C Rc L R Ls Rs LFE', // DTS_7_1
  178: 'Lc Rc L R Ls Rs Rls Rrs', // DTS_8_0_A
  179: 'Lc C Rc L R Ls Cs Rs', // DTS_8_0_B
  182: 'C L R Ls Rs LFE Cs', // DTS_6_1_D
  183: 'C L R Ls Rs Rls Rrs LFE', // AAC_7_1_B
  184: 'C L R Ls Rs LFE Vhl Vhr', // AAC_7_1_C
  185: 'L R Rls Rrs', // WAVE_4_0_B
  186: 'L R C Rls Rrs', // WAVE_5_0_B
  187: 'L R C LFE Rls Rrs', // WAVE_5_1_B
  188: 'L R C LFE Cs Ls Rs', // WAVE_6_1
  189: 'L R C LFE Rls Rrs Ls Rs', // WAVE_7_1
};

const USE_CHANNEL_DESCRIPTIONS = 0;
const USE_CHANNEL_BITMAP = 1 << 16;

/** Labels (kAudioChannelLabel_*) 1 to 18 are the bitmap's bits 0 to 17; 33 and 34 are the rear surrounds. */
const REAR_SURROUND_LEFT = 33;
const REAR_SURROUND_RIGHT = 34;

/** Ls/Rs, the WAVE back pair, are the side pair in a layout that has the rear pair too. */
function surround(speaker: Speaker, rear: boolean): Speaker {
  if (!rear) return speaker;
  return speaker === 'BL' ? 'SL' : speaker === 'BR' ? 'SR' : speaker;
}

/**
 * The speakers of the AudioChannelLayout at `at` (`size` bytes of `bytes`),
 * in its channel order; undefined when it names none, a speaker without a
 * WAVE name (wide or matrix pairs, a second LFE, ambisonics, discrete
 * channels), or one speaker twice.
 */
export function readCoreAudioLayout(bytes: Uint8Array, at: number, size: number): Speaker[] | undefined {
  if (size < 12 || at + 12 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = view.getUint32(at, false);
  const speakers: Speaker[] = [];
  if (tag === USE_CHANNEL_BITMAP) {
    const bitmap = view.getUint32(at + 4, false);
    if (bitmap >>> MASK_SPEAKERS.length !== 0) return undefined;
    MASK_SPEAKERS.forEach((s, bit) => (bitmap >>> bit) & 1 && speakers.push(s));
  } else if (tag === USE_CHANNEL_DESCRIPTIONS) {
    const count = view.getUint32(at + 8, false);
    // Each description: label, flags, three float coordinates.
    if (count > 64 || at + 12 + 20 * count > Math.min(bytes.length, at + size)) return undefined;
    const labels = Array.from({ length: count }, (_, i) => view.getUint32(at + 12 + 20 * i, false));
    const rear = labels.includes(REAR_SURROUND_LEFT) || labels.includes(REAR_SURROUND_RIGHT);
    for (const label of labels) {
      if (label === REAR_SURROUND_LEFT || label === REAR_SURROUND_RIGHT) speakers.push(label === REAR_SURROUND_LEFT ? 'BL' : 'BR');
      else if (label >= 1 && label <= MASK_SPEAKERS.length) speakers.push(surround(MASK_SPEAKERS[label - 1], rear));
      else return undefined;
    }
  } else {
    const names = TAGS[tag >>> 16]?.split(' ');
    if (!names || names.length !== (tag & 0xffff)) return undefined;
    const rear = names.includes('Rls');
    for (const n of names) speakers.push(n === 'Ls' || n === 'Rs' ? surround(ABBREVIATIONS[n], rear) : ABBREVIATIONS[n]);
  }
  if (speakers.length === 0 || new Set(speakers).size !== speakers.length) return undefined;
  return speakers;
}
