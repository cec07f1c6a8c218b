/**
 * Port of seed 002's benchmark of a synchronized `Value` against a
 * `RawValue` with a manual `Lock`: a process increments each 10,000 times
 * and reports how long it took.
 *
 * ```py
 * def test_synchronized_value(shared_val, iterations):   # with shared_val.get_lock(): shared_val.value += 1
 * def test_raw_value(raw_val, lock, iterations):         # with lock: raw_val.value += 1
 * def benchmark_worker(test_type, shared_obj, extra_arg, iterations):
 *     ... print(f"{test_type} test completed in {duration:.3f} seconds")
 *
 * print("Testing synchronized Value...")
 * sync_val = Value('i', 0); p1 = Process(target=benchmark_worker, args=('synchronized', sync_val, None, iterations))
 * p1.start(); p1.join(); print(f"Synchronized final value: {sync_val.value}")
 * print("\nTesting raw Value with manual lock...")
 * raw_val = RawValue('i', 0); manual_lock = Lock()
 * p2 = Process(target=benchmark_worker, args=('raw', raw_val, manual_lock, iterations))
 * p2.start(); p2.join(); print(f"Raw final value: {raw_val.value}")
 * ```
 *
 * The workers are threads on the shared buffer. The durations vary; the
 * final values are 10000. (`npm run bench` measures procshare against Python.)
 *
 * Run: `node --import tsx examples/sync_vs_raw.ts`, `deno run -A examples/sync_vs_raw.ts`, `bun examples/sync_vs_raw.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";

const WORKER = new URL("./workers/benchmark_worker.ts", import.meta.url);
const iterations = 10_000;
await using m = await Manager.start();

// Test 1: Synchronized Value
console.log("Testing synchronized Value...");
const syncVal = await m.value("i", 0);
const p1 = spawn(WORKER, { args: ["synchronized", syncVal, null, iterations] });
await p1.join();
console.log(`Synchronized final value: ${syncVal.value}`);

// Test 2: Raw Value with manual lock
console.log("\nTesting raw Value with manual lock...");
const rawVal = await m.value("i", 0, { lock: false });
const manualLock = await m.lock();
const p2 = spawn(WORKER, { args: ["raw", rawVal, manualLock, iterations] });
await p2.join();
console.log(`Raw final value: ${rawVal.value}`);
