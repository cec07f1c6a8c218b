/**
 * Type codes of Value and SharedArray, and the one engine for typed cells in
 * a SharedArrayBuffer: atomic load, store, add, exchange and compare-exchange
 * per element, for every type code.
 *
 * Python's `array`/`ctypes` codes and explicit names both name a type:
 *
 * | Python | name   | stored as      | JavaScript value |
 * |--------|--------|----------------|------------------|
 * | `b`    | `i8`   | Int8Array      | number           |
 * | `B` `c`| `u8`   | Uint8Array     | number           |
 * | `h`    | `i16`  | Int16Array     | number           |
 * | `H`    | `u16`  | Uint16Array    | number           |
 * | `i`    | `i32`  | Int32Array     | number           |
 * | `I`    | `u32`  | Uint32Array    | number           |
 * | `l` `q`| `i64`  | BigInt64Array  | bigint           |
 * | `L` `Q`| `u64`  | BigUint64Array | bigint           |
 * | `f`    | `f32`  | Float32Array   | number           |
 * | `d`    | `f64`  | Float64Array   | number           |
 * | `?`    | `bool` | Uint8Array     | boolean          |
 *
 * `l`/`L` are 64-bit, as C's `long` on Linux and macOS. `c` (Python's
 * one-byte `c_char`) is an unsigned byte here, read and written as a number.
 *
 * Integer elements take integers in their type's range (a store outside it is
 * a `RangeError`, never a silent wrap); `add` wraps modulo the width, as C and
 * `Atomics.add` do. Floats have no atomic instructions in JavaScript: their
 * loads and stores go through an integer view of the same bits, and `add`
 * and `compareExchange` are compare-and-swap loops on those bits.
 * @module
 */

/**
 * Python's `array`/`ctypes` type codes.
 *
 * @example A C double
 * ```ts
 * import type { PythonTypeCode } from "./_typecodes.ts";
 * const code: PythonTypeCode = "d";
 * console.log(code);
 * ```
 */
export type PythonTypeCode = "b" | "B" | "c" | "h" | "H" | "i" | "I" | "l" | "L" | "q" | "Q" | "f" | "d" | "?";
/**
 * Explicit type names.
 *
 * @example A 64-bit float
 * ```ts
 * import type { TypeName } from "./_typecodes.ts";
 * const name: TypeName = "f64";
 * console.log(name);
 * ```
 */
export type TypeName = "i8" | "u8" | "i16" | "u16" | "i32" | "u32" | "i64" | "u64" | "f32" | "f64" | "bool";
/**
 * Any type code a Value or SharedArray accepts.
 *
 * @example Both spellings
 * ```ts
 * import type { TypeCode } from "./_typecodes.ts";
 * const codes: TypeCode[] = ["i", "i32", "?", "bool"];
 * console.log(codes.length); // 4
 * ```
 */
export type TypeCode = PythonTypeCode | TypeName;

/**
 * The type codes of 64-bit integers, whose elements are `bigint`s.
 *
 * @internal
 */
type BigCode = "l" | "L" | "q" | "Q" | "i64" | "u64";
/**
 * The type codes of booleans, whose elements are `boolean`s.
 *
 * @internal
 */
type BoolCode = "?" | "bool";

/**
 * The JavaScript type of an element of type code `C`.
 *
 * @example Elements of a 64-bit, a bool and a double code
 * ```ts
 * import type { ElementOf } from "./_typecodes.ts";
 * const big: ElementOf<"q"> = 1n;
 * const flag: ElementOf<"?"> = true;
 * const x: ElementOf<"d"> = 0.5;
 * console.log(big, flag, x);
 * ```
 */
export type ElementOf<C extends TypeCode> = C extends BigCode ? bigint : C extends BoolCode ? boolean : number;

/**
 * What a store of an element of type code `C` accepts (64-bit types also
 * take safe-integer numbers).
 *
 * @example A 64-bit store takes a bigint or a safe integer
 * ```ts
 * import type { InputOf } from "./_typecodes.ts";
 * const inputs: InputOf<"i64">[] = [1n, 2];
 * console.log(inputs);
 * ```
 */
