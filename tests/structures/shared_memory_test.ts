import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CapacityError } from "../../errors.ts";
import { spawn } from "../../process/spawn.ts";
import { attach } from "../../attach.ts";
import "../../transports/shared_buffer.ts";
import { liveNames, SharedMemory, SharedMemoryError } from "../../structures/shared_memory.ts";
import { openRemote } from "./fixtures_vals/in_process_remote.ts";

const fixture = (name: string) => new URL(`./fixtures_vals/${name}.ts`, import.meta.url);

let n = 0;
/** A name no other test of this process uses. */
const fresh = (what: string) => `test-${what}-${++n}`;

function isShmError(reason: string) {
  return (e: unknown) => e instanceof SharedMemoryError && e.reason === reason && e._tag === "SharedMemoryError";
}

describe("SharedMemory", () => {
  test("create named or anonymous, zero-filled, with name, size and buf", async () => {
    const name = fresh("create");
    const a = await SharedMemory.create({ name, size: 100 });
    assert.equal(a.name, name);
    assert.equal(a.size, 100);
    assert.ok(a.buf instanceof Uint8Array);
    assert.equal(a.buf.length, 100);
    assert.ok(a.buf.every((b) => b === 0));
    const anon = SharedMemory.createSync({ size: 8 });
    assert.match(anon.name, /^psm_[0-9a-f]{8}$/);
    assert.notEqual(anon.name, SharedMemory.createSync({ size: 8 }).name);
    await a.unlink();
  });

  test("a taken name is Exists; bad names and sizes are TypeErrors", async () => {
    const name = fresh("exists");
    const a = SharedMemory.createSync({ name, size: 4 });
    await assert.rejects(() => SharedMemory.create({ name, size: 4 }), isShmError("Exists"));
    assert.throws(() => SharedMemory.createSync({ name, size: 4 }), isShmError("Exists"));
    for (const size of [0, -1, 1.5, "4", undefined]) {
      assert.throws(() => SharedMemory.createSync({ size: size as never }), TypeError, String(size));
    }
    assert.throws(() => SharedMemory.createSync({ name: "", size: 4 }), TypeError);
    assert.throws(() => SharedMemory.createSync({ name: "x".repeat(256), size: 4 }), TypeError);
    assert.throws(() => SharedMemory.createSync(undefined as never), TypeError);
    assert.throws(() => SharedMemory.createSync({ size: 2 ** 52 }), CapacityError, "more than can be allocated");
    await assert.rejects(() => SharedMemory.attach(3 as never), TypeError);
    a.unlinkSync();
  });

  test("attach and attachSync by name share the memory; a missing name is NotFound", async () => {
    const name = fresh("attach");
    const a = SharedMemory.createSync({ name, size: 16 });
    a.buf.set([1, 2, 3]);
    const b = await SharedMemory.attach(name);
    const c = SharedMemory.attachSync(name);
    assert.equal(b.size, 16);
    assert.deepEqual([...b.buf.subarray(0, 3)], [1, 2, 3]);
    c.buf[15] = 9;
    assert.equal(a.buf[15], 9);
    await assert.rejects(() => SharedMemory.attach(fresh("missing")), isShmError("NotFound"));
    assert.throws(() => SharedMemory.attachSync(fresh("missing")), isShmError("NotFound"));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(() => SharedMemory.attach(name, { signal: ac.signal }), isShmError("Aborted"));
    await a.unlink();
  });

  test("unlink frees the name, instances keep the memory, the name can be taken again", async () => {
    const name = fresh("unlink");
    const live = liveNames()!;
    const a = SharedMemory.createSync({ name, size: 8 });
    const b = SharedMemory.attachSync(name);
    assert.equal(liveNames(), live + 1);
    await a.unlink();
    assert.equal(liveNames(), live);
    await assert.rejects(() => SharedMemory.attach(name), isShmError("NotFound"));
    await assert.rejects(() => b.unlink(), isShmError("NotFound"), "a second unlink fails as in Python");
    a.buf[0] = 5;
    assert.equal(b.buf[0], 5, "still shared after unlink");
    const c = SharedMemory.createSync({ name, size: 8 });
    assert.equal(c.buf[0], 0, "a new block under the old name");
    c.buf[0] = 7;
    assert.equal(a.buf[0], 5);
    assert.equal(SharedMemory.attachSync(name).buf[0], 7);
    c.unlinkSync();
  });

  test("close detaches only this instance; read, write and buf then fail with Closed", async () => {
    const name = fresh("close");
    const a = SharedMemory.createSync({ name, size: 8 });
    const b = SharedMemory.attachSync(name);
    a.close();
    a.close();
    assert.equal(a.closed, true);
    assert.throws(() => a.buf, isShmError("Closed"));
    await assert.rejects(() => a.read(), isShmError("Closed"));
    await assert.rejects(() => a.write(0, new Uint8Array(1)), isShmError("Closed"));
    b.buf[1] = 1;
    assert.equal(SharedMemory.attachSync(name).buf[1], 1, "the name survives close");
    {
      using d = SharedMemory.attachSync(name);
      assert.equal(d.buf[1], 1);
      b.close();
      assert.equal(d.closed, false);
    }
    await a.unlink(); // any instance may unlink, closed or not
  });

  test("read and write copy bytes and check their ranges", async () => {
    const shm = SharedMemory.createSync({ size: 8 });
    await shm.write(2, new Uint8Array([7, 8]));
    assert.deepEqual([...await shm.read(1, 3)], [0, 7, 8]);
    assert.equal((await shm.read()).length, 8);
    await assert.rejects(() => shm.write(7, new Uint8Array(2)), RangeError);
    await assert.rejects(() => shm.read(9), RangeError);
    await assert.rejects(() => shm.write(0, [1] as never), TypeError);
    const copy = await shm.read();
    copy[0] = 1;
    assert.equal(shm.buf[0], 0, "read returns a copy");
    shm.unlinkSync();
  });

  test("attach(handle) shares the memory, even after unlink", async () => {
    const shm = SharedMemory.createSync({ size: 4 });
    const again = await attach<SharedMemory>(shm.handle);
    again.buf[0] = 3;
    assert.equal(shm.buf[0], 3);
    shm.unlinkSync();
    const late = await attach<SharedMemory>(shm.handle);
    late.buf[1] = 4;
    assert.equal(shm.buf[1], 4);
  });

  test("remote operations through the engine host; the manager's name is the block's name", async () => {
    const name = fresh("remote");
    const shm = await openRemote<SharedMemory>("shared-memory", name, [32, { name }]);
    assert.equal(shm.name, name);
    assert.equal(shm.size, 32);
    await shm.write(0, new Uint8Array([1, 2]));
    assert.deepEqual([...await shm.read(0, 2)], [1, 2]);
    assert.throws(() => shm.buf, TypeError, "no buf remotely");
    assert.deepEqual(
      [...SharedMemory.attachSync(name).buf.subarray(0, 2)],
      [1, 2],
      "threads of the host attach by name",
    );
    await shm.unlink();
    assert.throws(() => SharedMemory.attachSync(name), isShmError("NotFound"));
    const anon = await openRemote<SharedMemory>("shared-memory", undefined, [8, {}]);
    assert.match(anon.name, /^psm_/);
    await anon.unlink();
  });

  test("a worker thread attaches by name alone", async () => {
    const name = fresh("worker");
    const shm = SharedMemory.createSync({ name, size: 64 });
    shm.buf.set([9, 8, 7, 6]);
    const r = await spawn(fixture("shm_attach"), { args: [name, 10, [1, 2, 3]] }).join();
    assert.deepEqual(r, { size: 64, first: [9, 8, 7, 6] });
    assert.deepEqual([...shm.buf.subarray(10, 13)], [1, 2, 3]);
    shm.unlinkSync();
  });

  test("a block created in a worker outlives it until unlinked", async () => {
    const name = fresh("made-in-worker");
    assert.equal(await spawn(fixture("shm_create"), { args: [name, 32, 0xab] }).join(), name);
    const shm = await SharedMemory.attach(name);
    assert.equal(shm.size, 32);
    assert.ok(shm.buf.every((b) => b === 0xab));
    // a second worker finds it by name too, answered by this thread
    await spawn(fixture("shm_attach"), { args: [name, 0, [1]] }).join();
    assert.equal(shm.buf[0], 1);
    await shm.unlink();
  });

  test("unlink while attached in another thread: it keeps the memory, a new attach is NotFound", async () => {
    const name = fresh("unlink-elsewhere");
    const shm = SharedMemory.createSync({ name, size: 16 });
    const words = new Int32Array(shm.buf.buffer, 0, 2);
    Atomics.store(words, 0, 111);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const w = spawn(fixture("shm_unlinked"), { args: [name, flag.buffer] });
    const attached = Atomics.waitAsync(flag, 0, 0, 30_000);
    if (attached.async) await attached.value;
    assert.equal(Atomics.load(flag, 0), 1, "the worker attached");
    await shm.unlink();
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
    const r = await w.join();
    assert.deepEqual(r, { seenAfterUnlink: 111, reattach: "NotFound", stillReadable: 222 });
    assert.equal(Atomics.load(words, 1), 222, "the worker wrote to the unlinked block we still share");
  });
});
