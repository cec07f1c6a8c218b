/**
 * The hot path of the codec: small integers, ASCII strings, booleans, null
 * and undefined (and float64 on encode) written and read by hand, producing
 * exactly the bytes cbor-x does, so keys still compare by encoding. Encoding
 * goes into a caller's scratch buffer and decoding reads straight from shared
 * memory, so the common `get` allocates nothing (allocation of small typed
 * arrays costs ~0.5 µs in Deno). Anything else returns {@linkcode MISS} and
 * the caller falls back to cbor-x.
 * @module
 */

/** Returned when a value is not on the fast path. */
export const MISS: unique symbol = Symbol("procshare.fastcodec.miss");

/** Longest string the fast path encodes. */
const MAX_FAST_STRING = 255;
/** Bytes a scratch buffer needs. */
export const SCRATCH_BYTES = MAX_FAST_STRING + 2;

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function uintHead(out: Uint8Array, major: number, n: number): number {
  if (n < 24) {
    out[0] = major | n;
    return 1;
  }
  if (n < 0x100) {
    out[0] = major | 24;
    out[1] = n;
    return 2;
  }
  if (n < 0x10000) {
    out[0] = major | 25;
    out[1] = n >>> 8;
    out[2] = n & 0xff;
    return 3;
  }
  out[0] = major | 26;
  out[1] = n >>> 24;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 8) & 0xff;
  out[4] = n & 0xff;
  return 5;
}

/** Encodes `v` into `out` (at least SCRATCH_BYTES long); the length, or -1 when off the fast path. */
export function encodeFast(v: unknown, out: Uint8Array): number {
  switch (typeof v) {
    case "number": {
      if (Number.isInteger(v)) {
        if (v >= 0 && v <= 0xffffffff) return uintHead(out, 0x00, v);
        if (v < 0 && v >= -0x100000000) return uintHead(out, 0x20, -1 - v);
      }
      out[0] = 0xfb;
      f64[0] = v;
      if (LITTLE) { for (let i = 0; i < 8; i++) out[1 + i] = f64b[7 - i]; }
      else for (let i = 0; i < 8; i++) out[1 + i] = f64b[i];
      return 9;
    }
    case "string": {
      const n = v.length;
      if (n > MAX_FAST_STRING) return -1;
      const h = n < 24 ? 1 : 2;
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) return -1;
        out[h + i] = c;
      }
      if (h === 1) out[0] = 0x60 | n;
      else {
        out[0] = 0x78;
        out[1] = n;
      }
      return h + n;
    }
    case "boolean":
      out[0] = v ? 0xf5 : 0xf4;
      return 1;
    case "undefined":
      out[0] = 0xf7;
      return 1;
    case "object":
      if (v === null) {
        out[0] = 0xf6;
        return 1;
      }
      return -1;
    default:
      return -1;
  }
}

function readUint(u8: Uint8Array, p: number, len: number, info: number): number {
  if (info < 24) return len === 1 ? info : -1;
  if (info === 24) return len === 2 ? u8[p + 1] : -1;
  if (info === 25) return len === 3 ? (u8[p + 1] << 8) | u8[p + 2] : -1;
  if (info === 26) return len === 5 ? ((u8[p + 1] << 24) | (u8[p + 2] << 16) | (u8[p + 3] << 8) | u8[p + 4]) >>> 0 : -1;
  return -1;
}

/** Decodes the `len` bytes at `u8[p]` when they are on the fast path, else {@linkcode MISS}. */
export function decodeFast(u8: Uint8Array, p: number, len: number): unknown {
  if (len <= 0) return MISS;
  const b = u8[p];
  const major = b & 0xe0, info = b & 0x1f;
  switch (major) {
    case 0x00: {
      const n = readUint(u8, p, len, info);
      return n < 0 ? MISS : n;
    }
    case 0x20: {
      const n = readUint(u8, p, len, info);
      return n < 0 ? MISS : -1 - n;
    }
    case 0x60: {
      let n: number, h: number;
      if (info < 24) {
        n = info;
        h = 1;
      } else if (info === 24) {
        n = u8[p + 1];
        h = 2;
      } else return MISS;
      if (h + n !== len) return MISS;
      if (n === 0) return "";
      let s = "";
      for (let i = 0; i < n; i++) {
        const c = u8[p + h + i];
        if (c >= 0x80) return MISS;
        s += String.fromCharCode(c);
      }
      return s;
    }
    case 0xe0:
      if (len === 1) {
        if (b === 0xf4) return false;
        if (b === 0xf5) return true;
        if (b === 0xf6) return null;
        if (b === 0xf7) return undefined;
      } else if (b === 0xfb && len === 9) {
        if (LITTLE) { for (let i = 0; i < 8; i++) f64b[7 - i] = u8[p + 1 + i]; }
        else for (let i = 0; i < 8; i++) f64b[i] = u8[p + 1 + i];
        return f64[0];
      }
      return MISS;
    default:
      return MISS;
  }
}