export type InputOf<C extends TypeCode> = C extends BigCode ? bigint | number : ElementOf<C>;

/**
 * The live typed array over elements of type code `C`.
 *
 * @example The view of a float array
 * ```ts
 * import type { TypedArrayOf } from "./_typecodes.ts";
 * const view: TypedArrayOf<"f"> = new Float32Array(2);
 * console.log(view.length); // 2
 * ```
 */
export type TypedArrayOf<C extends TypeCode> = C extends "b" | "i8" ? Int8Array
  : C extends "B" | "c" | "u8" | "?" | "bool" ? Uint8Array
  : C extends "h" | "i16" ? Int16Array
  : C extends "H" | "u16" ? Uint16Array
  : C extends "i" | "i32" ? Int32Array
  : C extends "I" | "u32" ? Uint32Array
  : C extends "l" | "q" | "i64" ? BigInt64Array
  : C extends "L" | "Q" | "u64" ? BigUint64Array
  : C extends "f" | "f32" ? Float32Array
  : C extends "d" | "f64" ? Float64Array
  : AnyTypedArray;

/**
 * Every typed array a type code maps to.
 *
 * @example Views of any type code
 * ```ts
 * import type { AnyTypedArray } from "./_typecodes.ts";
 * const views: AnyTypedArray[] = [new Int8Array(1), new BigUint64Array(1)];
 * console.log(views.length); // 2
 * ```
 */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

type IntegerArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
type BigArray = BigInt64Array | BigUint64Array;

/**
 * How the elements of one type are stored and checked.
 *
 * @example
 * ```ts
 * import { typeInfo } from "./_typecodes.ts";
 * const t = typeInfo("h", "create value");
 * console.log(t.name, t.bytes, t.kind, t.min, t.max); // i16 2 int -32768 32767
 * ```
 */
export interface TypeInfo {
  /** The explicit name (`"i32"`, …), used in handles and messages. */
  readonly name: TypeName;
  /** Bytes per element. */
  readonly bytes: number;
  /** `int` (≤ 32 bits, number), `big` (64 bits, bigint), `float`, `bool`. */
  readonly kind: "int" | "big" | "float" | "bool";
  /** Smallest value of an integer type. */
  readonly min: number | bigint;
  /** Largest value of an integer type. */
  readonly max: number | bigint;
  /** The typed array constructor of the elements. */
  readonly Array: new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => AnyTypedArray;
}

function info(
  name: TypeName,
  bytes: number,
  kind: TypeInfo["kind"],
  Array: TypeInfo["Array"],
  min: number | bigint = 0,
  max: number | bigint = 0,
): TypeInfo {
  return { name, bytes, kind, Array, min, max };
}

const TYPES: Readonly<Record<TypeName, TypeInfo>> = {
  i8: info("i8", 1, "int", Int8Array, -0x80, 0x7f),
  u8: info("u8", 1, "int", Uint8Array, 0, 0xff),
  i16: info("i16", 2, "int", Int16Array, -0x8000, 0x7fff),
  u16: info("u16", 2, "int", Uint16Array, 0, 0xffff),
  i32: info("i32", 4, "int", Int32Array, -0x80000000, 0x7fffffff),
  u32: info("u32", 4, "int", Uint32Array, 0, 0xffffffff),
  i64: info("i64", 8, "big", BigInt64Array, -(2n ** 63n), 2n ** 63n - 1n),
  u64: info("u64", 8, "big", BigUint64Array, 0n, 2n ** 64n - 1n),
  f32: info("f32", 4, "float", Float32Array),
  f64: info("f64", 8, "float", Float64Array),
  bool: info("bool", 1, "bool", Uint8Array, 0, 1),
};

const PYTHON: Readonly<Record<PythonTypeCode, TypeName>> = {
  b: "i8",
  B: "u8",
  c: "u8",
  h: "i16",
  H: "u16",
  i: "i32",
  I: "u32",
  l: "i64",
  L: "u64",
  q: "i64",
  Q: "u64",
  f: "f32",
  d: "f64",
  "?": "bool",
};

