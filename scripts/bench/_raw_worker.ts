/**
 * Hand-made worker threads for the baselines that pass MessagePorts (which
 * procshare's `spawn` does not transfer): `node:worker_threads`, present in
 * Node, Deno and Bun, started at `workers/_boot.mjs`.
 * @module
 */
import { type Transferable, Worker } from "node:worker_threads";

const BOOT = new URL("./workers/_boot.mjs", import.meta.url);

/** A started worker: its result, and a way to end it early. */
export interface RawWorker<R> {
  /** Resolves with the module's result (the worker is then terminated), rejects with its error. */
  readonly result: Promise<R>;
  terminate(): Promise<void>;
}

/** Runs the default export of `module` (a .ts file under workers/) in a new thread with `args`; `transfer` lists the ports among them. */
export function rawWorker<R>(
  module: URL,
  args: readonly unknown[],
  transfer: readonly Transferable[] = [],
): RawWorker<R> {
  const w = new Worker(BOOT, { workerData: { module: module.href, args }, transferList: [...transfer] });
  const result = new Promise<R>((resolve, reject) => {
    w.once("message", (m: { ok: boolean; value?: R; error?: string }) => {
      // settle first: Deno emits "exit" from inside terminate()
      if (m.ok) resolve(m.value as R);
      else reject(new Error(`Worker ${module.pathname.split("/").pop()} failed: ${m.error}`));
      void w.terminate();
    });
    w.once("error", reject);
    w.once(
      "exit",
      (code) =>
        reject(new Error(`Worker ${module.pathname.split("/").pop()} exited with code ${code} before it returned`)),
    );
  });
  result.catch(() => {});
  return { result, terminate: async () => void (await w.terminate()) };
}
