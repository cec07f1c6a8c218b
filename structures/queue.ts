/**
 * A FIFO queue shared by threads, processes or machines: Python's
 * `multiprocessing.Queue`, on any transport.
 *
 * On the shared buffer it is crossbeam's `SegQueue` laid out in a growable
 * SharedArrayBuffer: an unbounded lock-free MPMC queue of blocks of 31 slots.
 * Producers claim a slot with one compare-and-swap on the tail index,
 * consumers with one on the head index, and the slot's state word hands the
 * item over, so a producer and a consumer share no word but the slot itself.
 * An item of up to 56 encoded bytes lives in its slot; a larger one in a heap
 * block. The heap (blocks, large items) is the only part under a mutex, taken
 * once per 31 items. Getters sleep on a put counter that producers bump only
 * when someone sleeps; a bounded queue counts free places in one more word.
 *
 * **One wake per sleep.** A side's sleepers word (getters, putters) counts
 * the waiters enlisted to sleep and, in its high half, the wakes owed to
 * them: a put wakes a getter only while some enlisted getter is owed none
 * (`#wakeGetter`), so a getter that sleeps costs one wake, however many
 * items arrive before it runs again; a get does the same for putters of a
 * full queue. A waiter takes an owed wake (if any) before it sleeps, and
 * then pops again instead of sleeping: an owed wake may have found nobody
 * asleep yet (the waiter it was meant for was between its pop and its
 * sleep), so no waiter sleeps while a wake is owed. A waiter that leaves
 * (with an item, by timeout or by abort) takes one too, and passes it on if
 * items (places) remain, since it may have been owed to a waiter that popped
 * before they came. tests/structures/queue_wake_model_test.ts checks every
 * interleaving of small cases; see docs/decisions.md.
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { type ArgsOf, defineStructure, type ResultOf, Shared } from "../core/structure.ts";
import { abortedError, QueueError, timedOutError } from "../errors.ts";
import { decode, encode } from "../transports/_codec.ts";
import { decodeFast, encodeFast, MISS, SCRATCH_BYTES } from "../transports/_fastcodec.ts";
import { storedSeen } from "../transports/_nested.ts";
import { threadId } from "../transports/_runtime/threads.ts";
import {
  type Deadline,
  deadlineOf,
  nap,
  runAsync,
  runSync,
  type WaitLoop,
  type WaitOptions,
  wake,
} from "../sync/_kernel.ts";
import { ACQUIRED_OWNER_DIED, lockSync, tryLock, unlock } from "../sync/_mutex.ts";
import { createHeapBuffer, Heap } from "./_heap.ts";

// ---- header words (first cache line: read-mostly) ----
/** Mutex word guarding the heap (block and large-item allocation). */
const Q_LOCK = 0;
/** Bound on items; 0 for none. */
const Q_MAXSIZE = 1;
/** Free places of a bounded queue. */
const Q_AVAIL = 2;
/** Bumped by a put that wakes a getter; getters sleep on it. */
const Q_PUT_SEQ = 3;
/** Getters enlisted to sleep (low half) and wakes owed to them (high half): see {@linkcode SLEEPERS}. */
const Q_GETTERS = 4;
/** Putters enlisted to sleep and wakes owed to them, as {@linkcode Q_GETTERS}. */
const Q_PUTTERS = 5;
/** 1 for a JoinableQueue: puts count unfinished items. */
const Q_JOINABLE = 6;
/** Items put and not yet marked done (JoinableQueue). */
const Q_UNFINISHED = 7;
/** Bumped when the unfinished count reaches zero; `join` sleeps on it. */
const Q_JOIN_SEQ = 8;
/** Byte offset of the head's own cache line (HEAD_INDEX, HEAD_BLOCK). */
const Q_HEAD_AT = 9;
/** Byte offset of the tail's own cache line (TAIL_INDEX, TAIL_BLOCK). */
const Q_TAIL_AT = 10;
/** 0 while open; {@linkcode SHUT} or {@linkcode SHUT_NOW} once shut down (Python 3.13's `shutdown`). */
const Q_SHUTDOWN = 11;
/** Q_SHUTDOWN after `shutdown()`: puts fail, gets take what is left, then fail. */
const SHUT = 1;
/** Q_SHUTDOWN after `shutdown({ immediate: true })`: the items were dropped; puts and gets fail. */
const SHUT_NOW = 2;
/**
 * Added to Q_AVAIL by the shutdown of a bounded queue, so that every putter
 * woken by it (shutdown bumps Q_GET_SEQ, the word they sleep on) takes a
 * place, which it gives back as it fails. Above any maxsize, so `full` can
 * take it off.
 */
const SHUT_ROOM = 1 << 30;
/** Bumped by a get (or a failed put) that wakes a putter; putters of a full queue sleep on it. */
const Q_GET_SEQ = 12;

// ---- a sleepers word (Q_GETTERS, Q_PUTTERS): enlisted waiters, and the wakes owed to them ----
/** Mask of the enlisted waiters: at most this many of a side count; more wait by polling. */
const SLEEPERS = 0x7fff;
/** One owed wake, in the high half (owed ≤ enlisted, so the word stays positive). */
const OWED = 1 << 16;
/** Poll period of a waiter that found the sleepers word full. */
const POLL_MS = 1;

// ---- a position (head or tail): two words on a cache line of their own ----
const P_INDEX = 0;
const P_BLOCK = 1;

// ---- indices (crossbeam's SegQueue) ----
/** Index bits below the position: bit 0 of the head index says "the block has a next one". */
const SHIFT = 1;
const HAS_NEXT = 1;
/** Positions per block, one of them a marker that is never a slot. */
const LAP = 32;
/** Slots per block. */
const BLOCK_CAP = LAP - 1;

