/**
 * A manager's SharedMemory and ShareableList blocks die with it, as with
 * Python's SharedMemoryManager: shutdown (or the end of `await using`)
 * unlinks every name the manager created, so attaching one fails with
 * `SharedMemoryError("NotFound")` and the name can be created again. A block
 * the manager only opened (created by someone else) is left alone.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SharedMemory, SharedMemoryError } from "../../mod.ts";
import { skipBecause, TRANSPORTS } from "../_transports.ts";

let n = 0;
const unique = (what: string): string => `${what}-${process.pid}-${n++}-${Math.random().toString(36).slice(2, 8)}`;
const isNotFound = (e: unknown): boolean => e instanceof SharedMemoryError && e.reason === "NotFound";

async function assertGone(name: string): Promise<void> {
  await assert.rejects(() => SharedMemory.attach(name), isNotFound);
  const again = await SharedMemory.create({ name, size: 8 }); // the name is free
  await again.unlink();
}

/**
 * On `shm:` a manager's blocks are named in the manager, not in this process's registry that
 * `SharedMemory.attach`/`create` use: the first two cases read that registry, so they do not apply
 * there (tests/transports/shm_shared_memory_test.ts checks that shutdown unlinks shm: blocks).
 */
const PROCESS_NAMES_ONLY = "a manager's blocks on shm: are named in the manager, not in the process registry " +
  "SharedMemory.attach reads (shm_shared_memory_test covers their unlink at shutdown)";

for (const t of TRANSPORTS) {
  const pending = t.pending?.["shared-memory"];
  const registryOnly = pending ?? (t.name === "shm" ? PROCESS_NAMES_ONLY : undefined);
  describe(`a manager's shared memory over ${t.name}`, () => {
    it("is unlinked by shutdown: named and anonymous blocks, lists", async (ctx) => {
      if (registryOnly !== undefined) return skipBecause(ctx, registryOnly);
      const m = await t.start();
      const shmName = unique("shm");
      const listName = unique("sl");
      const shm = await m.sharedMemory(16, { name: shmName });
      await m.shareableList([1, "two", null], { name: listName });
      const anon = await m.sharedMemory(8);
      const anonList = await m.shareableList([3]);
      // opened twice by name: still one block
      await m.sharedMemory(undefined, { name: shmName });
      assert.equal(shm.name, shmName);
      const names = [shmName, listName, anon.name, anonList.shm.name];
      for (const name of names) (await SharedMemory.attach(name)).close();
      await m.shutdown();
      for (const name of names) await assertGone(name);
    });

    it("is unlinked at the end of await using; a block it only opened is kept", async (ctx) => {
      if (registryOnly !== undefined) return skipBecause(ctx, registryOnly);
      const mine = unique("mine");
      const theirs = await SharedMemory.create({ name: unique("theirs"), size: 8 });
      {
        await using m = await t.start();
        await m.sharedMemory(16, { name: mine });
        const opened = await m.sharedMemory(undefined, { name: theirs.name });
        assert.equal(opened.size, 8);
      }
      await assertGone(mine);
      const still = await SharedMemory.attach(theirs.name);
      still.close();
      await theirs.unlink();
    });

    it("a block unlinked before shutdown does not fail shutdown or touch a new block of its name", async (ctx) => {
      if (pending !== undefined) return skipBecause(ctx, pending);
      const m = await t.start();
      const name = unique("early");
      const shm = await m.sharedMemory(16, { name });
      await shm.unlink();
      const other = await SharedMemory.create({ name, size: 4 });
      await m.shutdown();
      const again = await SharedMemory.attach(name);
      assert.equal(again.size, 4);
      again.close();
      await other.unlink();
    });
  });
}
