/**
 * A fixed-length typed array shared by threads, processes or machines:
 * Python's `multiprocessing.Array` (with a lock) and `RawArray` (without).
 *
 * On the shared buffer the elements are packed from byte 0 of a
 * SharedArrayBuffer whose size is rounded up to 8 bytes ({@linkcode A_FIRST});
 * single-element operations are Atomics, bulk ones (`slice`, `fill`,
 * `setSlice`, the `view`) work on the typed array (`_typecodes.ts`).
 * A SharedArray's lock is a {@linkcode Lock} in its own buffer.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared, type SharedFields } from "../core/structure.ts";
import { CapacityError } from "../errors.ts";
import { registryBuffer } from "../transports/_runtime/threads.ts";
import { Lock, LockEngine, type LockHandle } from "../sync/lock.ts";
import {
  bufferBytes,
  Cells,
  describe,
  elementIndex,
  type ElementOf,
  type InputOf,
  sliceBounds,
  type TypeCode,
  type TypedArrayOf,
  type TypeInfo,
  typeInfo,
  type TypeName,
} from "./_typecodes.ts";
import { fromWireElement, lockBufferOf, lockOf, lockOps, type LockOpsOf, sharedLockFields } from "./value.ts";

/** Index of the first element in the array's buffer (elements fill it from there). */
const A_FIRST = 0;
/** Most elements an array may hold (the length of a typed array over a buffer of 2^53 bytes would not be exact). */
const MAX_LENGTH = 2 ** 32 - 1;

/**
 * Options of a SharedArray, as `Manager.array(typecode, sizeOrInit, options)`
 * takes them.
 *
 * @example Without a lock
 * ```ts
 * import type { ArrayOptions } from "./array.ts";
 * const options: ArrayOptions = { lock: false }; // the manager returns a RawArray
 * console.log(options.lock);
 * ```
 */
export interface ArrayOptions {
  /**
   * The lock `getLock()` returns: `true` (default) for a new Lock, an existing
   * shared-buffer Lock to share it, or `false` for none (a RawArray).
   */
  readonly lock?: boolean | Lock;
}

/**
 * The shared-buffer handle of a SharedArray or RawArray: plain data with the
 * SharedArrayBuffers inside, for `postMessage` and `attach`.
 *
 * @example Reading a handle
 * ```ts
 * import { type ArrayHandle, RawArray } from "./array.ts";
 * const h = RawArray.create("d", 3).handle as ArrayHandle;
 * console.log(h.kind, h.typecode, h.length, h.lock); // array f64 3 undefined
 * ```
 */
export interface ArrayHandle extends Handle {
  readonly kind: "array";
  /** The explicit type name (`"f64"`, …). */
  readonly typecode: TypeName;
  readonly length: number;
  readonly buffer: SharedArrayBuffer;
  /** The handle of the array's lock; absent for a RawArray. */
  readonly lock?: LockHandle;
  readonly registry: SharedArrayBuffer;
}

/** @internal What a remote array tells about itself (its `describe` op). */
export interface ArrayDescription {
  readonly typecode: TypeName;
  readonly length: number;
  readonly lock: boolean;
}

/** The initial elements from Python's `size_or_initializer`: a length, or values. */
function initialOf(t: TypeInfo, sizeOrInit: unknown): { length: number; values: readonly unknown[] | undefined } {
  if (typeof sizeOrInit === "number") {
    if (!Number.isInteger(sizeOrInit) || sizeOrInit < 0 || sizeOrInit > MAX_LENGTH) {
      throw new TypeError(
        `Cannot create array as 'sizeOrInit' must be a length in [0, ${MAX_LENGTH}] or an iterable: received ${sizeOrInit}`,
      );
    }
    return { length: sizeOrInit, values: undefined };
  }
  if (typeof sizeOrInit === "object" && sizeOrInit !== null && Symbol.iterator in sizeOrInit) {
    const values = ArrayBuffer.isView(sizeOrInit) && t.kind === "bool"
      ? Array.from(sizeOrInit as unknown as ArrayLike<number>, (v) => v !== 0)
      : Array.from(sizeOrInit as Iterable<unknown>);
    return { length: values.length, values };
  }
  throw new TypeError(
    `Cannot create array as 'sizeOrInit' must be a length or an iterable of values: received ${describe(sizeOrInit)}`,
  );
}

