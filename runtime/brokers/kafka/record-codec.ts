import { createRequire } from 'node:module';

/**
 * kafkajs's per-record codec, replaced by one that writes the same bytes and builds the same records
 * with a fraction of the work. kafkajs 2.2.4 (the last release) encodes each header into its own
 * `Encoder`, a zero-filled 512-byte buffer, then copies it; decoding merges headers by spreading a new
 * object per header. With the eight headers of a CloudEvents message that costs ~21 µs a record to
 * produce and ~6 µs to fetch: more than the rest of kafkajs's produce → fetch path together
 * (bench/brokers.ts, the `raw-ce` side against `raw`).
 *
 * kafkajs has no hook for this. Its produce and fetch request modules load lazily, on the first request
 * of each, and take the record codec from the module cache then; `installRecordCodec()` puts these
 * functions in that cache entry first, over kafkajs 2.2.4 only. Once a request module has loaded
 * (kafkajs used before edaflow created a client), or over another release, the stock codec stays for
 * the process, which is only slower. Every kafkajs client in the process uses the codec.
 */

const require = createRequire(import.meta.url);

/** The parts of kafkajs's internal `Encoder` and `Decoder` the codec uses (src/protocol/encoder.js, decoder.js). */
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}
interface KafkajsLong {
  add(value: KafkajsLong | number): KafkajsLong;
  toString(): string;
}
interface KafkajsDecoder {
  readonly buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): KafkajsLong;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}

type HeaderValue = Buffer | string;
export interface RecordInput {
  readonly offsetDelta?: number;
  readonly timestampDelta?: number;
  readonly key?: Buffer | string | null;
  readonly value?: Buffer | string | null;
  readonly headers?: Readonly<Record<string, HeaderValue | HeaderValue[] | undefined>>;
}
export interface BatchContext {
  readonly firstOffset?: string;
  readonly firstTimestamp?: string;
  readonly magicByte?: number;
  readonly isControlBatch?: boolean;
  readonly timestampType?: number;
  readonly maxTimestamp?: string;
}
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
  isControlRecord: boolean;
  batchContext: BatchContext;
}

type Encode = (record: RecordInput) => KafkajsEncoder;
type Decode = (decoder: KafkajsDecoder, batchContext?: BatchContext) => DecodedRecord;

const PROTOCOL = 'kafkajs/src/protocol/';
const RECORD_ENCODER = `${PROTOCOL}recordBatch/record/v0/index.js`;
const RECORD_DECODER = `${PROTOCOL}recordBatch/record/v0/decoder.js`;
/** The modules that take the record codec when they load: once either has, a swap comes too late. */
const CODEC_USERS = [`${PROTOCOL}recordBatch/v0/decoder.js`, `${PROTOCOL}requests/produce/v3/request.js`];
const LOG_APPEND_TIME = 1;

/** The kafkajs release whose record format and internals this codec was checked against. */
const KAFKAJS_VERSION = '2.2.4';

/** Whether kafkajs uses edaflow's codec, and if not, why. */
export type CodecInstallation = { readonly installed: true } | { readonly installed: false; readonly reason: string };

let installation: CodecInstallation | undefined;

/**
 * Puts edaflow's record codec into kafkajs's module cache. Idempotent. Not installed (the stock codec
 * stays) when kafkajs is another release, already made a request, or is not laid out as expected.
 */
export function installRecordCodec(): CodecInstallation {
  return (installation ??= install());
}

function install(): CodecInstallation {
  try {
    const { version } = require('kafkajs/package.json') as { version: string };
    if (version !== KAFKAJS_VERSION) return { installed: false, reason: `kafkajs ${version} is not the release the codec was checked against (${KAFKAJS_VERSION})` };
    const encoderPath = require.resolve(RECORD_ENCODER);
    const decoderPath = require.resolve(RECORD_DECODER);
    if (CODEC_USERS.some((path) => require.cache[require.resolve(path)] !== undefined)) {
      return { installed: false, reason: 'kafkajs made requests before edaflow created a client' };
    }
    const stockEncode = require(encoderPath) as Encode;
    require(decoderPath);
    const Encoder = (require(`${PROTOCOL}encoder.js`) as { prototype: object }).prototype;
    const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: string | undefined): KafkajsLong };
    require.cache[encoderPath]!.exports = recordEncoder(stockEncode, Encoder);
    require.cache[decoderPath]!.exports = recordDecoder(Long);
    return { installed: true };
  } catch (error) {
    return { installed: false, reason: `kafkajs is not laid out as expected: ${(error as Error).message}` };
  }
}

/**
 * The encoder: sizes the record first, then writes it into one unzeroed buffer (small ones come from
 * Node's pool). Anything unusual (a header with several values, a delta beyond ±2^30, a key or value
 * other than a Buffer, a string or null) goes to the stock encoder, so its bytes are kafkajs's by construction.
 */
