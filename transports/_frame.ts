/**
 * The bytes layer of the socket transport (and of any stream transport after
 * it): length-prefixed frames, as in CPython's `multiprocessing.connection` —
 * a 4-byte big-endian payload length, then the payload. The message layer
 * (`_wire.ts`, CBOR arrays) sits above it.
 *
 * {@linkcode FrameDecoder} is incremental: feed it the chunks a stream gives,
 * split or coalesced anywhere, and it hands out whole payloads. A peer that
 * announces a frame over the limit is refused before a byte of it is buffered.
 * {@linkcode FrameWriter} is the other direction: it frames payloads and
 * writes those queued in the same tick to the stream as one write.
 *
 * @example Round trip of two frames through one coalesced chunk
 * ```ts
 * import { FrameDecoder, frame } from "./_frame.ts";
 * const a = frame(new Uint8Array([1, 2])), b = frame(new Uint8Array([3]));
 * const chunk = new Uint8Array([...a, ...b]);
 * const got: Uint8Array[] = [];
 * new FrameDecoder().push(chunk, (p) => got.push(p));
 * console.log(got.length); // 2
 * ```
 * @module
 */
import { TransportError } from "../errors.ts";
import type { Duplex } from "./_duplex.ts";

/** Bytes of the length prefix of every frame. */
export const HEADER_BYTES = 4;

/** Default largest payload a peer may announce: 64 MiB (DESIGN.md §4). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * What every `FrameTooLarge` message says about raising the limit.
 *
 * @example
 * ```ts
 * import { FRAME_LIMIT_HINT } from "./_frame.ts";
 * console.log(FRAME_LIMIT_HINT.includes("maxFrameBytes")); // true
 * ```
 */
export const FRAME_LIMIT_HINT =
  "raise it with the maxFrameBytes option of Manager.start and Manager.connect, the same on both sides";

/** Hard ceiling of the 4-byte length prefix. */
const MAX_U32 = 0xffff_ffff;

/** Outgoing frames queued in one tick are coalesced into one write up to this many bytes. */
export const COALESCE_BYTES = 64 * 1024;

/**
 * Checks a `maxFrameBytes` option and returns it, or the default when absent.
 *
 * @example Accepting a custom limit
 * ```ts
 * import { checkMaxFrameBytes } from "./_frame.ts";
 * console.log(checkMaxFrameBytes(1024)); // 1024
 * ```
 */
export function checkMaxFrameBytes(max: number | undefined): number {
  if (max === undefined) return DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(max) || max < 1 || max > MAX_U32) {
    throw new RangeError(
      `Cannot use maxFrameBytes as it must be an integer in [1, ${MAX_U32}]: received ${max}`,
    );
  }
  return max;
}

/**
 * Writes the length prefix of a `length`-byte payload into `target` at `offset`.
 *
 * @example Prefix of a 258-byte payload
 * ```ts
 * import { writeHeader } from "./_frame.ts";
 * const h = new Uint8Array(4);
 * writeHeader(h, 0, 258);
 * console.log([...h]); // [0, 0, 1, 2]
 * ```
 */
export function writeHeader(target: Uint8Array, offset: number, length: number): void {
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/**
 * One frame as fresh bytes: the length prefix followed by a copy of `payload`.
 *
 * @example Framing three bytes
 * ```ts
 * import { frame } from "./_frame.ts";
 * console.log([...frame(new Uint8Array([7, 8, 9]))]); // [0, 0, 0, 3, 7, 8, 9]
 * ```
 */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  writeHeader(out, 0, payload.length);
  out.set(payload, HEADER_BYTES);
  return out;
}

function readHeader(b: Uint8Array, o: number): number {
  return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
}

