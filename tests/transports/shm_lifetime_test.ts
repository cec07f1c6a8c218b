/**
 * Lifetimes and access on `shm:`: an authkey given at start must be
 * presented by every process that joins by address (none, or another, is a
 * `TransportError("Auth")`); `Manager.start({ transport: "shm:/name" })`
 * creates the manager or, when another manager already has the name, joins
 * it (its shutdown leaves the regions to the creator's); a name whose
 * region was left by a dead creator (garbage, no manager layout) is made
 * anew; `m.delete(name)` unlinks the regions made for that structure while
 * clients already attached keep working; a start sweeps the region files
 * of dead creators, where a manager's regions count as made by the process
 * that started it (a joiner that made a structure and exited leaves it
 * usable).
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Manager, TransportError } from "../../mod.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";
import { loadFfi } from "../../transports/shm/_ffi.ts";
import { selfIdentity } from "../../transports/shm/_liveness.ts";

/** A fresh `shm:/name` for one test. */
const fresh = () => `procshare-test-${process.pid}-${randomBytes(6).toString("hex")}`;

/** The region files a handle names (its buffers, at any depth). */
function regionsOf(h: unknown, out: string[] = []): string[] {
  if (typeof h !== "object" || h === null) return out;
  if (typeof (h as { shm?: unknown }).shm === "string") out.push((h as { shm: string }).shm);
  else for (const v of Object.values(h)) regionsOf(v, out);
  return out;
}

describe("shm: lifetimes and access", () => {
  it("a start in a new process sweeps the region files of dead creators", async () => {
    const me = selfIdentity(await loadFfi());
    // this pid with another start time: the file of a dead predecessor
    const leaked = `procshare-${me.pid}-${me.startTime + 1}-${randomBytes(4).toString("hex")}`;
    const live = `procshare-${me.pid}-${me.startTime}-${randomBytes(4).toString("hex")}`;
    for (const f of [leaked, live]) writeFileSync(`/dev/shm/${f}`, "x", { mode: 0o600 });
    try {
      const { command, args } = runtimeCommand(new URL("../fixtures/shm_start_and_exit.ts", import.meta.url));
      execFileSync(command, args, { cwd: fileURLToPath(new URL("../../", import.meta.url)), timeout: 30_000 });
      assert.ok(!existsSync(`/dev/shm/${leaked}`), "a dead creator's file is swept");
      assert.ok(existsSync(`/dev/shm/${live}`), "a live creator's file stays");
    } finally {
      for (const f of [leaked, live]) rmSync(`/dev/shm/${f}`, { force: true });
    }
  });

  it("a structure made by a joining process that exited survives the next start's sweep", async () => {
    await using m = await Manager.start({ transport: "shm:" });
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const run = (fixture: string, args: string[]) => {
      const { command, args: base } = runtimeCommand(new URL(`../fixtures/${fixture}`, import.meta.url));
      execFileSync(command, [...base, ...args], { cwd: root, timeout: 30_000 });
    };
    run("shm_make_and_exit.ts", [m.address!, "made-by-child"]);
    run("shm_start_and_exit.ts", []); // sweeps the files of dead creators
    const d = await m.dict<string, number>(undefined, { name: "made-by-child" });
    assert.equal(await d.get("made"), 42);
  });

  it("checks the authkey a manager was started with", async () => {
    await using m = await Manager.start({ transport: "shm:", authkey: "open sesame" });
    await (await m.value("i", 7, { name: "v" })).store(8);
    for (const authkey of [undefined, "", "wrong key"]) {
      await assert.rejects(
        Manager.connect(m.address!, authkey === undefined ? undefined : { authkey }),
        (e: unknown) => e instanceof TransportError && e.reason === "Auth",
        `authkey ${JSON.stringify(authkey)}`,
      );
    }
    const joined = await Manager.connect(m.address!, { authkey: "open sesame" });
    assert.equal(await (await joined.value("i", 0, { name: "v" })).load(), 8);
    await joined.shutdown();
  });

  it("takes any authkey, or none, when started without one", async () => {
    await using m = await Manager.start({ transport: "shm:" });
    for (const options of [undefined, { authkey: "anything" }]) {
      const joined = await Manager.connect(m.address!, options);
      await joined.shutdown();
    }
  });

  it("opens shm:/name when another manager has the name, and leaves its regions to the creator", async () => {
    const name = fresh();
    const first = await Manager.start({ transport: `shm:/${name}` });
    assert.equal(first.address, `shm:/${name}`);
    const d = await first.dict<string, number>(undefined, { name: "d" });
    await d.set("a", 1);
    const second = await Manager.start({ transport: `shm:/${name}` });
    assert.equal(second.address, first.address);
    const same = await second.dict<string, number>(undefined, { name: "d" });
    assert.equal(await same.get("a"), 1);
    await same.set("b", 2);
    await second.shutdown();
    assert.ok(existsSync(`/dev/shm/${name}`), "a joining start's shutdown unlinks nothing");
    assert.equal(await d.get("b"), 2);
    await first.shutdown();
    assert.ok(!existsSync(`/dev/shm/${name}`), "the creator's shutdown unlinks the manager region");
  });

  it("makes shm:/name anew over a file that holds no manager", async () => {
    const name = fresh();
    writeFileSync(`/dev/shm/${name}`, new Uint8Array(64 * 1024), { mode: 0o600 });
    try {
      await using m = await Manager.start({ transport: `shm:/${name}` });
      const v = await m.value("i", 41, { name: "v" });
      assert.equal(await v.add(1), 41);
      assert.equal(await v.load(), 42);
    } finally {
      assert.ok(!existsSync(`/dev/shm/${name}`), "the new manager's shutdown unlinks the name");
    }
  });

  it("unlinks a deleted structure's regions; attached clients keep working", async () => {
    await using m = await Manager.start({ transport: "shm:" });
    const q = await m.queue<number>(10, { name: "q" });
    const files = regionsOf(q.handle);
    assert.ok(files.length > 0);
    for (const f of files) assert.ok(existsSync(`/dev/shm/${f}`), f);
    assert.equal(await m.delete("q"), true);
    for (const f of files) assert.ok(!existsSync(`/dev/shm/${f}`), `${f} unlinked`);
    await q.put(5);
    assert.equal(await q.get(), 5);
    const again = await m.queue<number>(10, { name: "q" });
    assert.equal(await again.qsize(), 0, "the name makes a new queue");
    assert.equal(await m.delete("q"), true);
    assert.equal(await m.delete("q"), false);
  });
});