// ---- a block: next-block word, then 31 slots of 64 bytes ----
const B_NEXT = 0;
const B_SLOTS = 8;
const SLOT_BYTES = 64;
const BLOCK_BYTES = B_SLOTS + BLOCK_CAP * SLOT_BYTES;
/** Slot words: state, length, then the item or the offset of its heap block. */
const S_STATE = 0;
const S_LEN = 1;
const S_DATA = 8;
/** Largest item kept in its slot. */
const INLINE_BYTES = SLOT_BYTES - S_DATA;
/** Slot state bits. */
const WRITE = 1;
const READ = 2;
const DESTROY = 4;

/** Blocks freed since the heap's last merge before a queue found empty merges them. */
const COMPACT_AFTER = 32;

/** Spins of a getter on an empty queue (a Sync putter on a full one) before it sleeps. */
const GET_SPINS = 200;

/** Default ceiling of a queue's buffer. */
export const DEFAULT_MAX_BYTES = 1 << 30;

/** Options of a queue. */
export interface QueueOptions {
  /** Most items the queue holds; `put` waits beyond it. 0 or absent: unbounded. */
  readonly maxsize?: number;
  /** Name under which other threads and processes of the manager find it. */
  readonly name?: string;
  /** Ceiling of the queue's memory; a put past it fails with `CapacityError`. Default 1 GiB. */
  readonly maxBytes?: number;
}

/** Returned by a pop from an empty queue. */
const EMPTY: unique symbol = Symbol("procshare.queue.empty");

/** Scratch buffer of this thread for encoding an item (no user code runs while in use). */
const SCRATCH: Uint8Array = new Uint8Array(SCRATCH_BYTES);

/** The error of a put to, or a get from, a queue that was shut down (`state`: the Q_SHUTDOWN word). */
function shutDownError(what: string, state: number): QueueError {
  return new QueueError(
    "ShutDown",
    `Cannot ${what} as the queue was shut down: received shutdown({ immediate: ${state === SHUT_NOW} })`,
  );
}

/**
 * The shared-memory engine of a Queue.
 *
 * @internal
 */
export class QueueEngine {
  readonly heap: Heap;
  /** Words of the head's and the tail's cache lines: a fixed view each (they never move). */
  readonly #head: Int32Array;
  readonly #tail: Int32Array;
  readonly #hdr: Int32Array;

  /** The words of the buffer (a fresh view after growth: see `Heap.sync`). */
  get i32(): Int32Array {
    return this.heap.i32;
  }
  /** The bytes of the buffer. */
  get u8(): Uint8Array {
    return this.heap.u8;
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.heap = new Heap(buffer, "queue");
    const i32 = this.heap.i32;
    this.#hdr = new Int32Array(buffer, 0, 16);
    this.#head = new Int32Array(buffer, i32[Q_HEAD_AT], 2);
    this.#tail = new Int32Array(buffer, i32[Q_TAIL_AT], 2);
  }

  /** Lays out a fresh queue. */
  static create(options?: QueueOptions, joinable = false): QueueEngine {
    const maxsize = options?.maxsize ?? 0;
    if (!Number.isInteger(maxsize) || maxsize < 0 || maxsize > 0x3fffffff) {
      throw new TypeError(`Cannot create queue as 'maxsize' must be a non-negative integer: received ${maxsize}`);
    }
    const buf = createHeapBuffer(64 * 1024, options?.maxBytes ?? DEFAULT_MAX_BYTES, "queue");
    const heap = new Heap(buf, "queue");
    const headAt = heap.alloc(64), tailAt = heap.alloc(64), first = heap.alloc(BLOCK_BYTES);
    const i32 = heap.i32;
    i32.fill(0, first >> 2, (first + BLOCK_BYTES) >> 2);
    i32[Q_MAXSIZE] = maxsize;
    i32[Q_AVAIL] = maxsize;
    i32[Q_JOINABLE] = joinable ? 1 : 0;
    i32[Q_HEAD_AT] = headAt;
    i32[Q_TAIL_AT] = tailAt;
    i32[(headAt >> 2) + P_INDEX] = 0;
    i32[(headAt >> 2) + P_BLOCK] = first;
    i32[(tailAt >> 2) + P_INDEX] = 0;
    i32[(tailAt >> 2) + P_BLOCK] = first;
    return new QueueEngine(buf);
  }

  // ---- the heap, under the mutex ----

  #lock(): number {
    const id = threadId();
    if (!tryLock(this.#hdr, Q_LOCK, id) && lockSync(this.#hdr, Q_LOCK, id, Infinity) === ACQUIRED_OWNER_DIED) {
      this.heap.recover(); // its holder died inside a heap step: undo it (_heap.ts)
    }
    this.heap.sync();
    return id;
  }

  #allocBlock(): number {
    const id = this.#lock();
    try {
      const b = this.heap.alloc(BLOCK_BYTES);
      const i32 = this.heap.i32;
      i32[(b >> 2) + B_NEXT] = 0;
      for (let s = 0; s < BLOCK_CAP; s++) i32[((b + B_SLOTS + s * SLOT_BYTES) >> 2) + S_STATE] = 0;
      return b;
    } finally {
      unlock(this.#hdr, Q_LOCK, id);
    }
  }

