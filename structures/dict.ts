/**
 * A dictionary shared by threads, processes or machines: Python's
 * `Manager().dict()`, on any transport.
 *
 * On the shared buffer it is a compact hash table in a growable
 * SharedArrayBuffer, laid out as CPython's dict: an open-addressing index of
 * slots pointing into a dense entries array kept in insertion order, whose
 * entries point at blocks holding the encoded key and value. Readers take no
 * lock (see `_seqlock.ts`); writers serialise on one robust mutex.
 *
 * Every change of one key is all or nothing for a writer terminated at any
 * instruction (`update` of many keys, one key after the other):
 * new entry blocks, index and entries arrays are filled out of place (a block
 * is invisible until linked), and each odd window is one journaled step of a
 * few words (or of the value's words, when a value is overwritten in place),
 * rolled back by whoever takes the lock over from the dead writer.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { CapacityError } from "../errors.ts";
import { decode, encode } from "../transports/_codec.ts";
import { storedSeen } from "../transports/_nested.ts";
import { decodeFast, encodeFast, MISS, SCRATCH_BYTES } from "../transports/_fastcodec.ts";
import { createHeapBuffer, Heap } from "./_heap.ts";
import { backlogged, type Journal, nonBlockingOps, runNonBlocking, SeqLock } from "./_seqlock.ts";

/** Writer mutex word. */
const D_LOCK = 0;
/** Sequence counter: odd while a writer is changing the table. */
const D_SEQ = 1;
/** Live entries. */
const D_COUNT = 2;
/** Byte offset of the index block (Int32 slots: 0 empty, -1 deleted, k+1 → entry k). */
const D_INDEX = 3;
/** Index slots (a power of two). */
const D_CAP = 4;
/** Byte offset of the entries block (pairs of Int32: hash, entry block offset or 0 for a hole). */
const D_ENTRIES = 5;
/** Entries capacity (two thirds of the slots). */
const D_ECAP = 6;
/** Entries used, holes included. */
const D_ELEN = 7;
/** Index slot value of a deleted entry. */
const SLOT_DUMMY = -1;
/** Bytes before the key in an entry block: key length, value length. */
const ENTRY_HEADER = 8;
/** Smallest index. */
const MIN_CAP = 8;
/** Most words an in-place overwrite of a value journals; a larger value goes to a fresh block. */
const IN_PLACE_WORDS = 48;

/** What the engine's non-blocking `get` returns while a writer it cannot see die holds the dict inconsistent. */
export const STUCK: unique symbol = Symbol("procshare.dict.stuck");

/** Default ceiling of a dict's buffer. */
export const DEFAULT_MAX_BYTES = 1 << 30;

/** Options of a shared-buffer dict. */
export interface DictOptions {
  /** Name under which other threads and processes of the manager find it. */
  readonly name?: string;
  /** Ceiling of the dict's memory; a write past it fails with `CapacityError`. Default 1 GiB. */
  readonly maxBytes?: number;
  /** Bytes to reserve at creation. Default 64 KiB. */
  readonly initialBytes?: number;
}

/** FNV-1a over the first `n` bytes of the encoded key. */
function hashBytes(b: Uint8Array, n = b.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h | 0;
}

/** Scratch buffers of this thread for keys and values on the codec's fast path (no user code runs while in use). */
const K_SCRATCH: Uint8Array = new Uint8Array(SCRATCH_BYTES);
const V_SCRATCH: Uint8Array = new Uint8Array(SCRATCH_BYTES);

/** Copies `n` bytes of `src` to `dst[at]` without allocating a view for short runs. */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array, n: number): void {
  if (n <= 64) { for (let i = 0; i < n; i++) dst[at + i] = src[i]; }
  else dst.set(n === src.length ? src : src.subarray(0, n), at);
}

function capFor(n: number): number {
  let cap = MIN_CAP;
  while (((cap * 2) / 3 | 0) < (n + 1) * 2) cap *= 2;
  return cap;
}

/** Inputs `update` accepts, as in Python: a mapping or an iterable of pairs. */
export type DictUpdate<K, V> = Iterable<readonly [K, V]> | Map<K, V> | (K extends string ? Record<K, V> : never);

function pairsOf<K, V>(other: DictUpdate<K, V>): Array<readonly [K, V]> {
  if (other instanceof Map) return [...other];
  if (other !== null && typeof other === "object" && Symbol.iterator in other) {
    const out: Array<readonly [K, V]> = [];
    for (const p of other as Iterable<readonly [K, V]>) {
      if (!Array.isArray(p) || p.length !== 2) {
        throw new TypeError(`Cannot update dict as an element is not a [key, value] pair: received ${String(p)}`);
      }
      out.push(p as readonly [K, V]);
    }
    return out;
  }
  if (other !== null && typeof other === "object") return Object.entries(other) as unknown as Array<[K, V]>;
  throw new TypeError(`Cannot update dict as the argument is not a mapping or iterable: received ${String(other)}`);
}

/**
 * The shared-memory engine of a Dict: synchronous, values in and out.
 *
 * @internal
 */
