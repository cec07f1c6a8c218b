/**
 * procshare: shared state for JavaScript workers, processes and machines —
 * Python's `multiprocessing` sharing layer (Manager, dict, Queue, Lock, …)
 * for Deno, Bun and Node, over a shared buffer, a socket or Redis.
 *
 * @example Sharing a dict with a worker
 * ```ts
 * import { Manager } from "./mod.ts";
 * await using m = await Manager.start();
 * const scores = await m.dict<string, number>();
 * await scores.set("a", 1);
 * console.log(await scores.get("a")); // 1
 * ```
 * @module
 */
export {
  Manager,
  type ManagerConnectOptions,
  type ManagerShutdownOptions,
  type ManagerStartOptions,
  type StructureOptions,
} from "./manager.ts";
export * from "./structures/mod.ts";
export * from "./sync/mod.ts";
export { attach, fromWire, type Handle, toWire } from "./attach.ts";
export { Authkey } from "./core/backend.ts";
export type { Shared } from "./core/structure.ts";
export { parseTransport, type TransportConfig, type TransportOptions } from "./transports/transport.ts";
export * from "./process/mod.ts";
export {
  CapacityError,
  CodecError,
  type CodecErrorReason,
  LockError,
  type LockErrorReason,
  type ProcshareError,
  QueueError,
  type QueueErrorReason,
  SharedMemoryError,
  type SharedMemoryErrorReason,
  TransportError,
  type TransportErrorReason,
  WorkerError,
  type WorkerErrorReason,
} from "./errors.ts";
