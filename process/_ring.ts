/**
 * One direction of a {@linkcode Pipe} between threads: a single-producer,
 * single-consumer byte ring in a SharedArrayBuffer, carrying frames (a
 * little-endian u32 length, then the bytes). A frame longer than the ring
 * streams through it. Both ends close independently: a closed writer ends
 * the reader with EOF once the ring is drained, a closed reader breaks the
 * writer.
 *
 * Waiting goes through sync/_kernel.ts (wait loops), so the async and sync
 * forms share one loop each.
 * @module
 */
import { type Deadline, runAsync, runSync, type WaitLoop, wake } from "../sync/_kernel.ts";

/** Word: bytes read so far (wrapping int32). */
const HEAD = 0;
/** Word: bytes written so far (wrapping int32). */
const TAIL = 1;
/** Word: 1 once the writer closed. */
const WRITER_CLOSED = 2;
/** Word: 1 once the reader closed. */
const READER_CLOSED = 3;
/** Word: bumped on every write and close; readers wait on it. */
const DATA_SEQ = 4;
/** Word: bumped on every read and close; writers wait on it. */
const SPACE_SEQ = 5;
/** Word: readers waiting on DATA_SEQ (a write wakes only when there is one). */
const READERS_WAITING = 6;
/** Word: writers waiting on SPACE_SEQ (a read wakes only when there is one). */
const WRITERS_WAITING = 7;
/** Words of the header. */
const HEADER_WORDS = 8;
/** Bytes of a frame's length prefix. */
export const FRAME_HEADER = 4;
/** Smallest ring: a frame header always fits beside a few bytes. */
const MIN_CAPACITY = 64;
/** Largest ring (a power of two below 2^31, so counters never confuse full and empty). */
export const MAX_CAPACITY = 2 ** 30;

/** How a wait on the ring ended, when it did not end with data. */
export type RingEnd = "eof" | "closed" | "timeout" | "aborted";

