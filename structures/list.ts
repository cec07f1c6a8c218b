/**
 * A list shared by threads, processes or machines: Python's
 * `Manager().list()`, on any transport.
 *
 * On the shared buffer it is a dense array of Int32 slots in a growable
 * SharedArrayBuffer, each slot the offset of an entry block holding one
 * encoded item (CPython's `PyListObject`: an array of pointers to objects).
 * The slot array grows by reallocation beside the old one (×1.5), is copied
 * while readers keep reading the old one, and is swapped in by one pointer
 * store; it shrinks again below a quarter full. Entry blocks come from the
 * heap's size classes, so a popped item's block is reused by the next item of
 * its class; a `set` overwrites in place when the new encoding fits its block.
 * Readers take no lock (see `_seqlock.ts`); writers serialise on one robust
 * mutex.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { CapacityError } from "../errors.ts";
import { decode, encode } from "../transports/_codec.ts";
import { decodeFast, encodeFast, MISS, SCRATCH_BYTES } from "../transports/_fastcodec.ts";
import { createHeapBuffer, Heap } from "./_heap.ts";
import { type Journal, nonBlockingOps, runNonBlocking, SeqLock } from "./_seqlock.ts";

/** Writer mutex word. */
const L_LOCK = 0;
/** Sequence counter: odd while a writer is changing the list. */
const L_SEQ = 1;
/** Items in the list (Python's `len`). */
const L_COUNT = 2;
/** Byte offset of the slot array (Int32 entry block offsets, items in order). */
const L_SLOTS = 3;
/** Slots the slot array holds. */
const L_CAP = 4;
/** Bytes before the item's bytes in an entry block: their length. */
const ENTRY_HEADER = 4;
/** Fewest slots of a slot array. */
const MIN_CAP = 8;
/** Entry blocks up to this size are overwritten in place by any value that fits. */
const SMALL_BLOCK = 64;
/**
 * Most slots (or words of an item overwritten in place) one odd window journals; a larger change is
 * made out of place, in a fresh slot array or block swapped in.
 */
const IN_PLACE_WORDS = 64;
/** Lock-free attempts of a long read (scan, slice) before it takes the writer lock. */
const READ_ATTEMPTS = 3;

/** Default ceiling of a list's buffer. */
export const DEFAULT_MAX_BYTES = 1 << 30;

/** Options of a shared-buffer list. */
export interface ListOptions {
  /** Name under which other threads and processes of the manager find it. */
  readonly name?: string;
  /** Ceiling of the list's memory; a write past it fails with `CapacityError`. Default 1 GiB. */
  readonly maxBytes?: number;
  /** Bytes to reserve at creation. Default 64 KiB. */
  readonly initialBytes?: number;
}

/** Scratch buffer of this thread for values on the codec's fast path (no user code runs while in use). */
const V_SCRATCH: Uint8Array = new Uint8Array(SCRATCH_BYTES);

/** Copies `n` bytes of `src` to `dst[at]` without allocating a view for short runs. */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array, n: number): void {
  if (n <= 64) { for (let i = 0; i < n; i++) dst[at + i] = src[i]; }
  else dst.set(n === src.length ? src : src.subarray(0, n), at);
}

/** A short printable form of a value for error messages. */
function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === "bigint"
      ? `${v}n`
      : typeof v === "object" && v !== null && !(v instanceof Date)
      ? JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x) ?? String(v)
      : typeof v === "string"
      ? JSON.stringify(v)
      : String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function checkIndex(i: unknown, what: string): number {
  if (!Number.isInteger(i)) throw new TypeError(`Cannot ${what} as the index must be an integer: received ${show(i)}`);
  return i as number;
}

function checkBound(i: unknown, what: string, name: string): number | undefined {
  if (i === undefined || i === null) return undefined;
  if (!Number.isInteger(i)) throw new TypeError(`Cannot ${what} as '${name}' must be an integer: received ${show(i)}`);
  return i as number;
}

function outOfRange(what: string, i: number): RangeError {
  return new RangeError(`Cannot ${what} as the index is out of range: received ${i}`);
}

/** Python's `slice(start, stop, step).indices(n)`: first index, step and number of items. */
function sliceIndices(n: number, start?: number, stop?: number, step?: number): [number, number, number] {
  const st = step ?? 1;
  if (st === 0) throw new RangeError(`Cannot slice list as 'step' must not be zero: received ${st}`);
  const lower = st < 0 ? -1 : 0, upper = st < 0 ? n - 1 : n;
  const clamp = (x: number | undefined, dflt: number) =>
    x === undefined ? dflt : x < 0 ? Math.max(x + n, lower) : Math.min(x, upper);
  const a = clamp(start, st < 0 ? upper : lower), b = clamp(stop, st < 0 ? lower : upper);
  const len = st > 0 ? (b > a ? Math.ceil((b - a) / st) : 0) : (a > b ? Math.ceil((a - b) / -st) : 0);
  return [a, st, len];
}

/** Python's bounds of `list.index(x, start, stop)`: negative counts from the end, then clamped to [0, n]. */
function boundIndex(x: number | undefined, n: number, dflt: number): number {
  if (x === undefined) return dflt;
  return x < 0 ? Math.max(0, x + n) : Math.min(x, n);
}

const RANK_NUMBER = 0, RANK_STRING = 1, RANK_DATE = 2, RANK_ARRAY = 3;

function rankOf(v: unknown): number {
  switch (typeof v) {
    case "number":
    case "bigint":
    case "boolean":
      return RANK_NUMBER;
    case "string":
      return RANK_STRING;
    default:
      return v instanceof Date ? RANK_DATE : Array.isArray(v) ? RANK_ARRAY : -1;
  }
}

/**
 * The order of Python's `list.sort()` without a key: numbers (with bigints
 * and booleans) by value, strings by code units, Dates by time, arrays
 * lexicographically; anything else, or two kinds mixed, is a `TypeError`.
 */