/**
 * The storage of a type code (Python's or an explicit name); a `TypeError`
 * in the std form for anything else. `what` names the operation
 * (`"create value"`).
 *
 * @example Python's code and the explicit name agree
 * ```ts
 * import { typeInfo } from "./_typecodes.ts";
 * console.log(typeInfo("L", "create value") === typeInfo("u64", "create value")); // true
 * ```
 */
export function typeInfo(code: unknown, what: string): TypeInfo {
  if (typeof code === "string") {
    if (Object.hasOwn(TYPES, code)) return TYPES[code as TypeName];
    if (Object.hasOwn(PYTHON, code)) return TYPES[PYTHON[code as PythonTypeCode]];
  }
  throw new TypeError(
    `Cannot ${what} as 'typecode' must be a type code (b B c h H i I l L q Q f d ? or i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 bool): received ${
      describe(code)
    }`,
  );
}

/**
 * A short description of a received value for error messages.
 *
 * @example
 * ```ts
 * import { describe } from "./_typecodes.ts";
 * console.log(describe("x"), describe(3n), describe([1]), describe(new Map())); // "x" 3n an array a Map
 * ```
 */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object" || v === null) return String(v);
  if (Array.isArray(v)) return "an array";
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

/**
 * Bytes of a buffer holding `length` elements of `t`: a multiple of 8, at
 * least 8.
 *
 * @example
 * ```ts
 * import { bufferBytes, typeInfo } from "./_typecodes.ts";
 * console.log(bufferBytes(typeInfo("i16", "x"), 5)); // 16
 * ```
 */
export function bufferBytes(t: TypeInfo, length: number): number {
  return Math.max(8, Math.ceil((length * t.bytes) / 8) * 8);
}

/**
 * Normalises an element index as Python does: negative counts from the end.
 * A non-integer is a `TypeError`, an index outside `[-length, length)` a
 * `RangeError` (Python's `IndexError`).
 *
 * @example
 * ```ts
 * import { elementIndex } from "./_typecodes.ts";
 * console.log(elementIndex(-1, 4, "get element"), elementIndex(2, 4, "get element")); // 3 2
 * ```
 */
export function elementIndex(i: unknown, length: number, what: string): number {
  if (typeof i !== "number" || !Number.isInteger(i)) {
    throw new TypeError(`Cannot ${what} as 'index' must be an integer: received ${describe(i)}`);
  }
  const j = i < 0 ? i + length : i;
  if (j < 0 || j >= length) {
    throw new RangeError(`Cannot ${what} as 'index' must be in [${-length}, ${length}): received ${i}`);
  }
  return j;
}

/**
 * Clamps slice bounds as `Array.prototype.slice` (and Python) do.
 *
 * @example
 * ```ts
 * import { sliceBounds } from "./_typecodes.ts";
 * console.log(sliceBounds(-2, undefined, 5, "slice"), sliceBounds(4, 1, 5, "slice")); // [ 3, 5 ] [ 4, 4 ]
 * ```
 */
export function sliceBounds(start: unknown, end: unknown, length: number, what: string): [number, number] {
  const bound = (v: unknown, dflt: number, name: string): number => {
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw new TypeError(`Cannot ${what} as '${name}' must be an integer: received ${describe(v)}`);
    }
    return v < 0 ? Math.max(0, v + length) : Math.min(v, length);
  };
  const s = bound(start, 0, "start");
  const e = bound(end, length, "end");
  return [s, Math.max(s, e)];
}

// Scratch space to move a float's bits in and out of an integer word.
const f64 = new Float64Array(1);
const f64Bits = new BigInt64Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

/**
 * Typed cells over a SharedArrayBuffer: the engine shared by Value (one cell)
 * and SharedArray (many). Every single-element operation is a sequentially
 * consistent atomic; bulk operations (`slice`, `fill`, `setSlice`) are
 * tear-free per element but not atomic as a whole.
 *
 * @example Atomic float addition
 * ```ts
 * import { Cells, typeInfo } from "./_typecodes.ts";
 * const cells = new Cells(typeInfo("d", "create"), new SharedArrayBuffer(16), 2);
 * cells.add(1, 0.5, "add");
 * console.log(cells.slice(0, 2), cells.compareExchange(1, 0.5, 2, "swap")); // [ 0, 0.5 ] 0.5
 * ```
 */
