/**
 * The one codec of procshare: cbor-x, pure-JS path in every runtime (its
 * native addon crashes Deno and Bun, DESIGN.md §5), one shared configuration.
 * Keys are compared by their encoded bytes, so encoding must be deterministic
 * for equal primitives — it is.
 *
 * Functions, symbols and class instances are refused with a `CodecError`:
 * the wire carries data only.
 * @module
 */
// "cbor-x/encode" resolves to the pure-JS index under the "node" condition,
// which Node, Deno and Bun all use; the root entry would try the native addon.
import { Encoder } from "cbor-x/encode";
import { CodecError } from "../errors.ts";

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: true,
  structuredClone: false,
});

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
  if (t === "function" || t === "symbol") {
    throw new CodecError("Unsupported", `Cannot encode value as it is a ${t}: received ${String(value)}`);
  }
  if (t !== "object" || value === null) return;
  if (depth > 64) throw new CodecError("Unsupported", "Cannot encode value as it nests deeper than 64 levels");
  if (ArrayBuffer.isView(value)) return;
  const proto = Object.getPrototypeOf(value);
  if (!PLAIN_PROTOS.has(proto)) {
    if (value instanceof Error) return;
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
    for (const k in value as Record<string, unknown>) check((value as Record<string, unknown>)[k], depth + 1);
  }
}

/** Encodes a value to fresh bytes; refuses functions, symbols and class instances. */
export function encode(value: unknown): Uint8Array {
  if (typeof value === "object" || typeof value === "function" || typeof value === "symbol") check(value, 0);
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

/** Compares two byte arrays for equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
