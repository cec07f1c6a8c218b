/**
 * The one codec of procshare: cbor-x, pure-JS path in every runtime (its
 * native addon crashes Deno and Bun, DESIGN.md §5), one shared configuration.
 * Keys are compared by their encoded bytes, so encoding must be deterministic
 * for equal primitives — it is.
 *
 * Functions, symbols and class instances are refused with a `CodecError`:
 * the wire carries data only. Structures are the exception: one inside a
 * value is written as its handle under tag `NESTED_TAG` and decodes to a
 * `StoredHandle`, which the reading client attaches (`_nested.ts`).
 * @module
 */
// "cbor-x/encode" resolves to the pure-JS index under the "node" condition,
// which Node, Deno and Bun all use; the root entry would try the native addon.
import { addExtension, Encoder } from "cbor-x/encode";
import { CodecError } from "../errors.ts";
import { hasHandle, isHandle } from "../core/backend.ts";
import { countStored, NESTED_TAG, storedForm, StoredHandle } from "./_nested.ts";

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: true,
  structuredClone: false,
});

addExtension({
  Class: StoredHandle,
  tag: NESTED_TAG,
  encode: (v: StoredHandle, enc: (x: unknown) => Uint8Array) => enc({ ...v.handle }),
  decode: (data: unknown) => {
    if (!isHandle(data)) throw new TypeError("a stored structure is not a handle");
    countStored();
    return new StoredHandle(data);
  },
});

/** Set by {@linkcode check} when the value holds a structure, to be written as its handle. */
let holdsStructure = false;

const PLAIN_PROTOS = new Set<unknown>([
  Object.prototype,
  null,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
]);

function check(value: unknown, depth: number): void {
  const t = typeof value;
  if (t === "bigint") return checkBigint(value as bigint);
  if (t === "function" || t === "symbol") {
    throw new CodecError("Unsupported", `Cannot encode value as it is a ${t}: received ${String(value)}`);
  }
  if (t !== "object" || value === null) return;
  if (depth > 64) throw new CodecError("Unsupported", "Cannot encode value as it nests deeper than 64 levels");
  if (ArrayBuffer.isView(value)) return;
  const proto = Object.getPrototypeOf(value);
  if (!PLAIN_PROTOS.has(proto)) {
    if (value instanceof Error || value instanceof StoredHandle) return;
    if (hasHandle(value)) {
      holdsStructure = true;
      return;
    }
    const name = (proto && proto.constructor && proto.constructor.name) || "unknown";
    throw new CodecError("Unsupported", `Cannot encode value as it is a class instance: received ${name}`);
  }
  if (Array.isArray(value)) {
    for (const v of value) check(v, depth + 1);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      check(k, depth + 1);
      check(v, depth + 1);
    }
  } else if (value instanceof Set) {
    for (const v of value) check(v, depth + 1);
  } else if (proto === Object.prototype || proto === null) {
    if (Object.hasOwn(value as object, "__proto__")) {
      // cbor-x decodes this key as "__proto_" (its guard against prototype pollution): refuse rather than alter it
      throw new CodecError(
        "Unsupported",
        'Cannot encode object as it has an own key "__proto__", which would not round-trip (use a Map for such keys): received ' +
          `an object with keys ${JSON.stringify(Object.keys(value as object).slice(0, 8))}`,
      );
    }
    for (const k in value as Record<string, unknown>) check((value as Record<string, unknown>)[k], depth + 1);
  }
}

/** `v` with every structure in it replaced by a {@linkcode StoredHandle} of its stored form (containers copied). */
function stored(v: unknown): unknown {
  if (typeof v !== "object" || v === null || ArrayBuffer.isView(v) || v instanceof StoredHandle) return v;
  if (hasHandle(v) && !PLAIN_PROTOS.has(Object.getPrototypeOf(v))) return new StoredHandle(storedForm(v.handle));
  if (Array.isArray(v)) return v.map(stored);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [stored(k), stored(x)]));
  if (v instanceof Set) return new Set([...v].map(stored));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
  for (const k in v as Record<string, unknown>) out[k] = stored((v as Record<string, unknown>)[k]);
  return out;
}

