/**
 * Port of seed 001's "Shared Value" programs (Python's `Value('i', 0)`
 * incremented by two processes): without a lock (a race: may lose updates),
 * with a `Lock`, and with the Value's own lock (`get_lock()`); then its
 * Exercise 1 (four processes, 50,000 each, with and without a lock):
 *
 * ```py
 * def increment(shared_counter, n):
 *     for _ in range(n): shared_counter.value += 1
 * counter = Value('i', 0)
 * p1 = Process(target=increment, args=(counter, 100000)); p2 = …
 * p1.start(); p2.start(); p1.join(); p2.join()
 * print(f"Counter: {counter.value}")   # May be less than 200000 — race condition!
 *
 * def increment(shared_counter, lock, n):
 *     for _ in range(n):
 *         with lock: shared_counter.value += 1          # Always 200000
 *
 * def increment(shared_counter, n):
 *     for _ in range(n):
 *         with shared_counter.get_lock(): shared_counter.value += 1   # Always 200000
 * ```
 *
 * The workers are threads on the shared buffer, where `counter.value` reads
 * and writes the shared memory directly (as a ctypes Value does), so
 * `counter.value += 1` is a load then a store, and races as in Python
 * (`counter.add(1)` would be one atomic step). Prints `Counter: <n ≤ 200000>`,
 * `Counter: 200000`, `Counter: 200000`, `With lock: 200000 (expected 200000)`,
 * `Without lock: <n ≤ 200000> (may be < 200000)`.
 *
 * Run: `node --import tsx examples/shared_value.ts`, `deno run -A examples/shared_value.ts`, `bun examples/shared_value.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";

const WORKER = new URL("./workers/shared_value.ts", import.meta.url);
await using m = await Manager.start();

/** Starts one worker per `args`, then joins them all (Python's start-all, join-all). */
async function run(...args: unknown[][]): Promise<void> {
  const processes = args.map((a) => spawn(WORKER, { args: a }));
  for (const p of processes) await p.join();
}

{ // Basic usage
  const counter = await m.value("i", 0);
  await run(["increment", counter, 100_000], ["increment", counter, 100_000]);
  console.log(`Counter: ${counter.value}`); // May be less than 200000 — race condition!
}
{ // With Lock
  const counter = await m.value("i", 0);
  const lock = await m.lock();
  await run(["incrementWithLock", counter, 100_000, lock], ["incrementWithLock", counter, 100_000, lock]);
  console.log(`Counter: ${counter.value}`); // Always 200000
}
{ // Value with built-in lock
  const counter = await m.value("i", 0); // Has built-in lock
  await run(["incrementGetLock", counter, 100_000], ["incrementGetLock", counter, 100_000]);
  console.log(`Counter: ${counter.value}`); // Always 200000
}
{ // Exercise 1
  const c1 = await m.value("i", 0);
  const lock = await m.lock();
  await run(...Array.from({ length: 4 }, () => ["incrementWithLock", c1, 50_000, lock]));
  console.log(`With lock: ${c1.value} (expected 200000)`);
  const c2 = await m.value("i", 0);
  await run(...Array.from({ length: 4 }, () => ["increment", c2, 50_000]));
  console.log(`Without lock: ${c2.value} (may be < 200000)`);
}
