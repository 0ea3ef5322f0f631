/**
 * The part of the ONNX protobuf schema (onnx/onnx.proto, proto2) that the model
 * stage reads and writes: the model, its graph, nodes, attributes, tensors and
 * value infos, with the field numbers of the real schema. Built from a JSON
 * descriptor with protobufjs, so nothing has to be fetched or parsed at run time
 * (works the same in Node, in browsers and in workers).
 *
 * int64 fields: protobufjs decodes them as `Long` objects (exact). Encoding
 * accepts numbers, decimal strings, `Long` and (through `encodeModel`, which
 * normalises with `fromObject`) bigints. Do not hand a bigint to
 * `ModelProto.encode` directly: protobufjs' writer silently encodes it as 0.
 * `decodeModel` gives plain objects with int64 values as numbers (default) or
 * bigints; for an exact decode → edit → encode round trip of values above 2^53
 * (e.g. INT64_MAX in Slice attributes) use `{ int64: 'bigint' }` or work on the
 * `ModelProto.decode` message itself.
 */
import protobuf from 'protobufjs/light.js';

type Long = protobuf.Long;

/** An int64 as the encoder accepts it. */
export type Int64 = number | bigint | string | Long;

// ---------------------------------------------------------------------------
// Enums (values of onnx.proto)

/** TensorProto.DataType */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** Bytes per element of the fixed-size data types (0 for STRING and sub-byte types). */
export const DATA_TYPE_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
  [DataType.FLOAT8E4M3FN]: 1,
  [DataType.FLOAT8E4M3FNUZ]: 1,
  [DataType.FLOAT8E5M2]: 1,
  [DataType.FLOAT8E5M2FNUZ]: 1,
  [DataType.FLOAT8E8M0]: 1,
};

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  TYPE_PROTO: 13,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

/** TensorProto.DataLocation */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;
export type DataLocation = (typeof DataLocation)[keyof typeof DataLocation];

// ---------------------------------------------------------------------------
// Schema

const packed = { packed: true };
const unpacked = { packed: false };

