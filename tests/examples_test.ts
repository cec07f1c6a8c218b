/** The runnable examples print what their Python originals print. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { availableParallelism } from "node:os";
import { runtimeCommand } from "../transports/_runtime/runtime.ts";

function run(name: string, ...extra: string[]): Promise<string> {
  const { command, args } = runtimeCommand(new URL(`../examples/${name}`, import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(
      command,
      [...args, ...extra],
      { timeout: 180_000 },
      (err, stdout, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    )
  );
}

describe("examples", () => {
  test("value_array.ts negates the array and sets the value", async () => {
    const out = (await run("value_array.ts")).replace(/\s+/g, " ").replace(/\[ /, "[").replace(/ \]/, "]");
    assert.match(out, /3\.1415927 \[0, -1, -2, -3, -4, -5, -6, -7, -8, -9\]/);
  });

  test("manager_dict.ts fills the dict and reverses the list from a child process", async () => {
    const [dict, list] = (await run("manager_dict.ts")).trim().split("\n");
    assert.deepEqual(JSON.parse(dict), [[1, "1"], ["2", 2], [0.25, null]]);
    assert.deepEqual(JSON.parse(list), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });

  for (const transport of ["shared-buffer", "unix"]) {
    test(`readme.ts: three workers sum every job id exactly once (${transport})`, async () => {
      const out = await run("readme.ts", transport);
      assert.match(out, /sum of job ids: 465 \(expected 465\)/);
      const perWorker = /jobs per worker: (\d+), (\d+), (\d+)/.exec(out);
      assert.ok(perWorker, out);
      assert.equal(perWorker.slice(1).map(Number).reduce((a, b) => a + b), 30);
    });
  }

  test("pool_dict.ts: the pool's worker processes each write their entry to the shared dict", async () => {
    const out = (await run("pool_dict.ts")).trim();
    const entries = [...out.matchAll(/(\d+): '([^']*)'/g)].map(([, k, v]) => [Number(k), v] as const);
    assert.ok(out.startsWith("{") && out.endsWith("}"), out);
    // one worker per core (as Python's Pool()), each sent a chunk before any gets a second
    assert.equal(entries.length, Math.min(availableParallelism(), 10), out);
    for (const [k, v] of entries) assert.equal(v, `Hi, I was written by process ${k}`);
  });

  test("pool_progress.ts counts the primes below 1,000,000 on a thread pool", async () => {
    assert.equal((await run("pool_progress.ts")).trim(), "primes below 1000000: 78498");
  });

  test("joinable_queue.ts reports all ten tasks", async () => {
    const lines = (await run("joinable_queue.ts")).trim().split("\n");
    assert.equal(lines.length, 10);
    for (let n = 0; n < 10; n++) assert.ok(lines.some((l) => l.endsWith(`: ${n} * 2 = ${n * 2}`)), `task ${n}`);
  });
});

/** A Python dict as `repr` prints it, of int or str keys and int or str values, as a Map. */
function pyDict(text: string): Map<number | string, number | string | boolean> {
  const m = /^\{(.*)\}$/.exec(text.trim());
  assert.ok(m, `not a dict: ${text}`);
  const out = new Map<number | string, number | string | boolean>();
  const atom = (s: string) =>
    s.startsWith("'") ? s.slice(1, -1) : s === "True" ? true : s === "False" ? false : Number(s);
  for (const [, k, v] of m[1].matchAll(/('[^']*'|-?\d+): ('[^']*'|-?[\d.]+|True|False)/g)) {
    out.set(atom(k) as number | string, atom(v));
  }
  return out;
}

/** The integers of a Python list printed as `[3, 1, 2]`. */
function pyInts(text: string): number[] {
  const m = /^\[(.*)\]$/.exec(text.trim());
  assert.ok(m, `not a list: ${text}`);
  return m[1] === "" ? [] : m[1].split(", ").map(Number);
}

