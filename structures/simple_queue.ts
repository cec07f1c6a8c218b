/**
 * An unbounded FIFO queue: Python's `multiprocessing.SimpleQueue`.
 * @module
 */
import { registerStructure } from "../transports/_attach.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer } from "../transports/_runtime/threads.ts";
import { Queue, QueueEngine, queueOps } from "./queue.ts";

registerKind<QueueEngine>("simpleQueue", {
  create: () => QueueEngine.create(),
  localHandle: (e) => ({ kind: "simpleQueue", via: "shared-buffer", buffer: e.buffer, registry: registryBuffer() }),
  ops: {
    put: queueOps.put,
    get: queueOps.get,
    getNowait: queueOps.getNowait,
    empty: queueOps.empty,
    qsize: queueOps.qsize,
  },
});

/**
 * An unbounded queue with Python's SimpleQueue surface: `put`, `get`, `empty`
 * (and, here, everything a {@linkcode Queue} has; `putNowait` never fails on
 * it as it has no bound).
 *
 * **Transports**: shared buffer (sync twins), socket and pipe.
 *
 * @example
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const q = await m.simpleQueue<string>();
 * await q.put("x");
 * console.log(await q.get(), await q.empty()); // x true
 * ```
 */
export class SimpleQueue<T = unknown> extends Queue<T> {}

registerStructure("simpleQueue", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new SimpleQueue(h, new QueueEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new SimpleQueue(h, undefined, remote),
});
