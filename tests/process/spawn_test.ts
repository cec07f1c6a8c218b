import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { spawn, WorkerError } from "../../process/mod.ts";
import type { SpawnAs } from "../../process/mod.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";
import { isDead } from "../../transports/_runtime/threads.ts";
import type structure from "./fixtures/structure.ts";
import { Manager } from "../../manager.ts";
import { Event } from "../../sync/event.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url);

/** Resolves once word 0 of `flag` is no longer 0 (an Atomics hand-shake, no polling). */
async function waitFlag(flag: Int32Array): Promise<void> {
  const r = Atomics.waitAsync(flag, 0, 0);
  if (r.async) await r.value;
}

/** A unix socket the worker connects to once its function runs. */
async function readySocket(): Promise<{ path: string; connected: Promise<void>; close(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-test-"));
  const sock = path.join(dir, "ready.sock");
  const server = net.createServer();
  const connected = new Promise<void>((resolve) => server.once("connection", () => resolve()));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return {
    path: sock,
    connected,
    close() {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
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
  describe(`spawn as ${as}`, () => {
    it("returns the default export's value", async () => {
      const w = spawn<(a: number, b: number) => number>(fixture("add"), { args: [2, 40], as });
      assert.equal(w.as, as);
      assert.equal(await w.join(), 42);
      assert.equal(w.exitCode, 0);
      assert.equal(await w.join(), 42, "join() can be called again");
    });

    it("round-trips arguments", async () => {
      const args = [
        "text",
        -1.5,
        2 ** 40,
        true,
        null,
        { nested: { list: [1, "two", { three: 3 }] }, empty: {} },
        [[], [1], ["a", "b"]],
        new Map<unknown, unknown>([["k", 1], [2, "v"]]),
        new Date(0),
        new Uint8Array([1, 2, 3]),
        12345678901234567890n,
        "unicode ✓ \u{1F600}",
      ];
      assert.deepEqual(await spawn(fixture("echo"), { args, as }).join(), args);
    });

    it("attaches structures on the other side, arguments and result", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-test-"));
      // threads share the buffer; a process needs a manager server
      await using m = await Manager.start({
        transport: as === "thread" ? "shared-buffer:" : `unix:${path.join(dir, "m.sock")}`,
      });
      try {
        const event = await m.event();
        const back = await spawn<typeof structure>(fixture("structure"), { args: [event], as }).join();
        assert.ok(back instanceof Event, "the result was attached here");
        assert.equal(await back.isSet(), true);
        assert.equal(await event.isSet(), true);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("rejects with reason Spawn when a structure's transport is unknown", async () => {
      const stray = { handle: { kind: "box", via: "no-such-transport" } };
      const e = await rejectsWith(spawn(fixture("echo"), { args: [stray], as }).join(), "Spawn");
      assert.match(e.message, /no-such-transport/);
    });

    it("rejects with reason Error and the worker's error as cause when it throws", async () => {
      const w = spawn(fixture("throws"), { args: ["42"], as });
      const e = await rejectsWith(w.join(), "Error");
      assert.ok(e.cause instanceof TypeError);
      assert.equal(e.cause.message, "bad input: 42");
      assert.equal((e.cause as TypeError & { code: string }).code, "E_BAD_INPUT");
      assert.match(e.cause.stack ?? "", /throws\.ts/);
      assert.match(e.message, /bad input: 42/);
      assert.equal(w.exitCode, 1);
      assert.equal(e.exitCode, 1);
    });

    it("rejects with reason Error when the result cannot be sent back", async () => {
      const e = await rejectsWith(spawn(fixture("unclonable"), { as }).join(), "Error");
      assert.ok(e.cause instanceof TypeError);
      assert.match(e.cause.message, /Cannot return result from worker/);
    });

    it("rejects with reason Exit and the exit code when the worker exits", async () => {
      const w = spawn(fixture("exit"), { args: [3], as });
      const e = await rejectsWith(w.join(), "Exit");
      assert.equal(e.exitCode, 3);
      assert.equal(w.exitCode, 3);
    });

    it("ends the worker once its function returned, whatever it left behind", async () => {
      const w = spawn(fixture("lingering"), { args: ["done"], as });
      assert.equal(await w.join(), "done");
      assert.equal(w.exitCode, 0);
    });

    it("fails the worker on an unhandled rejection before it returned", async () => {
      const e = await rejectsWith(spawn(fixture("unhandled"), { as }).join(), "Error");
      assert.ok(e.cause instanceof RangeError);
      assert.equal(e.cause.message, "nobody handled me");
    });

    it("rejects with reason Spawn for a module without default export, or none at all", async () => {
      const e = await rejectsWith(spawn(fixture("no_default"), { as }).join(), "Spawn");
      assert.match(e.message, /default export/);
      const missing = await rejectsWith(spawn(fixture("does_not_exist"), { as }).join(), "Spawn");
      assert.match(missing.message, /does_not_exist/);
    });

    it("passes env to the worker", async () => {
      const w = spawn(fixture("env"), { args: ["PROCSHARE_TEST_ENV"], env: { PROCSHARE_TEST_ENV: "yes" }, as });
      assert.equal(await w.join(), "yes");
      assert.equal(process.env.PROCSHARE_TEST_ENV, undefined, "the parent's environment is untouched");
    });

    it("resolves effect and cbor-x from the project in the worker", async () => {
      assert.deepEqual(await spawn(fixture("deps"), { args: [{ a: [1, 2] }], as }).join(), { a: [1, 2] });
    });

    it("keeps the result apart from the worker's stdout", async () => {
      assert.equal(await spawn(fixture("noisy"), { args: [3], as }).join(), 3);
    });

    it("terminate() stops a running worker and join rejects with Terminated", async () => {
      const ready = as === "thread" ? undefined : await readySocket();
      const sab = new SharedArrayBuffer(4);
      try {
        const w = spawn(fixture("hang"), { args: [ready ? ready.path : sab], as });
        await (ready ? ready.connected : waitFlag(new Int32Array(sab)));
        assert.equal(w.exitCode, undefined);
        await w.terminate();
        await rejectsWith(w.join(), "Terminated");
        assert.equal(typeof w.exitCode, "number");
        if (as === "process") assert.equal(w.exitCode, -os.constants.signals.SIGTERM);
        await w.terminate(); // a second call does nothing
      } finally {
        ready?.close();
      }
    });

    it("aborting the signal terminates the worker", async () => {
      const ready = as === "thread" ? undefined : await readySocket();
      const sab = new SharedArrayBuffer(4);
      const ctl = new AbortController();
      try {
        const w = spawn(fixture("hang"), { args: [ready ? ready.path : sab], as, signal: ctl.signal });
        await (ready ? ready.connected : waitFlag(new Int32Array(sab)));
        ctl.abort(new Error("stop"));
        const e = await rejectsWith(w.join(), "Terminated");
        assert.equal((e.cause as Error).message, "stop");
      } finally {
        ready?.close();
      }
    });

    it("an aborted signal never starts the worker", async () => {
      const w = spawn(fixture("add"), { args: [1, 2], as, signal: AbortSignal.abort() });
      await rejectsWith(w.join(), "Terminated");
      assert.equal(w.exitCode, undefined);
    });
  });
}

describe("spawn as thread", () => {
  it("await using terminates a worker still running", async () => {
    const sab = new SharedArrayBuffer(4);
    let w;
    {
      await using spawned = spawn(fixture("hang"), { args: [sab], as: "thread" });
      w = spawned;
      await waitFlag(new Int32Array(sab));
    }
    await rejectsWith(w.join(), "Terminated");
    assert.notEqual(w.exitCode, undefined);
  });

  it("shares a SharedArrayBuffer argument", async () => {
    const sab = new SharedArrayBuffer(4);
    const words = new Int32Array(sab);
    Atomics.store(words, 0, 10);
    const ws = [1, 2, 3].map((n) =>
      spawn<(s: SharedArrayBuffer, n: number) => number>(fixture("atomics"), { args: [sab, n] })
    );
    const seen = await Promise.all(ws.map((w) => w.join()));
    assert.equal(Atomics.load(words, 0), 16);
    assert.equal(Math.max(...seen), 16);
  });

  it("runs the worker under the id it reserved, and marks it dead on exit", async () => {
    const w = spawn<() => number>(fixture("registry"));
    assert.equal(typeof w.threadId, "number");
    assert.equal(w.pid, undefined);
    const id = await w.join();
    assert.ok(id > 0);
    assert.ok(isDead(id));
  });

  it("refuses arguments that cannot be cloned with a TypeError", () => {
    assert.throws(() => spawn(fixture("echo"), { args: [() => 1] }), TypeError);
  });
});

describe("spawn as process", () => {
  it("has a pid and no thread id", async () => {
    const w = spawn(fixture("add"), { args: [1, 1], as: "process" });
    assert.equal(typeof w.pid, "number");
    assert.notEqual(w.pid, process.pid);
    assert.equal(w.threadId, undefined);
    assert.equal(await w.join(), 2);
  });

  it("refuses a SharedArrayBuffer argument with a TypeError", () => {
    assert.throws(
      () => spawn(fixture("atomics"), { args: [new SharedArrayBuffer(4), 1], as: "process" }),
      (e: unknown) => e instanceof TypeError && /SharedArrayBuffer/.test(e.message) && /args\[0\]/.test(e.message),
    );
    assert.throws(
      () => spawn(fixture("echo"), { args: [{ deep: [new Int32Array(new SharedArrayBuffer(4))] }], as: "process" }),
      (e: unknown) => e instanceof TypeError && /args\[0\]\.deep\[0\]/.test(e.message),
    );
    const sharedDict = { handle: { kind: "dict", via: "shared-buffer", buffer: new SharedArrayBuffer(8) } };
    assert.throws(
      () => spawn(fixture("echo"), { args: [1, sharedDict], as: "process" }),
      (e: unknown) =>
        e instanceof TypeError && /'args\[1\]'/.test(e.message) &&
        /dict on the shared-buffer transport/.test(e.message),
    );
  });

  it("refuses arguments that are not plain data with a TypeError", () => {
    assert.throws(() => spawn(fixture("echo"), { args: [() => 1], as: "process" }), TypeError);
    class Point {
      x = 1;
    }
    assert.throws(() => spawn(fixture("echo"), { args: [new Point()], as: "process" }), TypeError);
  });
});

describe("spawn output", () => {
  it("lets what workers print reach the parent's stdout and stderr", async () => {
    const { command, args } = runtimeCommand(fixture("print_through_main"));
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(command, [...args], (e, stdout, stderr) => (e ? reject(e) : resolve({ stdout, stderr })))
    );
    const lines = stdout.split("\n");
    assert.equal(lines.filter((l) => l.startsWith("noisy line 1 ")).length, 2, stdout);
    assert.equal(stderr.split("\n").filter((l) => l === "noisy stderr line").length, 2, stderr);
    assert.ok(lines.includes("results 2 2"), stdout);
  });
});

describe("spawn input", () => {
  it("throws a TypeError in the std form for a bad 'as'", () => {
    assert.throws(() => spawn(fixture("add"), { as: "fiber" as SpawnAs }), {
      name: "TypeError",
      message: `Cannot spawn worker as 'as' must be "thread" or "process": received "fiber"`,
    });
  });

  it("throws a TypeError for a bad url, args, env or signal", () => {
    assert.throws(
      () => spawn(42 as unknown as string),
      /Cannot spawn worker as 'url' must be a URL or a file path: received 42/,
    );
    assert.throws(() => spawn(""), TypeError);
    assert.throws(() => spawn("https://example.com/w.ts"), /must be a file: URL/);
    assert.throws(() => spawn(fixture("add"), { args: "1, 2" as unknown as [] }), /'args' must be an array/);
    assert.throws(() => spawn(fixture("add"), { env: { A: 1 as unknown as string } }), /'env.A' must be a string/);
    assert.throws(() => spawn(fixture("add"), { signal: {} as AbortSignal }), /'signal' must be an AbortSignal/);
  });

  it("accepts a file path string", async () => {
    const file = fileURLToPath(fixture("add"));
    assert.equal(await spawn(file, { args: [20, 22] }).join(), 42);
  });
});
