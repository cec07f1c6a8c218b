/**
 * SharedMemory and ShareableList on the `shm:` transport (issue 9): a
 * block's memory is one region of `/dev/shm` that every process maps, and
 * its name lives in the manager, so `m.sharedMemory(undefined, { name })`
 * attaches to it from any process (Python's `SharedMemory(name)`). Here:
 * sizes, Sync and async ops, the same block by name; two child processes
 * adding atomically to one word of a block give the exact total here (one
 * memory, not copies); a child reads a list written here and its write is
 * seen here; a block, a list and the list's block passed to
 * `spawn(url, { as: "process" })` attach in the child; an unlink in a child
 * frees the name for every process, the memory stays, a second unlink fails
 * anywhere; shutdown unlinks the blocks' regions.
 *
 * One manager serves every test of the file but the last: a thread takes its
 * owner id from the first `shm:` manager it uses (see
 * docs/shm-transport-status.md).
 * @module
 */
import { after, before, describe, it } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { spawn as spawnChild } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Manager, SharedMemoryError, spawn } from "../../mod.ts";
import type { ShareableList, SharedMemory } from "../../mod.ts";
import { liveNames } from "../../structures/shared_memory.ts";
import { runtime, runtimeCommand } from "../../transports/_runtime/runtime.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = new URL("../fixtures/shm_shared_memory_child.ts", import.meta.url);
const SPAWNED = new URL("../fixtures/shm_shared_memory_worker.ts", import.meta.url);

/** Runs the child fixture; resolves with its JSON line once it exited 0; killed after 30 s. */
function child(args: (string | number)[]): Promise<Record<string, unknown>> {
  const { command, args: base } = runtimeCommand(CHILD);
  return new Promise((resolve, reject) => {
    const c = spawnChild(command, [...base, ...args.map(String)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const killer = setTimeout(() => c.kill("SIGKILL"), 30_000);
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => out += d);
    c.stderr.on("data", (d) => err += d);
    c.on("error", reject);
    c.on("close", (code, signal) => {
      clearTimeout(killer);
      if (code !== 0) reject(new Error(`child ${args[1]} exited with ${code ?? signal}: ${err || out}`));
      else resolve(JSON.parse(out.trim().split("\n").at(-1)!));
    });
  });
}

/** The region files a handle names (its buffers, at any depth). */
function regionsOf(h: unknown, out: string[] = []): string[] {
  if (typeof h !== "object" || h === null) return out;
  if (typeof (h as { shm?: unknown }).shm === "string") out.push((h as { shm: string }).shm);
  else for (const v of Object.values(h)) regionsOf(v, out);
  return out;
}

/** Word 0 of a block. */
const word = (shm: SharedMemory) => new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 1);

const isNotFound = (e: unknown): boolean => e instanceof SharedMemoryError && e.reason === "NotFound";

let m: Manager;

before(async () => {
  m = await Manager.start({ transport: "shm:" });
});

after(async () => {
  await m.shutdown();
});