export class Cells {
  /** The elements, as the type's typed array (floats as Float32/64Array). */
  readonly view: AnyTypedArray;
  /** The view Atomics work on: the elements, or the bits of float elements. */
  readonly #atomic: IntegerArray | BigArray;

  constructor(readonly type: TypeInfo, readonly buffer: SharedArrayBuffer, readonly length: number) {
    this.view = new type.Array(buffer, 0, length);
    this.#atomic = type.name === "f64"
      ? new BigInt64Array(buffer, 0, length)
      : type.name === "f32"
      ? new Int32Array(buffer, 0, length)
      : this.view as IntegerArray | BigArray;
  }

  /**
   * Checks a value for a store and turns it into what the typed array takes:
   * integers in range, bigints (or safe-integer numbers) for 64-bit types,
   * numbers for floats, booleans (as 0/1) for bool.
   */
  encode(v: unknown, what: string): number | bigint {
    const t = this.type;
    switch (t.kind) {
      case "int":
        if (typeof v !== "number" || !Number.isInteger(v)) {
          throw new TypeError(`Cannot ${what} as '${t.name}' holds integers: received ${describe(v)}`);
        }
        if (v < (t.min as number) || v > (t.max as number)) {
          throw new RangeError(`Cannot ${what} as '${t.name}' holds integers in [${t.min}, ${t.max}]: received ${v}`);
        }
        return v;
      case "big": {
        let b: bigint;
        if (typeof v === "bigint") b = v;
        else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
        else {
          throw new TypeError(
            `Cannot ${what} as '${t.name}' holds bigints (or safe integers): received ${describe(v)}`,
          );
        }
        if (b < (t.min as bigint) || b > (t.max as bigint)) {
          throw new RangeError(`Cannot ${what} as '${t.name}' holds integers in [${t.min}, ${t.max}]: received ${b}n`);
        }
        return b;
      }
      case "float":
        if (typeof v !== "number") {
          throw new TypeError(`Cannot ${what} as '${t.name}' holds numbers: received ${describe(v)}`);
        }
        return v;
      case "bool":
        if (typeof v !== "boolean") {
          throw new TypeError(`Cannot ${what} as 'bool' holds booleans: received ${describe(v)}`);
        }
        return v ? 1 : 0;
    }
  }