export class DictEngine {
  readonly heap: Heap;
  readonly seq: SeqLock;
  /** The undo journal of this structure's steps (in the heap's header). */
  readonly #j: Journal;
  #k = -1; // entry index found by the last #find
  #slot = -1; // index slot found by the last #find

  /** The words of the buffer (a fresh view after growth: see `Heap.sync`). */
  get i32(): Int32Array {
    return this.heap.i32;
  }
  /** The bytes of the buffer. */
  get u8(): Uint8Array {
    return this.heap.u8;
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.heap = new Heap(buffer, "dict");
    this.seq = new SeqLock(this.i32, D_LOCK, D_SEQ, this.heap.journal);
    this.#j = this.heap.journal;
  }

  /** Lays out a fresh dict in a new buffer. */
  static create(options?: DictOptions): DictEngine {
    const buf = createHeapBuffer(options?.initialBytes ?? 64 * 1024, options?.maxBytes ?? DEFAULT_MAX_BYTES, "dict");
    const e = new DictEngine(buf);
    e.#rebuild(MIN_CAP);
    return e;
  }

  // ---- lookup (robust against a concurrent writer: readers validate by seq) ----

  #keyEquals(off: number, kb: Uint8Array, klen: number): boolean {
    const i32 = this.i32, u8 = this.u8;
    if (i32[off >> 2] !== klen) return false;
    const p = off + ENTRY_HEADER;
    for (let j = 0; j < klen; j++) if (u8[p + j] !== kb[j]) return false;
    return true;
  }

  /** Entry block offset of the key, or 0; sets #k and #slot. */
  #find(kb: Uint8Array, klen: number, h: number): number {
    const i32 = this.i32;
    const cap = i32[D_CAP], ix0 = i32[D_INDEX] >> 2, e0 = i32[D_ENTRIES] >> 2;
    if (!(cap > 0) || (cap & (cap - 1)) !== 0) return 0;
    const mask = cap - 1;
    let i = h & mask;
    for (let n = 0; n < cap; n++) {
      const ix = i32[ix0 + i];
      if (ix === 0 || ix === undefined) return 0;
      if (ix > 0) {
        const k = ix - 1;
        if (i32[e0 + 2 * k] === h) {
          const off = i32[e0 + 2 * k + 1];
          if (off > 0 && this.#keyEquals(off, kb, klen)) {
            this.#k = k;
            this.#slot = i;
            return off;
          }
        }
      }
      i = (i + 1) & mask;
    }
    return 0;
  }

  #valueBytes(off: number): Uint8Array {
    const i32 = this.i32;
    const kl = i32[off >> 2], vl = i32[(off >> 2) + 1];
    const p = off + ENTRY_HEADER + kl;
    return this.u8.slice(p, p + Math.max(0, Math.min(vl, this.u8.length - p)));
  }

  #keyBytes(off: number): Uint8Array {
    const kl = this.i32[off >> 2];
    const p = off + ENTRY_HEADER;
    return this.u8.slice(p, p + Math.max(0, Math.min(kl, this.u8.length - p)));
  }

  /**
   * The value of `key`, read without a lock: find the entry, decode small
   * values straight from shared memory (else copy the bytes), and retry if
   * a writer was inside meanwhile. With `nonBlocking`, returns
   * {@linkcode STUCK} instead of napping while a writer not known dead keeps
   * its window open.
   */
  get(key: unknown, dflt?: unknown, nonBlocking?: boolean): unknown {
    let kb = K_SCRATCH, klen = encodeFast(key, K_SCRATCH);
    if (klen < 0) klen = (kb = encode(key)).length;
    const h = hashBytes(kb, klen);
    const seq = this.seq;
    for (;;) {
      const s = nonBlocking ? seq.tryReadBegin() : seq.readBegin();
      if (s < 0) return STUCK;
      this.heap.sync();
      let v: unknown = dflt, bytes: Uint8Array | undefined;
      try {
        const off = this.#find(kb, klen, h);
        if (off !== 0) {
          const i32 = this.i32;
          const p = off + ENTRY_HEADER + i32[off >> 2], vl = i32[(off >> 2) + 1];
          v = decodeFast(this.u8, p, vl);
          if (v === MISS) bytes = this.#valueBytes(off);
        }
      } catch {
        // torn read: the counter has moved
      }
      if (seq.readValid(s)) return bytes === undefined ? v : decode(bytes);
    }
  }

  has(key: unknown): boolean {
    let kb = K_SCRATCH, klen = encodeFast(key, K_SCRATCH);
    if (klen < 0) klen = (kb = encode(key)).length;
    const h = hashBytes(kb, klen);
    for (;;) {
      const s = this.seq.readBegin();
      this.heap.sync();
      const found = this.#find(kb, klen, h) !== 0;
      if (this.seq.readValid(s)) return found;
    }
  }

  size(): number {
    return Atomics.load(this.i32, D_COUNT);
  }

  /** A consistent snapshot of the live entries' bytes, in insertion order. */
  #snapshot(wantKeys: boolean, wantValues: boolean): Array<[Uint8Array | undefined, Uint8Array | undefined]> {
    for (let attempt = 0;; attempt++) {
      const locked = attempt >= 3; // a busy dict: stop racing the writers
      const id = locked ? this.seq.lock() : 0;
      try {
        const s = this.seq.readBegin();
        this.heap.sync();
        const out: Array<[Uint8Array | undefined, Uint8Array | undefined]> = [];
        try {
          const i32 = this.i32, e0 = i32[D_ENTRIES] >> 2, n = Math.min(i32[D_ELEN], i32[D_ECAP]);
          for (let k = 0; k < n; k++) {
            const off = i32[e0 + 2 * k + 1];
            if (off > 0) {
              out.push([wantKeys ? this.#keyBytes(off) : undefined, wantValues ? this.#valueBytes(off) : undefined]);
            }
          }
        } catch {
          if (locked) throw new Error("dict snapshot failed under lock");
          continue;
        }
        if (this.seq.readValid(s)) return out;
      } finally {
        if (locked) this.seq.unlock(id);
      }
    }
  }

  keys(): unknown[] {
    return this.#snapshot(true, false).map(([k]) => decode(k!));
  }
  values(): unknown[] {
    return this.#snapshot(false, true).map(([, v]) => decode(v!));
  }
  entries(): Array<[unknown, unknown]> {
    return this.#snapshot(true, true).map(([k, v]) => [decode(k!), decode(v!)]);
  }

  // ---- writes (under the writer lock) ----

  #newEntry(kb: Uint8Array, klen: number, vb: Uint8Array, vlen: number): number {
    const off = this.heap.alloc(ENTRY_HEADER + klen + vlen);
    const i32 = this.i32, u8 = this.u8;
    i32[off >> 2] = klen;
    i32[(off >> 2) + 1] = vlen;
    copyInto(u8, off + ENTRY_HEADER, kb, klen);
    copyInto(u8, off + ENTRY_HEADER + klen, vb, vlen);
    return off;
  }

  /**
   * Allocates an index of `cap` slots and an entries array of two thirds of
   * them, made aside (nothing points at them yet); neither when one fails.
   */
  #allocTable(cap: number): [newIndex: number, newEntries: number, ecap: number] {
    const heap = this.heap;
    const ecap = (cap * 2) / 3 | 0;
    const newIndex = heap.alloc(cap * 4);
    try {
      return [newIndex, heap.alloc(ecap * 8), ecap];
    } catch (e) {
      heap.free(newIndex);
      throw e;
    }
  }

  /** Builds a fresh index and entries array of `cap` slots, compacting holes; swaps them in. */
  #rebuild(cap: number): void {
    const heap = this.heap;
    const [newIndex, newEntries, ecap] = this.#allocTable(cap);
    const i32 = this.i32; // after the allocations, which may have grown the buffer
    const ni = newIndex >> 2, ne = newEntries >> 2, mask = cap - 1;
    i32.fill(0, ni, ni + cap);
    const oldIndex = i32[D_INDEX], oldEntries = i32[D_ENTRIES];
    let j = 0;
    if (oldEntries !== 0) {
      const oe = oldEntries >> 2, n = i32[D_ELEN];
      for (let k = 0; k < n; k++) {
        const off = i32[oe + 2 * k + 1];
        if (off <= 0) continue;
        const h = i32[oe + 2 * k];
        i32[ne + 2 * j] = h;
        i32[ne + 2 * j + 1] = off;
        let i = h & mask;
        while (i32[ni + i] !== 0) i = (i + 1) & mask;
        i32[ni + i] = j + 1;
        j++;
      }
    }
    this.#open();
    this.#j.log(i32, D_INDEX);
    this.#j.log(i32, D_CAP);
    this.#j.log(i32, D_ENTRIES);
    this.#j.log(i32, D_ECAP);
    this.#j.log(i32, D_ELEN);
    this.seq.begin();
    i32[D_INDEX] = newIndex;
    i32[D_CAP] = cap;
    i32[D_ENTRIES] = newEntries;
    i32[D_ECAP] = ecap;
    i32[D_ELEN] = j;
    this.seq.end();
    if (oldIndex !== 0) heap.free(oldIndex);
    if (oldEntries !== 0) heap.free(oldEntries);
  }

  /** Stores under the lock; the caller found nothing (#find returned 0) or found `off`. */
  #store(kb: Uint8Array, klen: number, h: number, vb: Uint8Array, vlen: number, off: number): void {
    const i32 = this.i32;
    if (off !== 0) {
      const need = ENTRY_HEADER + klen + vlen;
      const p = off + ENTRY_HEADER + klen;
      if (need <= this.heap.capacity(off) && ((p + vlen + 3) >> 2) - (p >> 2) < IN_PLACE_WORDS) {
        const j = this.heap.journal;
        j.open();
        j.log(i32, (off >> 2) + 1);
        j.logBytes(i32, p, p + vlen);
        this.seq.begin();
        i32[(off >> 2) + 1] = vlen;
        copyInto(this.u8, p, vb, vlen);
        this.seq.end();
        return;
      }
      const k = this.#k;
      const fresh = this.#newEntry(kb, klen, vb, vlen);
      const words = this.i32; // the allocation may have grown the buffer
      const at = (words[D_ENTRIES] >> 2) + 2 * k + 1;
      this.#open();
      this.#j.log(words, at);
      this.seq.begin();
      words[at] = fresh;
      this.seq.end();
      this.heap.free(off);
      return;
    }
    const fresh = this.#newEntry(kb, klen, vb, vlen);
    try {
      if (this.i32[D_ELEN] >= this.i32[D_ECAP]) this.#rebuild(capFor(this.i32[D_COUNT] + 1));
    } catch (e) {
      this.heap.free(fresh);
      throw e;
    }
    this.#link(h, fresh);
  }

  /** Links a filled entry block into the index and entries array. */
  #link(h: number, fresh: number): void {
    const i32 = this.i32;
    const ix0 = i32[D_INDEX] >> 2, e0 = i32[D_ENTRIES] >> 2, mask = i32[D_CAP] - 1;
    let i = h & mask;
    while (i32[ix0 + i] > 0) i = (i + 1) & mask;
    const k = i32[D_ELEN];
    this.#open();
    this.#j.log(i32, e0 + 2 * k);
    this.#j.log(i32, e0 + 2 * k + 1);
    this.#j.log(i32, ix0 + i);
    this.#j.log(i32, D_ELEN);
    this.#j.log(i32, D_COUNT);
    this.seq.begin();
    i32[e0 + 2 * k] = h;
    i32[e0 + 2 * k + 1] = fresh;
    i32[ix0 + i] = k + 1;
    i32[D_ELEN] = k + 1;
    Atomics.store(i32, D_COUNT, i32[D_COUNT] + 1);
    this.seq.end();
  }

  /** Removes the entry #find located at `off`. */
  #remove(off: number): void {
    const i32 = this.i32;
    const k = this.#k, slot = this.#slot;
    const at = (i32[D_ENTRIES] >> 2) + 2 * k + 1, ix = (i32[D_INDEX] >> 2) + slot;
    this.#open();
    this.#j.log(i32, at);
    this.#j.log(i32, ix);
    this.#j.log(i32, D_COUNT);
    this.#j.log(i32, D_ELEN);
    this.seq.begin();
    i32[at] = 0;
    i32[ix] = SLOT_DUMMY;
    Atomics.store(i32, D_COUNT, i32[D_COUNT] - 1);
    if (k === i32[D_ELEN] - 1) i32[D_ELEN] = k;
    this.seq.end();
    this.heap.free(off);
    const count = i32[D_COUNT], cap = i32[D_CAP];
    if (cap > MIN_CAP && count * 8 < i32[D_ECAP]) {
      try {
        this.#rebuild(capFor(count));
      } catch (e) {
        if (!(e instanceof CapacityError)) throw e; // shrinking is optional
      }
    }
  }

  /** Opens a step of the journal: the caller logs its words, then makes its odd window. */
  #open(): void {
    this.#j.open();
  }

  #write<T>(fn: () => T): T {
    const id = this.seq.lock();
    try {
      this.heap.sync();
      return fn();
    } finally {
      this.seq.unlock(id);
    }
  }

  set(key: unknown, value: unknown): void {
    let kb = K_SCRATCH, klen = encodeFast(key, K_SCRATCH);
    if (klen < 0) klen = (kb = encode(key)).length;
    let vb = V_SCRATCH, vlen = encodeFast(value, V_SCRATCH);
    if (vlen < 0) vlen = (vb = encode(value)).length;
    const h = hashBytes(kb, klen);
    const id = this.seq.lock();
    try {
      this.heap.sync();
      this.#store(kb, klen, h, vb, vlen, this.#find(kb, klen, h));
    } finally {
      this.seq.unlock(id);
    }
  }

  delete(key: unknown): boolean {
    let kb = K_SCRATCH, klen = encodeFast(key, K_SCRATCH);
    if (klen < 0) klen = (kb = encode(key)).length;
    const h = hashBytes(kb, klen);
    return this.#write(() => {
      const off = this.#find(kb, klen, h);
      if (off === 0) return false;
      this.#remove(off);
      return true;
    });
  }

  pop(key: unknown, dflt?: unknown): unknown {
    const kb = encode(key), h = hashBytes(kb);
    const vb = this.#write(() => {
      const off = this.#find(kb, kb.length, h);
      if (off === 0) return undefined;
      const v = this.#valueBytes(off);
      this.#remove(off);
      return v;
    });
    return vb === undefined ? dflt : decode(vb);
  }

  /** Removes and returns the last inserted entry (LIFO, as Python), or undefined when empty. */
  popItem(): [unknown, unknown] | undefined {
    const r = this.#write(() => {
      const i32 = this.i32;
      const e0 = i32[D_ENTRIES] >> 2;
      for (let k = i32[D_ELEN] - 1; k >= 0; k--) {
        const off = i32[e0 + 2 * k + 1];
        if (off <= 0) continue;
        const kb = this.#keyBytes(off), vb = this.#valueBytes(off);
        this.#find(kb, kb.length, i32[e0 + 2 * k]);
        this.#remove(off);
        return [kb, vb] as const;
      }
      return undefined;
    });
    return r && [decode(r[0]), decode(r[1])];
  }

  setDefault(key: unknown, dflt: unknown): unknown {
    const kb = encode(key), h = hashBytes(kb);
    const db = encode(dflt);
    const vb = this.#write(() => {
      const off = this.#find(kb, kb.length, h);
      if (off !== 0) return this.#valueBytes(off);
      this.#store(kb, kb.length, h, db, db.length, 0);
      return db;
    });
    return decode(vb);
  }

  /** Merges pairs in order, as Python's `dict.update`; all or nothing is not promised past CapacityError. */
  update(pairs: ReadonlyArray<readonly [unknown, unknown]>): void {
    const enc = pairs.map(([k, v]) => {
      const kb = encode(k);
      return [kb, hashBytes(kb), encode(v)] as const;
    });
    this.#write(() => {
      for (const [kb, h, vb] of enc) this.#store(kb, kb.length, h, vb, vb.length, this.#find(kb, kb.length, h));
    });
  }

  clear(): void {
    this.#write(() => {
      let i32 = this.i32;
      const e0 = i32[D_ENTRIES] >> 2, n = i32[D_ELEN];
      const offs: number[] = [];
      for (let k = 0; k < n; k++) {
        const off = i32[e0 + 2 * k + 1];
        if (off > 0) offs.push(off);
      }
      // an empty table made aside, swapped in by one step; then the old blocks are freed
      const heap = this.heap;
      const [newIndex, newEntries, ecap] = this.#allocTable(MIN_CAP);
      i32 = this.i32;
      i32.fill(0, newIndex >> 2, (newIndex >> 2) + MIN_CAP);
      const oldIndex = i32[D_INDEX], oldEntries = i32[D_ENTRIES];
      this.#open();
      this.#j.log(i32, D_INDEX);
      this.#j.log(i32, D_CAP);
      this.#j.log(i32, D_ENTRIES);
      this.#j.log(i32, D_ECAP);
      this.#j.log(i32, D_ELEN);
      this.#j.log(i32, D_COUNT);
      this.seq.begin();
      i32[D_INDEX] = newIndex;
      i32[D_CAP] = MIN_CAP;
      i32[D_ENTRIES] = newEntries;
      i32[D_ECAP] = ecap;
      i32[D_ELEN] = 0;
      Atomics.store(i32, D_COUNT, 0);
      this.seq.end();
      for (const off of offs) heap.free(off);
      if (oldIndex !== 0) heap.free(oldIndex);
      if (oldEntries !== 0) heap.free(oldEntries);
    });
  }

  /**
   * Replaces the value only if the current one encodes to the same bytes as
   * `expected` (`undefined` expects the key absent); `next === undefined`
   * deletes. True when it swapped.
   */
  compareAndSet(key: unknown, expected: unknown, next: unknown): boolean {
    const kb = encode(key), h = hashBytes(kb);
    const eb = expected === undefined ? undefined : encode(expected);
    const nb = next === undefined ? undefined : encode(next);
    return this.#write(() => {
      const off = this.#find(kb, kb.length, h);
      if (off === 0) {
        if (eb !== undefined) return false;
      } else {
        if (eb === undefined) return false;
        const cur = this.#valueBytes(off);
        if (cur.length !== eb.length || !cur.every((b, i) => b === eb[i])) return false;
      }
      if (nb === undefined) {
        if (off !== 0) this.#remove(off);
      } else this.#store(kb, kb.length, h, nb, nb.length, off);
      return true;
    });
  }

  /** Atomic read-modify-write: `fn` runs under the writer lock; `undefined` from it deletes. */
  compute<V>(key: unknown, fn: (current: V | undefined) => V | undefined): V | undefined {
    const kb = encode(key), h = hashBytes(kb);
    return this.#write(() => {
      const off = this.#find(kb, kb.length, h);
      const cur = off === 0 ? undefined : decode(this.#valueBytes(off)) as V;
      const next = fn(cur);
      if (next === undefined) {
        if (off !== 0) this.#remove(off);
      } else {
        const nb = encode(next);
        this.#store(kb, kb.length, h, nb, nb.length, off);
      }
      return next;
    });
  }

  /** The sequence counter: it moves on every write, so it versions the whole dict. */
  version(): number {
    return this.seq.readBegin();
  }

  /** A consistent snapshot of the entries with the version it was taken at. */
  entriesVersioned(): [number, Array<[unknown, unknown]>] {
    for (;;) {
      const v = this.version();
      const e = this.entries();
      if (this.seq.readValid(v)) return [v, e];
    }
  }

  /** Makes the content exactly `pairs` (sets what differs, deletes what is gone), under the lock held. */
  #replaceLocked(pairs: ReadonlyArray<readonly [unknown, unknown]>): void {
    const keep = new Set<string>();
    for (const [k, v] of pairs) {
      const kb = encode(k), vb = encode(v), h = hashBytes(kb);
      keep.add(kb.join(","));
      this.#store(kb, kb.length, h, vb, vb.length, this.#find(kb, kb.length, h));
    }
    const i32 = this.i32, e0 = i32[D_ENTRIES] >> 2;
    const gone: Uint8Array[] = [];
    for (let k = 0; k < i32[D_ELEN]; k++) {
      const off = i32[e0 + 2 * k + 1];
      if (off > 0) {
        const kb = this.#keyBytes(off);
        if (!keep.has(kb.join(","))) gone.push(kb);
      }
    }
    for (const kb of gone) {
      const off = this.#find(kb, kb.length, hashBytes(kb));
      if (off !== 0) this.#remove(off);
    }
  }

  /** Replaces the content with `pairs` only if nothing was written since `version`. */
  replaceIf(version: number, pairs: ReadonlyArray<readonly [unknown, unknown]>): boolean {
    return this.#write(() => {
      if (Atomics.load(this.i32, D_SEQ) !== version) return false;
      this.#replaceLocked(pairs);
      return true;
    });
  }

  /** Atomic update of the whole content: `fn` gets the entries and returns the new ones, under the lock. */
  transform(fn: (entries: Array<[unknown, unknown]>) => ReadonlyArray<readonly [unknown, unknown]>): void {
    this.#write(() => {
      const cur = this.#snapshotLocked();
      this.#replaceLocked(fn(cur));
    });
  }

  #snapshotLocked(): Array<[unknown, unknown]> {
    const i32 = this.i32, e0 = i32[D_ENTRIES] >> 2, out: Array<[unknown, unknown]> = [];
    for (let k = 0; k < i32[D_ELEN]; k++) {
      const off = i32[e0 + 2 * k + 1];
      if (off > 0) out.push([decode(this.#keyBytes(off)), decode(this.#valueBytes(off))]);
    }
    return out;
  }

  /**
   * Checks the table and the heap under the writer lock (tests and soaks):
   * the count is the live entries', every index slot points at a live entry
   * holding its hash, and the heap is sound. Returns the problems found.
   */
  check(): string[] {
    return this.#write(() => {
      const i32 = this.i32, problems: string[] = [];
      const cap = i32[D_CAP], ix0 = i32[D_INDEX] >> 2, e0 = i32[D_ENTRIES] >> 2, elen = i32[D_ELEN];
      const live = [i32[D_INDEX], i32[D_ENTRIES]];
      let count = 0;
      if (elen > i32[D_ECAP]) problems.push(`${elen} entries used of ${i32[D_ECAP]}`);
      for (let k = 0; k < Math.min(elen, i32[D_ECAP]); k++) {
        const off = i32[e0 + 2 * k + 1];
        if (off === 0) continue;
        count++;
        live.push(off);
      }
      if (count !== i32[D_COUNT]) problems.push(`count ${i32[D_COUNT]} but ${count} live entries`);
      let linked = 0;
      for (let i = 0; i < cap; i++) {
        const ix = i32[ix0 + i];
        if (ix <= 0) continue;
        const off = i32[e0 + 2 * (ix - 1) + 1];
        if (ix > elen || off === 0) problems.push(`index slot ${i} points at entry ${ix - 1}, not live`);
        else linked++;
      }
      if (linked !== count) problems.push(`${linked} index slots for ${count} live entries`);
      return problems.concat(this.heap.check(live));
    });
  }

  /** Memory figures: bytes held by live blocks and the buffer's whole size. */
  stats(): { count: number; bytesInUse: number; byteLength: number } {
    return { count: this.size(), bytesInUse: this.heap.inUse(), byteLength: this.heap.byteLength() };
  }
}