function allocate(bytes: number, what: string): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(bytes);
  } catch (e) {
    throw new CapacityError(
      "Full",
      `Cannot ${what} as ${bytes} bytes of shared memory cannot be allocated: received ${bytes}`,
      {
        cause: e,
      },
    );
  }
}

/**
 * The shared-memory engine of an array: typed cells, and the lock if any.
 * The manager server hosts it; the public classes wrap it.
 *
 * @example Using the engine directly
 * ```ts
 * import { ArrayEngine } from "./array.ts";
 * const e = ArrayEngine.create("u8", [1, 2, 3], false);
 * e.add(-1, 10);
 * console.log(e.slice(), e.length); // [ 1, 2, 13 ] 3
 * ```
 *
 * @internal
 */
export class ArrayEngine {
  readonly cells: Cells;
  readonly lock: LockEngine | undefined;

  constructor(
    readonly typecode: TypeName,
    readonly length: number,
    readonly buffer: SharedArrayBuffer,
    readonly lockBuffer?: SharedArrayBuffer,
  ) {
    const t = typeInfo(typecode, "attach array");
    if (!Number.isInteger(length) || length < 0 || bufferBytes(t, length) > buffer.byteLength) {
      throw new TypeError(`Cannot attach array as its length does not fit its buffer: received ${length}`);
    }
    this.cells = new Cells(t, buffer, length);
    this.lock = lockBuffer ? new LockEngine(lockBuffer) : undefined;
  }

  /** Lays out a fresh array of `sizeOrInit` zeros, or of the given values. */
  static create(typecode: unknown, sizeOrInit: unknown, lock: unknown): ArrayEngine {
    const t = typeInfo(typecode, "create array");
    const { length, values } = initialOf(t, sizeOrInit);
    const lockBuffer = lockBufferOf(lock, "create array");
    const e = new ArrayEngine(t.name, length, allocate(bufferBytes(t, length), "create array"), lockBuffer);
    if (values) e.cells.setSlice(A_FIRST, values, "create array");
    return e;
  }

