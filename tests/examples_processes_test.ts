/** examples/dict_among_processes.ts and its shm: twin (seed 000) print the dict their four child processes filled. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { runtimeCommand } from "../transports/_runtime/runtime.ts";

/** Runs an example on this runtime; its output and its process id. */
function run(name: string): Promise<{ stdout: string; pid: number }> {
  const { command, args } = runtimeCommand(new URL(`../examples/${name}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, pid: child.pid! }),
    );
  });
}

/** Checks a line printed as Python prints seed 000's dict after 4 processes ran `f(d)`. */
function assertSeedDict(line: string, pid: number): void {
  // Python's print(d): the two updated entries first, then one entry per child
  const m = /^\{1: '(1*)', '2': (\d+)((?:, \d+: '[^']*')*)\}$/.exec(line);
  assert.ok(m, `not a dict as Python prints it: ${line}`);
  assert.equal(m[1], "11111", "d[1] += '1' from each of 4 processes");
  assert.equal(Number(m[2]), 10, "d['2'] += 2 from each of 4 processes");
  const entries = [...m[3].matchAll(/(\d+): '([^']*)'/g)].map(([, k, v]) => [Number(k), v] as const);
  assert.equal(entries.length, 4, line);
  for (const [k, v] of entries) assert.equal(v, `Hi, I was written by process ${k}`);
  const pids = new Set(entries.map(([k]) => k));
  assert.equal(pids.size, 4, "each child is its own process");
  assert.ok(!pids.has(pid) && !pids.has(process.pid), "children are processes other than the example's");
}

test("dict_among_processes.ts: 4 child processes update one dict, none loses an update", async () => {
  const { stdout, pid } = await run("dict_among_processes.ts");
  assertSeedDict(stdout.trim(), pid);
});

test(
  "dict_among_processes_shm.ts: on shm:, 4 child processes update one dict with the Sync twins, then read a table",
  { skip: process.platform !== "linux" && "shm: is Linux only" },
  async () => {
    const { stdout, pid } = await run("dict_among_processes_shm.ts");
    const [dict, reads, ...rest] = stdout.trim().split("\n");
    assertSeedDict(dict, pid);
    // each child checked every value it read (it throws on a wrong one); the rate is printed, not judged
    assert.match(reads, /^4 processes read 1000 keys: \d+(\.\d)?[kM]? gets\/s in all \(getSync on shm:\)$/);
    assert.deepEqual(rest, []);
  },
);