function checkBigint(v: bigint): void {
  if (v >= BIGNUM_LIMIT || v < -BIGNUM_LIMIT) {
    throw new CodecError(
      "Unsupported",
      `Cannot encode bigint as it exceeds ${MAX_BIGNUM_BYTES * 8} bits: received one of ${
        v.toString(16).length * 4
      } bits`,
    );
  }
}

/** Encodes a value to fresh bytes; refuses functions, symbols, class instances and bigints over 8192 bits. */
export function encode(value: unknown): Uint8Array {
  const t = typeof value;
  if (t === "object" || t === "function" || t === "symbol" || t === "bigint") {
    holdsStructure = false;
    check(value, 0);
    if (holdsStructure) value = stored(value);
  }
  try {
    // cbor-x may return a view of its reusable buffer; callers keep the bytes, so copy
    return encoder.encode(value) as Uint8Array;
  } catch (e) {
    throw new CodecError("Unsupported", `Cannot encode value: ${(e as Error).message}`, { cause: e });
  }
}

/** Decodes bytes produced by {@linkcode encode}; malformed input is a `CodecError`. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return encoder.decode(bytes);
  } catch (e) {
    throw new CodecError("Malformed", `Cannot decode value: ${(e as Error).message}`, { cause: e });
  }
}

// ---------------------------------------------------------------------------
// Bytes from the wire

/** Deepest nesting of arrays and maps a wire frame may have (values nest 65 deep, the frame adds a few). */
export const MAX_WIRE_DEPTH = 100;
/** Largest bignum magnitude, in bytes, on the wire and in {@linkcode encode} (cbor-x decodes bignums in quadratic time). */
export const MAX_BIGNUM_BYTES = 1024;
/** Decoding a frame may cost this much estimated heap, plus {@linkcode WIRE_COST_PER_BYTE} per byte of the frame. */
const WIRE_COST_FLOOR = 1 << 20;
/** Estimated heap bytes a frame may decode to per byte of itself (a list of pairs `[[1, 2], …]` costs ~29). */
const WIRE_COST_PER_BYTE = 32;
/** Estimated heap bytes of one decoded slot, and of one object (array, map, Set, typed array…). */
const SLOT_COST = 8;
const OBJECT_COST = 64;

const BIGNUM_LIMIT = 1n << BigInt(MAX_BIGNUM_BYTES * 8);

/** Element size of the typed-array tags {@linkcode encode} emits (RFC 8746, little-endian). */
const TYPED_ARRAY_TAGS = new Map<number, number>([
  [64, 1], // Uint8Array
  [68, 1], // Uint8ClampedArray
  [69, 2], // Uint16Array
  [70, 4], // Uint32Array
  [71, 8], // BigUint64Array
  [72, 1], // Int8Array
  [77, 2], // Int16Array
  [78, 4], // Int32Array
  [79, 8], // BigInt64Array
  [85, 4], // Float32Array
  [86, 8], // Float64Array
]);

/** Items left at each open level of {@linkcode wireProblem}. */
const stack = new Float64Array(MAX_WIRE_DEPTH + 1);

// the head reader's outputs (module state: no allocation on the hot path)
let pos = 0;
let major = 0;
let info = 0;

/** Reads one item head at `pos`: sets `major`, `info`, advances `pos`; returns its argument, or -1 when malformed. */
function head(b: Uint8Array): number {
  if (pos >= b.length) return -1;
  const ib = b[pos++];
  major = ib >> 5;
  info = ib & 31;
  if (info < 24) return info;
  const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (n === 0 || pos + n > b.length) return -1; // indefinite lengths and reserved values are refused
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + b[pos++];
  return v;
}