function defaultCompare(a: unknown, b: unknown): number {
  const ra = rankOf(a);
  if (ra < 0 || ra !== rankOf(b)) {
    throw new TypeError(
      `Cannot sort list as its items are not comparable: received ${a === null ? "null" : typeof a} and ${
        b === null ? "null" : typeof b
      }`,
    );
  }
  switch (ra) {
    case RANK_DATE:
      return Math.sign((a as Date).getTime() - (b as Date).getTime());
    case RANK_ARRAY: {
      const x = a as unknown[], y = b as unknown[];
      for (let i = 0; i < x.length && i < y.length; i++) {
        const c = defaultCompare(x[i], y[i]);
        if (c !== 0) return c;
      }
      return Math.sign(x.length - y.length);
    }
    default:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
}

/** Indices 0..n-1 in the stable order `compare` gives to `values`. */
function sortedOrder(values: readonly unknown[], compare: (a: unknown, b: unknown) => number): number[] {
  const order = Array.from(values, (_, i) => i);
  order.sort((i, j) => compare(values[i], values[j]));
  return order;
}

/** Bytes of a torn read's garbage. */
const EMPTY = new Uint8Array(0);
/** Thrown by a long read that saw a writer inside; the read is retried. */
const TORN = new Error("torn read");

/** The range of a whole list of `n` items, for `#collect`. */
const wholeList = (n: number) => [0, 1, n] as const;

/** Encodes a value for matching (remove, index, count): into the scratch buffer when it can. */
function encodeProbe(v: unknown): [Uint8Array, number] {
  const n = encodeFast(v, V_SCRATCH);
  if (n >= 0) return [V_SCRATCH, n];
  const b = encode(v);
  return [b, b.length];
}

/** The encodings of values off the codec's fast path (`undefined` where the fast path takes it). */
function encodeSlow(values: readonly unknown[]): Array<Uint8Array | undefined> {
  const out = new Array<Uint8Array | undefined>(values.length);
  for (let j = 0; j < values.length; j++) out[j] = encodeFast(values[j], V_SCRATCH) < 0 ? encode(values[j]) : undefined;
  return out;
}

/**
 * The shared-memory engine of a List: synchronous, values in and out.
 *
 * @internal
 */
export class ListEngine {
  readonly heap: Heap;
  readonly seq: SeqLock;
  /** The undo journal of this structure's steps (in the heap's header). */
  readonly #j: Journal;
  /** Bytes of the item a read (or a removal) could not decode on the fast path. */
  #bytes: Uint8Array | undefined;

  /** The words of the buffer (a fresh view after growth: see `Heap.sync`). */
  get i32(): Int32Array {
    return this.heap.i32;
  }
  /** The bytes of the buffer. */
  get u8(): Uint8Array {
    return this.heap.u8;
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.heap = new Heap(buffer, "list");
    this.seq = new SeqLock(this.i32, L_LOCK, L_SEQ, this.heap.journal);
    this.#j = this.heap.journal;
  }

  /** Lays out an empty list in a new buffer. */
  static create(options?: ListOptions): ListEngine {
    const initial = options?.initialBytes ?? 64 * 1024;
    if (typeof initial !== "number" || !(initial >= 0)) {
      throw new TypeError(`Cannot create list as 'initialBytes' must be a non-negative number: received ${initial}`);
    }
    const e = new ListEngine(createHeapBuffer(initial, options?.maxBytes ?? DEFAULT_MAX_BYTES, "list"));
    const slots = e.heap.alloc(MIN_CAP * 4);
    const i32 = e.i32;
    i32[L_SLOTS] = slots;
    i32[L_CAP] = e.heap.capacity(slots) >> 2;
    return e;
  }

  // ---- reads (lock-free: readers validate by the sequence counter) ----

  /**
   * Decodes the item in the entry block at `off` when it is on the codec's
   * fast path; otherwise copies its bytes to `#bytes` and returns MISS.
   * Robust against torn reads: a garbage offset yields garbage, never a throw.
   */
  #peek(off: number): unknown {
    const u8 = this.heap.u8;
    const len = this.heap.i32[off >> 2] | 0, p = off + ENTRY_HEADER;
    const v = decodeFast(u8, p, len);
    if (v === MISS) {
      // a torn read may give any length: copy nothing that is not inside the block
      this.#bytes = len <= this.heap.capacity(off) - ENTRY_HEADER
        ? u8.slice(p, p + Math.max(0, Math.min(len, u8.length - p)))
        : EMPTY;
    }
    return v;
  }

  /** The item at index `i` (negative counts from the end), read without a lock. */
  get(i: number): unknown {
    checkIndex(i, "get list item");
    const seq = this.seq, heap = this.heap;
    for (;;) {
      const s = seq.readBegin();
      heap.sync();
      let v: unknown = MISS, k = -1, bytes: Uint8Array | undefined;
      try {
        const i32 = heap.i32, n = i32[L_COUNT];
        k = i < 0 ? i + n : i;
        if (k >= 0 && k < n) {
          v = this.#peek(i32[(i32[L_SLOTS] >> 2) + k]);
          if (v === MISS) bytes = this.#bytes;
        } else k = -1;
      } catch {
        // torn read: the counter has moved
      }
      if (seq.readValid(s)) {
        if (k < 0) throw outOfRange("get list item", i);
        return v === MISS ? decode(bytes!) : v;
      }
    }
  }

  /** Number of items (Python's `len`). */
  length(): number {
    return Atomics.load(this.seq.i32, L_COUNT);
  }

  /**
   * Runs `fn` on a consistent state: lock-free, retried when a writer was
   * inside; after a few failed attempts (a busy list) under the writer lock.
   * `fn` gets the sequence number it read under.
   */
  #read<T>(fn: (s: number) => T, held = false): T {
    if (held) return fn(Atomics.load(this.seq.i32, L_SEQ)); // the caller holds the writer lock
    for (let attempt = 0;; attempt++) {
      const locked = attempt >= READ_ATTEMPTS;
      const id = locked ? this.seq.lock() : 0;
      try {
        const s = this.seq.readBegin();
        this.heap.sync();
        let r: T;
        try {
          r = fn(s);
        } catch (e) {
          if (locked) throw e;
          continue; // torn read
        }
        if (this.seq.readValid(s)) return r;
      } finally {
        if (locked) this.seq.unlock(id);
      }
    }
  }

  /**
   * A consistent snapshot of items `a, a + step, …` where `range` picks
   * `[a, step, len]` from the length read in the same snapshot; with the
   * version (sequence number) it was read at.
   */
  #collect(range: (n: number) => readonly [number, number, number], held = false): [number, unknown[]] {
    const misses: Array<Uint8Array | undefined> = [];
    let anyMiss = false;
    const [s, out] = this.#read((s) => {
      const i32 = this.heap.i32, base = i32[L_SLOTS] >> 2, n = Math.min(i32[L_COUNT], i32[L_CAP]);
      const [a, step, len] = range(n);
      const vals = new Array<unknown>(len);
      anyMiss = false;
      for (let j = 0, k = a; j < len; j++, k += step) {
        if ((j & 1023) === 1023 && !this.seq.readValid(s)) throw TORN; // stop early when racing a writer
        const v = this.#peek(i32[base + k]);
        if (v === MISS) {
          misses[j] = this.#bytes;
          anyMiss = true;
        }
        vals[j] = v;
      }
      return [s, vals] as const;
    }, held);
    if (anyMiss) { for (let j = 0; j < out.length; j++) if (out[j] === MISS) out[j] = decode(misses[j]!); }
    return [s, out];
  }

  /** Python's `list[start:stop:step]` as a plain array (a snapshot). */
  slice(start?: number, stop?: number, step?: number): unknown[] {
    const b0 = checkBound(start, "slice list", "start"), b1 = checkBound(stop, "slice list", "stop");
    const st = checkBound(step, "slice list", "step");
    if (st === 0) throw new RangeError(`Cannot slice list as 'step' must not be zero: received ${st}`);
    return this.#collect((n) => sliceIndices(n, b0, b1, st))[1];
  }

  /** All items (a snapshot). */
  toArray(): unknown[] {
    return this.#collect(wholeList)[1];
  }

  /** True when the entry block at `off` holds exactly `klen` bytes of `kb`. */
  #equals(off: number, kb: Uint8Array, klen: number): boolean {
    const i32 = this.heap.i32, u8 = this.heap.u8;
    if (i32[off >> 2] !== klen) return false;
    const p = off + ENTRY_HEADER;
    for (let j = 0; j < klen; j++) if (u8[p + j] !== kb[j]) return false;
    return true;
  }

  /** First index in [from, to) whose item encodes as `kb`, or -1; reads under the caller's seq or lock. */
  #find(kb: Uint8Array, klen: number, from: number, to: number): number {
    const i32 = this.heap.i32, base = i32[L_SLOTS] >> 2, end = Math.min(to, i32[L_COUNT]);
    for (let k = from; k < end; k++) if (this.#equals(i32[base + k], kb, klen)) return k;
    return -1;
  }

  /** Python's `list.index(x, start, stop)`: fails with `RangeError` when absent. */
  index(value: unknown, start?: number, stop?: number): number {
    const b0 = checkBound(start, "find value in list", "start"), b1 = checkBound(stop, "find value in list", "stop");
    const [kb, klen] = encodeProbe(value);
    const k = this.#read(() => {
      const n = this.heap.i32[L_COUNT];
      return this.#find(kb, klen, boundIndex(b0, n, 0), boundIndex(b1, n, n));
    });
    if (k < 0) throw new RangeError(`Cannot find value in list as it is not in the list: received ${show(value)}`);
    return k;
  }

  /** Python's `x in list`. */
  includes(value: unknown): boolean {
    const [kb, klen] = encodeProbe(value);
    return this.#read(() => this.#find(kb, klen, 0, this.heap.i32[L_COUNT])) >= 0;
  }

  /** Python's `list.count(x)`: items equal to `value` by encoding. */
  count(value: unknown): number {
    const [kb, klen] = encodeProbe(value);
    return this.#read(() => {
      const i32 = this.heap.i32, base = i32[L_SLOTS] >> 2, n = i32[L_COUNT];
      let c = 0;
      for (let k = 0; k < n; k++) if (this.#equals(i32[base + k], kb, klen)) c++;
      return c;
    });
  }

  // ---- writes (under the writer lock; readers see each change whole) ----

  #lock(): number {
    const id = this.seq.lock();
    this.heap.sync();
    return id;
  }

  /** A new entry block holding `n` bytes of `b`. */
  #newEntry(b: Uint8Array, n: number): number {
    const off = this.heap.alloc(ENTRY_HEADER + n);
    const i32 = this.heap.i32, u8 = this.heap.u8; // after the allocation, which may have grown the buffer
    i32[off >> 2] = n;
    copyInto(u8, off + ENTRY_HEADER, b, n);
    return off;
  }

  /**
   * Moves the items to a new slot array of at least `slots` slots, allocated
   * beside the old one and copied while readers keep reading the old; the
   * swap is one odd window of two stores. Fails with `CapacityError`
   * having changed nothing.
   */
  #realloc(slots: number): void {
    const heap = this.heap;
    const fresh = heap.alloc(slots * 4);
    const i32 = heap.i32; // after the allocation
    const old = i32[L_SLOTS], n = i32[L_COUNT];
    i32.copyWithin(fresh >> 2, old >> 2, (old >> 2) + n);
    this.#open();
    this.#j.log(i32, L_SLOTS);
    this.#j.log(i32, L_CAP);
    this.seq.begin();
    i32[L_SLOTS] = fresh;
    i32[L_CAP] = heap.capacity(fresh) >> 2;
    this.seq.end();
    heap.free(old);
  }

  /** Opens a step of the journal: the caller logs its words, then makes its odd window. */
  #open(): void {
    this.#j.open();
  }

  /**
   * Makes slots `[k, k + vals.length)` hold `vals` and the length `count`,
   * in one odd window that is one journaled step. A change of more than
   * {@linkcode IN_PLACE_WORDS} slots is made in a fresh slot array swapped
   * in (so fails with `CapacityError` having changed nothing).
   */
  #commitSlots(k: number, vals: ArrayLike<number>, count: number): void {
    const heap = this.heap, j = heap.journal, m = vals.length;
    let i32 = heap.i32;
    const old = i32[L_SLOTS], base = old >> 2;
    if (m < IN_PLACE_WORDS) {
      j.open();
      for (let x = 0; x < m; x++) j.log(i32, base + k + x);
      j.log(i32, L_COUNT);
      this.seq.begin();
      for (let x = 0; x < m; x++) i32[base + k + x] = vals[x];
      Atomics.store(i32, L_COUNT, count);
      this.seq.end();
      return;
    }
    const fresh = heap.alloc(i32[L_CAP] * 4);
    i32 = heap.i32; // after the allocation
    const nb = fresh >> 2;
    i32.copyWithin(nb, base, base + k);
    for (let x = 0; x < m; x++) i32[nb + k + x] = vals[x];
    this.#open();
    this.#j.log(i32, L_SLOTS);
    this.#j.log(i32, L_CAP);
    this.#j.log(i32, L_COUNT);
    this.seq.begin();
    i32[L_SLOTS] = fresh;
    i32[L_CAP] = heap.capacity(fresh) >> 2;
    Atomics.store(i32, L_COUNT, count);
    this.seq.end();
    heap.free(old);
  }

  /** Ensures room for `need` items, growing the slot array by half. */
  #reserve(need: number): void {
    const cap = this.heap.i32[L_CAP];
    if (need > cap) this.#realloc(Math.max(need, cap + (cap >> 1)));
  }

  /** Shrinks a slot array that is less than a quarter full; optional, so a full buffer skips it. */
  #trim(): void {
    const i32 = this.heap.i32, n = i32[L_COUNT], cap = i32[L_CAP];
    if (cap <= MIN_CAP * 2 || n * 4 >= cap) return;
    try {
      this.#realloc(Math.max(MIN_CAP, n * 2));
    } catch (e) {
      if (!(e instanceof CapacityError)) throw e;
    }
  }

  /** Appends one item (Python's `list.append`). Fails with `CapacityError` at `maxBytes`, storing nothing. */
  append(value: unknown): void {
    let vb = V_SCRATCH, vlen = encodeFast(value, V_SCRATCH);
    if (vlen < 0) vlen = (vb = encode(value)).length;
    const id = this.#lock();
    try {
      const n = this.heap.i32[L_COUNT];
      this.#reserve(n + 1);
      const off = this.#newEntry(vb, vlen);
      const i32 = this.heap.i32;
      i32[(i32[L_SLOTS] >> 2) + n] = off; // past the end: no reader looks there
      this.#open();
      this.#j.log(i32, L_COUNT);
      this.seq.begin();
      Atomics.store(i32, L_COUNT, n + 1);
      this.seq.end();
    } finally {
      this.seq.unlock(id);
    }
  }

  /**
   * Allocates entry blocks for `values` (encoded in `slow`, else on the fast
   * path) and hands each offset to `put`; if the heap is full, frees those
   * already made and fails with `CapacityError`, having changed nothing.
   */
  #newEntries(
    values: readonly unknown[],
    slow: ReadonlyArray<Uint8Array | undefined>,
    put: (j: number, off: number) => void,
    made: number[] | undefined,
  ): void {
    let j = 0;
    const undo: number[] = made ?? [];
    try {
      for (; j < values.length; j++) {
        const b = slow[j];
        const off = b === undefined
          ? this.#newEntry(V_SCRATCH, encodeFast(values[j], V_SCRATCH))
          : this.#newEntry(b, b.length);
        if (!made) undo.push(off);
        put(j, off);
      }
    } catch (e) {
      for (const off of undo) this.heap.free(off);
      throw e;
    }
  }

  /**
   * Replaces `d` items at index `k` by `values`, all at once for readers;
   * returns the removed items. All or nothing: at `maxBytes` it fails with
   * `CapacityError` having changed nothing.
   */
  #splice(k: number, d: number, values: readonly unknown[], slow: ReadonlyArray<Uint8Array | undefined>): unknown[] {
    const heap = this.heap;
    const n = heap.i32[L_COUNT], m = values.length;
    const atEnd = k === n && d === 0;
    this.#reserve(n - d + m);
    // the new entries, made before anything visible changes
    const offs: number[] = [];
    if (atEnd) {
      const base = heap.i32[L_SLOTS] >> 2;
      this.#newEntries(values, slow, (j, off) => (heap.i32[base + n + j] = off), undefined);
    } else {
      this.#newEntries(values, slow, (_j, off) => offs.push(off), offs);
    }
    const i32 = heap.i32, base = i32[L_SLOTS] >> 2;
    // the removed items, read before their blocks are freed
    const removed = new Array<unknown>(d), misses: Array<Uint8Array | undefined> = [];
    for (let j = 0; j < d; j++) {
      const v = this.#peek(i32[base + k + j]);
      if (v === MISS) misses[j] = this.#bytes;
      removed[j] = v;
    }
    const freed = d === 0 ? undefined : i32.slice(base + k, base + k + d);
    if (atEnd) {
      this.#open();
      this.#j.log(i32, L_COUNT);
      this.seq.begin();
      Atomics.store(i32, L_COUNT, n + m);
      this.seq.end();
    } else {
      // the final content of the slots from k: the new items, then the shifted tail (if it moves)
      const tail = m !== d ? n - k - d : 0;
      const vals = new Int32Array(m + tail);
      for (let j = 0; j < m; j++) vals[j] = offs[j];
      if (tail > 0) vals.set(i32.subarray(base + k + d, base + n), m);
      try {
        this.#commitSlots(k, vals, n - d + m);
      } catch (e) {
        for (const off of offs) heap.free(off);
        throw e;
      }
    }
    if (freed) {
      for (let j = 0; j < d; j++) heap.free(freed[j]);
      this.#trim();
    }
    for (let j = 0; j < d; j++) if (removed[j] === MISS) removed[j] = decode(misses[j]!);
    return removed;
  }

  /** Appends every item (Python's `list.extend`): all of them or, at `maxBytes`, none. */
  extend(values: readonly unknown[]): void {
    if (!Array.isArray(values)) {
      throw new TypeError(`Cannot extend list as the items are not an array: received ${show(values)}`);
    }
    if (values.length === 0) return;
    const slow = encodeSlow(values);
    const id = this.#lock();
    try {
      this.#splice(this.heap.i32[L_COUNT], 0, values, slow);
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Python's `list.insert(i, x)`: before index `i`, which counts from the end when negative and is clamped. */
  insert(i: number, value: unknown): void {
    checkIndex(i, "insert into list");
    const slow = encodeSlow([value]);
    const id = this.#lock();
    try {
      const n = this.heap.i32[L_COUNT];
      this.#splice(i < 0 ? Math.max(0, i + n) : Math.min(i, n), 0, [value], slow);
    } finally {
      this.seq.unlock(id);
    }
  }

  /**
   * JavaScript's `Array.prototype.splice`: removes `deleteCount` items at
   * `start` (negative counts from the end; both clamped), inserts `items`
   * there, returns the removed items — one atomic change.
   */
  splice(start: number, deleteCount: number | undefined, items: readonly unknown[]): unknown[] {
    checkIndex(start, "splice list");
    const dc = checkBound(deleteCount, "splice list", "deleteCount");
    if (!Array.isArray(items)) {
      throw new TypeError(`Cannot splice list as the items are not an array: received ${show(items)}`);
    }
    const slow = encodeSlow(items);
    const id = this.#lock();
    try {
      const n = this.heap.i32[L_COUNT];
      const k = start < 0 ? Math.max(0, start + n) : Math.min(start, n);
      const d = dc === undefined ? n - k : Math.min(Math.max(dc, 0), n - k);
      return this.#splice(k, d, items, slow);
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Unlinks and frees the item at `k` (in range), under the lock; returns it, or MISS with its bytes in #bytes. */
  #takeAt(k: number, n: number): unknown {
    const heap = this.heap, i32 = heap.i32, base = i32[L_SLOTS] >> 2;
    const off = i32[base + k];
    const v = this.#peek(off);
    this.#commitSlots(k, i32.slice(base + k + 1, base + n), n - 1);
    heap.free(off);
    this.#trim();
    return v;
  }

  /** Python's `list.pop(i)`: removes and returns the item at `i` (default the last). `RangeError` when out of range. */
  pop(i = -1): unknown {
    checkIndex(i, "pop from list");
    let v: unknown;
    const id = this.#lock();
    try {
      const n = this.heap.i32[L_COUNT];
      const k = i < 0 ? i + n : i;
      if (k < 0 || k >= n) throw outOfRange("pop from list", i);
      v = this.#takeAt(k, n);
    } finally {
      this.seq.unlock(id);
    }
    return v === MISS ? decode(this.#bytes!) : v;
  }

  /** Python's `list.remove(x)`: removes the first item equal to `value` by encoding; `RangeError` when absent. */
  remove(value: unknown): void {
    const [kb, klen] = encodeProbe(value);
    const id = this.#lock();
    try {
      const n = this.heap.i32[L_COUNT];
      const k = this.#find(kb, klen, 0, n);
      if (k < 0) {
        throw new RangeError(`Cannot remove value from list as it is not in the list: received ${show(value)}`);
      }
      this.#takeAt(k, n);
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Python's `list[i] = x`: in place when the encoding fits the item's block. `RangeError` when out of range. */
  set(i: number, value: unknown): void {
    checkIndex(i, "set list item");
    let vb = V_SCRATCH, vlen = encodeFast(value, V_SCRATCH);
    if (vlen < 0) vlen = (vb = encode(value)).length;
    const heap = this.heap;
    const id = this.#lock();
    try {
      const n = heap.i32[L_COUNT];
      const k = i < 0 ? i + n : i;
      if (k < 0 || k >= n) throw outOfRange("set list item", i);
      const slot = (heap.i32[L_SLOTS] >> 2) + k;
      const off = heap.i32[slot];
      const need = ENTRY_HEADER + vlen, cap = heap.capacity(off);
      if (need <= cap && (cap <= SMALL_BLOCK || need * 2 > cap) && (need + 3) >> 2 < IN_PLACE_WORDS) {
        // fits, and wastes at most half the block: overwrite in place
        const j = heap.journal;
        j.open();
        j.logBytes(heap.i32, off, off + need);
        this.seq.begin();
        heap.i32[off >> 2] = vlen;
        copyInto(heap.u8, off + ENTRY_HEADER, vb, vlen);
        this.seq.end();
        return;
      }
      const fresh = this.#newEntry(vb, vlen);
      const i32 = heap.i32; // the allocation may have grown the buffer
      this.#open();
      this.#j.log(i32, slot);
      this.seq.begin();
      i32[slot] = fresh;
      this.seq.end();
      heap.free(off);
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Removes every item. */
  clear(): void {
    const id = this.#lock();
    try {
      const heap = this.heap, i32 = heap.i32, n = i32[L_COUNT], base = i32[L_SLOTS] >> 2;
      this.#open();
      this.#j.log(i32, L_COUNT);
      this.seq.begin();
      Atomics.store(i32, L_COUNT, 0);
      this.seq.end();
      for (let k = 0; k < n; k++) heap.free(i32[base + k]);
      this.#trim();
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Python's `list.reverse()`, in place. */
  reverse(): void {
    const id = this.#lock();
    try {
      const i32 = this.heap.i32, base = i32[L_SLOTS] >> 2, n = i32[L_COUNT];
      this.#commitSlots(0, i32.slice(base, base + n).reverse(), n);
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Writes the slots in `order` (a permutation of 0..n-1) in one odd window. */
  #permute(order: readonly number[]): void {
    const i32 = this.heap.i32, base = i32[L_SLOTS] >> 2;
    const old = i32.slice(base, base + order.length), vals = new Int32Array(order.length);
    for (let j = 0; j < order.length; j++) vals[j] = old[order[j]];
    this.#commitSlots(0, vals, order.length);
  }

  /**
   * Python's `list.sort()`, stable, in place, under the writer lock: `compare`
   * (default: Python's order of numbers, strings, Dates, arrays) runs with
   * the lock held, so it must not touch this list. If it throws, the list is
   * unchanged.
   */
  sort(compare?: (a: unknown, b: unknown) => number): void {
    const cmp = compare ?? defaultCompare;
    const id = this.#lock();
    try {
      const values = this.#collect(wholeList, true)[1];
      this.#permute(sortedOrder(values, cmp));
    } finally {
      this.seq.unlock(id);
    }
  }

  /** The items and the version they were read at (for a remote `sort`). */
  versioned(): [number, unknown[]] {
    return this.#collect(wholeList);
  }

  /**
   * Reorders the items by `order` (a permutation of their indices) only if
   * nothing was written since `version`; true when it did.
   */
  permuteIf(version: number, order: readonly number[]): boolean {
    if (!Array.isArray(order)) {
      throw new TypeError(`Cannot sort list as the order is not an array: received ${show(order)}`);
    }
    const id = this.#lock();
    try {
      if (Atomics.load(this.seq.i32, L_SEQ) !== version) return false;
      const n = this.heap.i32[L_COUNT];
      const seen = new Uint8Array(n);
      let ok = order.length === n;
      for (let j = 0; ok && j < n; j++) {
        const x = order[j];
        ok = Number.isInteger(x) && x >= 0 && x < n && seen[x] === 0;
        if (ok) seen[x] = 1;
      }
      if (!ok) {
        throw new TypeError(
          `Cannot sort list as the order is not a permutation of its indices: received ${show(order)}`,
        );
      }
      this.#permute(order);
      return true;
    } finally {
      this.seq.unlock(id);
    }
  }

  /** True while a writer holds the list's lock (a diagnostic: readers never need it). */
  writing(): boolean {
    return Atomics.load(this.seq.i32, L_LOCK) !== 0;
  }

  /**
   * Checks the slots and the heap under the writer lock (tests and soaks):
   * the length fits the slot array, no item block is linked twice, and the
   * heap is sound. Returns the problems found.
   */
  check(): string[] {
    const id = this.#lock();
    try {
      const i32 = this.heap.i32, n = i32[L_COUNT], base = i32[L_SLOTS] >> 2, problems: string[] = [];
      if (n < 0 || n > i32[L_CAP]) problems.push(`length ${n} past the ${i32[L_CAP]} slots`);
      const live = Array.from(i32.subarray(base, base + Math.max(0, Math.min(n, i32[L_CAP]))));
      if (new Set(live).size !== live.length) problems.push("an item block is linked twice");
      live.push(i32[L_SLOTS]);
      return problems.concat(this.heap.check(live));
    } finally {
      this.seq.unlock(id);
    }
  }

  /** Memory figures: items, bytes held by live blocks and the buffer's whole size. */
  stats(): { length: number; bytesInUse: number; byteLength: number } {
    return { length: this.length(), bytesInUse: this.heap.inUse(), byteLength: this.heap.byteLength() };
  }
}

function initialItems(initial: unknown): readonly unknown[] {
  if (initial === undefined || initial === null) return [];
  if (Array.isArray(initial)) return initial;
  if (typeof initial === "object" && Symbol.iterator in initial && typeof initial !== "string") {
    return [...(initial as Iterable<unknown>)];
  }
  throw new TypeError(`Cannot create list as the initial items are not iterable: received ${show(initial)}`);
}

/** Items one step of a List's async iteration fetches (one call, so one round trip on a socket). */
export const ITERATION_PAGE = 1024;

/** An optional number that may have crossed the wire as null. */
type Opt = number | undefined | null;

/** The operations of a List, local and remote. */
const /** @internal */ listOps = nonBlockingOps({
  get: (e: ListEngine, [i]: [number]): unknown => e.get(i),
  set: (e: ListEngine, [i, v]: [number, unknown]): void => e.set(i, v),
  append: (e: ListEngine, [v]: [unknown]): void => e.append(v),
  extend: (e: ListEngine, [items]: [readonly unknown[]]): void => e.extend(items),
  insert: (e: ListEngine, [i, v]: [number, unknown]): void => e.insert(i, v),
  pop: (e: ListEngine, [i]: [Opt]): unknown => e.pop(i ?? -1),
  remove: (e: ListEngine, [v]: [unknown]): void => e.remove(v),
  index: (e: ListEngine, [v, start, stop]: [unknown, Opt, Opt]): number => e.index(v, start as number, stop as number),
  count: (e: ListEngine, [v]: [unknown]): number => e.count(v),
  includes: (e: ListEngine, [v]: [unknown]): boolean => e.includes(v),
  slice: (e: ListEngine, [start, stop, step]: [Opt, Opt, Opt]): unknown[] =>
    e.slice(start as number, stop as number, step as number),
  splice: (e: ListEngine, [start, deleteCount, items]: [number, Opt, readonly unknown[]]): unknown[] =>
    e.splice(start, deleteCount as number, items),
  length: (e: ListEngine): number => e.length(),
  toArray: (e: ListEngine): unknown[] => e.toArray(),
  clear: (e: ListEngine): void => e.clear(),
  reverse: (e: ListEngine): void => e.reverse(),
  sort: (e: ListEngine): void => e.sort(),
  versioned: (e: ListEngine): [number, unknown[]] => e.versioned(),
  permuteIf: (e: ListEngine, [version, order]: [number, readonly number[]]): boolean => e.permuteIf(version, order),
});

/**
 * A list shared by threads (shared buffer), processes or machines
 * (socket): Python's `Manager().list()` in camelCase, plus JavaScript's
 * `splice` as one atomic change.
 *
 * Items are any data the codec round-trips (primitives, plain objects,
 * arrays, Map, Set, Date, typed arrays, bigint); `remove`, `index`, `count`
 * and `includes` compare them by their encodings. Indices follow Python:
 * negative ones count from the end; `get`, `set` and `pop` out of range fail
 * with `RangeError` (Python's `IndexError`), as do `remove` and `index` of a
 * value that is absent (Python's `ValueError`); `insert` and `slice` clamp.
 * A write that would take the list past `maxBytes` fails with
 * `CapacityError` and stores nothing (an `extend` or `splice` stores all of
 * its items or none).
 *
 * **Memory** (shared buffer): per item, one Int32 slot and an entry block
 * of the heap's size classes (its encoding + 4 bytes, rounded up by at most
 * 1.5×, 16 bytes at least, plus an 8-byte block header). The slot array
 * grows by half and shrinks when less than a quarter full. Freed blocks are
 * reused by the next item of their size class; the buffer grows by doubling
 * and never shrinks. Measured: 1,000,000 small integers hold 22 MB of blocks
 * in a 64 MiB buffer. Bound, asserted by the tests under a churn of
 * 1,000,000 random appends, pops and sets over ~10,000 live items of mixed
 * sizes: with "live data" the items' encoded bytes plus 16 bytes an item,
 * the heap's bytes in use stay within **4×** the live data (measured 1.2×)
 * and the buffer's byteLength within **8×** (measured 3.4×; at most half of
 * it is ever the doubling's headroom).
 *
 * **Visibility**: a write is visible to every reader once its call returned;
 * readers never see a half-written item, nor a list in the middle of an
 * `extend`, `splice`, `sort` or `reverse`. Readers take no lock: `get` and
 * `length` never wait for a writer (beyond the few stores of its odd window)
 * and go on while a writer holds the lock; growth copies the slot array
 * beside the old one and swaps it in by one store, so it never makes a
 * reader wait. Long reads (`slice`, `toArray`, `index`, `count`,
 * `includes`) retry when a writer changed the list under them, and after
 * three such collisions take the writer lock once, so they cannot starve.
 *
 * **Transports**: shared buffer (sync twins, lock-free reads; `sort`'s
 * compare function runs under the writer lock) and socket (async; `sort`
 * with a compare function sorts a snapshot in the caller and applies the
 * order only if the list did not change meanwhile, else retries).
 *
 * @example A to-do list shared with workers
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const todo = await m.list<string>(["wash", "dry"]);
 * await todo.append("fold");
 * await todo.insert(0, "sort");
 * console.log(await todo.pop(), await todo.get(-1)); // fold dry
 * console.log(await todo.slice(0, 2), await todo.length()); // [ "sort", "wash" ] 3
 * ```
 *
 * @example A hot loop on the shared buffer
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const xs = await m.list<number>();
 * for (let i = 0; i < 1000; i++) xs.appendSync(i);
 * let sum = 0;
 * for (let i = 0; i < xs.lengthSync(); i++) sum += xs.getSync(i);
 * console.log(sum); // 499500
 * ```
 */
export class List<T = unknown> extends Shared<ListEngine, typeof listOps> {
  /** @internal Use `Manager.list()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<ListEngine>) {
    super(handle, backend, listOps);
  }

  /** The item at `index` (negative counts from the end); `RangeError` when out of range. */
  async get(index: number): Promise<T> {
    return this.call("get", [index]) as T;
  }
  /** Replaces the item at `index` (negative counts from the end); `RangeError` when out of range. */
  async set(index: number, value: T): Promise<void> {
    return this.exec("set", [index, value]);
  }
  /** Appends `value` at the end. */
  async append(value: T): Promise<void> {
    return this.exec("append", [value]);
  }
  /** Appends every item of `items`, atomically: all or, at `maxBytes`, none. */
  async extend(items: Iterable<T>): Promise<void> {
    return this.exec("extend", [Array.isArray(items) ? items : [...items]]);
  }
  /** Inserts `value` before `index` (negative counts from the end; clamped to the list, as Python). */
  async insert(index: number, value: T): Promise<void> {
    return this.exec("insert", [index, value]);
  }
  /**
   * Removes and returns the item at `index` (default: the last). Fails with
   * `RangeError` when the list is empty or the index out of range.
   */
  async pop(index = -1): Promise<T> {
    return this.call("pop", [index]) as T;
  }
  /** Removes the first item equal to `value` (by encoding); `RangeError` when there is none. */
  async remove(value: T): Promise<void> {
    return this.exec("remove", [value]);
  }
  /**
   * The index of the first item equal to `value` within `[start, stop)`
   * (Python's bounds: negative count from the end); `RangeError` when absent.
   */
  async index(value: T, start?: number, stop?: number): Promise<number> {
    return this.call("index", [value, start, stop]);
  }
  /** How many items equal `value` (by encoding). */
  async count(value: T): Promise<number> {
    return this.call("count", [value]);
  }
  /** True when an item equals `value` (Python's `value in list`). */
  async includes(value: T): Promise<boolean> {
    return this.call("includes", [value]);
  }
  /** Python's `list[start:stop:step]` as a plain array (a snapshot); `RangeError` for a zero step. */
  async slice(start?: number, stop?: number, step?: number): Promise<T[]> {
    return this.call("slice", [start, stop, step]) as T[];
  }
  /**
   * JavaScript's `splice`, as one atomic change: removes `deleteCount` items
   * at `start` (default: to the end), inserts `items` there and returns the
   * removed items. Also Python's `del list[a:b]` and `list[a:b] = items`.
   */
  async splice(start: number, deleteCount?: number, ...items: T[]): Promise<T[]> {
    return this.call("splice", [start, deleteCount, items]) as T[];
  }
  /** Number of items (Python's `len`). */
  async length(): Promise<number> {
    return this.call("length", []);
  }
  /** A copy as a plain array (a snapshot). */
  async toArray(): Promise<T[]> {
    return this.call("toArray", []) as T[];
  }
  /** Removes every item. */
  async clear(): Promise<void> {
    return this.exec("clear", []);
  }
  /** Reverses the items in place. */
  async reverse(): Promise<void> {
    return this.exec("reverse", []);
  }
  /**
   * Sorts in place, stably. Without `compare`, in Python's order (numbers,
   * strings, Dates or arrays; mixing kinds is a `TypeError`). Every item,
   * `undefined` too, goes through `compare` (`Array.prototype.sort` would put
   * `undefined` last without asking). On the shared
   * buffer `compare` runs under the list's writer lock; remotely the caller
   * sorts a snapshot and the order is applied only if the list is unchanged,
   * else it retries — so `compare` must be pure.
   */
  async sort(compare?: (a: T, b: T) => number): Promise<void> {
    if (compare === undefined) return this.call("sort", []);
    const e = this.engine;
    if (e) return runNonBlocking(() => e.sort(compare as (a: unknown, b: unknown) => number));
    for (;;) {
      const [version, items] = await this.call("versioned", []);
      const order = sortedOrder(items, compare as (a: unknown, b: unknown) => number);
      if (await this.call("permuteIf", [version, order])) return;
    }
  }

  /**
   * Iterates the items from the first: `for await (const x of list)`, on
   * every transport. As Python's iteration of a `ListProxy` (by index until
   * the index is past the end), the loop reads the list as it is: it fetches
   * {@linkcode ITERATION_PAGE} items per call (one round trip each on a
   * socket), sees items appended meanwhile, and ends at the first page that
   * comes back short. Items removed or inserted before the loop's position
   * while it runs shift what it sees, as in Python; take
   * {@linkcode toArray} for a snapshot.
   *
   * @example Iterating a list
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start();
   * const xs = await m.list([1, 2, 3]);
   * let sum = 0;
   * for await (const x of xs) sum += x;
   * console.log(sum); // 6
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (let at = 0;;) {
      const page = await this.slice(at, at + ITERATION_PAGE);
      for (const x of page) yield x;
      if (page.length < ITERATION_PAGE) return;
      at += page.length;
    }
  }
  /**
   * The items from the last to the first (Python's `reversed(list)`): an
   * async iterable over a snapshot taken by one call when the loop starts.
   *
   * @example Iterating backwards
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start();
   * const xs = await m.list(["a", "b", "c"]);
   * const out: string[] = [];
   * for await (const x of xs.reversed()) out.push(x);
   * console.log(out); // [ "c", "b", "a" ]
   * ```
   */
  async *reversed(): AsyncGenerator<T, void, undefined> {
    const items = await this.toArray();
    for (let i = items.length - 1; i >= 0; i--) yield items[i];
  }

  /**
   * The synchronous twin of {@linkcode reversed} (shared buffer only): an
   * iterator over a snapshot, from the last item to the first.
   */
  reversedSync(): IterableIterator<T> {
    return this.toArraySync().reverse().values();
  }
  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync(index: number): T {
    return this.local("getSync").get(index) as T;
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(index: number, value: T): void {
    this.local("setSync").set(index, value);
  }
  /** The synchronous twin of {@linkcode append} (shared buffer only). */
  appendSync(value: T): void {
    this.local("appendSync").append(value);
  }
  /** The synchronous twin of {@linkcode extend} (shared buffer only). */
  extendSync(items: Iterable<T>): void {
    this.local("extendSync").extend(Array.isArray(items) ? items : [...items]);
  }
  /** The synchronous twin of {@linkcode insert} (shared buffer only). */
  insertSync(index: number, value: T): void {
    this.local("insertSync").insert(index, value);
  }
  /** The synchronous twin of {@linkcode pop} (shared buffer only). */
  popSync(index = -1): T {
    return this.local("popSync").pop(index) as T;
  }
  /** The synchronous twin of {@linkcode remove} (shared buffer only). */
  removeSync(value: T): void {
    this.local("removeSync").remove(value);
  }
  /** The synchronous twin of {@linkcode index} (shared buffer only). */
  indexSync(value: T, start?: number, stop?: number): number {
    return this.local("indexSync").index(value, start, stop);
  }
  /** The synchronous twin of {@linkcode count} (shared buffer only). */
  countSync(value: T): number {
    return this.local("countSync").count(value);
  }
  /** The synchronous twin of {@linkcode includes} (shared buffer only). */
  includesSync(value: T): boolean {
    return this.local("includesSync").includes(value);
  }
  /** The synchronous twin of {@linkcode slice} (shared buffer only). */
  sliceSync(start?: number, stop?: number, step?: number): T[] {
    return this.local("sliceSync").slice(start, stop, step) as T[];
  }
  /** The synchronous twin of {@linkcode splice} (shared buffer only). */
  spliceSync(start: number, deleteCount?: number, ...items: T[]): T[] {
    return this.local("spliceSync").splice(start, deleteCount, items) as T[];
  }
  /** The synchronous twin of {@linkcode length} (shared buffer only). */
  lengthSync(): number {
    return this.local("lengthSync").length();
  }
  /** The synchronous twin of {@linkcode toArray} (shared buffer only). */
  toArraySync(): T[] {
    return this.local("toArraySync").toArray() as T[];
  }
  /** The synchronous twin of {@linkcode clear} (shared buffer only). */
  clearSync(): void {
    this.local("clearSync").clear();
  }
  /** The synchronous twin of {@linkcode reverse} (shared buffer only). */
  reverseSync(): void {
    this.local("reverseSync").reverse();
  }
  /** The synchronous twin of {@linkcode sort} (shared buffer only). */
  sortSync(compare?: (a: T, b: T) => number): void {
    this.local("sortSync").sort(compare as ((a: unknown, b: unknown) => number) | undefined);
  }
}

/** The List kind. */
export const listSpec = defineStructure({
  kind: "list",
  create: ([initial, options]) => {
    const items = initialItems(initial);
    const e = ListEngine.create(options as ListOptions | undefined);
    e.extend(items);
    return e;
  },
  share: (e: ListEngine) => ({ buffer: e.buffer }),
  open: (h) => new ListEngine(h.buffer as SharedArrayBuffer),
  ops: listOps,
  client: (handle, backend: Backend<ListEngine>) => new List(handle, backend),
});