describe(`SharedMemory and ShareableList on shm: (${runtime})`, () => {
  it("work here: sizes, buf over one region, Sync and async ops, the same block by name, no name in the process", async () => {
    const names = liveNames();
    const a = await m.sharedMemory(10, { name: "blk" });
    assert.equal(a.handle.via, "shm");
    assert.deepEqual([a.name, a.size, a.buf.length], ["blk", 10, 10]);
    const [file] = regionsOf(a.handle);
    assert.equal(regionsOf(a.handle).length, 1);
    assert.ok(statSync(`/dev/shm/${file}`).size >= 10, "the block is a region of /dev/shm");
    a.buf.set([1, 2, 3]);
    await a.write(7, new Uint8Array([9, 9]));
    assert.deepEqual(await a.read(0, 4), new Uint8Array([1, 2, 3, 0]));
    assert.deepEqual([...a.buf.subarray(7)], [9, 9, 0]);
    await assert.rejects(a.write(9, new Uint8Array([1, 2])), RangeError);

    const b = await m.sharedMemory(undefined, { name: "blk" });
    assert.deepEqual([b.name, b.size], ["blk", 10]);
    assert.deepEqual(regionsOf(b.handle), [file]);
    b.buf[0] = 42;
    assert.equal(a.buf[0], 42, "the same memory by name");
    await assert.rejects(m.shareableList(undefined, { name: "blk" }), TypeError);

    const anon = await m.sharedMemory(64);
    assert.match(anon.name, /^psm_[0-9a-f]{8}$/);
    assert.deepEqual([anon.size, anon.buf.length, anon.buf.every((x) => x === 0)], [64, 64, true]);

    const items = [1, "ab", null, 2.5, 3n, true, new Uint8Array([1, 2])];
    const sl = await m.shareableList(items, { name: "local-sl" });
    assert.equal(sl.handle.via, "shm");
    assert.deepEqual([sl.length, sl.shm.name, sl.shm.buf.length], [7, "local-sl", sl.shm.size]);
    assert.deepEqual(sl.toArraySync(), items);
    sl.setSync(1, "xy");
    await sl.set(0, 2.25);
    assert.equal(await sl.get(1), "xy");
    assert.deepEqual([sl.countSync("xy"), await sl.index(2.25)], [1, 0]);
    await assert.rejects(sl.set(1, "far too long for the slot"), { name: "CapacityError" });
    const again = await m.shareableList(undefined, { name: "local-sl" });
    assert.deepEqual(await again.toArray(), [2.25, "xy", null, 2.5, 3n, true, new Uint8Array([1, 2])]);
    assert.deepEqual(regionsOf(again.handle), regionsOf(sl.handle));

    a.close();
    assert.throws(() => a.buf, (e) => e instanceof SharedMemoryError && e.reason === "Closed");
    assert.equal(b.buf[0], 42, "close detaches one instance only");
    assert.equal(liveNames(), names, "no block took a name in the process's registry");
  });

  it("2 child processes attach a block by name and add N each to one word: the total here is exact", async () => {
    const N = 20_000;
    const shm = await m.sharedMemory(8, { name: "counter" });
    const res = await Promise.all([child([m.address!, "add", N]), child([m.address!, "add", N])]);
    assert.deepEqual(res, [{ size: 8, length: 8 }, { size: 8, length: 8 }]);
    assert.equal(Atomics.load(word(shm), 0), 2 * N);
  });

  it("a child process attaches a ShareableList by name, reads what was written here, and its set is seen here", async () => {
    const sl = await m.shareableList([7, "a string of 24 bytes....", 1n, false, null, new Uint8Array([5, 6])], {
      name: "sl",
    });
    sl.setSync(0, -1.5);
    const res = await child([m.address!, "list", 0]);
    assert.deepEqual(res, {
      length: 6,
      size: sl.shm.size,
      items: [
        "number:-1.5",
        "string:a string of 24 bytes....",
        "bigint:1",
        "boolean:false",
        "object:null",
        "object:5,6",
      ],
    });
    assert.match(sl.getSync(1) as string, /^child \d+$/);
    assert.notEqual(sl.getSync(1), `child ${process.pid}`);
  });

  it("a block, a list and the list's block passed in spawn(as: 'process') args attach in the child", async () => {
    const shm = await m.sharedMemory(16);
    const sl = await m.shareableList([0, "x"]);
    const N = 20_000;
    const w = spawn<(a: unknown, n: number) => Record<string, unknown>>(SPAWNED, {
      args: [{ shm, sl, block: sl.shm }, N],
      as: "process",
    });
    for (let i = 0; i < N; i++) Atomics.add(word(shm), 0, 1);
    assert.deepEqual(await w.join(), { size: 16, length: 2, block: sl.shm.name, blockSize: sl.shm.size });
    assert.equal(Atomics.load(word(shm), 0), 2 * N);
    const pid = sl.getSync(0) as number;
    assert.ok(Number.isInteger(pid) && pid !== process.pid, `the child wrote ${pid}`);
  });

  it("an unlink in a child frees the name for every process; the memory stays; a second unlink fails anywhere", async () => {
    const doomed = await m.sharedMemory(4, { name: "doomed" });
    doomed.buf[0] = 77;
    assert.deepEqual(await child([m.address!, "unlink", 0]), { seen: 77, again: "NotFound" });
    await assert.rejects(doomed.unlink(), isNotFound);
    assert.throws(() => doomed.unlinkSync(), isNotFound);
    assert.equal(await m.delete("doomed"), false, "the child's unlink forgot the name in the manager");
    doomed.buf[1] = 1;
    assert.deepEqual([...doomed.buf], [77, 1, 0, 0], "the memory stays with the instances attached");
    const reborn = await m.sharedMemory(4, { name: "doomed" });
    assert.deepEqual([...reborn.buf], [0, 0, 0, 0], "the name makes a new block");
    assert.notDeepEqual(regionsOf(reborn.handle), regionsOf(doomed.handle));

    // an unlink here, of a list's block: the list's name goes too; a block renamed since is left alone
    const sl = await m.shareableList([1], { name: "sl-doomed" });
    sl.shm.unlinkSync();
    assert.equal(await m.delete("sl-doomed"), false);
    const old = await m.sharedMemory(4, { name: "kept" });
    await m.delete("kept");
    const kept = await m.sharedMemory(4, { name: "kept" });
    await old.unlink();
    const same = await m.sharedMemory(undefined, { name: "kept" });
    assert.deepEqual(regionsOf(same.handle), regionsOf(kept.handle));
  });
});

describe(`shm: shutdown (${runtime})`, () => {
  it("unlinks the regions of the manager's blocks and lists", async () => {
    const other = await Manager.start({ transport: "shm:" });
    let files: string[];
    try {
      const blocks: (SharedMemory | ShareableList)[] = [
        await other.sharedMemory(32, { name: "x" }),
        await other.sharedMemory(8),
        await other.shareableList(["a", 1], { name: "l" }),
      ];
      files = blocks.flatMap((s) => regionsOf(s.handle));
      assert.equal(files.length, 3, `regions: ${files}`);
      for (const f of files) assert.ok(existsSync(`/dev/shm/${f}`), f);
    } finally {
      await other.shutdown(); // also when an assertion failed: no files left behind
    }
    assert.deepEqual(files.filter((f) => existsSync(`/dev/shm/${f}`)), []);
  });
});