/**
 * Incremental frame decoder. {@linkcode FrameDecoder.push} accepts any chunk
 * and calls `onFrame` once per completed payload, in order.
 *
 * A payload that lies whole inside one chunk is handed out as a view of that
 * chunk (no copy): Node, Deno and Bun all give every socket read a fresh
 * buffer, so the view stays valid. A payload split over chunks is assembled
 * into a buffer allocated once at its announced size.
 *
 * `maxFrameBytes` may be changed between frames (the socket server uses a
 * tiny limit until the handshake is done). A header announcing more throws
 * `TransportError("FrameTooLarge")`; the decoder is then unusable and the
 * connection must be closed.
 *
 * **Pausing** (the server's backpressure): {@linkcode FrameDecoder.pause},
 * called from `onFrame`, stops the decoding after that frame; the rest of the
 * chunk, and every chunk pushed meanwhile, is held undecoded until
 * {@linkcode FrameDecoder.resume}.
 *
 * @example Reassembling a frame split across chunks
 * ```ts
 * import { FrameDecoder, frame } from "./_frame.ts";
 * const bytes = frame(new Uint8Array(10).fill(1));
 * const d = new FrameDecoder();
 * let n = 0;
 * d.push(bytes.subarray(0, 3), () => n++);
 * d.push(bytes.subarray(3), (p) => { n++; console.log(p.length); }); // 10
 * console.log(n); // 1
 * ```
 *
 * @example Pausing after the first of two frames
 * ```ts
 * import { FrameDecoder, frame } from "./_frame.ts";
 * const d = new FrameDecoder();
 * const got: number[] = [];
 * const onFrame = (p: Uint8Array) => { got.push(p[0]); d.pause(); };
 * d.push(new Uint8Array([...frame(new Uint8Array([1])), ...frame(new Uint8Array([2]))]), onFrame);
 * console.log(got, d.held); // [ 1 ] 5
 * d.resume(onFrame);
 * console.log(got); // [ 1, 2 ]
 * ```
 */
export class FrameDecoder {
  /** Largest payload accepted; changeable between frames. */
  maxFrameBytes: number;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #failed = false;
  #paused = false;
  /** Chunks (or the rest of one) received while paused, oldest first. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;

  constructor(maxFrameBytes?: number) {
    this.maxFrameBytes = checkMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes of an incomplete frame held back, waiting for more chunks. */
  get buffered(): number {
    return this.#body ? HEADER_BYTES + this.#bodyFill : this.#headerFill;
  }

  /** True while a frame has begun (some of its header or body arrived) and has not completed. */
  get partial(): boolean {
    return this.#body !== null || this.#headerFill > 0;
  }

  /** True between {@linkcode FrameDecoder.pause} and {@linkcode FrameDecoder.resume}. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Bytes received but not decoded yet because the decoder is (or was) paused. */
  get held(): number {
    return this.#heldBytes;
  }

  /** Stops decoding after the frame being handed out (if any); what arrives is held until resumed. */
  pause(): void {
    this.#paused = true;
  }

  /**
   * Decodes what was held while paused, calling `onFrame` as
   * {@linkcode FrameDecoder.push} does, until it is paused again or nothing is held.
   */
  resume(onFrame: (payload: Uint8Array) => unknown): void {
    this.#paused = false;
    while (this.#held.length > 0 && !this.#paused) {
      const chunk = this.#held.shift()!;
      this.#heldBytes -= chunk.length;
      if (!this.#consume(chunk, onFrame)) {
        this.#held = [];
        this.#heldBytes = 0;
        return;
      }
    }
  }

