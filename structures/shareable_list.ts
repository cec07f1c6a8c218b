/**
 * A fixed-length list of scalars in a named shared memory block: Python's
 * `multiprocessing.shared_memory.ShareableList`.
 *
 * Items are numbers (integers are stored as 64-bit integers, others as
 * 64-bit floats), bigints (64-bit), booleans, `null` (Python's `None`),
 * strings (UTF-8) and bytes (`Uint8Array`). Each slot's room is decided at
 * creation as in CPython: 8 bytes for a number, bigint, boolean or null, and
 * `8 × (⌊n / 8⌋ + 1)` bytes for a string or bytes of `n` bytes. An item may
 * later change type within its slot's room; a string or bytes longer than
 * the room fails with `CapacityError`, as CPython's `ValueError`. Unlike
 * CPython, which strips trailing NUL bytes, each slot records its exact
 * length, so `"a\0"` reads back as `"a\0"`.
 *
 * Layout of the block (Int32 words from byte 0, then a table of slots, then
 * the slots' data, every slot 8-byte aligned):
 * {@linkcode L_MAGIC}, {@linkcode L_LOCK} and {@linkcode L_SEQ} (the writer
 * mutex and sequence counter of `_seqlock.ts`: readers take no lock),
 * {@linkcode L_COUNT}, {@linkcode L_DATA}, {@linkcode L_JOURNAL},
 * {@linkcode L_JENTRIES}; per slot {@linkcode ST_TAG}, {@linkcode ST_CAP},
 * {@linkcode ST_LEN}, {@linkcode ST_OFF}; after the data, the undo journal
 * (`_seqlock.ts`), with room for the words of the largest slot: a writer
 * terminated inside a `set` is undone by whoever takes the lock over, so an
 * item is always the old one or the new one, whole.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { CapacityError, SharedMemoryError } from "../errors.ts";
import { registryBuffer } from "../transports/_runtime/threads.ts";
import { Journal, journalWords, nonBlockingOps, SeqLock } from "./_seqlock.ts";
import { describe, elementIndex } from "./_typecodes.ts";
import {
  type AttachOptions,
  type BlockFields,
  engineFromHandle,
  markCreated,
  SharedMemory,
  SharedMemoryEngine,
  type SharedMemoryHandle,
  sharedMemoryHandle,
  sharedMemorySpec,
  unlinkCreated,
} from "./shared_memory.ts";

/** Word: {@linkcode LIST_MAGIC}, so that attaching a plain block as a list is refused. */
const L_MAGIC = 0;
/** Word: writer mutex. */
const L_LOCK = 1;
/** Word: sequence counter, odd while a writer is inside. */
const L_SEQ = 2;
/** Word: number of slots. */
const L_COUNT = 3;
/** Word: byte offset of the data area. */
const L_DATA = 4;
/** Word: index of the journal's first word. */
const L_JOURNAL = 5;
/** Word: entries of the journal. */
const L_JENTRIES = 6;
/** Bytes of the header, before the slot table. */
const HEADER_BYTES = 32;
/** Marks a ShareableList block ("PSL1"). */
const LIST_MAGIC = 0x50534c31;

/** Slot word: the item's type ({@linkcode T_INT} …). */
const ST_TAG = 0;
/** Slot word: bytes of room. */
const ST_CAP = 1;
/** Slot word: bytes used by a string or bytes item. */
const ST_LEN = 2;
/** Slot word: byte offset of the slot's data. */
const ST_OFF = 3;
/** Words per slot in the table. */
const ST_WORDS = 4;

/** An integer-valued number (stored as a 64-bit integer). */
const T_INT = 1;
/** A bigint (64-bit signed). */
const T_BIGINT = 2;
/** A non-integer number (64-bit float). */
const T_FLOAT = 3;
const T_BOOL = 4;
const T_NULL = 5;
/** A string, UTF-8. */
const T_STR = 6;
/** A Uint8Array. */
const T_BYTES = 7;
/** Room of a number, bigint, boolean or null slot. */
const SCALAR_BYTES = 8;

