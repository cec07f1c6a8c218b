/**
 * A typed scalar shared by threads, processes or machines: Python's
 * `multiprocessing.Value` (with a lock) and `RawValue` (without one).
 *
 * On the shared buffer the value is one cell at the start of an 8-byte
 * SharedArrayBuffer ({@linkcode V_CELL}), read and written with Atomics
 * (`_typecodes.ts`); a Value's lock is a {@linkcode Lock} in its own buffer.
 * @module
 */
import type { Backend, CallContext, Handle, Remote } from "../core/backend.ts";
import { type ArgsOf, defineStructure, Shared, type SharedFields } from "../core/structure.ts";
import { registryBuffer } from "../transports/_runtime/threads.ts";
import { Lock, LockEngine, type LockHandle, lockSpec } from "../sync/lock.ts";
import {
  bufferBytes,
  Cells,
  describe,
  type ElementOf,
  type InputOf,
  type TypeCode,
  typeInfo,
  type TypeName,
} from "./_typecodes.ts";

/** Index of the value's cell in its buffer (the buffer holds only it). */
const V_CELL = 0;

/**
 * Options of a Value, as `Manager.value(typecode, init, options)` takes them.
 *
 * @example Choosing the lock
 * ```ts
 * import type { ValueOptions } from "./value.ts";
 * const withLock: ValueOptions = { lock: true };
 * const raw: ValueOptions = { lock: false };
 * console.log(withLock.lock, raw.lock); // true false
 * ```
 */
export interface ValueOptions {
  /**
   * The lock `getLock()` returns: `true` (default) for a new Lock, an existing
   * shared-buffer Lock to share one lock among several values, or `false`
   * for none (a RawValue).
   */
  readonly lock?: boolean | Lock;
}

/**
 * The shared-buffer handle of a Value or RawValue: plain data with the
 * SharedArrayBuffers inside, for `postMessage` and `attach`.
 *
 * @example Reading a handle
 * ```ts
 * import { Value, type ValueHandle } from "./value.ts";
 * const h = Value.create("i", 1).handle as ValueHandle;
 * console.log(h.kind, h.typecode, h.lock?.kind); // value i32 lock
 * ```
 */
export interface ValueHandle extends Handle {
  readonly kind: "value";
  /** The explicit type name (`"i32"`, …). */
  readonly typecode: TypeName;
  readonly buffer: SharedArrayBuffer;
  /** The handle of the value's lock; absent for a RawValue. */
  readonly lock?: LockHandle;
  readonly registry: SharedArrayBuffer;
}

/** @internal What a remote Value tells about itself (its `describe` op). */
export interface ValueDescription {
  readonly typecode: TypeName;
  readonly lock: boolean;
}

/**
 * @internal Turns a `lock` option into a lock buffer: a new one (`true` or
 * absent), a given shared-buffer Lock's (or its handle's), or none (`false`).
 *
 * @example Lock buffers for each option
 * ```ts
 * import { lockBufferOf } from "./value.ts";
 * console.log(lockBufferOf(true, "create value")?.byteLength, lockBufferOf(false, "create value")); // 64 undefined
 * ```
 */
export function lockBufferOf(lock: unknown, what: string): SharedArrayBuffer | undefined {
  if (lock === undefined || lock === true) return new LockEngine().buffer;
  if (lock === false) return undefined;
  const h = lock instanceof Lock ? lock.handle : lock;
  if (
    typeof h === "object" && h !== null && (h as Handle).kind === "lock" && (h as Handle).via === "shared-buffer" &&
    ((h as Handle).buffer instanceof SharedArrayBuffer || (h as Handle).buffer instanceof ArrayBuffer) // ArrayBuffer: shm:
  ) {
    return (h as Handle).buffer as SharedArrayBuffer;
  }
  throw new TypeError(`Cannot ${what} as 'lock' must be a boolean or a shared-buffer Lock: received ${describe(lock)}`);
}

/**
 * The shared-memory engine of a Value: one typed cell, and its lock if any.
 * The manager server hosts it; the public classes wrap it.
 *
 * @example Using the engine directly
 * ```ts
 * import { ValueEngine } from "./value.ts";
 * const e = ValueEngine.create("i16", 7, false);
 * e.add(1);
 * console.log(e.load(), e.describe()); // 8 { typecode: "i16", lock: false }
 * ```
 *
 * @internal
 */
export class ValueEngine {
  readonly cells: Cells;
  readonly lock: LockEngine | undefined;

