/**
 * The allocator inside a structure's growable SharedArrayBuffer: segregated
 * free lists over size classes of ×1.5 / ×1.33 steps (16, 24, 32, 48, 64, …),
 * so a block wastes at most a third of itself, freed blocks are reused by the
 * next allocation of their class, and the buffer grows (never moves) when
 * the free lists are empty.
 *
 * Every operation runs under the owning structure's writer lock; readers
 * never touch the allocator's words.
 *
 * Layout (Int32 words, owned here; the structure owns words 0..31):
 * @module
 */
import { CapacityError } from "../errors.ts";

/** Heap top: byte offset of the first never-allocated byte. */
const H_TOP = 32;
/** Payload bytes of all allocated blocks (by class size). */
const H_IN_USE = 33;
/** Bytes the buffer may grow to (copy of maxByteLength, for threads that attach). */
const H_MAX = 34;
/** The buffer's byte length after its last growth; threads compare it with their views. */
const H_LEN = 35;
/** First free-list head; one word per size class. */
const H_FREE = 40;
/** Number of size classes. */
const N_CLASSES = 56;
/** First byte of the data area. */
export const DATA_START = (H_FREE + N_CLASSES) * 4 + 32;
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
  constructor(readonly buffer: SharedArrayBuffer, readonly what: string) {
    const len = buffer.byteLength;
    this.i32 = new Int32Array(buffer, 0, len >> 2);
    this.u8 = new Uint8Array(buffer, 0, len);
  }

  /** Re-creates the views if another thread grew the buffer. Cheap when it did not. */
  sync(): void {
    if (this.i32[H_LEN] !== this.u8.length) this.#remap();
  }

  #remap(): void {
    const len = Atomics.load(this.i32, H_LEN);
    this.i32 = new Int32Array(this.buffer, 0, len >> 2);
    this.u8 = new Uint8Array(this.buffer, 0, len);
  }

  /** Allocates a block with at least `n` payload bytes; returns the payload's byte offset. */
  alloc(n: number): number {
    const c = classOf(n);
    if (c >= N_CLASSES) throw this.#full(n);
    const i32 = this.i32;
    const head = i32[H_FREE + c];
    i32[H_IN_USE] += CLASS_SIZES[c];
    if (head !== 0) {
      i32[H_FREE + c] = i32[head >> 2];
      return head;
    }
    const top = i32[H_TOP];
    const end = top + BLOCK_HEADER + CLASS_SIZES[c];
    if (end > this.u8.length) {
      try {
        this.#grow(end);
      } catch (e) {
        i32[H_IN_USE] -= CLASS_SIZES[c];
        throw e;
      }
    }
    const words = this.i32; // a fresh view if the buffer just grew
    words[top >> 2] = c;
    words[H_TOP] = end;
    return top + BLOCK_HEADER;
  }

  /** Returns a block to its class's free list. */
  free(payload: number): void {
    const i32 = this.i32;
    const c = i32[(payload - BLOCK_HEADER) >> 2];
    i32[H_IN_USE] -= CLASS_SIZES[c];
    i32[payload >> 2] = i32[H_FREE + c];
    i32[H_FREE + c] = payload;
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
    const i32 = this.i32;
    i32[H_TOP] = DATA_START;
    i32[H_IN_USE] = 0;
    i32.fill(0, H_FREE, H_FREE + N_CLASSES);
  }

  #grow(end: number): void {
    const max = this.i32[H_MAX];
    if (end > max) throw this.#full(end);
    const want = Math.min(max, Math.max(end, this.u8.length * 2));
    const len = Math.min(max, Math.ceil(want / GROW_STEP) * GROW_STEP);
    try {
      (this.buffer as unknown as { grow(n: number): void }).grow(len);
    } catch (e) {
      throw new CapacityError("Full", `Cannot grow ${this.what} to ${len} bytes: ${(e as Error).message}`, {
        cause: e,
      });
    }
    Atomics.store(this.i32, H_LEN, len);
    this.#remap();
  }

  #full(n: number): CapacityError {
    return new CapacityError(
      "Full",
      `Cannot store ${n} more bytes in ${this.what} as it would exceed maxBytes: received maxBytes ${this.i32[H_MAX]}`,
    );
  }
}