  /**
   * Frees a heap block. When that leaves the queue empty, and enough blocks
   * were freed since the last merge, it also merges the heap's free blocks
   * (a heuristic: merging free blocks is safe at any time under the mutex),
   * so the room of a drained queue serves items of any size again instead of
   * staying cut into the sizes of the items it held. The threshold keeps the
   * merge off a put/get ping-pong of large items (one free per get).
   */
  #free(off: number): void {
    const id = this.#lock();
    try {
      const heap = this.heap;
      heap.free(off);
      if (
        heap.freesSinceCompact() >= COMPACT_AFTER &&
        Atomics.load(this.#head, P_INDEX) >>> SHIFT === Atomics.load(this.#tail, P_INDEX) >>> SHIFT
      ) heap.compact();
    } finally {
      unlock(this.#hdr, Q_LOCK, id);
    }
  }

  /** Copies a large item to a heap block; its offset. */
  #allocItem(vb: Uint8Array, vlen: number): number {
    const id = this.#lock();
    try {
      const off = this.heap.alloc(vlen);
      this.heap.u8.set(vlen === vb.length ? vb : vb.subarray(0, vlen), off);
      return off;
    } finally {
      unlock(this.#hdr, Q_LOCK, id);
    }
  }

  /** Views that cover `end`: another thread may have grown the buffer. */
  #words(end: number): Int32Array {
    if (end > this.heap.u8.length) this.heap.sync();
    return this.heap.i32;
  }

  // ---- the lock-free queue ----