  constructor(
    readonly typecode: TypeName,
    readonly buffer: SharedArrayBuffer,
    readonly lockBuffer?: SharedArrayBuffer,
  ) {
    this.cells = new Cells(typeInfo(typecode, "attach value"), buffer, 1);
    this.lock = lockBuffer ? new LockEngine(lockBuffer) : undefined;
  }

  /** Lays out a fresh value; `init` defaults to zero (false for bool). */
  static create(typecode: unknown, init: unknown, lock: unknown): ValueEngine {
    const t = typeInfo(typecode, "create value");
    const raw = init === undefined ? undefined : new Cells(t, new SharedArrayBuffer(8), 1).encode(init, "create value");
    const e = new ValueEngine(t.name, new SharedArrayBuffer(bufferBytes(t, 1)), lockBufferOf(lock, "create value"));
    if (raw !== undefined) e.cells.storeRaw(V_CELL, raw);
    return e;
  }

  load(): unknown {
    return this.cells.load(V_CELL);
  }
  store(v: unknown): void {
    this.cells.store(V_CELL, v, "store value");
  }
  add(n: unknown): unknown {
    return this.cells.add(V_CELL, n, "add to value");
  }
  exchange(v: unknown): unknown {
    return this.cells.exchange(V_CELL, v, "exchange value");
  }
  compareExchange(expected: unknown, replacement: unknown): unknown {
    return this.cells.compareExchange(V_CELL, expected, replacement, "compare-exchange value");
  }
  describe(): ValueDescription {
    return { typecode: this.typecode, lock: this.lock !== undefined };
  }
  /** The lock, or the TypeError of a RawValue. */
  lockEngine(): LockEngine {
    if (!this.lock) {
      throw new TypeError("Cannot use the lock of a value as it was created without one: received lock false");
    }
    return this.lock;
  }
}

/** The ops of a Lock (`lockSpec.ops`). */
type LockOpTable = typeof lockSpec.ops;

/**
 * @internal The lock operations of a Value or SharedArray: the ops of
 * `lockSpec`, run on the structure's lock. A Lock whose remote calls reach
 * the structure's id dispatches them here, so the lock needs no id of its
 * own; the owner is the caller's `ctx.ownerId`, locally and remotely.
 */
export type LockOpsOf<E> = {
  readonly [K in keyof LockOpTable]: (
    e: E,
    args: ArgsOf<LockOpTable[K]>,
    ctx: CallContext,
  ) => ReturnType<LockOpTable[K]>;
};

/**
 * @internal The lock operations of a structure whose lock `lockOf` finds
 * (see {@linkcode LockOpsOf}).
 *
 * @example The lock operations
 * ```ts
 * import { lockOps, ValueEngine } from "./value.ts";
 * const ops = lockOps<ValueEngine>((e) => e.lockEngine());
 * console.log(Object.keys(ops)); // [ "acquire", "tryAcquire", "release", "locked" ]
 * ```
 */
export function lockOps<E>(lockOf: (e: E) => LockEngine): LockOpsOf<E> {
  const ops = lockSpec.ops;
  return {
    acquire: (e, args, ctx) => ops.acquire(lockOf(e), args, ctx),
    tryAcquire: (e, args, ctx) => ops.tryAcquire(lockOf(e), args, ctx),
    release: (e, args, ctx) => ops.release(lockOf(e), args, ctx),
    locked: (e) => ops.locked(lockOf(e)),
  };
}

/**
 * @internal The shared-buffer fields of a lock inside a structure's handle:
 * a Lock's handle without the thread registry (the structure's handle
 * carries it).
 *
 * @example The lock part of a handle
 * ```ts
 * import { LockEngine } from "../sync/lock.ts";
 * import { sharedLockFields } from "./value.ts";
 * console.log(sharedLockFields(new LockEngine()).kind); // lock
 * ```
 */
export function sharedLockFields(lock: LockEngine): LockHandle {
  return { ...lockSpec.share(lock), kind: "lock", via: "shared-buffer" };
}

/**
 * @internal The Lock of a structure with a lock (Value, SharedArray): over
 * the lock engine beside the structure's, or, remotely, a Lock whose calls
 * go to the structure (see {@linkcode remoteLock}).
 *
 * @example The lock of an attached value
 * ```ts
 * import { lockOf, ValueEngine } from "./value.ts";
 * const engine = ValueEngine.create("i", 0, true);
 * const lock = lockOf({ kind: "value", via: "shared-buffer" }, { engine });
 * console.log(lock.handle.kind, await lock.locked()); // lock false
 * ```
 */
