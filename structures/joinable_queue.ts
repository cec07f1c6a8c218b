/**
 * A queue whose consumers mark items done, so that a producer can wait for
 * all of them: Python's `multiprocessing.JoinableQueue`.
 *
 * It is a {@linkcode Queue} laid out with its joinable flag set: every put
 * also counts one unfinished item (see `queue.ts`).
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure } from "../core/structure.ts";
import { deadlineOf, type WaitOptions } from "../sync/_kernel.ts";
import { openQueue, Queue, QueueEngine, queueOps, type QueueOptions, shareQueue } from "./queue.ts";

/** The operations of a JoinableQueue, local and remote: a Queue's, and the unfinished-count ones. */
const /** @internal */ joinableQueueOps = {
  ...queueOps,
  taskDone: (e: QueueEngine): void => e.taskDone(),
  unfinished: (e: QueueEngine): number => e.unfinished(),
  join: (e: QueueEngine, [timeout]: [number | undefined], ctx: CallContext): Promise<void> =>
    e.join({ timeout: timeoutArg(timeout), signal: ctx.signal }),
};

/**
 * A {@linkcode Queue} that counts unfinished items: every `put` adds one,
 * every `taskDone()` (called by a consumer after processing an item it got)
 * removes one, and `join()` waits until the count is zero.
 *
 * **Cancellation**: a `join` whose timeout elapses or whose signal aborts
 * fails with `QueueError("Timeout" | "Aborted")` and changes nothing.
 *
 * **Visibility**: when `join` returns, every write a consumer made before its
 * last `taskDone` is visible.
 *
 * **Transports**: shared buffer (sync twins) and socket.
 *
 * @example Waiting for all work to be processed
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const q = await m.joinableQueue<number>();
 * await q.put(1);
 * const item = await q.get();
 * await q.taskDone();
 * await q.join({ timeout: 1000 }); // returns: nothing is unfinished
 * console.log(item);
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T, typeof joinableQueueOps> {
  /** @internal Use `Manager.joinableQueue()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<QueueEngine>) {
    super(handle, backend, joinableQueueOps);
  }

  /** Marks one item got from the queue as processed; a RangeError if none is unfinished. */
  async taskDone(): Promise<void> {
    return this.exec("taskDone", []);
  }
  /** Waits until every item put has been marked done. */
  async join(options?: WaitOptions): Promise<void> {
    deadlineOf(options?.timeout, "join queue");
    await this.blocking("join", [options?.timeout], "QueueError", "join queue", options?.signal);
  }
  /** Number of items put and not yet marked done. */
  async unfinished(): Promise<number> {
    return this.call("unfinished", []);
  }
  /** The synchronous twin of {@linkcode taskDone} (shared buffer only). */
  taskDoneSync(): void {
    this.local("taskDoneSync").taskDone();
  }
  /** The synchronous twin of {@linkcode join} (shared buffer only). */
  joinSync(options?: WaitOptions): void {
    this.local("joinSync").joinSync(options);
  }
}

/** The JoinableQueue kind. */
export const joinableQueueSpec = defineStructure({
  kind: "joinableQueue",
  create: ([options]) => QueueEngine.create(options as QueueOptions | undefined, true),
  share: shareQueue,
  open: openQueue,
  ops: joinableQueueOps,
  client: (handle, backend: Backend<QueueEngine>) => new JoinableQueue(handle, backend),
});