  /**
   * Links one encoded item (crossbeam's `SegQueue::push`), holding the place
   * {@linkcode #reserve} took. Only the heap can fail (`CapacityError`), and
   * only before the item is linked: then the push frees what it allocated and
   * gives the place back, so a failed put leaves the queue as it found it.
   */
  #push(vb: Uint8Array, vlen: number): void {
    let ext = 0;
    if (vlen > INLINE_BYTES) {
      try {
        ext = this.#allocItem(vb, vlen);
      } catch (e) {
        this.#release();
        throw e;
      }
    }
    const tail = this.#tail;
    let nextBlock = 0;
    for (let spins = 0;; spins++) {
      const t = Atomics.load(tail, P_INDEX);
      const block = Atomics.load(tail, P_BLOCK);
      const offset = (t >>> SHIFT) & (LAP - 1);
      if (offset === BLOCK_CAP) {
        // another producer is installing the next block
        if (spins > 64) nap(tail, P_INDEX, t, 0.05);
        continue;
      }
      if (offset + 1 === BLOCK_CAP && nextBlock === 0) {
        try {
          nextBlock = this.#allocBlock();
        } catch (e) {
          if (ext !== 0) this.#free(ext);
          this.#release();
          throw e;
        }
      }
      const newTail = (t + (1 << SHIFT)) | 0;
      if (Atomics.compareExchange(tail, P_INDEX, t, newTail) !== t) continue;
      let i32 = this.#words(block + BLOCK_BYTES);
      if (offset + 1 === BLOCK_CAP) {
        Atomics.store(tail, P_BLOCK, nextBlock);
        Atomics.store(tail, P_INDEX, (newTail + (1 << SHIFT)) | 0);
        i32 = this.#words(nextBlock + BLOCK_BYTES);
        Atomics.store(i32, (block >> 2) + B_NEXT, nextBlock);
        nextBlock = 0;
      }
      const slot = block + B_SLOTS + offset * SLOT_BYTES;
      i32[(slot >> 2) + S_LEN] = vlen;
      if (ext !== 0) i32[(slot + S_DATA) >> 2] = ext;
      else {
        const u8 = this.heap.u8, p = slot + S_DATA;
        for (let i = 0; i < vlen; i++) u8[p + i] = vb[i];
      }
      Atomics.or(i32, (slot >> 2) + S_STATE, WRITE);
      break;
    }
    if (nextBlock !== 0) this.#free(nextBlock);
    const hdr = this.#hdr;
    if (Atomics.load(hdr, Q_JOINABLE) !== 0) Atomics.add(hdr, Q_UNFINISHED, 1);
    this.#wakeGetter();
  }

  /** Wakes one getter if some getter enlisted to sleep is owed no wake yet (one wake per sleep). */
  #wakeGetter(): void {
    if (owe(this.#hdr, Q_GETTERS)) {
      Atomics.add(this.#hdr, Q_PUT_SEQ, 1);
      wake(this.#hdr, Q_PUT_SEQ, 1);
    }
  }

  /** Wakes one putter of a full queue, as {@linkcode #wakeGetter} does a getter. */
  #wakePutter(): void {
    if (owe(this.#hdr, Q_PUTTERS)) {
      Atomics.add(this.#hdr, Q_GET_SEQ, 1);
      wake(this.#hdr, Q_GET_SEQ, 1);
    }
  }

  /** Unlinks the first item (crossbeam's `SegQueue::pop`); EMPTY when there is none. */
  #pop(): unknown {
    const head = this.#head, tail = this.#tail;
    for (let spins = 0;; spins++) {
      const h = Atomics.load(head, P_INDEX);
      const block = Atomics.load(head, P_BLOCK);
      const offset = (h >>> SHIFT) & (LAP - 1);
      if (offset === BLOCK_CAP) {
        if (spins > 64) nap(head, P_INDEX, h, 0.05);
        continue;
      }
      let newHead = (h + (1 << SHIFT)) | 0;
      if ((newHead & HAS_NEXT) === 0) {
        const t = Atomics.load(tail, P_INDEX);
        if (h >>> SHIFT === t >>> SHIFT) return EMPTY;
        if ((h >>> SHIFT) >>> 5 !== (t >>> SHIFT) >>> 5) newHead |= HAS_NEXT;
      }
      if (Atomics.compareExchange(head, P_INDEX, h, newHead) !== h) continue;
      let i32 = this.#words(block + BLOCK_BYTES);
      if (offset + 1 === BLOCK_CAP) {
        let next: number;
        while ((next = Atomics.load(i32, (block >> 2) + B_NEXT)) === 0) {
          nap(i32, (block >> 2) + B_NEXT, 0, 0.05);
        }
        i32 = this.#words(next + BLOCK_BYTES);
        let nextIndex = ((newHead & ~HAS_NEXT) + (1 << SHIFT)) | 0;
        if (Atomics.load(i32, (next >> 2) + B_NEXT) !== 0) nextIndex |= HAS_NEXT;
        Atomics.store(head, P_BLOCK, next);
        Atomics.store(head, P_INDEX, nextIndex);
      }
      const slot = block + B_SLOTS + offset * SLOT_BYTES;
      const st = (slot >> 2) + S_STATE;
      for (let n = 0; (Atomics.load(i32, st) & WRITE) === 0; n++) {
        if (n > 64) nap(i32, st, 0, 0.05); // the producer is between its claim and its write
      }
      const vlen = i32[(slot >> 2) + S_LEN];
      let value: unknown;
      if (vlen > INLINE_BYTES) {
        const ext = i32[(slot + S_DATA) >> 2];
        this.#words(ext + vlen);
        const u8 = this.heap.u8;
        value = decodeFast(u8, ext, vlen);
        if (value === MISS) value = decode(u8.slice(ext, ext + vlen));
        this.#free(ext);
      } else {
        const u8 = this.heap.u8;
        value = decodeFast(u8, slot + S_DATA, vlen);
        if (value === MISS) value = decode(u8.slice(slot + S_DATA, slot + S_DATA + vlen));
      }
      if (offset + 1 === BLOCK_CAP) this.#destroy(block, 0);
      else if (Atomics.or(i32, st, READ) & DESTROY) this.#destroy(block, offset + 1);
      this.#release();
      return value;
    }
  }

  /** Frees a block once every slot of it was read (crossbeam's `Block::destroy`). */
  #destroy(block: number, start: number): void {
    const i32 = this.#words(block + BLOCK_BYTES);
    for (let i = start; i < BLOCK_CAP - 1; i++) {
      const st = ((block + B_SLOTS + i * SLOT_BYTES) >> 2) + S_STATE;
      if ((Atomics.load(i32, st) & READ) === 0 && (Atomics.or(i32, st, DESTROY) & READ) === 0) return;
    }
    this.#free(block);
  }

  /** Gives a place of a bounded queue back (a get took an item, or a put failed) and wakes a putter. */
  #release(): void {
    const hdr = this.#hdr;
    if (Atomics.load(hdr, Q_MAXSIZE) > 0) {
      Atomics.add(hdr, Q_AVAIL, 1);
      this.#wakePutter();
    }
  }

  /** Takes a free place of a bounded queue; false when it is full. */
  #reserve(): boolean {
    const hdr = this.#hdr;
    if (Atomics.load(hdr, Q_MAXSIZE) === 0) return true;
    for (;;) {
      const a = Atomics.load(hdr, Q_AVAIL);
      if (a <= 0) return false;
      if (Atomics.compareExchange(hdr, Q_AVAIL, a, a - 1) === a) return true;
    }
  }

  #encode(value: unknown): [Uint8Array, number] {
    const n = encodeFast(value, SCRATCH);
    if (n >= 0) return [SCRATCH, n];
    const vb = encode(value);
    return [vb, vb.length];
  }

  /** Appends an item, blocking the thread while a bounded queue is full (at most `timeout` ms). */
  putSync(value: unknown, options?: WaitOptions): void {
    const [vb, vlen] = this.#encode(value);
    if (!this.#reserve() && !this.#reserveSpinning()) this.#waitForRoomSync(options);
    this.#refusePut(true);
    this.#push(vb, vlen);
  }

  /** Takes a free place, spinning briefly while the queue is full (a getter is likely freeing one); false if still full. */
  #reserveSpinning(): boolean {
    for (let i = 0; i < GET_SPINS; i++) if (this.#reserve()) return true;
    return false;
  }

  /** The slow path of {@linkcode putSync}: returns holding a free place. */
  #waitForRoomSync(options?: WaitOptions): void {
    const deadline = deadlineOf(options?.timeout, "put to queue");
    if (options?.signal?.aborted) throw abortedError("QueueError", "put to queue", options.signal);
    runSync(this.#roomLoop(deadline, options?.timeout));
  }

  /** The asynchronous twin of {@linkcode putSync}; a put aborted while waiting stores nothing. */
  async put(value: unknown, options?: WaitOptions): Promise<void> {
    const [vb, vlen] = this.#encode(value);
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError("QueueError", "put to queue", signal);
    if (this.#reserve() || this.#reserveSpinning()) {
      this.#refusePut(true);
      return this.#push(vb, vlen);
    }
    const item = vb.slice(0, vlen); // the scratch buffer is not ours across an await
    const deadline = deadlineOf(options?.timeout, "put to queue");
    await runAsync(this.#roomLoop(deadline, options?.timeout), signal, () => {
      throw abortedError("QueueError", "put to queue", signal);
    });
    this.#refusePut(true);
    this.#push(item, vlen);
  }

  /**
   * The slow path of a put to a full bounded queue, for either driver:
   * enlists among the putters (so that gets wake one) and sleeps on the get
   * counter until it takes a place, or fails with `QueueError("Timeout")`.
   * The async driver ends it when the signal aborts, before it tries again: a
   * put woken after its signal aborted stores nothing, and passes the wake on
   * if places remain.
   */
  *#roomLoop(deadline: Deadline, timeout: number | undefined): WaitLoop<void> {
    const hdr = this.#hdr;
    const enlisted = enlist(hdr, Q_PUTTERS);
    try {
      for (;;) {
        const seq = Atomics.load(hdr, Q_GET_SEQ);
        if (this.#reserve()) return;
        if (enlisted && takeOwed(hdr, Q_PUTTERS)) continue; // see the module's "One wake per sleep"
        const more = yield { i32: hdr, index: Q_GET_SEQ, expected: seq, deadline: pollUnless(enlisted, deadline) };
        if (this.#reserve()) return;
        if (!more && (enlisted || performance.now() >= deadline)) {
          throw timedOutError("QueueError", "put to queue", timeout);
        }
      }
    } finally {
      if (enlisted && leave(hdr, Q_PUTTERS) && Atomics.load(hdr, Q_AVAIL) > 0) this.#wakePutter();
    }
  }

  putNowait(value: unknown): void {
    const [vb, vlen] = this.#encode(value);
    if (!this.#reserve()) {
      this.#refusePut(false);
      throw new QueueError("Full", `Cannot put to queue as it is full: received maxsize ${this.maxsize()}`);
    }
    this.#refusePut(true);
    this.#push(vb, vlen);
  }

  /** Pops, spinning briefly while empty; EMPTY if still empty. */
  #popSpinning(): unknown {
    for (let i = 0; i < GET_SPINS; i++) {
      const v = this.#pop();
      if (v !== EMPTY) return v;
    }
    return EMPTY;
  }

  /** Removes and returns the first item, blocking the thread while the queue is empty (at most `timeout` ms). */
  getSync(options?: WaitOptions): unknown {
    this.#refuseGet(false);
    let v = this.#pop();
    if (v !== EMPTY) return v;
    this.#refuseGet(true);
    const deadline = deadlineOf(options?.timeout, "get from queue");
    v = this.#popSpinning();
    if (v !== EMPTY) return v;
    if (options?.signal?.aborted) throw abortedError("QueueError", "get from queue", options.signal);
    return runSync(this.#itemLoop(deadline, options?.timeout));
  }

  /** The asynchronous twin of {@linkcode getSync}; a get aborted while waiting takes nothing. */
  async get(options?: WaitOptions): Promise<unknown> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError("QueueError", "get from queue", signal);
    this.#refuseGet(false);
    const v = this.#pop();
    if (v !== EMPTY) return v;
    this.#refuseGet(true);
    const deadline = deadlineOf(options?.timeout, "get from queue");
    return await runAsync(this.#itemLoop(deadline, options?.timeout), signal, () => {
      throw abortedError("QueueError", "get from queue", signal);
    });
  }

  /**
   * The slow path of a get from an empty queue, for either driver: enlists
   * among the getters (so that puts bump the put counter and wake one) and
   * sleeps on that counter until it pops an item, or fails with
   * `QueueError("Timeout")`. The async driver ends it when the signal aborts,
   * before it pops again: a get woken after its signal aborted takes nothing
   * (the item would go to a caller who left), and passes its wake on if items
   * remain.
   */
  *#itemLoop(deadline: Deadline, timeout: number | undefined): WaitLoop<unknown> {
    const hdr = this.#hdr;
    const enlisted = enlist(hdr, Q_GETTERS);
    try {
      for (;;) {
        const seq = Atomics.load(hdr, Q_PUT_SEQ);
        let v = this.#pop();
        if (v !== EMPTY) return v;
        if (enlisted && takeOwed(hdr, Q_GETTERS)) continue; // see the module's "One wake per sleep"
        this.#refuseGet(true); // read after `seq`: a shutdown after it moves Q_PUT_SEQ, so the sleep ends
        const more = yield { i32: hdr, index: Q_PUT_SEQ, expected: seq, deadline: pollUnless(enlisted, deadline) };
        v = this.#pop();
        if (v !== EMPTY) return v;
        if (!more && (enlisted || performance.now() >= deadline)) {
          throw timedOutError("QueueError", "get from queue", timeout);
        }
      }
    } finally {
      if (enlisted && leave(hdr, Q_GETTERS) && this.qsize() > 0) this.#wakeGetter();
    }
  }

  getNowait(): unknown {
    this.#refuseGet(false);
    const v = this.#pop();
    if (v === EMPTY) {
      this.#refuseGet(true);
      throw new QueueError("Empty", "Cannot get from queue as it is empty");
    }
    return v;
  }

  // ---- shutdown (Python 3.13's Queue.shutdown) ----

  /**
   * Fails a put with `QueueError("ShutDown")` once the queue was shut down,
   * giving back the place it `holds`. Checked after the place is taken: a
   * put that took one before the shutdown (and so not from
   * {@linkcode SHUT_ROOM}) stores its item; one after, none.
   */
  #refusePut(holds: boolean): void {
    const state = Atomics.load(this.#hdr, Q_SHUTDOWN);
    if (state === 0) return;
    if (holds) this.#release();
    throw shutDownError("put to queue", state);
  }

  /**
   * Fails a get with `QueueError("ShutDown")` after an immediate shutdown,
   * or, when the get found the queue `empty`, after any shutdown.
   */
  #refuseGet(empty: boolean): void {
    const state = Atomics.load(this.#hdr, Q_SHUTDOWN);
    if (state === SHUT_NOW || (state !== 0 && empty)) throw shutDownError("get from queue", state);
  }

  /**
   * Shuts the queue down for every client (Python 3.13's
   * `Queue.shutdown(immediate)`): puts fail with `QueueError("ShutDown")`
   * from now on, and gets once the queue is empty; with `immediate`, the
   * items are dropped (each counted done for a JoinableQueue, as Python
   * does) and gets fail at once. Wakes every blocked getter, putter and
   * joiner, in every thread and process. A later call can make a shutdown
   * immediate, never undo one.
   */
  shutdown(immediate: boolean): void {
    const hdr = this.#hdr, state = immediate ? SHUT_NOW : SHUT;
    for (;;) {
      const s = Atomics.load(hdr, Q_SHUTDOWN);
      if (s >= state) break;
      if (Atomics.compareExchange(hdr, Q_SHUTDOWN, s, state) !== s) continue;
      if (s === 0 && Atomics.load(hdr, Q_MAXSIZE) > 0) Atomics.add(hdr, Q_AVAIL, SHUT_ROOM);
      break;
    }
    if (immediate) {
      const joinable = Atomics.load(hdr, Q_JOINABLE) !== 0;
      while (this.#pop() !== EMPTY) {
        for (let n; joinable && (n = Atomics.load(hdr, Q_UNFINISHED)) > 0;) {
          if (Atomics.compareExchange(hdr, Q_UNFINISHED, n, n - 1) === n) break;
        }
      }
      if (joinable) {
        Atomics.add(hdr, Q_JOIN_SEQ, 1);
        wake(hdr, Q_JOIN_SEQ, Infinity);
      }
    }
    Atomics.add(hdr, Q_PUT_SEQ, 1);
    wake(hdr, Q_PUT_SEQ, Infinity);
    Atomics.add(hdr, Q_GET_SEQ, 1);
    wake(hdr, Q_GET_SEQ, Infinity);
  }

  /** True once the queue was shut down (Python 3.13's `is_shutdown`). */
  isShutdown(): boolean {
    return Atomics.load(this.#hdr, Q_SHUTDOWN) !== 0;
  }

  /** Items in the queue now (crossbeam's `SegQueue::len`). */
  qsize(): number {
    const head = this.#head, tail = this.#tail;
    for (;;) {
      let t = Atomics.load(tail, P_INDEX);
      let h = Atomics.load(head, P_INDEX);
      if (Atomics.load(tail, P_INDEX) !== t) continue;
      t = (t & ~((1 << SHIFT) - 1)) >>> 0;
      h = (h & ~((1 << SHIFT) - 1)) >>> 0;
      if (((t >>> SHIFT) & (LAP - 1)) === LAP - 1) t = (t + (1 << SHIFT)) >>> 0;
      if (((h >>> SHIFT) & (LAP - 1)) === LAP - 1) h = (h + (1 << SHIFT)) >>> 0;
      const base = (((h >>> SHIFT) >>> 5) << 5) >>> 0; // first position of the head's lap
      const tp = ((t >>> SHIFT) - base) >>> 0, hp = ((h >>> SHIFT) - base) >>> 0;
      return Math.max(0, tp - hp - Math.floor(tp / LAP));
    }
  }
  empty(): boolean {
    return this.qsize() === 0;
  }
  full(): boolean {
    const hdr = this.#hdr;
    const avail = Atomics.load(hdr, Q_AVAIL);
    return Atomics.load(hdr, Q_MAXSIZE) > 0 && (avail >= SHUT_ROOM ? avail - SHUT_ROOM : avail) <= 0;
  }
  maxsize(): number {
    return Atomics.load(this.#hdr, Q_MAXSIZE);
  }

  /** Marks one fetched item done (JoinableQueue); wakes joiners at zero. */
  taskDone(): void {
    const i32 = this.#hdr;
    for (;;) {
      const n = Atomics.load(i32, Q_UNFINISHED);
      if (n <= 0) throw new RangeError("Cannot mark task done as it was called more times than items were put");
      if (Atomics.compareExchange(i32, Q_UNFINISHED, n, n - 1) !== n) continue;
      if (n === 1) {
        Atomics.add(i32, Q_JOIN_SEQ, 1);
        wake(i32, Q_JOIN_SEQ, Infinity);
      }
      return;
    }
  }

  /** Items put and not yet marked done. */
  unfinished(): number {
    return Atomics.load(this.#hdr, Q_UNFINISHED);
  }

  /** Blocks until every item put has been marked done. */
  joinSync(options?: WaitOptions): void {
    const deadline = deadlineOf(options?.timeout, "join queue");
    if (options?.signal?.aborted) throw abortedError("QueueError", "join queue", options.signal);
    if (Atomics.load(this.#hdr, Q_UNFINISHED) === 0) return;
    runSync(this.#joinLoop(deadline, options?.timeout));
  }

  /** The asynchronous twin of {@linkcode joinSync}. */
  async join(options?: WaitOptions): Promise<void> {
    const deadline = deadlineOf(options?.timeout, "join queue");
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError("QueueError", "join queue", signal);
    if (Atomics.load(this.#hdr, Q_UNFINISHED) === 0) return;
    await runAsync(this.#joinLoop(deadline, options?.timeout), signal, () => {
      throw abortedError("QueueError", "join queue", signal);
    });
  }

  /** The slow path of a join, for either driver: sleeps on the join counter until nothing is unfinished. */
  *#joinLoop(deadline: Deadline, timeout: number | undefined): WaitLoop<void> {
    const i32 = this.#hdr;
    for (;;) {
      const seq = Atomics.load(i32, Q_JOIN_SEQ);
      if (Atomics.load(i32, Q_UNFINISHED) === 0) return;
      if (!(yield { i32, index: Q_JOIN_SEQ, expected: seq, deadline })) {
        throw timedOutError("QueueError", "join queue", timeout);
      }
    }
  }
}

// ---- sleepers words: one wake per sleep (exported for tests/structures/queue_wake_model_test.ts) ----

/**
 * Enlists a waiter in the sleepers word `at`; false when the word is full
 * ({@linkcode SLEEPERS} waiters): that waiter then polls (see {@linkcode pollUnless}).
 *
 * @internal
 */
export function enlist(hdr: Int32Array, at: number): boolean {
  for (;;) {
    const w = Atomics.load(hdr, at);
    if ((w & SLEEPERS) === SLEEPERS) return false;
    if (Atomics.compareExchange(hdr, at, w, w + 1) === w) return true;
  }
}

/**
 * Takes a waiter off the sleepers word `at`, with one owed wake if any (owed
 * stays ≤ enlisted); true when it took one. The wake it took may have been
 * owed to a waiter that popped nothing since it was owed (it is between its
 * pop and its sleep): a leaver that took one must pass it on while items
 * (places) remain.
 *
 * @internal
 */
export function leave(hdr: Int32Array, at: number): boolean {
  for (;;) {
    const w = Atomics.load(hdr, at);
    const owed = w >>> 16 > 0;
    if (Atomics.compareExchange(hdr, at, w, w - 1 - (owed ? OWED : 0)) === w) return owed;
  }
}

/**
 * Takes one owed wake of the sleepers word `at`; false when none is owed.
 *
 * @internal
 */
export function takeOwed(hdr: Int32Array, at: number): boolean {
  for (;;) {
    const w = Atomics.load(hdr, at);
    if (w >>> 16 === 0) return false;
    if (Atomics.compareExchange(hdr, at, w, w - OWED) === w) return true;
  }
}

/**
 * Records one more wake owed on the sleepers word `at` when some enlisted
 * waiter is owed none; true when the caller must now bump the side's counter
 * and wake one. One load, and no write, while every sleeper is owed a wake.
 *
 * @internal
 */
export function owe(hdr: Int32Array, at: number): boolean {
  for (;;) {
    const w = Atomics.load(hdr, at);
    if ((w & SLEEPERS) <= w >>> 16) return false;
    if (Atomics.compareExchange(hdr, at, w, w + OWED) === w) return true;
  }
}

/** The deadline of one sleep: `deadline`, or a short poll for a waiter the sleepers word had no room for. */
function pollUnless(enlisted: boolean, deadline: Deadline): Deadline {
  return enlisted ? deadline : Math.min(deadline, performance.now() + POLL_MS);
}

/**
 * The operations of a Queue, local and remote: the table a SimpleQueue has
 * too, and a JoinableQueue's extends.
 *
 * @internal
 */
export const queueOps = {
  put: (e: QueueEngine, [item, timeout]: [unknown, number | undefined], ctx: CallContext): Promise<void> =>
    e.put(item, { timeout: timeoutArg(timeout), signal: ctx.signal }),
  get: (e: QueueEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<unknown> =>
    e.get({ timeout: timeoutArg(timeout), signal: ctx.signal }),
  putNowait: (e: QueueEngine, [item]: [unknown]): void => e.putNowait(item),
  getNowait: (e: QueueEngine): unknown => e.getNowait(),
  qsize: (e: QueueEngine): number => e.qsize(),
  empty: (e: QueueEngine): boolean => e.empty(),
  full: (e: QueueEngine): boolean => e.full(),
  shutdown: (e: QueueEngine, [immediate]: [boolean]): void => e.shutdown(immediateArg(immediate)),
  isShutdown: (e: QueueEngine): boolean => e.isShutdown(),
};

/** Checks the `immediate` option of a shutdown (it may come from the wire). */
function immediateArg(immediate: unknown): boolean {
  if (immediate === undefined || immediate === null || typeof immediate === "boolean") return immediate === true;
  throw new TypeError(`Cannot shut down queue as 'immediate' must be a boolean: received ${String(immediate)}`);
}

/**
 * The op table of a queue kind: every op of {@linkcode queueOps}, and maybe more (JoinableQueue's).
 *
 * @internal
 */
export type QueueOps = typeof queueOps;

/**
 * A multi-producer, multi-consumer FIFO queue: Python's
 * `multiprocessing.Queue`, on any transport.
 *
 * Items are any data the codec round-trips; each `get` returns a copy.
 * A bounded queue (`maxsize`) makes `put` wait for room.
 *
 * **Fairness**: items leave in the order they were linked; waiting getters
 * are woken in no promised order, one wake per sleep: a put wakes a getter
 * only while some sleeping getter is owed none (and a get a putter of a full
 * queue the same way).
 *
 * **Cancellation**: a `get` or `put` whose timeout elapses or whose signal
 * aborts fails with `QueueError("Timeout" | "Aborted")` and has taken or
 * stored nothing.
 *
 * **Visibility**: an item is visible to every getter once `put` returned.
 *
 * **Transports**: shared buffer (sync twins) and socket (async; blocking
 * calls wait on the server, never blocking its event loop).
 *
 * **Closing and shutting down**: `close()` is Python's `Queue.close()`:
 * this client lets go of the queue and its later calls fail with
 * `TransportError("Closed")`, while other clients go on. `shutdown()` is
 * Python 3.13's: it ends the queue for every client (see
 * {@linkcode Queue.shutdown}).
 *
 * @example A work queue
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const jobs = await m.queue<{ id: number }>({ maxsize: 100 });
 * await jobs.put({ id: 1 });
 * console.log(await jobs.get({ timeout: 1000 })); // { id: 1 }
 * ```
 */
export class Queue<T = unknown, O extends QueueOps = QueueOps> extends Shared<QueueEngine, O> {
  /** @internal Use `Manager.queue()` or `attach(handle)`; `ops` is a subclass's larger table. */
  constructor(handle: Handle, backend: Backend<QueueEngine>, ops: O = queueOps as O) {
    super(handle, backend, ops);
  }

  /** This client typed by the ops every queue kind has: the only ones its methods call. */
  get #queue(): Queue<T> {
    return this;
  }

  /**
   * A blocking op on a remote queue, where an aborted call becomes
   * `QueueError("Aborted")`. (`put` and `get` call their engine method
   * directly when the queue is local.)
   */
  #wait<K extends "put" | "get">(
    op: K,
    args: ArgsOf<QueueOps[K]>,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<ResultOf<QueueOps[K]>> {
    // remote only: blocking() then returns the call's promise
    return this.#queue.blocking(op, args, "QueueError", what, signal) as Promise<ResultOf<QueueOps[K]>>;
  }

  /** Appends an item, waiting for room in a bounded queue at most `timeout` ms. */
  put(item: T, options?: WaitOptions): Promise<void> {
    const e = this.#queue.engine;
    if (e !== undefined) return e.put(item, options); // the hot path: what the op does, without the dispatch
    return this.#wait("put", [item, options?.timeout], "put to queue", options?.signal);
  }
  /** Removes and returns the first item, waiting at most `timeout` ms for one. */
  get(options?: WaitOptions): Promise<T> {
    const e = this.#queue.engine;
    if (e !== undefined) {
      const seen = storedSeen(); // a structure put as the item arrives attached
      return e.get(options).then((v) => this.attachedSince(seen, v as T));
    }
    return this.#wait("get", [options?.timeout], "get from queue", options?.signal) as Promise<T>;
  }
  /** Appends an item or fails with `QueueError("Full")` at once. */
  async putNowait(item: T): Promise<void> {
    await this.#queue.call("putNowait", [item]);
  }
  /** Removes the first item or fails with `QueueError("Empty")` at once. */
  async getNowait(): Promise<T> {
    return await this.#queue.call("getNowait", []) as T;
  }
  /** Number of items now (a snapshot, as in Python). */
  async qsize(): Promise<number> {
    return this.#queue.call("qsize", []);
  }
  /** True when the queue holds no item now. */
  async empty(): Promise<boolean> {
    return this.#queue.call("empty", []);
  }
  /** True when a bounded queue holds `maxsize` items now. */
  async full(): Promise<boolean> {
    return this.#queue.call("full", []);
  }
  /**
   * Shuts the queue down for every client, in every thread and process
   * (Python 3.13's `Queue.shutdown(immediate)`). From then on `put` (and
   * `putNowait`) fails with `QueueError("ShutDown")`, and `get` (and
   * `getNowait`) takes the items left, then fails with
   * `QueueError("ShutDown")` instead of waiting. With `immediate: true` the
   * items left are dropped (on a JoinableQueue each counts as done, so a
   * `join` waiting only for them returns) and `get` fails at once. Blocked
   * getters, putters and joiners are woken. A queue shut down stays so; a
   * second call can only make the shutdown immediate.
   *
   * @example Telling consumers to stop
   * ```ts
   * import { Manager, QueueError } from "../mod.ts";
   * await using m = await Manager.start();
   * const q = await m.queue<number>();
   * await q.put(1);
   * await q.shutdown();
   * console.log(await q.get()); // 1: what was put before is still taken
   * try {
   *   await q.get();
   * } catch (e) {
   *   console.log(e instanceof QueueError && e.reason); // ShutDown
   * }
   * ```
   */
  async shutdown(options?: { readonly immediate?: boolean }): Promise<void> {
    await this.#queue.call("shutdown", [immediateArg(options?.immediate)]);
  }
  /** True once the queue was shut down (Python 3.13's `is_shutdown`). */
  async isShutdown(): Promise<boolean> {
    return this.#queue.call("isShutdown", []);
  }

  /** The synchronous twin of {@linkcode put} (shared buffer only). */
  putSync(item: T, options?: WaitOptions): void {
    this.local("putSync").putSync(item, options);
  }
  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync(options?: WaitOptions): T {
    return this.local("getSync").getSync(options) as T;
  }
  /** The synchronous twin of {@linkcode putNowait} (shared buffer only). */
  putNowaitSync(item: T): void {
    this.local("putNowaitSync").putNowait(item);
  }
  /** The synchronous twin of {@linkcode getNowait} (shared buffer only). */
  getNowaitSync(): T {
    return this.local("getNowaitSync").getNowait() as T;
  }
  /** The synchronous twin of {@linkcode qsize} (shared buffer only). */
  qsizeSync(): number {
    return this.local("qsizeSync").qsize();
  }
  /** The synchronous twin of {@linkcode empty} (shared buffer only). */
  emptySync(): boolean {
    return this.local("emptySync").empty();
  }
  /** The synchronous twin of {@linkcode full} (shared buffer only). */
  fullSync(): boolean {
    return this.local("fullSync").full();
  }
  /** The synchronous twin of {@linkcode shutdown} (shared buffer only). */
  shutdownSync(options?: { readonly immediate?: boolean }): void {
    this.local("shutdownSync").shutdown(immediateArg(options?.immediate));
  }
  /** The synchronous twin of {@linkcode isShutdown} (shared buffer only). */
  isShutdownSync(): boolean {
    return this.local("isShutdownSync").isShutdown();
  }
}

/** The shared-buffer fields of a queue kind's handle: its one growable buffer. */
export function shareQueue(e: QueueEngine): { buffer: SharedArrayBuffer } {
  return { buffer: e.buffer };
}

/** Opens the engine of a queue kind's shared-buffer handle. */
export function openQueue(shared: Record<string, unknown>): QueueEngine {
  return new QueueEngine(shared.buffer as SharedArrayBuffer);
}

/** The Queue kind. */
export const queueSpec = defineStructure({
  kind: "queue",
  create: ([options]) => QueueEngine.create(options as QueueOptions | undefined),
  share: shareQueue,
  open: openQueue,
  ops: queueOps,
  client: (handle, backend: Backend<QueueEngine>) => new Queue(handle, backend),
});
