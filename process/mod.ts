/**
 * Workers: run a module's default export in a new thread or child process,
 * with procshare structures among its arguments, and join its result.
 *
 * @example Running a module in a worker thread
 * ```ts
 * import { spawn } from "./mod.ts";
 * // square.ts: export default (n: number) => n * n;
 * const w = spawn<(n: number) => number>(new URL("./square.ts", import.meta.url), { args: [7] });
 * console.log(await w.join()); // 49
 * ```
 * @module
 */
export { spawn } from "./spawn.ts";
export type { JoinOptions, Signal, SpawnAs, Spawned, SpawnOptions, WorkerFunction } from "./spawn.ts";
export { Pool } from "./pool.ts";
export type { ApplyOptions, MapOptions, PoolOptions, PoolProgress, PoolStats, PoolWorkerStats } from "./pool.ts";
export { WorkerError } from "../errors.ts";
export type { WorkerErrorReason } from "../errors.ts";
export { Pipe } from "./pipe.ts";
export type { Connection, PipeOptions, RecvOptions } from "./pipe.ts";
export { PipeError } from "../errors.ts";
export type { PipeErrorReason } from "../errors.ts";