/** The operations of a Dict, local and remote. */
const /** @internal */ dictOps = nonBlockingOps({
  get: (e: DictEngine, [k, d]: [unknown, unknown?]): unknown => e.get(k, d),
  set: (e: DictEngine, [k, v]: [unknown, unknown]): void => e.set(k, v),
  has: (e: DictEngine, [k]: [unknown]): boolean => e.has(k),
  delete: (e: DictEngine, [k]: [unknown]): boolean => e.delete(k),
  size: (e: DictEngine): number => e.size(),
  keys: (e: DictEngine): unknown[] => e.keys(),
  values: (e: DictEngine): unknown[] => e.values(),
  entries: (e: DictEngine): Array<[unknown, unknown]> => e.entries(),
  clear: (e: DictEngine): void => e.clear(),
  setDefault: (e: DictEngine, [k, d]: [unknown, unknown]): unknown => e.setDefault(k, d),
  pop: (e: DictEngine, [k, d]: [unknown, unknown?]): unknown => e.pop(k, d),
  popItem: (e: DictEngine): [unknown, unknown] | undefined => e.popItem(),
  update: (e: DictEngine, [pairs]: [DictUpdate<unknown, unknown>]): void => e.update(pairsOf(pairs)),
  compareAndSet: (e: DictEngine, [k, x, n]: [unknown, unknown, unknown]): boolean => e.compareAndSet(k, x, n),
});

