/**
 * The allocator inside a structure's growable SharedArrayBuffer: segregated
 * free lists over size classes of ×1.5 / ×1.33 steps (16, 24, 32, 48, 64, …),
 * so a block wastes at most a third of itself, freed blocks are reused by the
 * next allocation of their class, and the buffer grows (never moves) when
 * the free lists are empty. When it cannot grow, an allocation splits a
 * larger free block, and failing that merges adjacent free blocks (and gives
 * a free run that ends at the heap top back to the top) and tries again: so
 * room freed by items of one size serves items of another, and a structure
 * that is emptied gets its room back.
 *
 * Every operation runs under the owning structure's writer lock; readers
 * never touch the allocator's words. Every operation is one journaled step
 * (`_seqlock.ts`): a writer terminated inside it leaves the free lists as
 * they were before it, to whoever takes the lock over. Blocks allocated by a
 * dead writer for a change it never published stay allocated (leaked), and
 * a merge ({@linkcode Heap.compact}) cut short leaks the free blocks it was
 * merging: a kill costs room, never a corrupt free list. The journal's words
 * live here, in the header, and serve the structure's own steps too.
 *
 * Layout (Int32 words, owned here; the structure owns words 0..31):
 * @module
 */
import { CapacityError } from "../errors.ts";
import { Journal, journalWords } from "./_seqlock.ts";

/** Heap top: byte offset of the first never-allocated byte. */
const H_TOP = 32;
/** Payload bytes of all allocated blocks (by class size). */
const H_IN_USE = 33;
/** Bytes the buffer may grow to (copy of maxByteLength, for threads that attach). */
const H_MAX = 34;
/** The buffer's byte length after its last growth; threads compare it with their views. */
const H_LEN = 35;
/** Blocks freed since the last merge (0: the free lists are as merged as they can be). */
const H_FREES = 36;
/** The arena: a free run [H_ARENA, H_ARENA_END) that a full heap cuts blocks from, front first. */
const H_ARENA = 37;
const H_ARENA_END = 38;
/** First free-list head; one word per size class. */
const H_FREE = 40;
/** Number of size classes. */
const N_CLASSES = 56;
/** First word of the undo journal shared by the heap's and the structure's steps. */
const H_JOURNAL = H_FREE + N_CLASSES;
/** Entries of the journal: a merge logs N_CLASSES + 4; a structure's step must fit (see their IN_PLACE_WORDS). */
export const JOURNAL_ENTRIES = 64;
/** First byte of the data area (8-aligned). */
export const DATA_START = (((H_JOURNAL + journalWords(JOURNAL_ENTRIES)) * 4 + 7) & ~7) + 32;
/** Bytes of the block header, before the payload (keeps payloads 8-aligned). */
const BLOCK_HEADER = 8;
/** Granularity of buffer growth. */
const GROW_STEP = 64 * 1024;

const CLASS_SIZES: number[] = [];
for (let s = 16, i = 0; i < N_CLASSES; i++) {
  CLASS_SIZES.push(s);
  s = (i & 1) === 0 ? s + s / 2 : (s / 3) * 4; // 16, 24, 32, 48, 64, 96, …
}

/** The size class whose blocks hold `n` payload bytes. */
export function classOf(n: number): number {
  let c = 0;
  while (CLASS_SIZES[c] < n) c++;
  return c;
}

/** Payload bytes of a block of class `c`. */
export function classSize(c: number): number {
  return CLASS_SIZES[c];
}

/**
 * How a heap over a buffer that is not a growable SharedArrayBuffer — an
 * mmap reservation of an `shm:` region — makes room: `commit(bytes)` backs
 * the first `bytes` of the buffer with memory (`posix_fallocate`), or throws
 * `CapacityError`, and returns a buffer over at least those bytes: the same
 * one, whose `byteLength` is the whole reservation, or (on Bun, where a
 * region's buffer covers only what was committed) a longer buffer over the
 * same memory. Either way `H_LEN` says what is usable, for every process.
 */
export interface ForeignGrowth {
  commit(bytes: number): ArrayBufferLike;
}

const growers = new WeakMap<ArrayBufferLike, ForeignGrowth>();

