/**
 * The FFI layer under `shm:` (transports/shm/_ffi*.ts, _region.ts,
 * _liveness.ts), on the running runtime, with real OS processes of every
 * runtime: Atomics on a mapped /dev/shm file are atomic across processes,
 * the futex hands off across processes and times out, files are created
 * exclusively with mode 0600 and never through a symbolic link, growth is a
 * CapacityError rather than a SIGBUS, and owners are told dead by (pid,
 * start time), zombies included.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CapacityError, SharedMemoryError, TransportError } from "../../errors.ts";
import { Errno, type Ffi } from "../../transports/shm/_ffi.ts";
import { ShmRegion } from "../../transports/shm/_region.ts";
import { isAlive, readStat, selfIdentity } from "../../transports/shm/_liveness.ts";
import { runtime } from "../../transports/_runtime/runtime.ts";
import { ROOT, run as runFixture, useShm, type Which } from "./_shm.ts";

const FIXTURE = new URL("../fixtures/shm_counter.ts", import.meta.url);
const FIXTURE_PATH = fileURLToPath(FIXTURE);
/** Words of the fixture's layout (tests/fixtures/shm_counter.ts). */
const COUNT = 1;
const TURN = 2;

/**
 * Runs the fixture (or a copy of it at `script`) in `which` runtime, a "deno" with `--allow-ffi` only (or
 * `denoFlags`); resolves with its parsed JSON line once it exited 0.
 */
function run(
  which: Which,
  args: string[],
  denoFlags: string[] = ["--allow-ffi"],
  script?: string,
): Promise<Record<string, unknown>> {
  return runFixture(script ?? FIXTURE, args, { which, denoFlags: which === "self" ? undefined : denoFlags });
}

let ffi: Ffi;
const shm = useShm((f) => ffi = f);
let n = 0;
const uniqueName = (what: string) =>
  `procshare-test-${what}-${process.pid}-${n++}-${Math.random().toString(36).slice(2, 8)}`;

function region(initialBytes = 4096, maxBytes = 1 << 20): ShmRegion {
  return shm.region({ maxBytes, initialBytes });
}