/**
 * What a ShareableList holds.
 *
 * @example Items of every kind
 * ```ts
 * import type { ShareableItem } from "./shareable_list.ts";
 * const items: ShareableItem[] = [1, 2.5, 3n, true, null, "text", new Uint8Array([0])];
 * console.log(items.length); // 7
 * ```
 */
export type ShareableItem = number | bigint | boolean | null | string | Uint8Array;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** An item ready to store: its tag and, for strings and bytes, its bytes. */
interface Encoded {
  readonly tag: number;
  readonly value: ShareableItem;
  readonly bytes?: Uint8Array;
}

function encodeItem(v: unknown, what: string): Encoded {
  switch (typeof v) {
    case "number":
      // integers below 2^63 round-trip exactly through an int64; -0 stays a float
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 63 && !Object.is(v, -0)) return { tag: T_INT, value: v };
      return { tag: T_FLOAT, value: v };
    case "bigint":
      if (v < -(2n ** 63n) || v >= 2n ** 63n) {
        throw new RangeError(`Cannot ${what} as a bigint item must fit 64 signed bits: received ${v}n`);
      }
      return { tag: T_BIGINT, value: v };
    case "boolean":
      return { tag: T_BOOL, value: v };
    case "string":
      return { tag: T_STR, value: v, bytes: utf8.encode(v) };
    case "object":
      if (v === null) return { tag: T_NULL, value: null };
      if (v instanceof Uint8Array) return { tag: T_BYTES, value: v, bytes: v };
  }
  throw new TypeError(
    `Cannot ${what} as an item must be a number, bigint, boolean, null, string or Uint8Array: received ${describe(v)}`,
  );
}

/** Room of a slot created for `e`: as CPython, 8 × (⌊n / 8⌋ + 1) for n bytes of text. */
function roomOf(e: Encoded): number {
  return e.bytes ? SCALAR_BYTES * (Math.floor(e.bytes.length / SCALAR_BYTES) + 1) : SCALAR_BYTES;
}

/** Equality of `count` and `index`: `===`, a number equals a bigint of the same value, bytes by content. */
function same(a: ShareableItem, b: unknown): boolean {
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  const ta = typeof a, tb = typeof b;
  if ((ta === "number" || ta === "bigint") && (tb === "number" || tb === "bigint")) {
    // deno-lint-ignore eqeqeq
    return (a as number) == (b as number);
  }
  return a === b;
}

/**
 * The engine of a ShareableList: a slot table over one SharedMemory block.
 * The manager server hosts it; {@linkcode ShareableList} wraps it.
 *
 * @example Laying out a list in a block
 * ```ts
 * import { ShareableListEngine } from "./shareable_list.ts";
 * import { Registry, SharedMemoryEngine } from "./shared_memory.ts";
 * const items = ShareableListEngine.encodeAll([1, "ab"]);
 * const shm = SharedMemoryEngine.create(Registry.create(), undefined, ShareableListEngine.bytesFor(items));
 * const e = ShareableListEngine.layOut(shm, items);
 * console.log(e.toArray(), e.length); // [ 1, "ab" ] 2
 * ```
 *
 * @internal
 */
export class ShareableListEngine {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly i64: BigInt64Array;
  readonly f64: Float64Array;
  readonly seq: SeqLock;
  readonly length: number;

  constructor(readonly shm: SharedMemoryEngine) {
    const size = shm.entry.size;
    if (size < HEADER_BYTES || size % 8 !== 0) throw notAList(shm.name);
    this.i32 = new Int32Array(shm.buffer, 0, size / 4);
    this.u8 = new Uint8Array(shm.buffer, 0, size);
    this.i64 = new BigInt64Array(shm.buffer, 0, size / 8);
    this.f64 = new Float64Array(shm.buffer, 0, size / 8);
    if (Atomics.load(this.i32, L_MAGIC) !== LIST_MAGIC) throw notAList(shm.name);
    this.length = this.i32[L_COUNT];
    const jw = this.i32[L_JOURNAL], je = this.i32[L_JENTRIES];
    if (!(jw > 0 && je > 0 && jw + journalWords(je) <= size / 4)) throw notAList(shm.name);
    this.seq = new SeqLock(this.i32, L_LOCK, L_SEQ, new Journal(jw, je));
  }