/**
 * A dictionary shared by threads (shared buffer), processes or machines
 * (socket): Python's `Manager().dict()` in camelCase, plus atomic
 * `compute` and `compareAndSet`.
 *
 * Keys and values are any data the codec round-trips (primitives, plain
 * objects, arrays, Map, Set, Date, typed arrays, bigint); keys are equal
 * when their encodings are. Iteration follows insertion order.
 *
 * **Visibility**: a write is visible to every reader once its call returned;
 * readers never see a half-written entry, also when the writer thread was
 * terminated in the middle of its write: the next thread to find it dead
 * undoes the write (a kill can leak a block of memory, never corrupt one).
 * The async methods never block the event loop waiting for a writer; a sync
 * read that waits over 2 s for a writer that is not known dead (a thread
 * whose exit this very thread has yet to process) fails with
 * `LockError("Timeout")`.
 *
 * **Transports**: shared buffer (sync twins, lock-free reads; `compute`
 * runs under the writer lock) and socket (async; `compute` runs in the
 * caller as a compare-and-set loop).
 *
 * @example Counting words from several workers
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const counts = await m.dict<string, number>({ a: 1 });
 * await counts.set("b", 2);
 * await counts.compute("a", (n) => (n ?? 0) + 1);
 * console.log(await counts.get("a"), await counts.size()); // 2 2
 * ```
 */