  #index(i: unknown, what: string): number {
    return A_FIRST + elementIndex(i, this.length, what);
  }
  get(i: unknown): unknown {
    return this.cells.load(this.#index(i, "get array element"));
  }
  set(i: unknown, v: unknown): void {
    this.cells.store(this.#index(i, "set array element"), v, "set array element");
  }
  add(i: unknown, n: unknown): unknown {
    return this.cells.add(this.#index(i, "add to array element"), n, "add to array element");
  }
  exchange(i: unknown, v: unknown): unknown {
    return this.cells.exchange(this.#index(i, "exchange array element"), v, "exchange array element");
  }
  compareExchange(i: unknown, expected: unknown, replacement: unknown): unknown {
    const what = "compare-exchange array element";
    return this.cells.compareExchange(this.#index(i, what), expected, replacement, what);
  }
  slice(start?: unknown, end?: unknown): unknown[] {
    const [s, e] = sliceBounds(start, end, this.length, "slice array");
    return this.cells.slice(A_FIRST + s, A_FIRST + e);
  }
  fill(v: unknown, start?: unknown, end?: unknown): void {
    const [s, e] = sliceBounds(start, end, this.length, "fill array");
    this.cells.fill(v, A_FIRST + s, A_FIRST + e, "fill array");
  }
  setSlice(start: unknown, values: unknown): void {
    if (typeof values !== "object" || values === null || !(Symbol.iterator in values)) {
      throw new TypeError(`Cannot set array slice as 'values' must be an iterable: received ${describe(values)}`);
    }
    if (typeof start !== "number" || !Number.isInteger(start)) {
      throw new TypeError(`Cannot set array slice as 'start' must be an integer: received ${describe(start)}`);
    }
    const s = start < 0 ? start + this.length : start;
    if (s < 0 || s > this.length) {
      throw new RangeError(
        `Cannot set array slice as 'start' must be in [${-this.length}, ${this.length}]: received ${start}`,
      );
    }
    this.cells.setSlice(A_FIRST + s, Array.from(values as Iterable<unknown>), "set array slice");
  }
  describe(): ArrayDescription {
    return { typecode: this.typecode, length: this.length, lock: this.lock !== undefined };
  }
  lockEngine(): LockEngine {
    if (!this.lock) {
      throw new TypeError("Cannot use the lock of an array as it was created without one: received lock false");
    }
    return this.lock;
  }
}

/** The operations of a SharedArray or RawArray besides its lock's. */
const /** @internal */ arrayOwnOps = {
  describe: (e: ArrayEngine): ArrayDescription => e.describe(),
  get: (e: ArrayEngine, [i]: [number]): unknown => e.get(i),
  set: (e: ArrayEngine, [i, v]: [number, unknown]): void => e.set(i, v),
  add: (e: ArrayEngine, [i, n]: [number, unknown]): unknown => e.add(i, n),
  exchange: (e: ArrayEngine, [i, v]: [number, unknown]): unknown => e.exchange(i, v),
  compareExchange: (e: ArrayEngine, [i, x, r]: [number, unknown, unknown]): unknown => e.compareExchange(i, x, r),
  slice: (e: ArrayEngine, [s, end]: [number | undefined, number | undefined]): unknown[] => e.slice(s, end),
  fill: (e: ArrayEngine, [v, s, end]: [unknown, number | undefined, number | undefined]): void => e.fill(v, s, end),
  setSlice: (e: ArrayEngine, [s, values]: [number, Iterable<unknown>]): void => e.setSlice(s, values),
};

/** The operations of a SharedArray or RawArray, local and remote (the lock ops fail on a RawArray). */
const /** @internal */ arrayOps: typeof arrayOwnOps & LockOpsOf<ArrayEngine> = {
  ...arrayOwnOps,
  ...lockOps<ArrayEngine>((e) => e.lockEngine()),
};

/** What an array's shared-buffer handle carries besides kind, via and registry. */
function share(e: ArrayEngine): SharedFields {
  const fields = { typecode: e.typecode, length: e.length, buffer: e.buffer };
  return e.lock ? { ...fields, lock: sharedLockFields(e.lock) } : fields;
}

/** The shared-buffer handle of an array made without a manager (`SharedArray.create`). */
function sharedHandle(e: ArrayEngine): ArrayHandle {
  return { ...share(e), kind: "array", via: "shared-buffer", registry: registryBuffer() } as ArrayHandle;
}

/**
 * A fixed-length typed array without a lock: Python's
 * `multiprocessing.RawArray`, on any transport.
 *
 * Elements take the type code of {@linkcode RawValue} (Python's `"i"`,
 * `"d"`, … or `"i32"`, `"f64"`, …). Indices may be negative (from the end)
 * as in Python; an index out of range is a `RangeError`. `get`, `set`, `add`,
 * `exchange` and `compareExchange` are atomic per element, so threads can
 * count into one array without a lock; `slice`, `toArray`, `fill` and
 * `setSlice` touch many elements and are not atomic as a whole.
 *
 * **Visibility**: single-element operations are sequentially consistent
 * atomics. Bulk operations and writes through `view` are tear-free per
 * element but unordered: publish them with an atomic operation (or a lock)
 * that the reader then observes.
 *
 * **Transports**: shared buffer (`view`, `length` and `Sync` twins) and
 * socket (async; `view` is unavailable).
 *
 * @example Bulk work on the view, atomics per element
 * ```ts
 * import { RawArray } from "./array.ts";
 * const grid = RawArray.create("f64", 4);
 * grid.view.set([1, 2, 3, 4]);          // Float64Array over the shared memory
 * await grid.add(0, 0.5);               // atomic, even for floats
 * console.log(await grid.toArray());    // [ 1.5, 2, 3, 4 ]
 * ```
 */
export class RawArray<C extends TypeCode = TypeCode> extends Shared<ArrayEngine, typeof arrayOps> {
  /** The explicit name of the element type (`"i32"` for `"i"`, …). */
  readonly typecode: TypeName;
  /** Number of elements (fixed at creation). */
  readonly length: number;
  /** True for 64-bit elements, which a remote answer may carry as numbers. */
  readonly #wide: boolean;

  /**
   * @internal Use `RawArray.create`, `Manager.array()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered.
   */
  constructor(handle: Handle, backend: Backend<ArrayEngine>, described?: ArrayDescription) {
    super(handle, backend, arrayOps);
    const e = backend.engine;
    this.typecode = e?.typecode ?? typeInfo(described?.typecode, "attach array").name;
    const length = e?.length ?? described?.length;
    if (typeof length !== "number" || !Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
      throw new TypeError(`Cannot attach array as its length is not a valid length: received ${describe(length)}`);
    }
    this.length = length;
    this.#wide = this.typecode === "i64" || this.typecode === "u64";
  }

  /**
   * A new array in shared memory without a lock: `sizeOrInit` zeros (false),
   * or the values of an iterable (Python's `size_or_initializer`).
   *
   * @example From a length and from values
   * ```ts
   * import { RawArray } from "./array.ts";
   * const zeros = RawArray.create("i", 3);
   * const bytes = RawArray.create("B", [1, 2, 255]);
   * console.log(zeros.toArraySync(), bytes.view); // [ 0, 0, 0 ] Uint8Array(3) [ 1, 2, 255 ]
   * ```
   */
  static create<C extends TypeCode>(typecode: C, sizeOrInit: number | Iterable<InputOf<C>>): RawArray<C> {
    const e = ArrayEngine.create(typecode, sizeOrInit, false);
    return new RawArray<C>(sharedHandle(e), { engine: e });
  }

  /** An answer as the element type (a remote 64-bit answer may arrive as a number). */
  #element(v: unknown): ElementOf<C> {
    return (this.#wide ? fromWireElement(this.typecode, v) : v) as ElementOf<C>;
  }

  /** Answers as the element type. */
  #elements(values: unknown[]): ElementOf<C>[] {
    return (this.#wide ? values.map((v) => fromWireElement(this.typecode, v)) : values) as ElementOf<C>[];
  }

  /**
   * The live typed array over the shared elements, for bulk work
   * (shared buffer only; `Uint8Array` of 0/1 for bool). Writes through it
   * are plain stores: see **Visibility**.
   */
  get view(): TypedArrayOf<C> {
    return this.local("view").cells.view as TypedArrayOf<C>;
  }

  /** Element `index` (negative counts from the end), read atomically. */
  async get(index: number): Promise<ElementOf<C>> {
    return this.#element(await this.call("get", [index]));
  }
  /** Stores element `index` atomically; a value the type cannot hold is a `TypeError` or `RangeError`. */
  async set(index: number, value: InputOf<C>): Promise<void> {
    return this.exec("set", [index, value]);
  }
  /** Adds `n` to element `index` atomically and returns its previous value (integers wrap). */
  async add(index: number, n: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("add", [index, n]));
  }
  /** Stores `value` at `index` and returns the previous element, atomically. */
  async exchange(index: number, value: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("exchange", [index, value]));
  }
  /**
   * Stores `replacement` at `index` if the element equals `expected`,
   * atomically, and returns the previous element (the swap happened when it
   * equals `expected`).
   */
  async compareExchange(index: number, expected: InputOf<C>, replacement: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("compareExchange", [index, expected, replacement]));
  }
  /** Elements `[start, end)` as a plain array; bounds as `Array.prototype.slice`. */
  async slice(start?: number, end?: number): Promise<ElementOf<C>[]> {
    return this.#elements(await this.call("slice", [start, end]));
  }
  /** Every element as a plain array (Python's `arr[:]`). */
  toArray(): Promise<ElementOf<C>[]> {
    return this.slice();
  }
  /** Stores `value` in `[start, end)` (default: everywhere). */
  async fill(value: InputOf<C>, start?: number, end?: number): Promise<void> {
    return this.exec("fill", [value, start, end]);
  }
  /**
   * Stores `values` from index `start` on (Python's
   * `arr[start:start+len(values)] = values`); every value is checked before
   * any is stored, and values past the end are a `RangeError`.
   */
  async setSlice(start: number, values: Iterable<InputOf<C>>): Promise<void> {
    // a remote call carries the values as a list
    return this.exec("setSlice", [start, this.engine ? values : Array.from(values)]);
  }

  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync(index: number): ElementOf<C> {
    return this.local("getSync").get(index) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(index: number, value: InputOf<C>): void {
    this.local("setSync").set(index, value);
  }
  /** The synchronous twin of {@linkcode add} (shared buffer only). */
  addSync(index: number, n: InputOf<C>): ElementOf<C> {
    return this.local("addSync").add(index, n) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode exchange} (shared buffer only). */
  exchangeSync(index: number, value: InputOf<C>): ElementOf<C> {
    return this.local("exchangeSync").exchange(index, value) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode compareExchange} (shared buffer only). */
  compareExchangeSync(index: number, expected: InputOf<C>, replacement: InputOf<C>): ElementOf<C> {
    return this.local("compareExchangeSync").compareExchange(index, expected, replacement) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode slice} (shared buffer only). */
  sliceSync(start?: number, end?: number): ElementOf<C>[] {
    return this.local("sliceSync").slice(start, end) as ElementOf<C>[];
  }
  /** The synchronous twin of {@linkcode toArray} (shared buffer only). */
  toArraySync(): ElementOf<C>[] {
    return this.local("toArraySync").slice() as ElementOf<C>[];
  }
  /** The synchronous twin of {@linkcode fill} (shared buffer only). */
  fillSync(value: InputOf<C>, start?: number, end?: number): void {
    this.local("fillSync").fill(value, start, end);
  }
  /** The synchronous twin of {@linkcode setSlice} (shared buffer only). */
  setSliceSync(start: number, values: Iterable<InputOf<C>>): void {
    this.local("setSliceSync").setSlice(start, values);
  }
}

/**
 * A fixed-length typed array with a lock: Python's `multiprocessing.Array`
 * (named `SharedArray` so as not to shadow the global `Array`).
 *
 * Everything of {@linkcode RawArray}, plus {@linkcode SharedArray.getLock}
 * for updates spanning several elements (a consistent `toArray()`, a
 * `setSlice` nobody may see half done). Elements operations do not take the
 * lock themselves, so holding it while reading cannot deadlock. Python's
 * default lock is recursive; this one is a {@linkcode Lock}.
 *
 * **Visibility**: as {@linkcode RawArray}; writes made under the lock are
 * visible to the next holder.
 *
 * **Transports**: shared buffer (`view`, sync twins) and socket (async; the
 * lock lives with the array on the manager, held by the connection).
 *
 * @example Per-element atomics and a locked snapshot
 * ```ts
 * import { SharedArray } from "./array.ts";
 * const counts = SharedArray.create("i32", 3);
 * await counts.add(1, 5);
 * counts.compareExchangeSync(2, 0, 7);
 * const snapshot = await counts.getLock().withLock(() => counts.toArray());
 * console.log(snapshot); // [ 0, 5, 7 ]
 * ```
 */
export class SharedArray<C extends TypeCode = TypeCode> extends RawArray<C> {
  readonly #lock: Lock;

  /**
   * @internal Use `SharedArray.create`, `Manager.array()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered; `lock` is
   * a Lock the creator gave (else the array's own lock).
   */
  constructor(handle: Handle, backend: Backend<ArrayEngine>, described?: ArrayDescription, lock?: Lock) {
    super(handle, backend, described);
    this.#lock = lock ?? lockOf(this.handle, backend);
  }

  /**
   * A new array in shared memory with a lock (a new one, or `options.lock`):
   * `sizeOrInit` zeros (false), or the values of an iterable.
   *
   * @example Two arrays under one lock
   * ```ts
   * import { SharedArray } from "./array.ts";
   * const xs = SharedArray.create("d", [0.5, 1.5]);
   * const ys = SharedArray.create("d", 2, { lock: xs.getLock() });
   * xs.getLock().withLockSync(() => ys.setSliceSync(0, xs.toArraySync()));
   * console.log(ys.toArraySync()); // [ 0.5, 1.5 ]
   * ```
   */
  static override create<C extends TypeCode>(
    typecode: C,
    sizeOrInit: number | Iterable<InputOf<C>>,
    options?: { readonly lock?: true | Lock },
  ): SharedArray<C> {
    const lock = options?.lock;
    if (lock === (false as unknown)) {
      throw new TypeError("Cannot create array as 'lock' is false: use RawArray.create: received false");
    }
    const e = ArrayEngine.create(typecode, sizeOrInit, lock ?? true);
    return new SharedArray<C>(sharedHandle(e), { engine: e }, undefined, lock instanceof Lock ? lock : undefined);
  }

  /** The lock guarding multi-element updates (Python's `get_lock()`). */
  getLock(): Lock {
    return this.#lock;
  }

  /**
   * The raw array behind this one (Python's `get_obj()`): a
   * {@linkcode RawArray} over the same memory (or the same structure on the
   * manager), without `getLock()`. The same object on every call; it shares
   * this client's hold on the structure, so closing either closes both (as
   * with `getLock()`), and its handle attaches as this SharedArray.
   *
   * @example The raw array of a synchronized one
   * ```ts
   * import { SharedArray } from "./array.ts";
   * const xs = SharedArray.create("i32", [1, 2]);
   * const raw = xs.getObj();
   * raw.view[0] = 5;
   * console.log(xs.toArraySync(), "getLock" in raw); // [ 5, 2 ] false
   * ```
   */
  getObj(): RawArray<C> {
    if (this.#obj === undefined) {
      const e = this.engine;
      this.#obj = new RawArray<C>(this.handle, e !== undefined ? { engine: e } : { remote: this.remote! }, {
        typecode: this.typecode,
        length: this.length,
        lock: false,
      });
    }
    return this.#obj;
  }
  #obj: RawArray<C> | undefined;
}

