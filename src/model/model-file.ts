/**
 * Reads what the engine needs from an ONNX file without decoding its weights:
 * the top level of ModelProto (ir_version, producer, opsets, metadata_props)
 * and of its GraphProto (inputs, outputs, initializer names), skipping nodes
 * and tensor payloads by their length prefixes.
 */
import protobuf from 'protobufjs/minimal.js';
import { StemstreamError } from '../errors.js';
import type { TensorInfo } from './layout.js';

export interface ModelFileInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: { domain: string; version: number }[];
  metadata: Record<string, string>;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  sizeBytes: number;
  /** True when some initializer keeps its data in an external file. */
  externalData: boolean;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

type Reader = protobuf.Reader;

/** int64 fields come back as numbers or as Long objects, depending on the build. */
function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(String(v));
}

/** Calls `onField(field, wire, reader)` for each field in [reader.pos, end); unknown fields are skipped. */
function walk(reader: Reader, end: number, onField: (field: number, wire: number) => boolean): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw new RangeError('field number 0');
    if (!onField(field, wire)) reader.skipType(wire);
    if (reader.pos > end) throw new RangeError('field runs past its message');
  }
}

function message(reader: Reader): number {
  const len = reader.uint32();
  const end = reader.pos + len;
  if (end > reader.len) throw new RangeError('message runs past the end of the file');
  return end;
}

function readDims(reader: Reader, end: number): (number | string)[] {
  const dims: (number | string)[] = [];
  walk(reader, end, (f, w) => {
    if (f !== 1 || w !== WIRE_LEN) return false;
    const dimEnd = message(reader);
    let dim: number | string = '?';
    walk(reader, dimEnd, (df, dw) => {
      if (df === 1 && dw === WIRE_VARINT) dim = toNumber(reader.int64());
      else if (df === 2 && dw === WIRE_LEN) dim = reader.string();
      else return false;
      return true;
    });
    dims.push(dim);
    return true;
  });
  return dims;
}

function readValueInfo(reader: Reader, end: number): TensorInfo {
  let name = '';
  let dims: (number | string)[] = [];
  walk(reader, end, (f, w) => {
    if (f === 1 && w === WIRE_LEN) { name = reader.string(); return true; }
    if (f !== 2 || w !== WIRE_LEN) return false;
    const typeEnd = message(reader); // TypeProto
    walk(reader, typeEnd, (tf, tw) => {
      if (tf !== 1 || tw !== WIRE_LEN) return false; // tensor_type
      const tensorEnd = message(reader);
      walk(reader, tensorEnd, (xf, xw) => {
        if (xf !== 2 || xw !== WIRE_LEN) return false; // shape
        dims = readDims(reader, message(reader));
        return true;
      });
      return true;
    });
    return true;
  });
  return { name, dims };
}

/** Name and data_location of an initializer; its payload is skipped. */
function readInitializer(reader: Reader, end: number): { name: string; external: boolean } {
  let name = '';
  let external = false;
  walk(reader, end, (f, w) => {
    if (f === 8 && w === WIRE_LEN) { name = reader.string(); return true; }
    if (f === 14 && w === WIRE_VARINT) { external = reader.int32() === 1; return true; }
    return false;
  });
  return { name, external };
}

/** Plausible first tags of a ModelProto (field 1..25, right wire type). */
function looksLikeModelProto(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  const tag = bytes[0];
  const field = tag >>> 3;
  const wire = tag & 7;
  const varintFields = new Set([1, 5]);
  const lenFields = new Set([2, 3, 4, 6, 7, 8, 14, 20, 25]);
  return (varintFields.has(field) && wire === WIRE_VARINT) || (lenFields.has(field) && wire === WIRE_LEN);
}

export function readModelFile(bytes: Uint8Array, name = 'model'): ModelFileInfo {
  if (!looksLikeModelProto(bytes)) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new StemstreamError('NOT_ONNX', `${name} is not an ONNX model (first bytes: ${head || 'none'}); pass an .onnx file exported from Demucs`);
  }
  const info: ModelFileInfo = {
    irVersion: 0, producerName: '', producerVersion: '', opsets: [], metadata: {},
    inputs: [], outputs: [], sizeBytes: bytes.length, externalData: false,
  };
  let sawGraph = false;
  let sawAnything = false;
  const reader = protobuf.Reader.create(bytes) as Reader;
  try {
    walk(reader, bytes.length, (f, w) => {
      sawAnything = true;
      if (f === 1 && w === WIRE_VARINT) info.irVersion = toNumber(reader.int64());
      else if (f === 2 && w === WIRE_LEN) info.producerName = reader.string();
      else if (f === 3 && w === WIRE_LEN) info.producerVersion = reader.string();
      else if (f === 8 && w === WIRE_LEN) {
        const end = message(reader);
        const op = { domain: '', version: 0 };
        walk(reader, end, (of, ow) => {
          if (of === 1 && ow === WIRE_LEN) op.domain = reader.string();
          else if (of === 2 && ow === WIRE_VARINT) op.version = toNumber(reader.int64());
          else return false;
          return true;
        });
        info.opsets.push(op);
      } else if (f === 14 && w === WIRE_LEN) {
        const end = message(reader);
        let key = '';
        let value = '';
        walk(reader, end, (mf, mw) => {
          if (mf === 1 && mw === WIRE_LEN) key = reader.string();
          else if (mf === 2 && mw === WIRE_LEN) value = reader.string();
          else return false;
          return true;
        });
        info.metadata[key] = value;
      } else if (f === 7 && w === WIRE_LEN) {
        const graphEnd = message(reader);
        const initializers = new Set<string>();
        const inputs: TensorInfo[] = [];
        walk(reader, graphEnd, (gf, gw) => {
          if (gw !== WIRE_LEN) return false;
          if (gf === 11) inputs.push(readValueInfo(reader, message(reader)));
          else if (gf === 12) info.outputs.push(readValueInfo(reader, message(reader)));
          else if (gf === 5) {
            const init = readInitializer(reader, message(reader));
            initializers.add(init.name);
            if (init.external) info.externalData = true;
          } else return false;
          return true;
        });
        // IR < 4 lists initializers among the inputs: those are weights, not feeds.
        info.inputs = inputs.filter((t) => !initializers.has(t.name));
        sawGraph = true;
      } else return false;
      return true;
    });
  } catch (err) {
    if (err instanceof RangeError || (err instanceof Error && /index out of range|invalid wire type/i.test(err.message))) {
      if (!sawAnything) throw new StemstreamError('NOT_ONNX', `${name} is not an ONNX model (it does not parse as one)`, { cause: err });
      throw new StemstreamError('TRUNCATED_MODEL', `${name} is truncated or corrupt (${bytes.length} bytes, parsing stopped at byte ${reader.pos}): download it again`, { cause: err });
    }
    throw err;
  }
  if (!sawGraph) {
    throw new StemstreamError('TRUNCATED_MODEL', `${name} has no graph (${bytes.length} bytes): the file is truncated or not a model; download it again`);
  }
  return info;
}