const schema = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: {
            key: { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: {
                dim_value: { type: 'int64', id: 1 },
                dim_param: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensor_type', 'sequence_type', 'map_type', 'optional_type', 'sparse_tensor_type'] } },
          fields: {
            tensor_type: { type: 'Tensor', id: 1 },
            sequence_type: { type: 'Sequence', id: 4 },
            map_type: { type: 'Map', id: 5 },
            optional_type: { type: 'Optional', id: 9 },
            sparse_tensor_type: { type: 'SparseTensor', id: 8 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elem_type: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
            Sequence: { fields: { elem_type: { type: 'TypeProto', id: 1 } } },
            Map: {
              fields: {
                key_type: { type: 'int32', id: 1 },
                value_type: { type: 'TypeProto', id: 2 },
              },
            },
            Optional: { fields: { elem_type: { type: 'TypeProto', id: 1 } } },
            SparseTensor: {
              fields: {
                elem_type: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            doc_string: { type: 'string', id: 3 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 4 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1, options: unpacked },
            data_type: { type: 'int32', id: 2 },
            segment: { type: 'Segment', id: 3 },
            float_data: { rule: 'repeated', type: 'float', id: 4, options: packed },
            int32_data: { rule: 'repeated', type: 'int32', id: 5, options: packed },
            string_data: { rule: 'repeated', type: 'bytes', id: 6 },
            int64_data: { rule: 'repeated', type: 'int64', id: 7, options: packed },
            name: { type: 'string', id: 8 },
            doc_string: { type: 'string', id: 12 },
            raw_data: { type: 'bytes', id: 9 },
            external_data: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            data_location: { type: 'DataLocation', id: 14 },
            double_data: { rule: 'repeated', type: 'double', id: 10, options: packed },
            uint64_data: { rule: 'repeated', type: 'uint64', id: 11, options: packed },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 16 },
          },
          nested: {
            Segment: {
              fields: {
                begin: { type: 'int64', id: 1 },
                end: { type: 'int64', id: 2 },
              },
            },
            DataType: { values: { ...DataType } },
            DataLocation: { values: { ...DataLocation } },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            ref_attr_name: { type: 'string', id: 21 },
            doc_string: { type: 'string', id: 13 },
            type: { type: 'AttributeType', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7, options: unpacked },
            ints: { rule: 'repeated', type: 'int64', id: 8, options: unpacked },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 },
            type_protos: { rule: 'repeated', type: 'TypeProto', id: 15 },
          },
          nested: {
            AttributeType: { values: { ...AttributeType } },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            op_type: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            overload: { type: 'string', id: 8 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            doc_string: { type: 'string', id: 6 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 9 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            doc_string: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            value_info: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 16 },
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: 'int64', id: 1 },
            opset_import: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producer_name: { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            model_version: { type: 'int64', id: 5 },
            doc_string: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

/** The protobufjs root holding the `onnx.*` types. */
export const onnxRoot: protobuf.Root = protobuf.Root.fromJSON(schema);

const lookup = (name: string): protobuf.Type => onnxRoot.lookupType(`onnx.${name}`);

export const ModelProto = lookup('ModelProto');
export const GraphProto = lookup('GraphProto');
export const NodeProto = lookup('NodeProto');
export const AttributeProto = lookup('AttributeProto');
export const ValueInfoProto = lookup('ValueInfoProto');
export const TypeProto = lookup('TypeProto');
export const TensorShapeProto = lookup('TensorShapeProto');
export const TensorProto = lookup('TensorProto');
export const StringStringEntryProto = lookup('StringStringEntryProto');
export const OperatorSetIdProto = lookup('OperatorSetIdProto');

// ---------------------------------------------------------------------------
// Plain-object shapes. `I` is the representation of int64 fields: the encoder
// takes any `Int64`; `decodeModel` gives `number` (default) or `bigint`.

export interface OnnxStringStringEntry {
  key?: string;
  value?: string;
}

export interface OnnxOperatorSetId<I extends Int64 = Int64> {
  domain?: string;
  version?: I;
}

export interface OnnxDimension<I extends Int64 = Int64> {
  dim_value?: I;
  dim_param?: string;
  denotation?: string;
}

export interface OnnxTensorShape<I extends Int64 = Int64> {
  dim?: OnnxDimension<I>[];
}

export interface OnnxTensorType<I extends Int64 = Int64> {
  elem_type?: number;
  shape?: OnnxTensorShape<I>;
}

export interface OnnxTypeProto<I extends Int64 = Int64> {
  tensor_type?: OnnxTensorType<I>;
  sequence_type?: { elem_type?: OnnxTypeProto<I> };
  map_type?: { key_type?: number; value_type?: OnnxTypeProto<I> };
  optional_type?: { elem_type?: OnnxTypeProto<I> };
  sparse_tensor_type?: OnnxTensorType<I>;
  denotation?: string;
}

export interface OnnxValueInfo<I extends Int64 = Int64> {
  name?: string;
  type?: OnnxTypeProto<I>;
  doc_string?: string;
  metadata_props?: OnnxStringStringEntry[];
}

export interface OnnxTensor<I extends Int64 = Int64> {
  dims?: I[];
  data_type?: number;
  segment?: { begin?: I; end?: I };
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: I[];
  name?: string;
  doc_string?: string;
  /**
   * Little-endian element bytes. Decoded: a view into the model's bytes (not
   * copied; its byteOffset may not be a multiple of 4). In Node it is a Buffer,
   * whose `slice()` does not copy either: use `Uint8Array.prototype.slice.call`.
   */
  raw_data?: Uint8Array;
  external_data?: OnnxStringStringEntry[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: I[];
  metadata_props?: OnnxStringStringEntry[];
}

export interface OnnxAttribute<I extends Int64 = Int64> {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: I;
  s?: Uint8Array;
  t?: OnnxTensor<I>;
  g?: OnnxGraph<I>;
  floats?: number[];
  ints?: I[];
  strings?: Uint8Array[];
  tensors?: OnnxTensor<I>[];
  graphs?: OnnxGraph<I>[];
  type_protos?: OnnxTypeProto<I>[];
}

export interface OnnxNode<I extends Int64 = Int64> {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: OnnxAttribute<I>[];
  doc_string?: string;
  metadata_props?: OnnxStringStringEntry[];
}

export interface OnnxGraph<I extends Int64 = Int64> {
  node?: OnnxNode<I>[];
  name?: string;
  initializer?: OnnxTensor<I>[];
  doc_string?: string;
  input?: OnnxValueInfo<I>[];
  output?: OnnxValueInfo<I>[];
  value_info?: OnnxValueInfo<I>[];
  metadata_props?: OnnxStringStringEntry[];
}

export interface OnnxModel<I extends Int64 = Int64> {
  ir_version?: I;
  opset_import?: OnnxOperatorSetId<I>[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: I;
  doc_string?: string;
  graph?: OnnxGraph<I>;
  metadata_props?: OnnxStringStringEntry[];
}

// ---------------------------------------------------------------------------
// Encode / decode

/**
 * Serialises a plain model object. int64 fields may be numbers, bigints,
 * decimal strings or Longs (normalised by `fromObject`, so bigints are exact).
 */
export function encodeModel(model: OnnxModel): Uint8Array {
  const message = ModelProto.fromObject(model as Record<string, unknown>);
  return ModelProto.encode(message).finish();
}

export interface DecodeOptions {
  /** How int64 fields come back: `number` (default; inexact above 2^53) or `bigint` (exact). */
  int64?: 'number' | 'bigint';
}

/**
 * Decodes a whole model into plain objects (snake_case names as in onnx.proto;
 * absent fields stay absent; enums as numbers; bytes as views, not copies).
 * Throws protobufjs' error on malformed or truncated input.
 */
export function decodeModel(bytes: Uint8Array, options?: { int64?: 'number' }): OnnxModel<number>;
export function decodeModel(bytes: Uint8Array, options: { int64: 'bigint' }): OnnxModel<bigint>;
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): OnnxModel<number> | OnnxModel<bigint> {
  const message = ModelProto.decode(bytes);
  return ModelProto.toObject(message, {
    longs: options.int64 === 'bigint' ? BigInt : Number,
    enums: Number,
    defaults: false,
    arrays: false,
    oneofs: false,
  }) as OnnxModel<number> | OnnxModel<bigint>;
}

/** `metadata_props` of a model as a record (later keys win). */
export function metadataOf(model: OnnxModel): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of model.metadata_props ?? []) if (key !== undefined) out[key] = value ?? '';
  return out;
}

/** An int64 field value as a JS number (exact up to 2^53). */
export function int64ToNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  // A Long (or any {low, high, unsigned}): combine the two 32-bit halves.
  const high = v.unsigned ? v.high >>> 0 : v.high | 0;
  return high * 4294967296 + (v.low >>> 0);
}

// ---------------------------------------------------------------------------
// Graph builders (small graphs: test fixtures, the layout converter's glue)

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies the elements of a typed array into little-endian bytes. */
function leBytes(data: ArrayBufferView & { length: number; BYTES_PER_ELEMENT: number }): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  const n = data.BYTES_PER_ELEMENT;
  if (!littleEndian && n > 1) {
    for (let i = 0; i < bytes.length; i += n) bytes.subarray(i, i + n).reverse();
  }
  return bytes;
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | BigUint64Array;

function defaultDataType(data: TensorData): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Float64Array) return DataType.DOUBLE;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  if (data instanceof Uint8Array) return DataType.UINT8;
  if (data instanceof Int8Array) return DataType.INT8;
  if (data instanceof Uint16Array) return DataType.UINT16;
  if (data instanceof Int16Array) return DataType.INT16;
  if (data instanceof Uint32Array) return DataType.UINT32;
  return DataType.UINT64;
}

/**
 * A tensor (initializer or attribute value) with its elements in `raw_data`.
 * The data type follows the array (`Float32Array` → FLOAT, `BigInt64Array` →
 * INT64, ...); pass `dataType` to override (e.g. `Uint16Array` + FLOAT16,
 * `Uint8Array` + BOOL). A plain `number[]`/`bigint[]` is taken as INT64.
 */
export function makeTensor(
  name: string,
  dims: readonly number[],
  data: TensorData | readonly (number | bigint)[],
  dataType?: number,
): OnnxTensor {
  const array: TensorData = Array.isArray(data)
    ? BigInt64Array.from(data as readonly (number | bigint)[], (v) => BigInt(v))
    : (data as TensorData);
  const type = dataType ?? defaultDataType(array);
  const count = dims.reduce((a, b) => a * b, 1);
  const width = DATA_TYPE_BYTES[type];
  if (width === undefined || width === 0) throw new RangeError(`makeTensor: data type ${type} is not supported`);
  if (array.byteLength !== count * width) {
    throw new RangeError(`makeTensor(${name}): dims [${dims.join(', ')}] need ${count * width} bytes, the data has ${array.byteLength}`);
  }
  return { name, dims: [...dims], data_type: type, raw_data: leBytes(array) };
}

export type AttributeValue =
  | number
  | bigint
  | string
  | Uint8Array
  | readonly number[]
  | readonly bigint[]
  | readonly string[]
  | { float: number }
  | { floats: readonly number[] }
  | { ints: readonly (number | bigint)[] }
  | { tensor: OnnxTensor }
  | { graph: OnnxGraph };

const utf8 = new TextEncoder();

/**
 * One attribute. Integers become INT, other numbers FLOAT; arrays of integers
 * INTS, other number arrays FLOATS; wrap in `{ float }`, `{ floats }`,
 * `{ ints }` to force the kind (e.g. `{ float: 1 }` for a float attribute of 1.0).
 */
export function makeAttribute(name: string, value: AttributeValue): OnnxAttribute {
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'bigint') return { name, type: AttributeType.INT, i: value };
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: utf8.encode(value) };
  if (value instanceof Uint8Array) return { name, type: AttributeType.STRING, s: value };
  if (Array.isArray(value)) {
    const list = value as readonly (number | bigint | string)[];
    if (list.every((v) => typeof v === 'string')) {
      return { name, type: AttributeType.STRINGS, strings: (list as string[]).map((v) => utf8.encode(v)) };
    }
    if (list.every((v) => typeof v === 'bigint' || Number.isInteger(v))) {
      return { name, type: AttributeType.INTS, ints: [...(list as (number | bigint)[])] };
    }
    return { name, type: AttributeType.FLOATS, floats: [...(list as number[])] };
  }
  const v = value as Record<string, unknown>;
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float as number };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: [...(v.floats as number[])] };
  if ('ints' in v) return { name, type: AttributeType.INTS, ints: [...(v.ints as (number | bigint)[])] };
  if ('tensor' in v) return { name, type: AttributeType.TENSOR, t: v.tensor as OnnxTensor };
  if ('graph' in v) return { name, type: AttributeType.GRAPH, g: v.graph as OnnxGraph };
  throw new TypeError(`makeAttribute(${name}): unsupported value`);
}