  /** Checks an addend: an integer (bigint or safe integer for 64-bit types) or, for floats, any number. */
  #addend(n: unknown, what: string): number | bigint {
    const t = this.type;
    switch (t.kind) {
      case "int":
        if (typeof n === "number" && Number.isSafeInteger(n)) return n;
        throw new TypeError(`Cannot ${what} as '${t.name}' adds integers: received ${describe(n)}`);
      case "big":
        if (typeof n === "bigint") return n;
        if (typeof n === "number" && Number.isSafeInteger(n)) return BigInt(n);
        throw new TypeError(`Cannot ${what} as '${t.name}' adds bigints (or safe integers): received ${describe(n)}`);
      case "float":
        if (typeof n === "number") return n;
        throw new TypeError(`Cannot ${what} as '${t.name}' adds numbers: received ${describe(n)}`);
      case "bool":
        throw new TypeError(`Cannot ${what} as 'bool' is not a numeric type: received ${describe(n)}`);
    }
  }

  #decode(raw: number | bigint): unknown {
    return this.type.kind === "bool" ? raw !== 0 : raw;
  }

  #fromBits(bits: number | bigint): number {
    if (this.type.name === "f64") {
      f64Bits[0] = bits as bigint;
      return f64[0];
    }
    f32Bits[0] = bits as number;
    return f32[0];
  }

  #toBits(v: number): number | bigint {
    if (this.type.name === "f64") {
      f64[0] = v;
      return f64Bits[0];
    }
    f32[0] = v;
    return f32Bits[0];
  }

  #isFloat(): boolean {
    return this.type.kind === "float";
  }

  // Atomics' signatures do not accept the union of its array types.
  #a(): Int32Array {
    return this.#atomic as unknown as Int32Array;
  }

  /** Atomic load of element `i` (already normalised). */
  load(i: number): unknown {
    const raw = Atomics.load(this.#a(), i) as number | bigint;
    return this.#isFloat() ? this.#fromBits(raw) : this.#decode(raw);
  }

  /** Atomic store of an encoded value (see {@linkcode encode}). */
  storeRaw(i: number, raw: number | bigint): void {
    Atomics.store(this.#a(), i, (this.#isFloat() ? this.#toBits(raw as number) : raw) as number);
  }

  /** Atomic store; checks the value first. */
  store(i: number, v: unknown, what: string): void {
    this.storeRaw(i, this.encode(v, what));
  }

  /** Atomic exchange; returns the previous value. */
  exchange(i: number, v: unknown, what: string): unknown {
    const raw = this.encode(v, what);
    if (this.#isFloat()) return this.#fromBits(Atomics.exchange(this.#a(), i, this.#toBits(raw as number) as number));
    return this.#decode(Atomics.exchange(this.#a(), i, raw as number));
  }

  /**
   * Atomic add; returns the previous value. Integers wrap modulo their width
   * (a negative addend subtracts, unsigned types included); floats add by a
   * compare-and-swap loop on their bits.
   */
  add(i: number, n: unknown, what: string): unknown {
    const d = this.#addend(n, what);
    if (!this.#isFloat()) return Atomics.add(this.#a(), i, d as number);
    const a = this.#a();
    for (;;) {
      const bits = Atomics.load(a, i) as number | bigint;
      const old = this.#fromBits(bits);
      const next = this.#toBits(old + (d as number));
      if (Atomics.compareExchange(a, i, bits as number, next as number) === bits) return old;
    }
  }

  /**
   * Atomic compare-and-exchange: stores `replacement` if the element equals
   * `expected` and returns the element's previous value either way (so the
   * swap happened when the result equals `expected`). Both are checked as a
   * store would. Floats compare by value after rounding `expected` to the
   * element type, with NaN equal to NaN and 0 equal to -0.
   */
  compareExchange(i: number, expected: unknown, replacement: unknown, what: string): unknown {
    const e = this.encode(expected, what);
    const r = this.encode(replacement, what);
    if (!this.#isFloat()) return this.#decode(Atomics.compareExchange(this.#a(), i, e as number, r as number));
    const a = this.#a();
    const want = this.#fromBits(this.#toBits(e as number)); // rounded to the element type
    const next = this.#toBits(r as number);
    for (;;) {
      const bits = Atomics.load(a, i) as number | bigint;
      const old = this.#fromBits(bits);
      const same = old === want || (old !== old && want !== want);
      if (!same) return old;
      if (Atomics.compareExchange(a, i, bits as number, next as number) === bits) return old;
    }
  }

  /** Elements `[start, end)` as plain values (tear-free per element). */
  slice(start: number, end: number): unknown[] {
    const out = Array.from(this.view.subarray(start, end) as ArrayLike<number | bigint>);
    return this.type.kind === "bool" ? out.map((v) => v !== 0) : out;
  }

  /** Stores `v` in `[start, end)`; checks it once first. */
  fill(v: unknown, start: number, end: number, what: string): void {
    const raw = this.encode(v, what);
    (this.view as Int32Array).fill(raw as number, start, end);
  }

  /** Stores `values` from `start` on; checks every value before storing any. */
  setSlice(start: number, values: readonly unknown[], what: string): void {
    if (start + values.length > this.length) {
      throw new RangeError(
        `Cannot ${what} as ${values.length} values from index ${start} exceed the length ${this.length}: received ${values.length}`,
      );
    }
    const raw = values.map((v) => this.encode(v, what));
    (this.view as Int32Array).set(raw as number[], start);
  }
}