/** A remote client: asks the server for the array's type, length and whether it has a lock first. */
async function remoteClient(handle: Handle, backend: Backend<ArrayEngine>): Promise<RawArray | SharedArray> {
  const d = await backend.remote!.call("describe", []) as ArrayDescription | undefined;
  return d?.lock ? new SharedArray(handle, backend, d) : new RawArray(handle, backend, d);
}

/** The SharedArray kind (a SharedArray, or a RawArray when made with `lock: false`). */
export const arraySpec = defineStructure({
  kind: "array",
  create: ([typecode, sizeOrInit, options]) =>
    ArrayEngine.create(typecode, sizeOrInit, (options as { lock?: unknown } | undefined)?.lock),
  share,
  open: (h) =>
    new ArrayEngine(
      typeInfo(h.typecode, "attach array").name,
      h.length as number,
      h.buffer as SharedArrayBuffer,
      (h.lock as LockHandle | undefined)?.buffer as SharedArrayBuffer | undefined,
    ),
  ops: arrayOps,
  // a remote client learns the array's type and length first, so it is a promise (attach awaits it)
  client: (handle, backend: Backend<ArrayEngine>): RawArray | SharedArray | Promise<RawArray | SharedArray> =>
    backend.engine
      ? (backend.engine.lock ? new SharedArray(handle, backend) : new RawArray(handle, backend))
      : remoteClient(handle, backend),
});