/** The bytes `b[from..to)` as a string, one character a byte (enough to compare with ASCII names). */
function latin1(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Skips a text or byte string of major type `want` whose head is at `pos`; its length, or -1. */
function skipString(b: Uint8Array, want: number): number {
  const len = head(b);
  if (len < 0 || major !== want || len > b.length - pos) return -1;
  pos += len;
  return len;
}

/**
 * Why `b` is not one item of procshare's data model as {@linkcode encode}
 * writes it, or `""` when it is. Linear in `b.length`, allocation-free:
 * refuses indefinite lengths, tags `encode` never emits (value sharing 28/29,
 * packed values, records…), bignums over {@linkcode MAX_BIGNUM_BYTES},
 * nesting deeper than {@linkcode MAX_WIRE_DEPTH}, counts the remaining
 * bytes cannot hold, trailing bytes, and items whose estimated decoded heap
 * exceeds a budget proportional to `b.length`.
 */
export function wireProblem(b: Uint8Array): string {
  const end = b.length;
  const budget = WIRE_COST_FLOOR + WIRE_COST_PER_BYTE * end;
  let cost = 0;
  let depth = 0;
  let remaining = 1; // items left at the current level
  let expect = -1; // major type a tag requires of its content (8: a number)
  pos = 0;
  for (;;) {
    if (remaining === 0) {
      if (depth === 0) break;
      remaining = stack[--depth];
      continue;
    }
    remaining--;
    const arg = head(b);
    if (arg < 0) return pos >= end ? "it is truncated" : "it has an indefinite length or a reserved value";
    if (expect >= 0) {
      const ok = expect === 8 ? major <= 1 || (major === 7 && info >= 25) : major === expect;
      if (!ok) return "a tag has content of the wrong type";
      expect = -1;
    }
    cost += SLOT_COST;
    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3:
        if (arg > end - pos) return "a string is longer than the frame";
        pos += arg;
        cost += arg;
        break;
      case 4:
      case 5: {
        const items = major === 5 ? arg * 2 : arg;
        if (items > end - pos) return "it declares more items than it has bytes";
        cost += OBJECT_COST;
        if (items > 0) {
          if (depth >= MAX_WIRE_DEPTH) return `it nests deeper than ${MAX_WIRE_DEPTH} levels`;
          stack[depth++] = remaining;
          remaining = items;
        }
        break;
      }
      case 6: {
        if (arg === 258 || arg === 259) { // Set of an array, Map of a map
          expect = arg === 258 ? 4 : 5;
          remaining++;
          cost += OBJECT_COST;
        } else if (arg === NESTED_TAG) { // a stored structure: its handle, a map
          expect = 5;
          remaining++;
          cost += OBJECT_COST;
        } else if (arg === 1) { // Date of epoch seconds
          expect = 8;
          remaining++;
        } else if (arg === 2 || arg === 3) { // bignum
          const len = skipString(b, 2);
          if (len < 0) return "a bignum is malformed";
          if (len > MAX_BIGNUM_BYTES) return `a bignum exceeds ${MAX_BIGNUM_BYTES} bytes`;
          cost += len;
        } else if (arg === 27) { // Error or RegExp: [name, …strings]
          const n = head(b);
          if ((major as number) !== 4 || n < 2 || n > 3) return "a tagged object is malformed";
          for (let i = 0; i < n; i++) {
            const len = skipString(b, 3);
            if (len < 0) return "a tagged object is malformed";
            // cbor-x calls `{ Error, RegExp }[name]`: refuse names it would find on Object.prototype
            if (i === 0 && len <= 32 && latin1(b, pos - len, pos) in Object.prototype) {
              return "a tagged object names an inherited property";
            }
            cost += len + SLOT_COST;
          }
          cost += OBJECT_COST;
        } else {
          const size = TYPED_ARRAY_TAGS.get(arg);
          if (size === undefined) return `it has tag ${arg}, which procshare does not use`;
          const len = skipString(b, 2);
          if (len < 0 || len % size !== 0) return "a typed array is malformed";
          cost += OBJECT_COST + len;
        }
        break;
      }
      default: // 7: only false, true, null, undefined and floats
        if (info < 20 || info === 24) return "it has a simple value procshare does not use";
    }
    if (cost > budget) return "it would decode to too much memory for its size";
  }
  if (expect >= 0) return "it is truncated";
  if (pos !== end) return "it has bytes after its value";
  return "";
}
/**
 * Decodes bytes that came from another process: {@linkcode wireProblem}
 * first, so that a hostile frame is refused in time linear in its size, never
 * decoded into more memory than a bound proportional to its size.
 * @throws {CodecError} `Malformed` for bytes outside the data model.
 */
export function decodeWire(bytes: Uint8Array): unknown {
  const problem = wireProblem(bytes);
  if (problem !== "") {
    throw new CodecError("Malformed", `Cannot decode value as ${problem}: received ${bytes.length} bytes`);
  }
  return decode(bytes);
}

/** Compares two byte arrays for equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