export function lockOf(h: Handle, backend: Backend<{ lockEngine(): LockEngine }>): Lock {
  if (backend.remote) return remoteLock(h, backend.remote);
  const engine = backend.engine.lockEngine();
  return new Lock({ ...sharedLockFields(engine), via: h.via, registry: h.registry }, { engine });
}

/**
 * @internal The Lock of a remote structure: its calls go to the structure,
 * which dispatches them to its lock (see {@linkcode lockOps}).
 *
 * @example A Lock that calls the structure
 * ```ts
 * import { remoteLock } from "./value.ts";
 * const lock = remoteLock({ kind: "value", via: "socket" }, { call: () => Promise.resolve(false) });
 * console.log(lock.handle.kind, await lock.locked()); // lock false
 * ```
 */
export function remoteLock(h: Handle, remote: Remote): Lock {
  return new Lock({ ...h, kind: "lock" }, { remote });
}

/**
 * @internal Brings a remote answer to the JavaScript type of the element
 * (bigint for 64-bit types).
 *
 * @example 64-bit answers become bigints
 * ```ts
 * import { fromWireElement } from "./value.ts";
 * console.log(fromWireElement("i64", 5), fromWireElement("i32", 5)); // 5n 5
 * ```
 */
export function fromWireElement(typecode: TypeName, v: unknown): unknown {
  return (typecode === "i64" || typecode === "u64") && typeof v === "number" ? BigInt(v) : v;
}

/** The operations of a Value or RawValue besides its lock's. */
const /** @internal */ valueOwnOps = {
  describe: (e: ValueEngine): ValueDescription => e.describe(),
  load: (e: ValueEngine): unknown => e.load(),
  store: (e: ValueEngine, [v]: [unknown]): void => e.store(v),
  add: (e: ValueEngine, [n]: [unknown]): unknown => e.add(n),
  exchange: (e: ValueEngine, [v]: [unknown]): unknown => e.exchange(v),
  compareExchange: (e: ValueEngine, [x, r]: [unknown, unknown]): unknown => e.compareExchange(x, r),
};

/** The operations of a Value or RawValue, local and remote (the lock ops fail on a RawValue). */
const /** @internal */ valueOps: typeof valueOwnOps & LockOpsOf<ValueEngine> = {
  ...valueOwnOps,
  ...lockOps<ValueEngine>((e) => e.lockEngine()),
};

/** What a value's shared-buffer handle carries besides kind, via and registry. */
function share(e: ValueEngine): SharedFields {
  return e.lock
    ? { typecode: e.typecode, buffer: e.buffer, lock: sharedLockFields(e.lock) }
    : { typecode: e.typecode, buffer: e.buffer };
}

/** The shared-buffer handle of a value made without a manager (`Value.create`). */
function sharedHandle(e: ValueEngine): ValueHandle {
  return { ...share(e), kind: "value", via: "shared-buffer", registry: registryBuffer() } as ValueHandle;
}

/**
 * A typed scalar without a lock: Python's `multiprocessing.RawValue`. Every
 * operation is a single atomic; use {@linkcode Value} when you also want a
 * lock for compound updates.
 *
 * The type code is Python's (`"i"`, `"d"`, `"q"`, `"?"`, …) or an explicit
 * name (`"i32"`, `"f64"`, `"i64"`, `"u8"`, `"bool"`); 64-bit integers are
 * `bigint`s, bool is `boolean`, everything else a `number`. A store outside
 * the type's range is a `RangeError`; `add` wraps as C does.
 *
 * **Visibility**: every operation is a sequentially consistent atomic: a
 * store is visible to every later load in any thread.
 *
 * **Transports**: shared buffer (the `value` accessor and `Sync` twins run in
 * the caller's thread) and socket (async; each call one round trip).
 *
 * @example A counter without a lock
 * ```ts
 * import { RawValue } from "./value.ts";
 * const hits = RawValue.create("i", 0);
 * hits.addSync(5);
 * hits.value += 1;                  // load then store: not atomic together
 * console.log(hits.value, await hits.load()); // 6 6
 * ```
 */
export class RawValue<C extends TypeCode = TypeCode> extends Shared<ValueEngine, typeof valueOps> {
  /** The explicit name of the value's type (`"i32"` for `"i"`, …). */
  readonly typecode: TypeName;