/** Tells heaps over `buffer` (not a SharedArrayBuffer) how to grow: the region registers its mapping. */
export function registerForeignGrowth(buffer: ArrayBufferLike, growth: ForeignGrowth): void {
  if (buffer instanceof SharedArrayBuffer) {
    throw new TypeError("Cannot register foreign growth for a SharedArrayBuffer: it grows by itself");
  }
  growers.set(buffer, growth);
}

/** Creates a growable buffer laid out for a heap. */
export function createHeapBuffer(initialBytes: number, maxBytes: number, what: string): SharedArrayBuffer {
  if (!Number.isInteger(maxBytes) || maxBytes < DATA_START + 1024 || maxBytes > 2 ** 31 - GROW_STEP) {
    throw new TypeError(
      `Cannot create ${what} as 'maxBytes' must be an integer in [${DATA_START + 1024}, 2^31): received ${maxBytes}`,
    );
  }
  const initial = Math.min(maxBytes, Math.max(DATA_START + 1024, Math.ceil(initialBytes / GROW_STEP) * GROW_STEP));
  const sab = new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(
    initial,
    { maxByteLength: maxBytes },
  );
  const i32 = new Int32Array(sab, 0, DATA_START >> 2);
  i32[H_TOP] = DATA_START;
  i32[H_MAX] = maxBytes;
  Atomics.store(i32, H_LEN, initial);
  return sab;
}

/**
 * Allocation over one heap buffer; the caller holds the structure's writer lock.
 *
 * The views are fixed-length views of the growable buffer, not
 * length-tracking ones: V8 reads length-tracking views of a growable
 * SharedArrayBuffer about 20 times slower. So a thread must call
 * {@linkcode Heap.sync} before reading — after its reader has taken a
 * sequence number, or its writer the lock — to see a growth made by another
 * thread.
 */
export class Heap {
  i32: Int32Array;
  u8: Uint8Array;
  /** The undo journal of this buffer: the heap's steps, and the owning structure's (pass it to its SeqLock). */
  readonly journal: Journal = new Journal(H_JOURNAL, JOURNAL_ENTRIES);
  /** What the views are made of: `buffer`, or a longer buffer over a region's memory (see `ForeignGrowth`). */
  #views: ArrayBufferLike;
  constructor(readonly buffer: SharedArrayBuffer, readonly what: string) {
    const len = buffer.byteLength;
    this.#views = buffer;
    this.i32 = new Int32Array(buffer, 0, len >> 2);
    this.u8 = new Uint8Array(buffer, 0, len);
    if (!(buffer instanceof SharedArrayBuffer) && growers.has(buffer)) {
      this.journal.cover = (bytes) => this.#cover(bytes);
    }
  }