export class Dict<K = unknown, V = unknown> extends Shared<DictEngine, typeof dictOps> {
  /** @internal Use `Manager.dict()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<DictEngine>) {
    super(handle, backend, dictOps);
  }

  /** The value of `key`, or undefined when absent. */
  get(key: K): Promise<V | undefined>;
  /** The value of `key`, or `dflt` when absent. */
  get(key: K, dflt: V): Promise<V>;
  async get(key: K, dflt?: V): Promise<V | undefined> {
    // the hot path: what the op does, without the generic dispatch (which costs ~15% here)
    const e = this.engine;
    if (e !== undefined) {
      const seen = storedSeen(); // a structure stored as the value arrives attached
      if (!backlogged()) {
        const v = e.get(key, dflt, true);
        if (v !== STUCK) return this.attachedSince(seen, v as V | undefined);
      }
      return this.attachedSince(seen, await runNonBlocking(() => e.get(key, dflt)) as V | undefined);
    }
    return this.call("get", [key, dflt]) as V | undefined;
  }
  /** Sets `key` to `value`. Fails with `CapacityError` at `maxBytes`, storing nothing. */
  async set(key: K, value: V): Promise<void> {
    const e = this.engine;
    if (e !== undefined) return runNonBlocking(() => e.set(key, value));
    return this.exec("set", [key, value]);
  }
  /** True when `key` is present. */
  async has(key: K): Promise<boolean> {
    return this.call("has", [key]);
  }
  /** Removes `key`; true when it was present. */
  async delete(key: K): Promise<boolean> {
    return this.call("delete", [key]);
  }
  /** Number of entries (Python's `len`). */
  async size(): Promise<number> {
    return this.call("size", []);
  }
  /** The keys, in insertion order (a snapshot). */
  async keys(): Promise<K[]> {
    return this.call("keys", []) as K[];
  }
  /** The values, in insertion order (a snapshot). */
  async values(): Promise<V[]> {
    return this.call("values", []) as V[];
  }
  /** The entries, in insertion order (a snapshot). */
  async entries(): Promise<Array<[K, V]>> {
    return this.call("entries", []) as Array<[K, V]>;
  }
  /** Removes every entry. */
  async clear(): Promise<void> {
    return this.exec("clear", []);
  }
  /** The value of `key`; when absent, stores `dflt` and returns it (atomically). */
  async setDefault(key: K, dflt: V): Promise<V> {
    return this.call("setDefault", [key, dflt]) as V;
  }
  /** Removes `key` and returns its value, or `dflt` when absent. */
  async pop(key: K, dflt?: V): Promise<V | undefined> {
    return this.call("pop", [key, dflt]) as V | undefined;
  }
  /** Removes and returns the last inserted entry, or undefined when empty. */
  async popItem(): Promise<[K, V] | undefined> {
    return this.call("popItem", []) as [K, V] | undefined;
  }
  /** Merges a mapping or iterable of pairs, later pairs winning, as Python's `update`. */
  async update(other: DictUpdate<K, V>): Promise<void> {
    return this.exec("update", [pairsOf(other)]);
  }
  /** Sets `key` to `next` only if its value is `expected` (`undefined`: absent); `next` undefined deletes. */
  async compareAndSet(key: K, expected: V | undefined, next: V | undefined): Promise<boolean> {
    return this.call("compareAndSet", [key, expected, next]);
  }
  /**
   * Atomic read-modify-write of one entry: `fn` gets the current value (or
   * undefined) and returns the next (undefined deletes). On the shared buffer
   * `fn` runs under the dict's writer lock; remotely it is retried in the
   * caller until a `compareAndSet` succeeds, so it must be pure.
   */
  async compute(key: K, fn: (current: V | undefined) => V | undefined): Promise<V | undefined> {
    const e = this.engine;
    if (e) return runNonBlocking(() => e.compute(key, fn));
    for (;;) {
      const cur = await this.call("get", [key]) as V | undefined;
      const next = fn(cur);
      if (await this.call("compareAndSet", [key, cur, next])) return next;
    }
  }
  /** A copy as a plain `Map`. */
  async toMap(): Promise<Map<K, V>> {
    return new Map(await this.entries());
  }
  /**
   * Iterates the entries as `[key, value]` pairs, in insertion order, as a
   * `Map` does: `for await (const [k, v] of dict)`, on every transport
   * (Python's `for k, v in d.items()`). The entries are a snapshot taken by
   * one call when the loop starts, so changes made meanwhile, by this loop
   * or by another thread, neither show nor break it (where Python's
   * `DictProxy` fails with "dictionary changed size during iteration").
   *
   * @example Iterating a dict
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start();
   * const d = await m.dict<string, number>({ a: 1, b: 2 });
   * for await (const [k, v] of d) console.log(k, v); // a 1, then b 2
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<[K, V], void, undefined> {
    for (const entry of await this.entries()) yield entry;
  }

  /** The synchronous twin of {@linkcode get} (shared buffer only): the value of `key`, or undefined. */
  getSync(key: K): V | undefined;
  /** The synchronous twin of {@linkcode get} (shared buffer only): the value of `key`, or `dflt`. */
  getSync(key: K, dflt: V): V;
  getSync(key: K, dflt?: V): V | undefined {
    return this.local("getSync").get(key, dflt) as V | undefined;
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(key: K, value: V): void {
    this.local("setSync").set(key, value);
  }
  /** The synchronous twin of {@linkcode has} (shared buffer only). */
  hasSync(key: K): boolean {
    return this.local("hasSync").has(key);
  }
  /** The synchronous twin of {@linkcode delete} (shared buffer only). */
  deleteSync(key: K): boolean {
    return this.local("deleteSync").delete(key);
  }
  /** The synchronous twin of {@linkcode size} (shared buffer only). */
  sizeSync(): number {
    return this.local("sizeSync").size();
  }
  /** The synchronous twin of {@linkcode keys} (shared buffer only). */
  keysSync(): K[] {
    return this.local("keysSync").keys() as K[];
  }
  /** The synchronous twin of {@linkcode values} (shared buffer only). */
  valuesSync(): V[] {
    return this.local("valuesSync").values() as V[];
  }
  /** The synchronous twin of {@linkcode entries} (shared buffer only). */
  entriesSync(): Array<[K, V]> {
    return this.local("entriesSync").entries() as Array<[K, V]>;
  }
  /** The synchronous twin of {@linkcode clear} (shared buffer only). */
  clearSync(): void {
    this.local("clearSync").clear();
  }
  /** The synchronous twin of {@linkcode setDefault} (shared buffer only). */
  setDefaultSync(key: K, dflt: V): V {
    return this.local("setDefaultSync").setDefault(key, dflt) as V;
  }
  /** The synchronous twin of {@linkcode pop} (shared buffer only). */
  popSync(key: K, dflt?: V): V | undefined {
    return this.local("popSync").pop(key, dflt) as V | undefined;
  }
  /** The synchronous twin of {@linkcode popItem} (shared buffer only). */
  popItemSync(): [K, V] | undefined {
    return this.local("popItemSync").popItem() as [K, V] | undefined;
  }
  /** The synchronous twin of {@linkcode update} (shared buffer only). */
  updateSync(other: DictUpdate<K, V>): void {
    this.local("updateSync").update(pairsOf(other));
  }
  /** The synchronous twin of {@linkcode compareAndSet} (shared buffer only). */
  compareAndSetSync(key: K, expected: V | undefined, next: V | undefined): boolean {
    return this.local("compareAndSetSync").compareAndSet(key, expected, next);
  }
  /** The synchronous twin of {@linkcode compute} (shared buffer only). */
  computeSync(key: K, fn: (current: V | undefined) => V | undefined): V | undefined {
    return this.local("computeSync").compute(key, fn);
  }
  /** The synchronous twin of {@linkcode toMap} (shared buffer only). */
  toMapSync(): Map<K, V> {
    return new Map(this.entriesSync());
  }
}

/** The Dict kind. */
export const dictSpec = defineStructure({
  kind: "dict",
  create: ([initial, options]) => {
    const e = DictEngine.create(options as DictOptions | undefined);
    if (initial !== undefined && initial !== null) e.update(pairsOf(initial as DictUpdate<unknown, unknown>));
    return e;
  },
  share: (e: DictEngine) => ({ buffer: e.buffer }),
  open: (h) => new DictEngine(h.buffer as SharedArrayBuffer),
  ops: dictOps,
  client: (handle, backend: Backend<DictEngine>) => new Dict(handle, backend),
});