  /**
   * Consumes one chunk; calls `onFrame` for each payload it completes. Stops
   * early when `onFrame` returns exactly `false` (the rest of the chunk is dropped).
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => unknown): void {
    if (this.#failed) throw new TransportError("Protocol", "Cannot decode frames after a framing error");
    if (this.#paused || this.#held.length > 0) {
      if (chunk.length > 0) this.#hold(chunk);
      return;
    }
    this.#consume(chunk, onFrame);
  }

  #hold(rest: Uint8Array, first = false): void {
    if (first) this.#held.unshift(rest);
    else this.#held.push(rest);
    this.#heldBytes += rest.length;
  }

  /** Decodes one chunk; false when `onFrame` said stop (the rest is dropped). A pause holds the rest. */
  #consume(chunk: Uint8Array, onFrame: (payload: Uint8Array) => unknown): boolean {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.#paused) {
        this.#hold(chunk.subarray(off), true);
        return true;
      }
      if (this.#body === null) {
        let len: number;
        if (this.#headerFill === 0 && n - off >= HEADER_BYTES) {
          len = readHeader(chunk, off);
          off += HEADER_BYTES;
        } else {
          while (this.#headerFill < HEADER_BYTES && off < n) this.#header[this.#headerFill++] = chunk[off++];
          if (this.#headerFill < HEADER_BYTES) return true;
          this.#headerFill = 0;
          len = readHeader(this.#header, 0);
        }
        if (len > this.maxFrameBytes) {
          this.#failed = true;
          throw new TransportError(
            "FrameTooLarge",
            `Cannot receive frame as it exceeds maxFrameBytes (${this.maxFrameBytes}; ${FRAME_LIMIT_HINT}): received ${len}`,
          );
        }
        if (n - off >= len) {
          const payload = chunk.subarray(off, off + len);
          off += len;
          if (onFrame(payload) === false) return false;
          continue;
        }
        this.#body = new Uint8Array(len);
        this.#bodyFill = 0;
      }
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFill, n - off);
      body.set(chunk.subarray(off, off + take), this.#bodyFill);
      this.#bodyFill += take;
      off += take;
      if (this.#bodyFill === body.length) {
        this.#body = null;
        if (onFrame(body) === false) return false;
      }
    }
    return true;
  }
}

/**
 * Writes frames to a stream, coalescing those queued in the same tick into
 * one write: a burst of pipelined calls (or of answers) costs one syscall.
 * Above {@linkcode COALESCE_BYTES} in one tick, each frame is written as its
 * header and its payload, without a copy.
 *
 * It also remembers whether the stream asked it to wait: a `write` that
 * returns `false` (a Node-style stream over its high-water mark) sets
 * {@linkcode FrameWriter.blocked} until the owner, told by the stream's
 * `"drain"` event, calls {@linkcode FrameWriter.drained}.
 *
 * @example Two frames, one write
 * ```ts
 * import { FrameWriter } from "./_frame.ts";
 * const writes: Uint8Array[] = [];
 * const writer = new FrameWriter({ write: (b: Uint8Array) => writes.push(b) });
 * writer.send(new Uint8Array([1]));
 * writer.send(new Uint8Array([2, 3]));
 * writer.flush();
 * console.log(writes.length, [...writes[0]]); // 1 [0, 0, 0, 1, 1, 0, 0, 0, 2, 2, 3]
 * ```
 */
export class FrameWriter {
  readonly #out: Pick<Duplex, "write">;
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  #closed = false;
  #blocked = false;
  readonly #flush = () => this.flush();

  constructor(out: Pick<Duplex, "write">) {
    this.#out = out;
  }

  /** Bytes (headers included) queued in this tick and not yet handed to the stream. */
  get queued(): number {
    return this.#bytes;
  }

  /** True once a write returned `false`, until {@linkcode FrameWriter.drained}: the stream will emit `"drain"`. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** The stream emitted `"drain"`: what it held has been sent. */
  drained(): void {
    this.#blocked = false;
  }

  #write(bytes: Uint8Array): void {
    if (this.#out.write(bytes) === false) this.#blocked = true;
  }

  /** Queues one payload; it is framed and written at the end of this tick. Dropped once closed. */
  send(payload: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push(payload);
    this.#bytes += HEADER_BYTES + payload.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = [];
    const total = this.#bytes;
    this.#bytes = 0;
    if (total <= COALESCE_BYTES) {
      const bytes = new Uint8Array(total);
      let o = 0;
      for (const p of queue) {
        writeHeader(bytes, o, p.length);
        bytes.set(p, o + HEADER_BYTES);
        o += HEADER_BYTES + p.length;
      }
      this.#write(bytes);
      return;
    }
    for (const p of queue) {
      const header = new Uint8Array(HEADER_BYTES);
      writeHeader(header, 0, p.length);
      this.#write(header);
      this.#write(p);
    }
  }

  /** The stream is gone: drops what is queued and writes nothing more. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#bytes = 0;
  }
}