  /** A buffer over at least `bytes` of a region's memory, committing them (another process may have grown it). */
  #cover(bytes: number): ArrayBufferLike {
    if (bytes > this.#views.byteLength) {
      const growth = this.buffer instanceof SharedArrayBuffer ? undefined : growers.get(this.buffer);
      if (growth !== undefined) this.#views = growth.commit(bytes);
    }
    return this.#views;
  }

  /** Re-creates the views if another thread grew the buffer. Cheap when it did not. */
  sync(): void {
    if (this.i32[H_LEN] !== this.u8.length) this.#remap();
  }

  #remap(): void {
    const len = Atomics.load(this.i32, H_LEN);
    const buffer = this.#cover(len);
    this.i32 = new Int32Array(buffer, 0, len >> 2);
    this.u8 = new Uint8Array(buffer, 0, len);
  }

  /** Allocates a block with at least `n` payload bytes; returns the payload's byte offset. */
  alloc(n: number): number {
    const c = classOf(n);
    if (c >= N_CLASSES) throw this.#full(n);
    try {
      return this.#alloc(c);
    } catch (e) {
      // full: merge the free blocks and try again, else split a larger one
      if (!(e instanceof CapacityError)) throw e;
      let off = 0;
      if (this.compact()) {
        try {
          off = this.#alloc(c);
        } catch {
          off = 0;
        }
      }
      if (off === 0) off = this.#split(c);
      if (off === 0) throw e;
      return off;
    }
  }

  /** A block of class `c` from its free list, the arena, or the top (growing the buffer). One step. */
  #alloc(c: number): number {
    const i32 = this.i32, j = this.journal;
    const head = i32[H_FREE + c];
    if (head !== 0) {
      j.open();
      j.log(i32, H_IN_USE);
      j.log(i32, H_FREE + c);
      j.arm(i32);
      i32[H_IN_USE] += CLASS_SIZES[c];
      i32[H_FREE + c] = i32[head >> 2];
      j.commit(i32);
      return head;
    }
    if (i32[H_ARENA_END] !== 0) {
      const off = this.#fromArena(c);
      if (off !== 0) return off;
    }
    const top = i32[H_TOP];
    const end = top + BLOCK_HEADER + CLASS_SIZES[c];
    if (end > this.u8.length) this.#grow(end); // changes no journaled word
    const words = this.i32; // a fresh view if the buffer just grew
    j.open();
    j.log(words, H_IN_USE);
    j.log(words, H_TOP);
    j.arm(words);
    words[top >> 2] = c; // past the top: no one reads it yet
    words[H_IN_USE] += CLASS_SIZES[c];
    words[H_TOP] = end;
    j.commit(words);
    return top + BLOCK_HEADER;
  }

  /** Returns a block to its class's free list. One step. */
  free(payload: number): void {
    const i32 = this.i32, j = this.journal;
    const c = i32[(payload - BLOCK_HEADER) >> 2];
    j.open();
    j.log(i32, H_IN_USE);
    j.log(i32, payload >> 2);
    j.log(i32, H_FREE + c);
    j.log(i32, H_FREES);
    j.arm(i32);
    i32[H_IN_USE] -= CLASS_SIZES[c];
    i32[payload >> 2] = i32[H_FREE + c];
    i32[H_FREE + c] = payload;
    i32[H_FREES]++;
    j.commit(i32);
  }

  /** Blocks freed since the last {@linkcode compact}. */
  freesSinceCompact(): number {
    return this.i32[H_FREES];
  }

  /**
   * Lays `bytes` bytes at `start` out as free blocks (as few as fit exactly). `bytes` is 0 or a multiple of 8 ≥ 24.
   * Inside a step: with `logged`, each word is journaled before it is written (and armed at once).
   */
  #carve(start: number, bytes: number, logged: boolean): void {
    const i32 = this.i32, j = this.journal;
    let c = N_CLASSES - 1;
    while (bytes > 0) {
      // the largest block that fits and leaves 0 or a rest that can be a block (≥ 24 bytes)
      let rest = bytes - BLOCK_HEADER - CLASS_SIZES[c];
      while (rest < 0 || (rest > 0 && rest < BLOCK_HEADER + CLASS_SIZES[0])) {
        rest = bytes - BLOCK_HEADER - CLASS_SIZES[--c];
      }
      const payload = start + BLOCK_HEADER;
      if (logged) {
        j.log(i32, start >> 2);
        j.log(i32, payload >> 2);
        j.log(i32, H_FREE + c);
        j.arm(i32);
      }
      i32[start >> 2] = c;
      i32[payload >> 2] = i32[H_FREE + c];
      i32[H_FREE + c] = payload;
      start += BLOCK_HEADER + CLASS_SIZES[c];
      bytes = rest;
    }
  }

  /** A block of class `c` cut from the front of the arena; 0 if it has no room. One step. */
  #fromArena(c: number): number {
    const i32 = this.i32, j = this.journal;
    const start = i32[H_ARENA], need = BLOCK_HEADER + CLASS_SIZES[c];
    const rest = i32[H_ARENA_END] - start - need;
    if (rest < 0 || (rest > 0 && rest < BLOCK_HEADER + CLASS_SIZES[0])) return 0;
    j.open();
    j.log(i32, H_ARENA);
    j.log(i32, H_IN_USE);
    j.arm(i32);
    i32[start >> 2] = c; // inside the arena: a word no one reads
    i32[H_ARENA] = start + need;
    i32[H_IN_USE] += CLASS_SIZES[c];
    j.commit(i32);
    return start + BLOCK_HEADER;
  }

  /** A block of class `c` cut from the smallest larger free block that has room for it; 0 if none. */
  #split(c: number): number {
    const i32 = this.i32;
    const need = BLOCK_HEADER + CLASS_SIZES[c];
    for (let d = c + 1; d < N_CLASSES; d++) {
      const head = i32[H_FREE + d];
      if (head === 0) continue;
      const rest = CLASS_SIZES[d] - CLASS_SIZES[c];
      if (rest !== 0 && rest < BLOCK_HEADER + CLASS_SIZES[0]) continue;
      const start = head - BLOCK_HEADER, j = this.journal;
      j.open();
      j.log(i32, H_FREE + d);
      j.log(i32, start >> 2);
      j.log(i32, H_IN_USE);
      j.arm(i32);
      i32[H_FREE + d] = i32[head >> 2];
      i32[start >> 2] = c;
      i32[H_IN_USE] += CLASS_SIZES[c];
      this.#carve(start + need, rest, true); // at most 14 blocks: 45 entries in all
      j.commit(i32);
      return head;
    }
    return 0;
  }

  /**
   * Merges adjacent free blocks (and what is left of the arena) into runs:
   * a run that ends at the top goes back to the top, the largest other run
   * becomes the arena, and the others are cut into as few blocks as fit them.
   * False when there was nothing to merge (no block was freed since the last
   * merge). Its cost grows with the blocks freed since the last merge, and
   * the free runs.
   */
  compact(): boolean {
    const i32 = this.i32, j = this.journal;
    if (i32[H_FREES] === 0) return false;
    // one step, rolled back to no free block at all (the blocks it was merging leak): logging the
    // old free lists would take a word per free block
    j.open();
    for (let c = 0; c < N_CLASSES; c++) j.logAs(i32, H_FREE + c, 0);
    j.logAs(i32, H_ARENA, 0);
    j.logAs(i32, H_ARENA_END, 0);
    j.log(i32, H_TOP);
    j.logAs(i32, H_FREES, 0);
    j.arm(i32);
    this.#compact();
    j.commit(i32);
    return true;
  }

  #compact(): void {
    const i32 = this.i32;
    i32[H_FREES] = 0;
    this.#carve(i32[H_ARENA], i32[H_ARENA_END] - i32[H_ARENA], false);
    i32[H_ARENA] = i32[H_ARENA_END] = 0;
    let n = 0;
    for (let c = 0; c < N_CLASSES; c++) for (let p = i32[H_FREE + c]; p !== 0; p = i32[p >> 2]) n++;
    const starts = new Int32Array(n);
    n = 0;
    for (let c = 0; c < N_CLASSES; c++) {
      for (let p = i32[H_FREE + c]; p !== 0; p = i32[p >> 2]) starts[n++] = p - BLOCK_HEADER;
      i32[H_FREE + c] = 0;
    }
    starts.sort();
    // runs: [starts[k], end) — found, then the largest kept as the arena
    const runs: number[] = [];
    for (let i = 0; i < n;) {
      const runStart = starts[i];
      let runEnd = runStart;
      while (i < n && starts[i] === runEnd) runEnd += BLOCK_HEADER + CLASS_SIZES[i32[starts[i++] >> 2]];
      runs.push(runStart, runEnd);
    }
    if (runs.length > 0 && runs[runs.length - 1] === i32[H_TOP]) {
      i32[H_TOP] = runs[runs.length - 2];
      runs.length -= 2;
    }
    let best = -1;
    for (let k = 0; k < runs.length; k += 2) {
      if (best < 0 || runs[k + 1] - runs[k] > runs[best + 1] - runs[best]) best = k;
    }
    for (let k = 0; k < runs.length; k += 2) if (k !== best) this.#carve(runs[k], runs[k + 1] - runs[k], false);
    if (best >= 0) {
      i32[H_ARENA] = runs[best];
      i32[H_ARENA_END] = runs[best + 1];
    }
  }

  /**
   * Checks the allocator's words (tests and soaks; under the writer lock):
   * every free block lies in the data area with its class's header, on one
   * list once, none overlaps the arena or a block in `live` (payload offsets
   * the structure links), and no step is left armed. Returns the problems found.
   */
  check(live: readonly number[]): string[] {
    const i32 = this.i32, top = i32[H_TOP], problems: string[] = [];
    if (top < DATA_START || top > this.u8.length) {
      problems.push(`top ${top} outside [${DATA_START}, ${this.u8.length}]`);
    }
    if (this.journal.pending(i32)) problems.push("a journal step is armed");
    const a = i32[H_ARENA], ae = i32[H_ARENA_END];
    if (ae !== 0 && !(a >= DATA_START && a <= ae && ae <= top)) problems.push(`arena [${a}, ${ae}) out of bounds`);
    const free = new Set<number>();
    for (let c = 0; c < N_CLASSES; c++) {
      for (let p = i32[H_FREE + c], n = 0; p !== 0; p = i32[p >> 2], n++) {
        if (p < DATA_START + BLOCK_HEADER || p + CLASS_SIZES[c] > top || (p & 7) !== 0) {
          problems.push(`free block ${p} of class ${c} outside the data area`);
          break;
        }
        if (i32[(p - BLOCK_HEADER) >> 2] !== c) {
          problems.push(`free block ${p} on list ${c} has class ${i32[(p - 8) >> 2]}`);
        }
        if (free.has(p)) {
          problems.push(`free block ${p} is on the free lists twice (a cycle)`);
          break;
        }
        if (ae !== 0 && p >= a && p < ae) problems.push(`free block ${p} lies in the arena`);
        free.add(p);
      }
    }
    for (const p of live) {
      if (free.has(p)) problems.push(`live block ${p} is on a free list`);
      if (ae !== 0 && p >= a && p < ae) problems.push(`live block ${p} lies in the arena`);
      if (p < DATA_START + BLOCK_HEADER || p >= top) problems.push(`live block ${p} outside the data area`);
    }
    return problems;
  }

  /**
   * For a structure whose lock has no sequence window (the queue's): after
   * taking the lock over from a dead holder, undoes the heap step it died in.
   */
  recover(): void {
    const buf = this.#views;
    if (this.journal.pending(this.i32)) this.journal.rollback(new Int32Array(buf, 0, buf.byteLength >> 2));
  }

  /** Payload capacity of an allocated block. */
  capacity(payload: number): number {
    return CLASS_SIZES[this.i32[(payload - BLOCK_HEADER) >> 2]];
  }

  /** Bytes held by allocated blocks' payloads. */
  inUse(): number {
    return this.i32[H_IN_USE];
  }

  /** Bytes of the buffer now (all of it, header and free blocks included). */
  byteLength(): number {
    return Atomics.load(this.i32, H_LEN);
  }

  /** Forgets every block (the buffer keeps its size). */
  reset(): void {
    const i32 = this.i32, j = this.journal;
    j.open();
    for (let c = 0; c < N_CLASSES; c++) j.log(i32, H_FREE + c);
    for (const w of [H_TOP, H_IN_USE, H_FREES, H_ARENA, H_ARENA_END]) j.log(i32, w);
    j.arm(i32);
    i32[H_TOP] = DATA_START;
    i32[H_IN_USE] = 0;
    i32[H_FREES] = i32[H_ARENA] = i32[H_ARENA_END] = 0;
    i32.fill(0, H_FREE, H_FREE + N_CLASSES);
    j.commit(i32);
  }

  #grow(end: number): void {
    const max = this.i32[H_MAX];
    if (end > max) throw this.#full(end);
    const want = Math.min(max, Math.max(end, this.u8.length * 2));
    const len = Math.min(max, Math.ceil(want / GROW_STEP) * GROW_STEP);
    const growth = this.buffer instanceof SharedArrayBuffer ? undefined : growers.get(this.buffer);
    if (growth !== undefined) {
      // a region: the mapping is the whole reservation; commit, then publish the new length
      const now = Atomics.load(this.i32, H_LEN);
      if (len > now) {
        growth.commit(len);
        Atomics.store(this.i32, H_LEN, len);
      }
      this.#remap();
      return;
    }
    // a writer may have died between its growth and its store of H_LEN: never grow to less than now
    if (len > this.buffer.byteLength) {
      try {
        (this.buffer as unknown as { grow(n: number): void }).grow(len);
      } catch (e) {
        throw new CapacityError("Full", `Cannot grow ${this.what} to ${len} bytes: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    Atomics.store(this.i32, H_LEN, this.buffer.byteLength);
    this.#remap();
  }

  #full(n: number): CapacityError {
    return new CapacityError(
      "Full",
      `Cannot store ${n} more bytes in ${this.what} as it would exceed maxBytes: received maxBytes ${this.i32[H_MAX]}`,
    );
  }
}