/** A node of the default domain; `attrs` as for `makeAttribute`. */
export function makeNode(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: Record<string, AttributeValue> = {},
  options: { name?: string; domain?: string } = {},
): OnnxNode {
  const node: OnnxNode = {
    op_type: op,
    input: [...inputs],
    output: [...outputs],
    attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
  };
  if (options.name !== undefined) node.name = options.name;
  if (options.domain !== undefined) node.domain = options.domain;
  return node;
}

/**
 * A tensor value info. Each dim is a size (number), a symbolic name
 * (string → dim_param) or `null` (unknown, neither set).
 */
export function makeValueInfo(name: string, elemType: number, dims: readonly (number | string | null)[]): OnnxValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: {
          dim: dims.map((d) => (d === null ? {} : typeof d === 'string' ? { dim_param: d } : { dim_value: d })),
        },
      },
    },
  };
}

export function makeGraph(parts: {
  name?: string;
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers?: OnnxTensor[];
  valueInfo?: OnnxValueInfo[];
}): OnnxGraph {
  return {
    name: parts.name ?? 'graph',
    node: parts.nodes,
    input: parts.inputs,
    output: parts.outputs,
    initializer: parts.initializers ?? [],
    value_info: parts.valueInfo ?? [],
  };
}

export interface MakeModelOptions {
  graph: OnnxGraph;
  /** Version of the default ("ai.onnx") opset, 17 when omitted; or a full list. */
  opset?: number | OnnxOperatorSetId[];
  /** Written to `metadata_props` in key order. */
  metadata?: Record<string, string>;
  /** `producer_name`, or name and version. */
  producer?: string | { name: string; version?: string };
  /** IR version; 8 when omitted (the IR of opset 17, read by ORT ≥ 1.12). */
  irVersion?: number;
  docString?: string;
}

export function makeModel(options: MakeModelOptions): OnnxModel {
  const opset = options.opset ?? 17;
  const producer = typeof options.producer === 'string' ? { name: options.producer } : options.producer;
  const model: OnnxModel = {
    ir_version: options.irVersion ?? 8,
    opset_import: typeof opset === 'number' ? [{ domain: '', version: opset }] : opset,
    producer_name: producer?.name ?? 'stemstream',
    graph: options.graph,
  };
  if (producer?.version !== undefined) model.producer_version = producer.version;
  if (options.docString !== undefined) model.doc_string = options.docString;
  if (options.metadata) {
    model.metadata_props = Object.entries(options.metadata).map(([key, value]) => ({ key, value }));
  }
  return model;
}
