/**
 * A FIFO queue shared by threads, processes or machines: Python's
 * `multiprocessing.Queue`, on any transport.
 *
 * On the shared buffer it is a singly linked list of blocks in a growable
 * SharedArrayBuffer (each block one encoded item), guarded by one robust
 * mutex held only to link or unlink a block. Getters sleep on a put counter,
 * putters of a bounded queue on a get counter (`sync/_kernel.ts`).
 * @module
 */
import { QueueError } from "../errors.ts";
import { type Handle, registerStructure } from "../transports/_attach.ts";
import { decode, encode } from "../transports/_codec.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { deadlineOf, spinWhile, type WaitOptions, waitSlice, waitSliceAsync } from "../sync/_kernel.ts";
import { lockSync, tryLock, unlock } from "../sync/_mutex.ts";
import { unsupportedSync } from "../sync/lock.ts";
import { isAbort, type Remote } from "../sync/_remote.ts";
import { createHeapBuffer, Heap } from "./_heap.ts";

/** Mutex word guarding the list. */
const Q_LOCK = 0;
/** Items in the queue. */
const Q_COUNT = 1;
/** Byte offset of the first block (0: empty). */
const Q_HEAD = 2;
/** Byte offset of the last block. */
const Q_TAIL = 3;
/** Bound on items; 0 for none. */
const Q_MAXSIZE = 4;
/** Bumped by every put; getters sleep on it. */
const Q_PUT_SEQ = 5;
/** Bumped by every get; putters of a full queue sleep on it. */
const Q_GET_SEQ = 6;
/** Getters asleep. */
const Q_GETTERS = 7;
/** Putters asleep. */
const Q_PUTTERS = 8;
/** Items put and not yet marked done (JoinableQueue). */
const Q_UNFINISHED = 9;
/** Bumped when the unfinished count reaches zero; `join` sleeps on it. */
const Q_JOIN_SEQ = 10;
/** Bytes before an item's bytes in its block: next block, length. */
const NODE_HEADER = 8;

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

function queueError(reason: "Timeout" | "Aborted", what: string, timeout?: number, signal?: AbortSignal): QueueError {
  return reason === "Aborted"
    ? new QueueError("Aborted", `Cannot ${what} as the signal was aborted`, { cause: signal?.reason })
    : new QueueError("Timeout", `Cannot ${what} as the timeout elapsed: received ${timeout}`);
}