  /**
   * @internal Use `RawValue.create`, `Manager.value()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered.
   */
  constructor(handle: Handle, backend: Backend<ValueEngine>, described?: ValueDescription) {
    super(handle, backend, valueOps);
    this.typecode = backend.engine?.typecode ?? typeInfo(described?.typecode, "attach value").name;
  }

  /**
   * A new value in shared memory, zero (false) unless `init` is given, with
   * no lock. Pass it to workers as an argument of `spawn`, or its `handle`
   * by `postMessage` and `attach`.
   *
   * @example Creating raw values of several types
   * ```ts
   * import { RawValue } from "./value.ts";
   * const n = RawValue.create("q", 1n << 40n);
   * const ratio = RawValue.create("f64", 0.5);
   * const flag = RawValue.create("?", true);
   * console.log(n.loadSync(), ratio.loadSync(), flag.loadSync()); // 1099511627776n 0.5 true
   * ```
   */
  static create<C extends TypeCode>(typecode: C, init?: InputOf<C>): RawValue<C> {
    const e = ValueEngine.create(typecode, init, false);
    return new RawValue<C>(sharedHandle(e), { engine: e });
  }

  /** An answer as the element type (a remote 64-bit answer may arrive as a number). */
  #element(v: unknown): ElementOf<C> {
    return fromWireElement(this.typecode, v) as ElementOf<C>;
  }

  /** The current value (Python's `.value`). */
  async load(): Promise<ElementOf<C>> {
    return this.#element(await this.call("load", []));
  }
  /** Replaces the value. A value the type cannot hold is a `TypeError` or `RangeError`. */
  async store(value: InputOf<C>): Promise<void> {
    return this.exec("store", [value]);
  }
  /**
   * Adds `n` atomically (subtracts when negative) and returns the previous
   * value, as `Atomics.add` does. Integers wrap; floats add exactly once even
   * when threads race. Bool values cannot be added to (`TypeError`).
   */
  async add(n: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("add", [n]));
  }
  /** Stores `value` and returns the previous value, atomically. */
  async exchange(value: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("exchange", [value]));
  }
  /**
   * Stores `replacement` if the value equals `expected`, atomically, and
   * returns the previous value: the swap happened when it equals `expected`.
   * Floats compare by value (NaN equals NaN).
   */
  async compareExchange(expected: InputOf<C>, replacement: InputOf<C>): Promise<ElementOf<C>> {
    return this.#element(await this.call("compareExchange", [expected, replacement]));
  }

  /** The current value, read synchronously (shared buffer only): Python's `v.value`. */
  get value(): ElementOf<C> {
    return this.local("value").load() as ElementOf<C>;
  }
  /** Stores synchronously (shared buffer only): Python's `v.value = x`. */
  set value(v: InputOf<C>) {
    this.local("value").store(v);
  }
  /** The synchronous twin of {@linkcode load} (shared buffer only). */
  loadSync(): ElementOf<C> {
    return this.local("loadSync").load() as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode store} (shared buffer only). */
  storeSync(value: InputOf<C>): void {
    this.local("storeSync").store(value);
  }
  /** The synchronous twin of {@linkcode add} (shared buffer only). */
  addSync(n: InputOf<C>): ElementOf<C> {
    return this.local("addSync").add(n) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode exchange} (shared buffer only). */
  exchangeSync(value: InputOf<C>): ElementOf<C> {
    return this.local("exchangeSync").exchange(value) as ElementOf<C>;
  }
  /** The synchronous twin of {@linkcode compareExchange} (shared buffer only). */
  compareExchangeSync(expected: InputOf<C>, replacement: InputOf<C>): ElementOf<C> {
    return this.local("compareExchangeSync").compareExchange(expected, replacement) as ElementOf<C>;
  }
}

/**
 * A typed scalar with a lock: Python's `multiprocessing.Value`.
 *
 * Each operation on the value is already atomic (see {@linkcode RawValue});
 * the lock from {@linkcode Value.getLock} is for compound updates that must
 * not interleave, as `with v.get_lock(): v.value += 1` in Python. Unlike
 * Python's `Synchronized`, loads and stores do not take the lock themselves,
 * so holding it while reading the value cannot deadlock. Python's default
 * lock is recursive; this one is a {@linkcode Lock} (not recursive).
 *
 * **Visibility**: every operation is a sequentially consistent atomic; writes
 * made under the lock are visible to the next holder.
 *
 * **Transports**: shared buffer (sync twins, `value` accessor) and socket
 * (async; the lock lives with the value on the manager and is held by the
 * connection).
 *
 * @example Four threads add, one compound update under the lock
 * ```ts
 * import { Value } from "./value.ts";
 * const total = Value.create("d", 0);
 * await total.add(1.5);                          // atomic, no lock needed
 * await total.getLock().withLock(async () => {   // read-modify-write as one step
 *   await total.store((await total.load()) * 2);
 * });
 * console.log(total.value); // 3
 * ```
 */