  /** Journal entries a list of these items needs: a slot's tag and length, and the words of the largest. */
  static #journalEntries(items: readonly Encoded[]): number {
    return 2 + items.reduce((n, e) => Math.max(n, roomOf(e) / 4), SCALAR_BYTES / 4);
  }

  /** Bytes of the block a list of these items needs. */
  static bytesFor(items: readonly Encoded[]): number {
    const journal = Math.ceil(journalWords(ShareableListEngine.#journalEntries(items)) / 2) * 8;
    return HEADER_BYTES + items.length * ST_WORDS * 4 + items.reduce((n, e) => n + roomOf(e), 0) + journal;
  }

  /** Checks the items of a new list (before any memory is taken). */
  static encodeAll(sequence: unknown): Encoded[] {
    if (typeof sequence !== "object" || sequence === null || !(Symbol.iterator in sequence)) {
      throw new TypeError(
        `Cannot create shareable list as 'sequence' must be an iterable: received ${describe(sequence)}`,
      );
    }
    return Array.from(sequence as Iterable<unknown>, (v) => encodeItem(v, "create shareable list"));
  }

  /** Lays out the items in a fresh block (nobody else has it yet). */
  static layOut(shm: SharedMemoryEngine, items: readonly Encoded[]): ShareableListEngine {
    const i32 = new Int32Array(shm.buffer, 0, shm.entry.size / 4);
    const data = HEADER_BYTES + items.length * ST_WORDS * 4;
    i32[L_COUNT] = items.length;
    i32[L_DATA] = data;
    let off = data;
    items.forEach((e, i) => {
      const w = HEADER_BYTES / 4 + i * ST_WORDS;
      i32[w + ST_CAP] = roomOf(e);
      i32[w + ST_OFF] = off;
      off += roomOf(e);
    });
    i32[L_JOURNAL] = off / 4;
    i32[L_JENTRIES] = ShareableListEngine.#journalEntries(items);
    Atomics.store(i32, L_MAGIC, LIST_MAGIC);
    const list = new ShareableListEngine(shm);
    items.forEach((e, i) => list.#write(i, e));
    return list;
  }

  #slot(i: number): number {
    return HEADER_BYTES / 4 + i * ST_WORDS;
  }

  /** Stores an encoded item into slot `i` (the caller holds the writer lock or owns the list alone). */
  #write(i: number, e: Encoded): void {
    const w = this.#slot(i), i32 = this.i32;
    const off = i32[w + ST_OFF];
    switch (e.tag) {
      case T_INT:
        this.i64[off / 8] = BigInt(e.value as number);
        break;
      case T_BIGINT:
        this.i64[off / 8] = e.value as bigint;
        break;
      case T_FLOAT:
        this.f64[off / 8] = e.value as number;
        break;
      case T_BOOL:
        this.i64[off / 8] = e.value ? 1n : 0n;
        break;
      case T_NULL:
        this.i64[off / 8] = 0n;
        break;
      default:
        this.u8.set(e.bytes!, off);
    }
    i32[w + ST_LEN] = e.bytes ? e.bytes.length : 0;
    i32[w + ST_TAG] = e.tag;
  }

  /** Reads slot `i` as stored (tag, and a copy of its bytes), retrying while a writer is inside. */
  #read(i: number): ShareableItem {
    const w = this.#slot(i), i32 = this.i32;
    for (;;) {
      const s = this.seq.readBegin();
      const tag = i32[w + ST_TAG], off = i32[w + ST_OFF], len = i32[w + ST_LEN];
      let v: ShareableItem;
      switch (tag) {
        case T_INT:
          v = Number(this.i64[off / 8]);
          break;
        case T_BIGINT:
          v = this.i64[off / 8];
          break;
        case T_FLOAT:
          v = this.f64[off / 8];
          break;
        case T_BOOL:
          v = this.i64[off / 8] !== 0n;
          break;
        case T_NULL:
          v = null;
          break;
        case T_STR:
        case T_BYTES:
          v = this.u8.slice(off, off + Math.max(0, Math.min(len, i32[w + ST_CAP])));
          break;
        default:
          v = null;
      }
      if (!this.seq.readValid(s)) continue;
      return tag === T_STR ? fromUtf8.decode(v as Uint8Array) : v;
    }
  }

  get(i: unknown): ShareableItem {
    return this.#read(elementIndex(i, this.length, "get shareable list item"));
  }

  set(i: unknown, v: unknown): void {
    const what = "set shareable list item";
    const j = elementIndex(i, this.length, what);
    const e = encodeItem(v, what);
    const room = this.i32[this.#slot(j) + ST_CAP];
    if (e.bytes && e.bytes.length > room) {
      throw new CapacityError(
        "Full",
        `Cannot ${what} as ${e.bytes.length} bytes exceed the ${room} bytes of slot ${j} (the room is fixed at creation): received ${e.bytes.length} bytes`,
      );
    }
    const id = this.seq.lock();
    try {
      const i32 = this.i32, w = this.#slot(j), off = i32[w + ST_OFF], journal = this.seq.journal!;
      journal.open();
      journal.log(i32, w + ST_TAG);
      journal.log(i32, w + ST_LEN);
      journal.logBytes(i32, off, off + (e.bytes ? e.bytes.length : SCALAR_BYTES));
      this.seq.begin();
      this.#write(j, e);
      this.seq.end();
    } finally {
      this.seq.unlock(id);
    }
  }

  toArray(): ShareableItem[] {
    return Array.from({ length: this.length }, (_, i) => this.#read(i));
  }

  count(v: unknown): number {
    let n = 0;
    for (let i = 0; i < this.length; i++) if (same(this.#read(i), v)) n++;
    return n;
  }

  index(v: unknown): number {
    for (let i = 0; i < this.length; i++) if (same(this.#read(i), v)) return i;
    throw new RangeError(`Cannot find item in shareable list as no item equals it: received ${describe(v)}`);
  }

  describe(): ShareableListDescription {
    return { length: this.length, name: this.shm.name, size: this.shm.entry.size };
  }
}

/** What a remote client learns of its list (and its block) when it attaches. */
export interface ShareableListDescription {
  readonly length: number;
  readonly name: string;
  readonly size: number;
}

function notAList(name: string): TypeError {
  return new TypeError(`Cannot attach shareable list as the block is not one: received ${JSON.stringify(name)}`);
}

/**
 * The shared-buffer handle of a ShareableList: the handle of its block.
 *
 * @example The handle names the block
 * ```ts
 * import { ShareableList, type ShareableListHandle } from "./shareable_list.ts";
 * const sl = ShareableList.createSync([1]);
 * console.log((sl.handle as ShareableListHandle).shm.name === sl.shm.name); // true
 * sl.shm.unlinkSync();
 * ```
 */
export interface ShareableListHandle extends Handle {
  readonly kind: "shareable-list";
  /** The block holding the list: its handle, or on `shm:` its fields (the list's handle names the manager). */
  readonly shm: SharedMemoryHandle | BlockFields;
  readonly registry: SharedArrayBuffer;
}

/** What a handle of a list carries besides `kind`, `via` and `registry`: its block's handle (`shm:`: fields). */
function share(e: ShareableListEngine): { shm: SharedMemoryHandle | BlockFields } {
  return { shm: e.shm.registry ? sharedMemoryHandle(e.shm) : sharedMemorySpec.share(e.shm) as unknown as BlockFields };
}

/** The block's engine of a list's handle (a portable block's manager is the list's). */
function blockOf(h: ShareableListHandle): SharedMemoryEngine {
  const shm = h.shm as BlockFields & { names?: unknown };
  return engineFromHandle(shm.names === undefined ? { ...shm, manager: h.manager as string | undefined } : shm);
}

/** The handle of a list's block, for its `shm` (on `shm:`, made of the list's handle). */
function blockHandle(h: ShareableListHandle): Handle | undefined {
  if (h.shm === undefined || h.via === "shared-buffer") return h.shm as SharedMemoryHandle | undefined;
  return { ...h.shm, kind: "shared-memory", via: h.via, manager: h.manager };
}

function listHandle(e: ShareableListEngine): ShareableListHandle {
  return { kind: "shareable-list", via: "shared-buffer", ...share(e), registry: registryBuffer() };
}

/**
 * Options of {@linkcode ShareableList.create}.
 *
 * @example A named list
 * ```ts
 * import { ShareableList, type ShareableListOptions } from "./shareable_list.ts";
 * const options: ShareableListOptions = { name: "settings" };
 * const sl = await ShareableList.create([0.5, "fast"], options);
 * await sl.shm.unlink();
 * ```
 */
export interface ShareableListOptions extends AttachOptions {
  /** The block's name; absent: a fresh `psm_…` name. */
  readonly name?: string;
}

async function createBlock(
  items: Encoded[],
  name: string | undefined,
  options?: AttachOptions,
): Promise<ShareableListEngine> {
  const shm = await SharedMemory.create({ name, size: ShareableListEngine.bytesFor(items), ...options });
  return ShareableListEngine.layOut(engineOf(shm), items);
}

/** The engine under a SharedMemory of this thread. */
function engineOf(shm: SharedMemory): SharedMemoryEngine {
  return engineFromHandle(shm.handle as SharedMemoryHandle);
}

/** Creates a list for a manager (`Manager.shareableList(sequence, { name })`), or opens the block named so. */
function createForManager([sequence, options]: readonly unknown[]): ShareableListEngine {
  const name = (options as { name?: string } | undefined)?.name;
  if (name !== undefined) {
    try {
      const existing = SharedMemory.attachSync(name);
      return new ShareableListEngine(engineOf(existing));
    } catch (e) {
      if (!(e instanceof SharedMemoryError && e.reason === "NotFound")) throw e;
    }
  }
  const items = ShareableListEngine.encodeAll(sequence ?? []);
  const shm = SharedMemory.createSync({ name, size: ShareableListEngine.bytesFor(items) });
  return ShareableListEngine.layOut(markCreated(engineOf(shm)), items);
}

/** The operations of a ShareableList, local and remote; `read`, `write` and `unlink` serve its remote `shm`. */
const /** @internal */ shareableListOps = nonBlockingOps({
  describe: (e: ShareableListEngine): ShareableListDescription => e.describe(),
  get: (e: ShareableListEngine, [i]: [number]): ShareableItem => e.get(i),
  set: (e: ShareableListEngine, [i, v]: [number, ShareableItem]): void => e.set(i, v),
  count: (e: ShareableListEngine, [v]: [ShareableItem]): number => e.count(v),
  index: (e: ShareableListEngine, [v]: [ShareableItem]): number => e.index(v),
  toArray: (e: ShareableListEngine): ShareableItem[] => e.toArray(),
  read: (e: ShareableListEngine, [offset, length]: [number, number | undefined]): Uint8Array =>
    e.shm.read(offset, length),
  write: (e: ShareableListEngine, [offset, bytes]: [number, Uint8Array]): void => e.shm.write(offset, bytes),
  unlink: (e: ShareableListEngine): void => e.shm.unlink(),
});

/**
 * A fixed-length list of numbers, bigints, booleans, nulls, strings and
 * bytes in a named shared memory block: Python's `ShareableList`.
 *
 * Create one with {@linkcode ShareableList.create} and open it by name from
 * any thread with {@linkcode ShareableList.attach}, or pass it to a worker.
 * Its block is `shm` (close and unlink it there, as in Python).
 *
 * **Visibility**: a `set` is visible to every reader once it returned;
 * readers take no lock and never see a half-written item.
 *
 * **Transports**: shared buffer (`Sync` twins); a manager on `shm:` (the
 * same in every process that connects: `m.shareableList(undefined, { name })`
 * attaches the list by name); and through a manager on a socket (async;
 * `shm` reads and writes remotely).
 *
 * @example Items of every type, and a string that outgrows its slot
 * ```ts
 * import { ShareableList } from "./shareable_list.ts";
 * const sl = await ShareableList.create([1, 2.5, 3n, true, null, "hi", new Uint8Array([0, 1])], { name: "cfg" });
 * await sl.set(5, "hey\0");        // fits the 8 bytes the slot got; the NUL survives
 * console.log(await sl.get(5), sl.length); // "hey\0" 7
 * await sl.set(5, "far too long for it").catch((e) => console.log(e.name)); // CapacityError
 * await sl.shm.unlink();
 * ```
 */
export class ShareableList extends Shared<ShareableListEngine, typeof shareableListOps> {
  readonly #shm: SharedMemory;
  /** Number of items (fixed at creation). */
  readonly length: number;

  /**
   * @internal Use `ShareableList.create`, `ShareableList.attach`, `Manager.shareableList()` or `attach(handle)`.
   * A remote client passes what the server's `describe` answered.
   */
  constructor(handle: Handle, backend: Backend<ShareableListEngine>, described?: ShareableListDescription) {
    super(handle, backend, shareableListOps);
    const e = backend.engine;
    if (e) {
      this.length = e.length;
      this.#shm = new SharedMemory(blockHandle(handle as ShareableListHandle) ?? sharedMemoryHandle(e.shm), {
        engine: e.shm,
      });
    } else {
      if (!described) {
        throw new TypeError("Cannot attach shareable list as its length and block are unknown: received none");
      }
      this.length = described.length;
      // the list's server answers the block's operations too
      this.#shm = new SharedMemory({ ...handle, kind: "shared-memory" }, { remote: backend.remote }, described);
    }
  }

  /** @internal Wraps an engine of this thread. */
  static fromEngine(e: ShareableListEngine): ShareableList {
    return new ShareableList(listHandle(e), { engine: e });
  }

  /**
   * A new list holding `sequence`, in a block named `options.name` or a
   * fresh `psm_…` name (a taken name fails with `SharedMemoryError("Exists")`).
   *
   * @example An anonymous list
   * ```ts
   * import { ShareableList } from "./shareable_list.ts";
   * const sl = await ShareableList.create(["a", 1]);
   * console.log(sl.shm.name.startsWith("psm_"), await sl.toArray()); // true [ "a", 1 ]
   * await sl.shm.unlink();
   * ```
   */
  static async create(sequence: Iterable<ShareableItem>, options?: ShareableListOptions): Promise<ShareableList> {
    const items = ShareableListEngine.encodeAll(sequence);
    return ShareableList.fromEngine(await createBlock(items, options?.name, options));
  }

  /**
   * The synchronous twin of {@linkcode ShareableList.create}, where
   * `SharedMemory.createSync` works (the main thread, or a worker that has
   * the name registry).
   *
   * @example Creating in the main thread without awaiting
   * ```ts
   * import { ShareableList } from "./shareable_list.ts";
   * const sl = ShareableList.createSync([0, 0, 0], { name: "scores" });
   * sl.setSync(0, 10);
   * sl.shm.unlinkSync();
   * ```
   */
  static createSync(sequence: Iterable<ShareableItem>, options?: { readonly name?: string }): ShareableList {
    const items = ShareableListEngine.encodeAll(sequence);
    const shm = SharedMemory.createSync({ name: options?.name, size: ShareableListEngine.bytesFor(items) });
    return ShareableList.fromEngine(ShareableListEngine.layOut(engineOf(shm), items));
  }

  /**
   * Opens the list in the block named `name` (Python's
   * `ShareableList(name=name)`), from any thread of the process; a block
   * that is not a list is a `TypeError`, a missing name
   * `SharedMemoryError("NotFound")`.
   *
   * @example Attaching by name (in this thread or any worker)
   * ```ts
   * import { ShareableList } from "./shareable_list.ts";
   * const owner = await ShareableList.create([1], { name: "tally" });
   * const sl = await ShareableList.attach("tally"); // a worker needs only the name
   * await sl.set(0, (await sl.get(0) as number) + 1);
   * console.log(await owner.get(0)); // 2
   * await owner.shm.unlink();
   * ```
   */
  static async attach(name: string, options?: AttachOptions): Promise<ShareableList> {
    const shm = await SharedMemory.attach(name, options);
    return ShareableList.fromEngine(new ShareableListEngine(engineOf(shm)));
  }

  /**
   * The synchronous twin of {@linkcode ShareableList.attach}, for blocks this
   * thread already holds.
   *
   * @example Attaching a list this thread holds
   * ```ts
   * import { ShareableList } from "./shareable_list.ts";
   * const a = ShareableList.createSync([1], { name: "again" });
   * console.log(ShareableList.attachSync("again").getSync(0)); // 1
   * a.shm.unlinkSync();
   * ```
   */
  static attachSync(name: string): ShareableList {
    return ShareableList.fromEngine(new ShareableListEngine(engineOf(SharedMemory.attachSync(name))));
  }

  /** The engine for a Sync twin; fails with `"Closed"` once `shm.close()` was called. */
  #local(what: string): ShareableListEngine {
    const e = this.local(what);
    this.#check(what);
    return e;
  }

  /** Fails with `"Closed"` once `shm.close()` was called. */
  #check(what: string): void {
    if (this.#shm.closed) {
      throw new SharedMemoryError(
        "Closed",
        `Cannot ${what} as its block is closed: received ${JSON.stringify(this.#shm.name)}`,
      );
    }
  }

  /** The block holding the list (Python's `shm`): close or unlink it there. */
  get shm(): SharedMemory {
    return this.#shm;
  }

  /** Item `index` (negative counts from the end). */
  async get(index: number): Promise<ShareableItem> {
    this.#check("get shareable list item");
    return this.call("get", [index]);
  }
  /**
   * Replaces item `index`; the type may change. A string or bytes longer than
   * the slot's room fails with `CapacityError` and stores nothing.
   */
  async set(index: number, value: ShareableItem): Promise<void> {
    this.#check("set shareable list item");
    return this.exec("set", [index, value]);
  }
  /** Number of items equal to `value` (numbers equal bigints of the same value; bytes compare by content). */
  async count(value: ShareableItem): Promise<number> {
    this.#check("count shareable list items");
    return this.call("count", [value]);
  }
  /** Index of the first item equal to `value`; a `RangeError` when none is (Python's `ValueError`). */
  async index(value: ShareableItem): Promise<number> {
    this.#check("find shareable list item");
    return this.call("index", [value]);
  }
  /** Every item, as a plain array (Python's `list(sl)`). */
  async toArray(): Promise<ShareableItem[]> {
    this.#check("read shareable list");
    return this.call("toArray", []);
  }

  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync(index: number): ShareableItem {
    return this.#local("getSync").get(index);
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(index: number, value: ShareableItem): void {
    this.#local("setSync").set(index, value);
  }
  /** The synchronous twin of {@linkcode count} (shared buffer only). */
  countSync(value: ShareableItem): number {
    return this.#local("countSync").count(value);
  }
  /** The synchronous twin of {@linkcode index} (shared buffer only). */
  indexSync(value: ShareableItem): number {
    return this.#local("indexSync").index(value);
  }
  /** The synchronous twin of {@linkcode toArray} (shared buffer only). */
  toArraySync(): ShareableItem[] {
    return this.#local("toArraySync").toArray();
  }
}

/** A remote client: asks the server for the list's length and its block's name and size first. */
async function remoteClient(handle: Handle, backend: Backend<ShareableListEngine>): Promise<ShareableList> {
  const d = await backend.remote!.call("describe", []) as ShareableListDescription;
  return new ShareableList(handle, backend, d);
}

/** The ShareableList kind: `Manager.shareableList(sequence, { name })` creates (or opens) `[sequence, { name }]`. */
export const shareableListSpec = defineStructure({
  kind: "shareable-list",
  create: createForManager,
  // shm: the list's block is portable (its name lives in the manager)
  createPortable: ([sequence, options]) => {
    const items = ShareableListEngine.encodeAll(sequence ?? []);
    const name = (options as { name?: unknown } | undefined)?.name;
    return ShareableListEngine.layOut(SharedMemoryEngine.portable(name, ShareableListEngine.bytesFor(items)), items);
  },
  share,
  open: (h) => new ShareableListEngine(blockOf(h as ShareableListHandle)),
  ops: shareableListOps,
  // the manager's shutdown unlinks the block of a list it created
  dispose: (e) => unlinkCreated(e.shm),
  // a remote client learns the list's length first, so it is a promise (attach awaits it)
  client: (handle, backend: Backend<ShareableListEngine>): ShareableList | Promise<ShareableList> =>
    backend.engine ? new ShareableList(handle, backend) : remoteClient(handle, backend),
});