describe(`shm FFI on ${runtime}`, () => {
  it("two processes of this runtime each Atomics.add N times on one word: the total is exact", async () => {
    const r = region();
    const N = 2_000_000;
    const results = await Promise.all([0, 1].map(() => run("self", ["add", r.name, "2", String(N)])));
    assert.equal(Atomics.load(r.i32, COUNT), 2 * N);
    for (const res of results) assert.equal(res.timeouts, 0);
  });

  it("a node, a deno and a bun process each Atomics.add N times on one word: the total is exact", async () => {
    const r = region();
    const N = 1_000_000;
    const who = ["node", "deno", "bun"] as const;
    const results = await Promise.all(who.map((w) => run(w, ["add", r.name, "3", String(N)])));
    assert.deepEqual(results.map((x) => x.runtime), [...who]);
    assert.equal(Atomics.load(r.i32, COUNT), 3 * N);
  });

  it("two processes hand a word back and forth through the futex: every turn is taken, no wake-up lost", async () => {
    const r = region();
    const rounds = 20_000;
    const [a, b] = await Promise.all(
      [0, 1].map((side) => run("self", ["pingpong", r.name, String(side), String(rounds)])),
    );
    assert.equal(Atomics.load(r.i32, TURN), 2 * rounds);
    assert.equal(a.timeouts, 0);
    assert.equal(b.timeouts, 0);
    const ms = Math.max(a.ms as number, b.ms as number);
    console.log(
      `  ${runtime}: ${Math.round((2 * rounds) / ms * 1000)} futex hand-offs/s between 2 processes ` +
        `(${a.waits}+${b.waits} blocking waits)`,
    );
  });

  it("futexWait returns 'timeout' when nobody wakes it and 'mismatch' when the word differs", () => {
    const r = region();
    Atomics.store(r.i32, 5, 42);
    assert.equal(r.wait(5, 41, 1000), "mismatch");
    assert.equal(r.wait(5, 42, 20), "timeout");
    assert.equal(r.wait(5, 42, 0), "timeout");
    assert.equal(r.notify(5), 0);
    assert.throws(() => r.wait(r.i32.length, 0, 1), RangeError);
    assert.throws(() => r.wait(-1, 0, 1), RangeError);
    assert.throws(() => r.wait(1.5, 0, 1), RangeError);
    assert.throws(() => r.notify(2 ** 40), RangeError);
  });

  it("open of a missing name is NotFound; a second exclusive create is Exists; the file is 0600", () => {
    const r = region();
    assert.equal(statSync(r.path).mode & 0o777, 0o600);
    assert.throws(
      () => ShmRegion.open(ffi, uniqueName("missing")),
      (e) => e instanceof SharedMemoryError && e.reason === "NotFound",
    );
    assert.throws(
      () => ShmRegion.create(ffi, { name: r.name, maxBytes: 4096, initialBytes: 0 }),
      (e) => e instanceof SharedMemoryError && e.reason === "Exists",
    );
    assert.throws(() => ShmRegion.create(ffi, { name: "../etc/x", maxBytes: 4096, initialBytes: 0 }), TypeError);
    const again = ShmRegion.open(ffi, r.name);
    assert.equal(again.maxBytes, r.maxBytes);
    again.close();
  });

  it("a symbolic link planted at the name is refused by create and by open, and its target is not created", () => {
    const name = uniqueName("link");
    const target = `/dev/shm/${uniqueName("target")}`;
    symlinkSync(target, `/dev/shm/${name}`);
    try {
      assert.throws(
        () => ShmRegion.create(ffi, { name, maxBytes: 4096, initialBytes: 4096 }),
        (e) => e instanceof SharedMemoryError && e.reason === "Exists",
      );
      assert.throws(
        () => ShmRegion.open(ffi, name),
        (e) => e instanceof TransportError && e.reason === "Permission",
      );
      assert.equal(existsSync(target), false);
      assert.equal(lstatSync(`/dev/shm/${name}`).isSymbolicLink(), true);
    } finally {
      unlinkSync(`/dev/shm/${name}`);
    }
  });

  it("an empty or short file is refused before mapping (no SIGBUS)", () => {
    const name = uniqueName("empty");
    const c = ffi.consts;
    const fd = ffi.open(`/dev/shm/${name}`, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_CLOEXEC, 0o600);
    assert.ok(fd >= 0);
    try {
      const unavailable = (e: unknown) => e instanceof SharedMemoryError && e.reason === "Unavailable";
      assert.throws(() => ShmRegion.open(ffi, name), unavailable);
      assert.equal(ffi.ftruncate(fd, 4096), 0);
      assert.throws(() => ShmRegion.open(ffi, name, { minBytes: 8192 }), unavailable);
      ShmRegion.open(ffi, name, { minBytes: 4096 }).close();
    } finally {
      ffi.close(fd);
      ffi.unlink(`/dev/shm/${name}`);
    }
  });

  it("growth commits pages; past maxBytes it is a CapacityError; the mapping and its views stay valid", () => {
    const r = region(4096, 1 << 20);
    const view = new Int32Array(r.buffer);
    view[0] = 7;
    r.grow(64 * 1024);
    assert.equal(r.committed, 64 * 1024);
    r.grow(8192); // already committed
    assert.equal(r.committed, 64 * 1024);
    r.i32[64 * 1024 / 4 - 1] = 9; // on Bun `buffer` covers the first commit only; `i32` what is committed now
    const other = ShmRegion.open(ffi, r.name);
    assert.equal(other.i32[0], 7);
    assert.equal(other.i32[64 * 1024 / 4 - 1], 9);
    other.close();
    assert.throws(() => r.grow((1 << 20) + 4), (e) => e instanceof CapacityError && e.reason === "Full");
    assert.equal(view[0], 7);
  });

  it("a full /dev/shm is ENOSPC from posix_fallocate and a CapacityError from grow, not a SIGBUS", (t) => {
    // A region is at most 4 GiB (MAX_MAP_BYTES); /dev/shm here may be larger, so the real ENOSPC is
    // shown on a sparse file sized past the free space (tmpfs refuses such a fallocate up front,
    // allocating nothing), and grow's mapping of ENOSPC with the errno injected.
    const df = execFileSync("df", ["-B1", "--output=size,avail", "/dev/shm"], { encoding: "utf8" }).trim().split(
      "\n",
    )[1]
      .trim().split(/\s+/).map(Number);
    const [size, avail] = df;
    if (!(size > 0) || !(avail > 0) || avail > 2 ** 40) {
      t.skip(`cannot size a file past /dev/shm's free space safely: df gave size=${size} avail=${avail}`);
      return;
    }
    const name = uniqueName("full");
    const c = ffi.consts;
    const fd = ffi.open(`/dev/shm/${name}`, c.O_RDWR | c.O_CREAT | c.O_EXCL | c.O_CLOEXEC, 0o600);
    try {
      const past = avail + 2 ** 30;
      assert.equal(ffi.ftruncate(fd, past), 0);
      assert.equal(ffi.fallocate(fd, 0, past), -Errno.ENOSPC);
    } finally {
      ffi.close(fd);
      ffi.unlink(`/dev/shm/${name}`);
    }
    const full: Ffi = { ...ffi, fallocate: () => -Errno.ENOSPC };
    assert.throws(
      () => ShmRegion.create(full, { maxBytes: 1 << 20, initialBytes: 4096 }),
      (e) => e instanceof CapacityError && e.reason === "Full" && /ENOSPC/.test(e.message),
    );
    const r = region(4096, 1 << 20);
    const grown = ShmRegion.open(full, r.name);
    assert.throws(() => grown.grow(8192), (e) => e instanceof CapacityError && e.reason === "Full");
    grown.close();
  });

  it("unlink frees the name while mappings keep working; close is idempotent", () => {
    const r = ShmRegion.create(ffi, { maxBytes: 4096, initialBytes: 4096 });
    const other = ShmRegion.open(ffi, r.name);
    assert.equal(r.unlink(), true);
    assert.equal(r.unlink(), false);
    Atomics.store(r.i32, 3, 11);
    assert.equal(Atomics.load(other.i32, 3), 11);
    assert.throws(() => ShmRegion.open(ffi, r.name), (e) => e instanceof SharedMemoryError && e.reason === "NotFound");
    r.close();
    r.close();
    assert.equal(r.closed, true);
    assert.throws(() => r.wait(0, 0, 1), (e) => e instanceof SharedMemoryError && e.reason === "Closed");
    assert.equal(Atomics.load(other.i32, 3), 11);
    other.close();
  });

  it("liveness: this process is alive; a wrong start time and a reaped child are dead", async () => {
    const me = selfIdentity(ffi);
    assert.equal(me.pid, process.pid);
    assert.equal(isAlive(ffi, me), true);
    assert.equal(isAlive(ffi, { pid: me.pid, startTime: me.startTime + 1 }), false);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const closed = new Promise((resolve) => child.on("close", resolve));
    const pid = child.pid!;
    const owner = { pid, startTime: readStat(ffi, pid)!.startTime };
    assert.equal(isAlive(ffi, owner), true);
    child.kill("SIGKILL");
    await closed; // reaped by this runtime
    assert.equal(isAlive(ffi, owner), false);
  });

  it("liveness: a SIGKILLed child not yet reaped (a zombie) is dead, though kill(pid, 0) still succeeds", async () => {
    // sh starts a background sleep, prints its pid, then becomes a sleep that never reaps it.
    const parent = spawn("sh", ["-c", "sleep 30 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(
        await new Promise<string>((resolve) => parent.stdout!.once("data", (d) => resolve(String(d)))),
      );
      const stat = readStat(ffi, pid);
      assert.ok(stat !== undefined && stat.state !== "Z");
      const owner = { pid, startTime: stat.startTime };
      assert.equal(isAlive(ffi, owner), true);
      // only once sh has become the sleep that never reaps: a shell still running may reap its job
      const execBy = Date.now() + 10_000;
      while (readFileSync(`/proc/${parent.pid}/comm`, "utf8").trim() !== "sleep") {
        assert.ok(Date.now() < execBy, "sh did not exec sleep");
        await new Promise((resolve) => setImmediate(resolve));
      }
      process.kill(pid, "SIGKILL");
      const deadline = Date.now() + 10_000;
      while (readStat(ffi, pid)?.state !== "Z") {
        assert.ok(Date.now() < deadline, "the killed child did not become a zombie");
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(ffi.kill(pid, 0), 0); // kill alone is fooled by the zombie
      assert.equal(isAlive(ffi, owner), false);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("Node without koffi is refused with TransportError('Unsupported') naming koffi and unix:", async () => {
    // The FFI modules copied outside the repository, where the package 'koffi' cannot be resolved.
    const dir = mkdtempSync(path.join(tmpdir(), "procshare-nokoffi-"));
    try {
      // the library's sources (a region registers with the kernel and the heap, which import more): not a list
      // of files to keep in step with their imports
      cpSync(path.join(ROOT, "errors.ts"), path.join(dir, "errors.ts"));
      for (const sub of ["core", "structures", "sync", "transports", "process"]) {
        cpSync(path.join(ROOT, sub), path.join(dir, sub), { recursive: true });
      }
      cpSync(FIXTURE_PATH, path.join(dir, "tests/fixtures/shm_counter.ts"));
      writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }');
      const res = await run("node", ["load"], undefined, path.join(dir, "tests/fixtures/shm_counter.ts"));
      assert.equal(res.ok, false);
      assert.equal(res.tag, "TransportError");
      assert.equal(res.reason, "Unsupported");
      assert.match(res.message as string, /koffi cannot be loaded/);
      assert.match(res.message as string, /unix:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Deno without --allow-ffi is refused with TransportError('Permission') naming --allow-ffi and unix:", async () => {
    const res = await run("deno", ["load"], []);
    assert.equal(res.ok, false);
    assert.equal(res.tag, "TransportError");
    assert.equal(res.reason, "Permission");
    assert.match(res.message as string, /--allow-ffi/);
    assert.match(res.message as string, /unix:/);
    const granted = await run("deno", ["load"], ["--allow-ffi"]);
    assert.deepEqual(granted, { ok: true, runtime: "deno" });
  });
});