export function recordEncoder(stockEncode: Encode, encoderPrototype: object): Encode {
  return (record) => {
    const { offsetDelta = 0, timestampDelta = 0, key = null, value = null, headers = {} } = record;
    if (!isVarInt32(timestampDelta) || !isVarInt32(offsetDelta) || !isBytes(key) || !isBytes(value)) return stockEncode(record);
    const names = Object.keys(headers);
    const lengths = new Array<number>(names.length * 2);
    const keyLength = byteLength(key);
    const valueLength = byteLength(value);
    let size = 1 + sizeOfVarInt(timestampDelta) + sizeOfVarInt(offsetDelta) + sizeOfBytes(keyLength) + sizeOfBytes(valueLength) + sizeOfVarInt(names.length);
    for (let i = 0; i < names.length; i++) {
      const header = headers[names[i]!];
      if (typeof header !== 'string' && !Buffer.isBuffer(header)) return stockEncode(record);
      lengths[2 * i] = Buffer.byteLength(names[i]!);
      lengths[2 * i + 1] = byteLength(header);
      size += sizeOfBytes(lengths[2 * i]!) + sizeOfBytes(lengths[2 * i + 1]!);
    }
    const buf = Buffer.allocUnsafe(sizeOfVarInt(size) + size);
    let offset = writeVarInt(buf, 0, size);
    buf[offset++] = 0; // record attributes: none are used
    offset = writeVarInt(buf, offset, timestampDelta);
    offset = writeVarInt(buf, offset, offsetDelta);
    offset = writeBytes(buf, offset, key, keyLength);
    offset = writeBytes(buf, offset, value, valueLength);
    offset = writeVarInt(buf, offset, names.length);
    for (let i = 0; i < names.length; i++) {
      offset = writeBytes(buf, offset, names[i]!, lengths[2 * i]!);
      offset = writeBytes(buf, offset, headers[names[i]!] as HeaderValue, lengths[2 * i + 1]!);
    }
    // kafkajs reads an encoded record through its Encoder's `buffer` getter (`buf` up to `offset`).
    const encoder = Object.create(encoderPrototype) as KafkajsEncoder;
    encoder.buf = buf;
    encoder.offset = offset;
    return encoder;
  };
}

/**
 * The decoder: kafkajs's own, but headers gather in one object as they are read. A name that repeats
 * gathers its values in an array, as kafkajs does; names are own properties whatever they are
 * (`__proto__`, `constructor`), where kafkajs's lookup on a plain object mistook inherited ones.
 */
export function recordDecoder(Long: { fromValue(value: string | undefined): KafkajsLong }): Decode {
  return (decoder, batchContext = {}) => {
    const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const attributes = decoder.readInt8();
    const timestampDelta = decoder.readVarLong();
    const timestamp =
      timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : Long.fromValue(firstTimestamp).add(timestampDelta).toString();
    const offsetDelta = decoder.readVarInt();
    const offset = Long.fromValue(firstOffset).add(offsetDelta).toString();
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const headers = readHeaders(decoder);
    return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
  };
}

function readHeaders(decoder: KafkajsDecoder): DecodedRecord['headers'] {
  const headers: DecodedRecord['headers'] = {};
  const count = decoder.readVarInt();
  if (count < -1) throw new RangeError(`corrupt Kafka record: ${count} headers`); // as kafkajs's decoder fails
  for (let i = 0; i < count; i++) {
    const name = readName(decoder);
    const value = decoder.readVarIntBytes();
    let existing = headers[name];
    if (existing !== undefined && !Object.hasOwn(headers, name)) existing = undefined; // inherited, not a header
    const gathered = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    // Assigning `__proto__` would set the prototype; every other name is assigned, which is much faster.
    if (name === '__proto__') Object.defineProperty(headers, name, { value: gathered, enumerable: true, writable: true, configurable: true });
    else headers[name] = gathered;
  }
  return headers;
}

/** kafkajs's readVarIntString without the intermediate Buffer (a third of a header's decoding). */
function readName(decoder: KafkajsDecoder): string {
  const length = decoder.readVarInt();
  if (length < -1) throw new RangeError(`corrupt Kafka record: a header name of ${length} bytes`);
  if (length === -1) return 'null'; // kafkajs keys a null name as "null"
  const name = decoder.buffer.toString('utf8', decoder.offset, decoder.offset + length);
  decoder.offset += length;
  return name;
}

/** What the fast path writes: other byte-like values (a Uint8Array, say) are the stock encoder's to handle. */
function isBytes(value: unknown): value is Buffer | string | null {
  return value === null || typeof value === 'string' || Buffer.isBuffer(value);
}

function isVarInt32(value: number): boolean {
  return Number.isInteger(value) && value >= -0x40000000 && value < 0x40000000;
}

function byteLength(value: Buffer | string | null): number {
  if (value === null) return -1;
  return Buffer.isBuffer(value) ? value.length : Buffer.byteLength(value);
}

/** Size of a zigzag varint (Kafka's signed varint) of a value within ±2^30. */
function sizeOfVarInt(value: number): number {
  let zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (zigzag >= 0x80) {
    bytes++;
    zigzag >>>= 7;
  }
  return bytes;
}

/** A length-prefixed byte string (-1 for null), as Kafka's varint bytes. */
function sizeOfBytes(length: number): number {
  return sizeOfVarInt(length) + Math.max(length, 0);
}

function writeVarInt(buf: Buffer, offset: number, value: number): number {
  let zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  while (zigzag >= 0x80) {
    buf[offset++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  buf[offset++] = zigzag;
  return offset;
}

function writeBytes(buf: Buffer, offset: number, value: Buffer | string | null, length: number): number {
  offset = writeVarInt(buf, offset, length);
  if (value === null || length === 0) return offset;
  if (Buffer.isBuffer(value)) value.copy(buf, offset);
  else buf.write(value, offset, length, 'utf8');
  return offset + length;
}