export class Value<C extends TypeCode = TypeCode> extends RawValue<C> {
  readonly #lock: Lock;

  /**
   * @internal Use `Value.create`, `Manager.value()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered; `lock` is
   * a Lock the creator gave (else the value's own lock).
   */
  constructor(handle: Handle, backend: Backend<ValueEngine>, described?: ValueDescription, lock?: Lock) {
    super(handle, backend, described);
    this.#lock = lock ?? lockOf(this.handle, backend);
  }

  /**
   * A new value in shared memory with a lock (a new one, or `options.lock`
   * to share a Lock among values), zero (false) unless `init` is given.
   *
   * @example Sharing one lock between two values
   * ```ts
   * import { Value } from "./value.ts";
   * const a = Value.create("i32", 1);
   * const b = Value.create("i32", 2, { lock: a.getLock() });
   * console.log(a.getLock() === b.getLock()); // true
   * ```
   */
  static override create<C extends TypeCode>(
    typecode: C,
    init?: InputOf<C>,
    options?: { readonly lock?: true | Lock },
  ): Value<C> {
    const lock = options?.lock;
    if (lock === (false as unknown)) {
      throw new TypeError("Cannot create value as 'lock' is false: use RawValue.create: received false");
    }
    const e = ValueEngine.create(typecode, init, lock ?? true);
    return new Value<C>(sharedHandle(e), { engine: e }, undefined, lock instanceof Lock ? lock : undefined);
  }

  /** The lock guarding compound updates of this value (Python's `get_lock()`). */
  getLock(): Lock {
    return this.#lock;
  }

  /**
   * The raw value behind this one (Python's `get_obj()`): a
   * {@linkcode RawValue} over the same memory (or the same structure on the
   * manager), without `getLock()`. Since this Value's own loads and stores
   * do not take the lock either, the two differ only in that; the raw one
   * is for code written against `RawValue`. The same object on every call;
   * it shares this client's hold on the structure, so closing either closes
   * both (as with `getLock()`), and its handle attaches as this Value.
   *
   * @example The raw value of a synchronized one
   * ```ts
   * import { Value } from "./value.ts";
   * const v = Value.create("i32", 7);
   * const raw = v.getObj();
   * raw.storeSync(8);
   * console.log(v.value, "getLock" in raw); // 8 false
   * ```
   */
  getObj(): RawValue<C> {
    if (this.#obj === undefined) {
      const e = this.engine;
      this.#obj = new RawValue<C>(this.handle, e !== undefined ? { engine: e } : { remote: this.remote! }, {
        typecode: this.typecode,
        lock: false,
      });
    }
    return this.#obj;
  }
  #obj: RawValue<C> | undefined;
}

/** A remote client: asks the server for the value's type and whether it has a lock first. */
async function remoteClient(handle: Handle, backend: Backend<ValueEngine>): Promise<RawValue | Value> {
  const d = await backend.remote!.call("describe", []) as ValueDescription | undefined;
  return d?.lock ? new Value(handle, backend, d) : new RawValue(handle, backend, d);
}

/** The Value kind (a Value, or a RawValue when made with `lock: false`). */
export const valueSpec = defineStructure({
  kind: "value",
  create: ([typecode, init, options]) =>
    ValueEngine.create(typecode, init, (options as { lock?: unknown } | undefined)?.lock),
  share,
  open: (h) =>
    new ValueEngine(
      typeInfo(h.typecode, "attach value").name,
      h.buffer as SharedArrayBuffer,
      (h.lock as LockHandle | undefined)?.buffer as SharedArrayBuffer | undefined,
    ),
  ops: valueOps,
  // a remote client learns the value's type first, so it is a promise (attach awaits it)
  client: (handle, backend: Backend<ValueEngine>): RawValue | Value | Promise<RawValue | Value> =>
    backend.engine
      ? (backend.engine.lock ? new Value(handle, backend) : new RawValue(handle, backend))
      : remoteClient(handle, backend),
});
