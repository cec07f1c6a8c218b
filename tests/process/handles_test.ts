import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn as spawnChild } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, WorkerError } from "../../process/mod.ts";
import type { SpawnAs, Spawned } from "../../process/mod.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url);

/** Whether no process `pid` runs any more (gone, or a zombie nobody reaped yet). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    // "<pid> (<comm>) <state> …": Z is a zombie, X dead
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; fails after `ms` (a process that never exits). */
async function exits(pid: number, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!gone(pid)) {
    if (performance.now() > deadline) assert.fail(`process ${pid} still runs after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts `hang` as a thread or process and resolves once its function runs. */
async function hanging(as: SpawnAs, options: { daemon?: boolean; name?: string } = {}): Promise<Spawned> {
  if (as === "thread") {
    const sab = new SharedArrayBuffer(4);
    const w = spawn(fixture("hang"), { args: [sab], as, ...options });
    const flag = new Int32Array(sab);
    const r = Atomics.waitAsync(flag, 0, 0);
    if (r.async) await r.value;
    return w;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-test-"));
  const sock = path.join(dir, "ready.sock");
  const server = net.createServer((c) => c.on("error", () => {}));
  const connected = new Promise<void>((resolve) => server.once("connection", () => resolve()));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    const w = spawn(fixture("hang"), { args: [sock], as, ...options });
    await connected;
    return w;
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function rejectsWith(p: Promise<unknown>, reason: string): Promise<WorkerError> {
  const e = await p.then(
    (v) => assert.fail(`expected a WorkerError "${reason}", got the result ${String(v)}`),
    (e: unknown) => e,
  );
  assert.ok(e instanceof WorkerError, `expected a WorkerError, got ${String(e)}`);
  assert.equal(e.reason, reason, e.message);
  return e;
}

for (const as of ["thread", "process"] as SpawnAs[]) {
  const Kind = as === "thread" ? "Thread" : "Process";
  describe(`handle of a ${as}`, () => {
    it(`is named ${Kind}-N or by the option, a daemon unless told otherwise, alive until it exits`, async () => {
      const a = spawn<(a: number, b: number) => number>(fixture("add"), { args: [1, 2], as });
      const b = spawn(fixture("add"), { args: [1, 2], as, name: "adder", daemon: false });
      const c = spawn(fixture("add"), { args: [1, 2], as });
      const n = Number(/-(\d+)$/.exec(a.name)?.[1]);
      assert.match(a.name, new RegExp(`^${Kind}-\\d+$`));
      assert.equal(b.name, "adder");
      assert.equal(c.name, `${Kind}-${n + 1}`, "a name given by the option takes no number");
      assert.deepEqual([a.daemon, b.daemon, c.daemon], [true, false, true]);
      assert.equal(a.isAlive(), true);
      assert.equal(a.exitCode, undefined);
      assert.equal(await a.join({ timeout: 30_000 }), 3, "a timed join gives the result of a worker done in time");
      assert.equal(a.isAlive(), false);
      assert.equal(a.exitCode, 0);
      assert.equal(await a.join({ timeout: 0 }), 3);
      assert.deepEqual(await Promise.all([b.join(), c.join()]), [3, 3]);
    });

    it("kill() ends a worker that would run forever; exitCode tells how", async () => {
      const w = await hanging(as);
      assert.equal(w.isAlive(), true);
      assert.equal(w.exitCode, undefined);
      await w.kill();
      assert.equal(w.isAlive(), false);
      await rejectsWith(w.join(), "Terminated");
      if (as === "process") assert.equal(w.exitCode, -os.constants.signals.SIGKILL);
      else assert.equal(typeof w.exitCode, "number");
      await w.kill(); // a second call does nothing
    });

    it("join({ timeout }) resolves with undefined and leaves a running worker running", async () => {
      const w = await hanging(as);
      assert.equal(await w.join({ timeout: 0 }), undefined);
      assert.equal(await w.join({ timeout: 20 }), undefined);
      assert.equal(w.isAlive(), true);
      await w.terminate();
      await rejectsWith(w.join({ timeout: 20 }), "Terminated");
    });
  });
}

describe("handle of a process", () => {
  it("kill(signal) sends that signal; exitCode is minus its number", async () => {
    const w = await hanging("process");
    await w.kill("SIGINT");
    assert.equal(w.exitCode, -os.constants.signals.SIGINT);
    await rejectsWith(w.join(), "Terminated");
  });

  it("has the child's pid; a thread has none", async () => {
    const p = await hanging("process");
    const t = await hanging("thread");
    try {
      assert.equal(typeof p.pid, "number");
      assert.equal(gone(p.pid!), false);
      assert.equal(t.pid, undefined);
      assert.equal(typeof t.threadId, "number");
    } finally {
      await Promise.all([p.kill(), t.kill()]);
    }
    assert.equal(gone(p.pid!), true);
  });
});

/** Runs fixtures/parent.ts (`mode`: "hang" or "exit") and resolves with it and its two children's pids. */
async function parent(mode: "hang" | "exit") {
  const { command, args } = runtimeCommand(fixture("parent"));
  const child = spawnChild(command, [...args, mode], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const pids = await new Promise<[number, number]>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /pids (\d+) (\d+)/.exec(out);
      if (m) resolve([Number(m[1]), Number(m[2])]);
    });
    child.on("exit", (code) => {
      if (!/pids \d+ \d+/.test(out)) reject(new Error(`parent exited with ${code} before its children ran: ${out}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  return { child, daemon: pids[0], other: pids[1], exited };
}

describe("daemon children", () => {
  it("a daemon process exits when its parent is SIGKILLed; a daemon: false one keeps running", async () => {
    const { child, daemon, other, exited } = await parent("hang");
    try {
      assert.equal(gone(daemon), false);
      child.kill("SIGKILL");
      await exited;
      await exits(daemon);
      assert.equal(gone(other), false, "the daemon: false child outlives its parent");
    } finally {
      for (const pid of [daemon, other]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
    await exits(other);
  });

  it("a daemon process is ended when its parent exits; a daemon: false one keeps running", async () => {
    const { daemon, other, exited } = await parent("exit");
    try {
      await exited;
      await exits(daemon);
      assert.equal(gone(other), false, "the daemon: false child outlives its parent");
    } finally {
      for (const pid of [daemon, other]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
    await exits(other);
  });
});

describe("handle input", () => {
  it("refuses a bad name, daemon, join timeout or kill signal with a TypeError", async () => {
    assert.throws(() => spawn(fixture("add"), { name: 1 as unknown as string }), {
      name: "TypeError",
      message: "Cannot spawn worker as 'name' must be a string: received 1",
    });
    assert.throws(() => spawn(fixture("add"), { daemon: "yes" as unknown as boolean }), {
      name: "TypeError",
      message: `Cannot spawn worker as 'daemon' must be a boolean: received "yes"`,
    });
    const w = spawn(fixture("add"), { args: [1, 1] });
    assert.throws(() => w.join({ timeout: -1 }), {
      name: "TypeError",
      message: "Cannot join worker as 'timeout' must be a non-negative number: received -1",
    });
    await assert.rejects(w.kill("SIGNOPE" as NodeJS.Signals), {
      name: "TypeError",
      message: `Cannot kill worker as 'signal' must be a signal name: received "SIGNOPE"`,
    });
    assert.equal(await w.join(), 2);
  });
});