/** The shared-memory engine of a Queue. */
export class QueueEngine {
  readonly heap: Heap;

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
  }

  /** Lays out a fresh queue. */
  static create(options?: QueueOptions): QueueEngine {
    const maxsize = options?.maxsize ?? 0;
    if (!Number.isInteger(maxsize) || maxsize < 0 || maxsize > 0x7fffffff) {
      throw new TypeError(`Cannot create queue as 'maxsize' must be a non-negative integer: received ${maxsize}`);
    }
    const e = new QueueEngine(createHeapBuffer(64 * 1024, options?.maxBytes ?? DEFAULT_MAX_BYTES, "queue"));
    e.i32[Q_MAXSIZE] = maxsize;
    return e;
  }

  #lock(): number {
    const id = threadId();
    if (!tryLock(this.i32, Q_LOCK, id)) lockSync(this.i32, Q_LOCK, id, Infinity);
    return id;
  }

  /** Links one item unless the queue is full; false when full. */
  tryPutBytes(vb: Uint8Array): boolean {
    const i32 = this.i32;
    const id = this.#lock();
    try {
      this.heap.sync();
      const max = i32[Q_MAXSIZE];
      if (max > 0 && i32[Q_COUNT] >= max) return false;
      const node = this.heap.alloc(NODE_HEADER + vb.length);
      const w = this.i32; // the allocation may have grown the buffer
      w[node >> 2] = 0;
      w[(node >> 2) + 1] = vb.length;
      this.u8.set(vb, node + NODE_HEADER);
      const tail = w[Q_TAIL];
      if (tail === 0) w[Q_HEAD] = node;
      else w[tail >> 2] = node;
      w[Q_TAIL] = node;
      Atomics.add(w, Q_UNFINISHED, 1);
      Atomics.store(w, Q_COUNT, w[Q_COUNT] + 1);
      Atomics.add(w, Q_PUT_SEQ, 1);
    } finally {
      unlock(i32, Q_LOCK, id);
    }
    if (Atomics.load(i32, Q_GETTERS) > 0) Atomics.notify(i32, Q_PUT_SEQ, 1);
    return true;
  }

  /** Unlinks the first item; undefined when empty. */
  tryGetBytes(): Uint8Array | undefined {
    const i32 = this.i32;
    if (Atomics.load(i32, Q_COUNT) === 0) return undefined;
    let vb: Uint8Array;
    const id = this.#lock();
    try {
      this.heap.sync();
      const w = this.i32;
      const node = w[Q_HEAD];
      if (node === 0) return undefined;
      const next = w[node >> 2];
      w[Q_HEAD] = next;
      if (next === 0) w[Q_TAIL] = 0;
      const p = node + NODE_HEADER;
      vb = this.u8.slice(p, p + w[(node >> 2) + 1]);
      this.heap.free(node);
      Atomics.store(w, Q_COUNT, w[Q_COUNT] - 1);
      Atomics.add(w, Q_GET_SEQ, 1);
    } finally {
      unlock(i32, Q_LOCK, id);
    }
    if (Atomics.load(i32, Q_PUTTERS) > 0) Atomics.notify(i32, Q_GET_SEQ, 1);
    return vb;
  }

  putSync(value: unknown, options?: WaitOptions): void {
    const vb = encode(value);
    if (this.tryPutBytes(vb)) return;
    const deadline = deadlineOf(options?.timeout, "put to queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "put to queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_GET_SEQ);
      if (this.tryPutBytes(vb)) return;
      if (spinWhile(i32, Q_GET_SEQ, seq)) continue;
      Atomics.add(i32, Q_PUTTERS, 1);
      const more = waitSlice(i32, Q_GET_SEQ, seq, deadline);
      Atomics.sub(i32, Q_PUTTERS, 1);
      if (!more) throw queueError("Timeout", "put to queue", options?.timeout);
    }
  }

  async put(value: unknown, options?: WaitOptions): Promise<void> {
    const vb = encode(value);
    if (options?.signal?.aborted) throw queueError("Aborted", "put to queue", options.timeout, options.signal);
    if (this.tryPutBytes(vb)) return;
    const deadline = deadlineOf(options?.timeout, "put to queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "put to queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_GET_SEQ);
      if (this.tryPutBytes(vb)) return;
      Atomics.add(i32, Q_PUTTERS, 1);
      let more: boolean;
      try {
        more = await waitSliceAsync(i32, Q_GET_SEQ, seq, deadline, options?.signal);
      } finally {
        Atomics.sub(i32, Q_PUTTERS, 1);
      }
      if (!more) throw queueError("Timeout", "put to queue", options?.timeout);
    }
  }

  putNowait(value: unknown): void {
    if (!this.tryPutBytes(encode(value))) {
      throw new QueueError("Full", `Cannot put to queue as it is full: received maxsize ${this.i32[Q_MAXSIZE]}`);
    }
  }

  getSync(options?: WaitOptions): unknown {
    let vb = this.tryGetBytes();
    if (vb !== undefined) return decode(vb);
    const deadline = deadlineOf(options?.timeout, "get from queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "get from queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_PUT_SEQ);
      vb = this.tryGetBytes();
      if (vb !== undefined) return decode(vb);
      if (spinWhile(i32, Q_PUT_SEQ, seq)) continue;
      Atomics.add(i32, Q_GETTERS, 1);
      const more = waitSlice(i32, Q_PUT_SEQ, seq, deadline);
      Atomics.sub(i32, Q_GETTERS, 1);
      if (!more) throw queueError("Timeout", "get from queue", options?.timeout);
    }
  }

  async get(options?: WaitOptions): Promise<unknown> {
    if (options?.signal?.aborted) throw queueError("Aborted", "get from queue", options.timeout, options.signal);
    let vb = this.tryGetBytes();
    if (vb !== undefined) return decode(vb);
    const deadline = deadlineOf(options?.timeout, "get from queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "get from queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_PUT_SEQ);
      vb = this.tryGetBytes();
      if (vb !== undefined) return decode(vb);
      Atomics.add(i32, Q_GETTERS, 1);
      let more: boolean;
      try {
        more = await waitSliceAsync(i32, Q_PUT_SEQ, seq, deadline, options?.signal);
      } finally {
        Atomics.sub(i32, Q_GETTERS, 1);
      }
      if (!more) throw queueError("Timeout", "get from queue", options?.timeout);
    }
  }

  getNowait(): unknown {
    const vb = this.tryGetBytes();
    if (vb === undefined) throw new QueueError("Empty", "Cannot get from queue as it is empty");
    return decode(vb);
  }

  qsize(): number {
    return Atomics.load(this.i32, Q_COUNT);
  }
  empty(): boolean {
    return this.qsize() === 0;
  }
  full(): boolean {
    const max = Atomics.load(this.i32, Q_MAXSIZE);
    return max > 0 && this.qsize() >= max;
  }
  maxsize(): number {
    return Atomics.load(this.i32, Q_MAXSIZE);
  }

  /** Marks one fetched item done (JoinableQueue); wakes joiners at zero. */
  taskDone(): void {
    const i32 = this.i32;
    for (;;) {
      const n = Atomics.load(i32, Q_UNFINISHED);
      if (n <= 0) throw new RangeError("Cannot mark task done as it was called more times than items were put");
      if (Atomics.compareExchange(i32, Q_UNFINISHED, n, n - 1) !== n) continue;
      if (n === 1) {
        Atomics.add(i32, Q_JOIN_SEQ, 1);
        Atomics.notify(i32, Q_JOIN_SEQ);
      }
      return;
    }
  }

  /** Items put and not yet marked done. */
  unfinished(): number {
    return Atomics.load(this.i32, Q_UNFINISHED);
  }

  /** Blocks until every item put has been marked done. */
  joinSync(options?: WaitOptions): void {
    const deadline = deadlineOf(options?.timeout, "join queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "join queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_JOIN_SEQ);
      if (Atomics.load(i32, Q_UNFINISHED) === 0) return;
      if (!waitSlice(i32, Q_JOIN_SEQ, seq, deadline)) throw queueError("Timeout", "join queue", options?.timeout);
    }
  }

  /** The asynchronous twin of {@linkcode joinSync}. */
  async join(options?: WaitOptions): Promise<void> {
    const deadline = deadlineOf(options?.timeout, "join queue");
    const i32 = this.i32;
    for (;;) {
      if (options?.signal?.aborted) throw queueError("Aborted", "join queue", options.timeout, options.signal);
      const seq = Atomics.load(i32, Q_JOIN_SEQ);
      if (Atomics.load(i32, Q_UNFINISHED) === 0) return;
      if (!(await waitSliceAsync(i32, Q_JOIN_SEQ, seq, deadline, options?.signal))) {
        throw queueError("Timeout", "join queue", options?.timeout);
      }
    }
  }
}

