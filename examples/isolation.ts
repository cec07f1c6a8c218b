/**
 * Port of seed 001's "The Challenge: Memory Isolation" (Python's
 * multiprocessing: a global variable is not shared):
 *
 * ```py
 * counter = 0
 * def increment():
 *     global counter
 *     for _ in range(100000): counter += 1
 *
 * p1 = Process(target=increment); p2 = Process(target=increment)
 * p1.start(); p2.start(); p1.join(); p2.join()
 * print(f"Counter: {counter}")   # Still 0!
 * ```
 *
 * The same holds for workers: each thread (or process) loads its own copy
 * of a module, so `counter` in workers/isolation.ts counts only in the
 * worker. Prints `Counter: 0`; share state with `m.value` (examples/shared_value.ts).
 *
 * Run: `node --import tsx examples/isolation.ts`, `deno run -A examples/isolation.ts`, `bun examples/isolation.ts`.
 * @module
 */
import { spawn } from "../mod.ts";
import { counter } from "./workers/isolation.ts";

const p1 = spawn(new URL("./workers/isolation.ts", import.meta.url));
const p2 = spawn(new URL("./workers/isolation.ts", import.meta.url));
await p1.join();
await p2.join();
console.log(`Counter: ${counter}`); // Still 0!
