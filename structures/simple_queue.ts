/**
 * An unbounded FIFO queue: Python's `multiprocessing.SimpleQueue`.
 *
 * It is a {@linkcode Queue} without a bound, with a Queue's op table: its
 * surface is that table, so every method works on every transport.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure } from "../core/structure.ts";
import { openQueue, Queue, QueueEngine, queueOps, shareQueue } from "./queue.ts";

/**
 * The operations of a SimpleQueue, local and remote: a Queue's. The client
 * is a `Queue<T, typeof simpleQueueOps>`, so tsc rejects a table that lacks
 * an op the client calls.
 */
const /** @internal */ simpleQueueOps = queueOps;

/**
 * An unbounded queue with Python's SimpleQueue surface: `put`, `get`, `empty`
 * (and, here, everything a {@linkcode Queue} has; `putNowait` never fails on
 * it as it has no bound, and `full` is always false).
 *
 * **Transports**: shared buffer (sync twins) and socket.
 *
 * @example Put, get, empty
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const q = await m.simpleQueue<string>();
 * await q.put("x");
 * console.log(await q.get(), await q.empty()); // x true
 * ```
 */
export class SimpleQueue<T = unknown> extends Queue<T, typeof simpleQueueOps> {
  /** @internal Use `Manager.simpleQueue()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<QueueEngine>) {
    super(handle, backend, simpleQueueOps);
  }
}

/** The SimpleQueue kind. */
export const simpleQueueSpec = defineStructure({
  kind: "simpleQueue",
  create: () => QueueEngine.create(),
  share: shareQueue,
  open: openQueue,
  ops: simpleQueueOps,
  client: (handle, backend: Backend<QueueEngine>) => new SimpleQueue(handle, backend),
});