/** The smallest power of two ≥ `n` (≥ {@linkcode MIN_CAPACITY}). */
function powerOfTwo(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/** A view of one ring; any number of threads may hold one (one reader and one writer at a time). */
export class Ring {
  /** The shared memory: the header words, then the data. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes of data the ring holds at most (a power of two). */
  readonly capacity: number;
  readonly #w: Int32Array;
  readonly #data: Uint8Array;

  /** A view of an existing ring's buffer (what crossed to another thread). */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#w = new Int32Array(buffer, 0, HEADER_WORDS);
    this.#data = new Uint8Array(buffer, HEADER_WORDS * 4);
    this.capacity = this.#data.length;
  }

  /** A new ring of at least `capacity` bytes (rounded up to a power of two). */
  static create(capacity: number): Ring {
    return new Ring(new SharedArrayBuffer(HEADER_WORDS * 4 + powerOfTwo(capacity)));
  }

  /** Bytes written and not yet read. */
  available(): number {
    return (Atomics.load(this.#w, TAIL) - Atomics.load(this.#w, HEAD)) | 0;
  }

  /** True once the writer closed. */
  writerClosed(): boolean {
    return Atomics.load(this.#w, WRITER_CLOSED) === 1;
  }

  /** True once the reader closed. */
  readerClosed(): boolean {
    return Atomics.load(this.#w, READER_CLOSED) === 1;
  }

  /** The writer is done: the reader gets EOF once it drained the ring. */
  closeWriter(): void {
    Atomics.store(this.#w, WRITER_CLOSED, 1);
    this.#bump(DATA_SEQ, true);
    this.#bump(SPACE_SEQ, true);
  }

  /** The reader is done: the writer's next write fails (a broken pipe). */
  closeReader(): void {
    Atomics.store(this.#w, READER_CLOSED, 1);
    this.#bump(SPACE_SEQ, true);
    this.#bump(DATA_SEQ, true);
  }

  /**
   * Moves a sequence word on and wakes its waiters, if any (`always`: even
   * if none counted). A waiter counts itself before it waits on the value it
   * read, so either it sees the new value or the waker sees its count.
   */
  #bump(index: number, always = false): void {
    Atomics.add(this.#w, index, 1);
    const waiting = index === DATA_SEQ ? READERS_WAITING : WRITERS_WAITING;
    if (always || Atomics.load(this.#w, waiting) > 0) wake(this.#w, index, Infinity);
  }

  /** One wait on `index` (counted in `waiting`) while it still holds `seq`; false once the deadline passed. */
  *#sleep(index: number, seq: number, deadline: Deadline): WaitLoop<boolean> {
    const waiting = index === DATA_SEQ ? READERS_WAITING : WRITERS_WAITING;
    Atomics.add(this.#w, waiting, 1);
    try {
      return yield { i32: this.#w, index, expected: seq, deadline, spin: true };
    } finally {
      Atomics.sub(this.#w, waiting, 1);
    }
  }

  /** Copies up to `n` bytes of `src` from `offset` in, without waiting; returns how many. */
  tryWrite(src: Uint8Array, offset: number, n: number): number {
    const tail = Atomics.load(this.#w, TAIL);
    const used = (tail - Atomics.load(this.#w, HEAD)) | 0;
    const count = Math.min(n, this.capacity - used);
    if (count <= 0) return 0;
    const at = (tail >>> 0) % this.capacity;
    const first = Math.min(count, this.capacity - at);
    this.#data.set(src.subarray(offset, offset + first), at);
    if (count > first) this.#data.set(src.subarray(offset + first, offset + count), 0);
    Atomics.store(this.#w, TAIL, (tail + count) | 0);
    this.#bump(DATA_SEQ);
    return count;
  }

  /** Copies up to `n` bytes out into `dst` at `offset` and consumes them, without waiting; returns how many. */
  tryRead(dst: Uint8Array, offset: number, n: number): number {
    const count = this.#peek(dst, offset, n);
    if (count > 0) {
      Atomics.store(this.#w, HEAD, (Atomics.load(this.#w, HEAD) + count) | 0);
      this.#bump(SPACE_SEQ);
    }
    return count;
  }

  /** Copies up to `n` bytes out into `dst` at `offset` without consuming them; returns how many. */
  peek(dst: Uint8Array, offset: number, n: number): number {
    return this.#peek(dst, offset, n);
  }

  /** Bytes that can be written without waiting. */
  space(): number {
    return this.capacity - this.available();
  }

  #peek(dst: Uint8Array, offset: number, n: number): number {
    const head = Atomics.load(this.#w, HEAD);
    const count = Math.min(n, (Atomics.load(this.#w, TAIL) - head) | 0);
    if (count <= 0) return 0;
    const at = (head >>> 0) % this.capacity;
    const first = Math.min(count, this.capacity - at);
    dst.set(this.#data.subarray(at, at + first), offset);
    if (count > first) dst.set(this.#data.subarray(0, count - first), offset + first);
    return count;
  }

  /** Writes all of `src`, waiting for room; "broken" once the reader closed. */
  *writeLoop(src: Uint8Array): WaitLoop<"ok" | "broken"> {
    let off = 0;
    while (off < src.length) {
      if (this.readerClosed()) return "broken";
      const seq = Atomics.load(this.#w, SPACE_SEQ);
      const n = this.tryWrite(src, off, src.length - off);
      off += n;
      if (n === 0 && off < src.length && !this.readerClosed()) yield* this.#sleep(SPACE_SEQ, seq, Infinity);
    }
    return "ok";
  }

  /**
   * Waits until `bytes` bytes can be read (true), or nothing more will come
   * (false: the writer closed, or this reader did), or the deadline passed.
   */
  *readableLoop(bytes: number, deadline: Deadline): WaitLoop<true | RingEnd> {
    for (;;) {
      if (this.readerClosed()) return "closed";
      const seq = Atomics.load(this.#w, DATA_SEQ);
      if (this.available() >= bytes) return true;
      if (this.writerClosed()) return "eof";
      if (!(yield* this.#sleep(DATA_SEQ, seq, deadline))) return "timeout";
    }
  }

  /** Reads exactly `dst.length` bytes (the rest of a frame whose header was read): "eof" if the writer closed first. */
  *readLoop(dst: Uint8Array): WaitLoop<true | RingEnd> {
    let off = 0;
    while (off < dst.length) {
      if (this.readerClosed()) return "closed";
      const seq = Atomics.load(this.#w, DATA_SEQ);
      const n = this.tryRead(dst, off, dst.length - off);
      off += n;
      if (n === 0 && off < dst.length) {
        if (this.writerClosed()) return "eof";
        yield* this.#sleep(DATA_SEQ, seq, Infinity);
      }
    }
    return true;
  }

  /** Reads whatever is there, up to `max` bytes, once there is something: `undefined` at EOF or after closeReader. */
  async readSome(max: number): Promise<Uint8Array | undefined> {
    const ready = await runAsync(this.readableLoop(1, Infinity), undefined, (): RingEnd => "aborted");
    if (ready !== true) return undefined;
    const out = new Uint8Array(Math.min(max, this.available()));
    this.tryRead(out, 0, out.length);
    return out;
  }

  /** Writes all of `src` (async): false when the reader closed. */
  async write(src: Uint8Array): Promise<boolean> {
    return await runAsync(this.writeLoop(src), undefined, () => "broken" as const) === "ok";
  }

  /** Writes all of `src`, blocking this thread: false when the reader closed. */
  writeSync(src: Uint8Array): boolean {
    return runSync(this.writeLoop(src)) === "ok";
  }
}

/** A frame: the length prefix, then `payload`. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** The length a frame header announces. */
export function frameLength(header: Uint8Array): number {
  return new DataView(header.buffer, header.byteOffset, FRAME_HEADER).getUint32(0, true);
}
