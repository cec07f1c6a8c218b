/**
 * Port of "Synchronization between processes" from Python's multiprocessing
 * docs: ten workers print one at a time under a shared Lock.
 *
 * Run: `node --import tsx examples/lock_print.ts`.
 */
import { Manager, spawn } from "../mod.ts";

await using m = await Manager.start();
const lock = await m.lock();
const workers = Array.from(
  { length: 10 },
  (_, i) => spawn(new URL("./workers/printer.ts", import.meta.url), { args: [lock, i] }),
);
await Promise.all(workers.map((w) => w.join()));
