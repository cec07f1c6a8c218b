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
      { timeout: 60_000 },
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