// the seeds' programs (docs/seed-examples.md), started together: each mostly waits for its workers to start
describe("seed examples print what their Python originals print", { concurrency: 2 }, () => {
  test("isolation.ts: a module's global is not shared with the workers", async () => {
    assert.equal(await run("isolation.ts"), "Counter: 0\n");
  });

  test("shared_value.ts: the racy Value counts at most 200000, the locked ones exactly", async () => {
    const lines = (await run("shared_value.ts")).trim().split("\n");
    assert.equal(lines.length, 5, lines.join("\n"));
    const racy = /^Counter: (\d+)$/.exec(lines[0]);
    assert.ok(racy && Number(racy[1]) >= 100_000 && Number(racy[1]) <= 200_000, lines[0]);
    assert.deepEqual(lines.slice(1, 4), ["Counter: 200000", "Counter: 200000", "With lock: 200000 (expected 200000)"]);
    const unlocked = /^Without lock: (\d+) \(may be < 200000\)$/.exec(lines[4]);
    assert.ok(unlocked && Number(unlocked[1]) >= 50_000 && Number(unlocked[1]) <= 200_000, lines[4]);
  });

  test("shared_array.ts fills, initialises and increments arrays", async () => {
    assert.equal(
      await run("shared_array.ts"),
      "[10.0, 11.0, 12.0, 13.0, 14.0]\n[1, 2, 3, 4, 5]\n" +
        "[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]\n[10, 10, 10, 10, 10]\n",
    );
  });

  test("value_array_lock.ts: two workers each add 10 and double the array under the objects' own locks", async () => {
    assert.equal(
      await run("value_array_lock.ts"),
      "Initial value: 5\nInitial array: [1.0, 2.0, 3.0, 4.0]\nFinal value: 25\nFinal array: [4.0, 8.0, 12.0, 16.0]\n",
    );
  });

  test("raw_value_array.ts: three workers, five locked rounds each, on a RawValue and a RawArray", async () => {
    const lines = (await run("raw_value_array.ts")).trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["Initial value: 0", "Initial array: [0, 0, 0]"]);
    assert.deepEqual(lines.slice(-2), ["Final value: 15", "Final array: [15, 15, 15]"]);
    const rounds = lines.slice(2, -2);
    for (const id of [0, 1, 2]) {
      assert.equal(rounds.filter((l) => l === `Worker ${id} iteration completed`).length, 5, lines.join("\n"));
    }
    assert.equal(rounds.length, 15);
  });

  test("sync_vs_raw.ts: both counters reach 10000", async () => {
    const lines = (await run("sync_vs_raw.ts")).split("\n");
    assert.equal(lines[0], "Testing synchronized Value...");
    assert.match(lines[1], /^synchronized test completed in \d+\.\d{3} seconds$/);
    assert.deepEqual(lines.slice(2, 5), [
      "Synchronized final value: 10000",
      "",
      "Testing raw Value with manual lock...",
    ]);
    assert.match(lines[5], /^raw test completed in \d+\.\d{3} seconds$/);
    assert.deepEqual(lines.slice(6), ["Raw final value: 10000", ""]);
  });

  test("queue_basic.ts: the consumer gets the producer's items in order; the results dict has every square", async () => {
    const lines = (await run("queue_basic.ts")).trim().split("\n");
    assert.equal(lines.length, 11, lines.join("\n"));
    const items = [1, 2, 3, 4, 5];
    assert.deepEqual(lines.filter((l) => l.startsWith("Produced: ")), items.map((i) => `Produced: ${i}`));
    assert.deepEqual(lines.filter((l) => l.startsWith("Consumed: ")), items.map((i) => `Consumed: ${i}`));
    const results = pyDict(lines[10]);
    assert.deepEqual([...results].sort(([a], [b]) => Number(a) - Number(b)), [[0, 0], [1, 1], [2, 4], [3, 9], [4, 16]]);
  });

  test("pipes.ts: sender to receiver, ping-pong, and request-response over Pipes", async () => {
    const lines = (await run("pipes.ts")).trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["Received: Hello from sender!", "Received: [1, 2, 3]"]);
    const pingPong = lines.slice(2, 8);
    assert.deepEqual(
      pingPong.filter((l) => l.startsWith("Worker")),
      [0, 1, 2].map((i) => `Worker received: Main message ${i}`),
    );
    assert.deepEqual(
      pingPong.filter((l) => l.startsWith("Main")),
      [0, 1, 2].map((i) => `Main received: Worker reply ${i}`),
    );
    assert.deepEqual(lines.slice(8), ["3^2 = 9", "7^2 = 49", "11^2 = 121", "15^2 = 225", "20^2 = 400"]);
  });

  test("manager_shared.ts: list, dict, namespace and 50 keys on a manager served by its own process", async () => {
    const lines = (await run("manager_shared.ts")).trim().split("\n");
    assert.deepEqual(pyInts(lines[0]).sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual(
      [...pyDict(lines[1])].sort(),
      [["key_0", 0], ["key_1", 1], ["key_2", 4], ["key_3", 9], ["key_4", 16]],
    );
    // ns.x += 1 is a get then a set, as in Python: some increments may be lost, never invented
    const x = /^x = (\d)$/.exec(lines[2]);
    assert.ok(x && Number(x[1]) >= 1 && Number(x[1]) <= 5, lines[2]);
    const items = pyInts(/^items = (.*)$/.exec(lines[3])![1]);
    assert.equal(items.length, 5);
    for (const i of items) assert.ok(i >= 1 && i <= 5, lines[3]);
    assert.deepEqual(lines.slice(4), [
      "Total entries: 50 (expected 50)",
      " proc0_key0: 0",
      " proc0_key1: 0",
      " proc0_key2: 0",
      " proc0_key3: 0",
      " proc0_key4: 0",
      " ...",
    ]);
  });

  test("manager_processes.ts: child processes write a dict, a list and a namespace", async () => {
    const lines = (await run("manager_processes.ts")).trim().split("\n");
    assert.deepEqual(lines.slice(0, 3).sort(), [0, 1, 2].map((i) => `Worker ${i} completed`));
    assert.deepEqual(
      [...pyDict(/^Final dict: (.*)$/.exec(lines[3])![1])].sort(),
      [0, 1, 2].map((i) => [`worker_${i}`, `Hello from ${i}`]),
    );
    const list = /^Final list: \[(.*)\]$/.exec(lines[4])![1].split(", ").sort();
    assert.deepEqual(list, [0, 1, 2].map((i) => `'Item from worker ${i}'`));
    const counter = /^Counter: (\d)$/.exec(lines[5]);
    assert.ok(counter && Number(counter[1]) >= 1 && Number(counter[1]) <= 4, lines[5]);
    const messages = /^Messages: \[(.*)\]$/.exec(lines[6])![1].split(", ").sort();
    assert.deepEqual(messages, [0, 1, 2, 3].map((i) => `'Message from worker ${i}'`));
    assert.deepEqual(lines.slice(7), [
      `counter: ${counter[1]}`,
      ...[0, 1, 2, 3].map((i) => `worker_${i}_status: completed`),
    ]);
  });

  test("progress_monitor.ts: the monitor sees all nine items; the statistics are complete", async () => {
    const lines = (await run("progress_monitor.ts")).trim().split("\n");
    const end = lines.indexOf("");
    assert.ok(end >= 1, lines.join("\n"));
    for (const l of lines.slice(0, end)) assert.match(l, /^Time: \d+\.\ds, Processed: \d, Active: \d$/);
    assert.match(lines[end - 1], /Processed: 9, Active: 3$/);
    assert.deepEqual(lines.slice(end + 1), [
      "Final results:",
      "Total items processed: 9",
      "Statistics: {'total_processed': 9, 'processors': {0: True, 1: True, 2: True}}",
    ]);
  });

  test("shared_memory.ts: workers change numpy-style arrays in place through the block's name", async () => {
    assert.equal(
      await run("shared_memory.ts"),
      [
        "Before: [1. 2. 3. 4. 5.]",
        "After: [ 2.  4.  6.  8. 10.]",
        "First 10: [ 0.  1.  4.  9. 16. 25. 36. 49. 64. 81.]",
        "Original array: [1 2 3 4 5]",
        "Worker modified array: [11 12 13 14 15]",
        "Array after worker: [11 12 13 14 15]",
        "",
      ].join("\n"),
    );
  });

  test("lock_print.ts: ten workers each print one whole line under the lock", async () => {
    const lines = (await run("lock_print.ts")).trim().split("\n").sort();
    assert.deepEqual(lines, Array.from({ length: 10 }, (_, i) => `hello world ${i}`).sort());
  });

  test("shareable_list.ts: two workers attach the list by name and add to every item", async () => {
    const lines = (await run("shareable_list.ts")).trim().split("\n");
    assert.equal(lines[0], "Initial list: [1, 2, 3, 4, 5]");
    assert.equal(lines.length, 8, lines.join("\n"));
    // the two workers print at the same time: their lines may interleave (Python's processes' too)
    for (const id of [1, 2]) assert.ok(lines.indexOf(`Worker ${id} processed list`) > 0, `worker ${id}`);
    assert.equal(lines.filter((l) => l === "List length: 5").length, 2, lines.join("\n"));
    const copies = lines.filter((l) => /^Copy of list: \[\d+, \d+, \d+, \d+, \d+\]$/.test(l));
    assert.equal(copies.length, 2, lines.join("\n"));
    // an item's read and write are two steps, as in Python: a worker's addition can be lost, no other change
    const final = pyInts(/^Final list: (.*)$/.exec(lines[7])![1]);
    final.forEach((v, i) => assert.ok([11, 21, 31].includes(v - i), `item ${i}: ${v}`));
  });
});