/** The remote operations of a queue, shared with the joinable queue. */
export const queueOps = {
  put: (e: QueueEngine, [v, timeout]: readonly unknown[], ctx: { signal: AbortSignal }) =>
    e.put(v, { timeout: timeout as number | undefined, signal: ctx.signal }),
  get: (e: QueueEngine, [timeout]: readonly unknown[], ctx: { signal: AbortSignal }) =>
    e.get({ timeout: timeout as number | undefined, signal: ctx.signal }),
  putNowait: (e: QueueEngine, [v]: readonly unknown[]) => e.putNowait(v),
  getNowait: (e: QueueEngine) => e.getNowait(),
  qsize: (e: QueueEngine) => e.qsize(),
  empty: (e: QueueEngine) => e.empty(),
  full: (e: QueueEngine) => e.full(),
  maxsize: (e: QueueEngine) => e.maxsize(),
};

registerKind<QueueEngine>("queue", {
  create: ([options]) => QueueEngine.create(options as QueueOptions | undefined),
  localHandle: (e) => ({ kind: "queue", via: "shared-buffer", buffer: e.buffer, registry: registryBuffer() }),
  ops: queueOps,
});

/**
 * A multi-producer, multi-consumer FIFO queue: Python's
 * `multiprocessing.Queue`, on any transport.
 *
 * Items are any data the codec round-trips; each `get` returns a copy.
 * A bounded queue (`maxsize`) makes `put` wait for room.
 *
 * **Fairness**: items leave in the order they were linked; waiting getters
 * are woken one per put, in no promised order.
 *
 * **Cancellation**: a `get` or `put` whose timeout elapses or whose signal
 * aborts fails with `QueueError("Timeout" | "Aborted")` and has taken or
 * stored nothing.
 *
 * **Visibility**: an item is visible to every getter once `put` returned.
 *
 * **Transports**: shared buffer (sync twins), socket and pipe (async; blocking
 * calls wait on the server, never blocking its event loop).
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
export class Queue<T = unknown> {
  readonly #engine: QueueEngine | undefined;
  readonly #remote: Remote | undefined;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;

  /** @internal Use `Manager.queue()` or `attach(handle)`. */
  constructor(handle: Handle, engine?: QueueEngine, remote?: Remote) {
    this.handle = handle;
    this.#engine = engine;
    this.#remote = remote;
  }

  /** @internal */
  protected get engine(): QueueEngine | undefined {
    return this.#engine;
  }
  /** @internal */
  protected get remote(): Remote | undefined {
    return this.#remote;
  }

  /** @internal */
  protected local(what: string): QueueEngine {
    if (!this.#engine) throw unsupportedSync(what, this.handle.via);
    return this.#engine;
  }

  /** @internal A remote call whose abort becomes a typed QueueError. */
  protected async blocking(op: string, args: unknown[], what: string, options?: WaitOptions): Promise<unknown> {
    if (options?.signal?.aborted) throw queueError("Aborted", what, options.timeout, options.signal);
    try {
      return await this.#remote!.call(op, args, options?.signal);
    } catch (e) {
      if (isAbort(e)) throw queueError("Aborted", what, options?.timeout, options?.signal);
      throw e;
    }
  }

  /** Appends an item, waiting for room in a bounded queue at most `timeout` ms. */
  async put(item: T, options?: WaitOptions): Promise<void> {
    if (this.#engine) return this.#engine.put(item, options);
    await this.blocking("put", [item, options?.timeout], "put to queue", options);
  }
  /** Removes and returns the first item, waiting at most `timeout` ms for one. */
  async get(options?: WaitOptions): Promise<T> {
    if (this.#engine) return this.#engine.get(options) as Promise<T>;
    return this.blocking("get", [options?.timeout], "get from queue", options) as Promise<T>;
  }
  /** Appends an item or fails with `QueueError("Full")` at once. */
  async putNowait(item: T): Promise<void> {
    if (this.#engine) this.#engine.putNowait(item);
    else await this.#remote!.call("putNowait", [item]);
  }
  /** Removes the first item or fails with `QueueError("Empty")` at once. */
  async getNowait(): Promise<T> {
    return this.#engine ? this.#engine.getNowait() as T : this.#remote!.call("getNowait", []) as Promise<T>;
  }
  /** Number of items now (a snapshot, as in Python). */
  async qsize(): Promise<number> {
    return this.#engine ? this.#engine.qsize() : this.#remote!.call("qsize", []) as Promise<number>;
  }
  /** True when the queue holds no item now. */
  async empty(): Promise<boolean> {
    return this.#engine ? this.#engine.empty() : this.#remote!.call("empty", []) as Promise<boolean>;
  }
  /** True when a bounded queue holds `maxsize` items now. */
  async full(): Promise<boolean> {
    return this.#engine ? this.#engine.full() : this.#remote!.call("full", []) as Promise<boolean>;
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
}

registerStructure("queue", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new Queue(h, new QueueEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new Queue(h, undefined, remote),
});
