/**
 * A queue whose consumers mark items done, so that a producer can wait for
 * all of them: Python's `multiprocessing.JoinableQueue`.
 * @module
 */
import { registerStructure } from "../transports/_attach.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer } from "../transports/_runtime/threads.ts";
import type { WaitOptions } from "../sync/_kernel.ts";
import { Queue, QueueEngine, queueOps, type QueueOptions } from "./queue.ts";

registerKind<QueueEngine>("joinableQueue", {
  create: ([options]) => QueueEngine.create(options as QueueOptions | undefined, true),
  localHandle: (e) => ({ kind: "joinableQueue", via: "shared-buffer", buffer: e.buffer, registry: registryBuffer() }),
  ops: {
    ...queueOps,
    taskDone: (e) => e.taskDone(),
    unfinished: (e) => e.unfinished(),
    join: (e, [timeout], ctx) => e.join({ timeout: timeout as number | undefined, signal: ctx.signal }),
  },
});

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
 * **Transports**: shared buffer (sync twins), socket and pipe.
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
export class JoinableQueue<T = unknown> extends Queue<T> {
  /** Marks one item got from the queue as processed; a RangeError if none is unfinished. */
  async taskDone(): Promise<void> {
    if (this.engine) this.engine.taskDone();
    else await this.remote!.call("taskDone", []);
  }
  /** Waits until every item put has been marked done. */
  async join(options?: WaitOptions): Promise<void> {
    if (this.engine) return this.engine.join(options);
    await this.blocking("join", [options?.timeout], "join queue", options);
  }
  /** Number of items put and not yet marked done. */
  async unfinished(): Promise<number> {
    return this.engine ? this.engine.unfinished() : this.remote!.call("unfinished", []) as Promise<number>;
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

registerStructure("joinableQueue", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new JoinableQueue(h, new QueueEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new JoinableQueue(h, undefined, remote),
});
