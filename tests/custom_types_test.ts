/**
 * Custom types (issue 10, item 7), Python's `BaseManager.register`: a class
 * registered in `Manager.start({ types })` is constructed in the manager
 * server by `m.custom`, and its proxy's calls run there — from this process,
 * from a client that joined with `Manager.connect` (which has no types), and
 * from child processes that received the proxy in `spawn` args. What a
 * method throws arrives with its class (procshare's and standard errors) or
 * its name; only the class's public prototype methods are callable; a
 * transport without a manager server refuses with `TransportError("Unsupported")`.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { CodecError, type Custom, Manager, QueueError, spawn, TransportError } from "../mod.ts";
import { runtimeCommand } from "../transports/_runtime/runtime.ts";
import { startServer } from "../transports/socket/server.ts";
import { KINDS } from "../kinds.ts";
import type Counter from "./fixtures/custom_counter.ts";

const COUNTER = new URL("./fixtures/custom_counter.ts", import.meta.url);
const WORKER = new URL("./fixtures/custom_increment_worker.ts", import.meta.url);

const dir = mkdtempSync(join(tmpdir(), "procshare-custom-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The transports with a manager server. */
const SERVERS = [
  { name: "unix", url: () => `unix:${join(dir, `c${n++}.sock`)}` },
  { name: "tcp", url: () => "tcp://127.0.0.1:0" },
];

const unknownOp = (e: unknown) => e instanceof TransportError && e.reason === "UnknownOperation";

for (const server of SERVERS) {
  describe(`custom types on ${server.name}:`, () => {
    it("a registered class runs in the server; its proxy awaits each method", async () => {
      await using m = await Manager.start({ transport: server.url(), types: { Counter: COUNTER } });
      const c = await m.custom<Counter>("Counter", [10]);
      assert.equal(c.type, "Counter");
      assert.deepEqual([...c.methods].sort(), [
        "increment",
        "later",
        "queueEmpty",
        "rejects",
        "self",
        "value",
        "withdraw",
      ]);
      assert.equal(await c.increment(), 11);
      assert.equal(await c.increment(4), 15);
      assert.equal(await c.later(5), 20);
      assert.equal(await c.value(), 20);
      assert.equal(await c.callMethod("withdraw", [5]), 15);
    });

    it("what a method throws rejects the call, with its class or its name and message", async () => {
      await using m = await Manager.start({ transport: server.url(), types: { Counter: COUNTER } });
      const c = await m.custom<Counter>("Counter", [3]);
      await assert.rejects(
        () => c.withdraw(5),
        (e) => e instanceof Error && e.name === "OverdraftError" && e.message === "Cannot withdraw 5 as only 3 is left",
      );
      await assert.rejects(() => c.rejects(), (e) => e instanceof TypeError && e.message === "rejected later");
      await assert.rejects(() => c.queueEmpty(), (e) => e instanceof QueueError && e.reason === "Empty");
      // a result or an argument outside the codec's data model is the codec's error; the object is unharmed
      await assert.rejects(() => c.self(), (e) => e instanceof CodecError);
      await assert.rejects(() => c.callMethod("increment", [() => 1]), (e) => e instanceof CodecError);
      // the constructor's own error, and a type the server does not know
      await assert.rejects(() => m.custom("Counter", [1.5]), (e) => e instanceof RangeError);
      await assert.rejects(() => m.custom("Nope"), (e) => e instanceof TypeError && /not registered/.test(e.message));
      assert.equal(await c.value(), 3);
    });

    it("only the class's public prototype methods are callable", async () => {
      await using m = await Manager.start({ transport: server.url(), types: { Counter: COUNTER } });
      const c = await m.custom<Counter>("Counter");
      for (
        const name of ["nope", "_reset", "constructor", "__proto__", "toString", "hasOwnProperty", "doubled", "make"]
      ) {
        await assert.rejects(() => c.callMethod(name), unknownOp, name);
      }
      assert.equal((c as unknown as Record<string, unknown>)._reset, undefined);
      assert.equal((c as unknown as Record<string, unknown>).doubled, undefined);
      assert.equal(await c.value(), 0);
    });

    it("a named object is reopened by name, also by a client that has no types; another type's name is refused", async () => {
      class Other {
        ping(): string {
          return "pong";
        }
        then(): string {
          return "a method named then does not make the proxy a thenable";
        }
        close(): string {
          return "closed nothing";
        }
      }
      await using m = await Manager.start({ transport: server.url(), types: { Counter: COUNTER, Other } });
      const a = await m.custom<Counter>("Counter", [1], { name: "hits" });
      const b = await m.custom<Counter>("Counter", [100], { name: "hits" }); // exists: args unused
      await b.increment();
      assert.equal(await a.value(), 2);
      await using joined = await Manager.connect(m.address!, { authkey: m.authkey! });
      const c = await joined.custom<Counter>("Counter", [], { name: "hits" });
      assert.equal(await c.increment(), 3);
      const o = await joined.custom<Other>("Other");
      assert.equal(await o.ping(), "pong");
      assert.equal(await o.callMethod("then"), "a method named then does not make the proxy a thenable");
      assert.equal(await o.callMethod("close"), "closed nothing"); // the proxy's own close() is not shadowed
      await assert.rejects(
        () => m.custom("Other", [], { name: "hits" }),
        (e) => e instanceof TypeError && e.message === "Cannot open 'hits' as a Other as it is a Counter",
      );
      assert.equal(await m.delete("hits"), true);
      const fresh = await m.custom<Counter>("Counter", [], { name: "hits" });
      assert.equal(await fresh.value(), 0);
    });
  });
}

/** Runs examples/custom_types.ts on this runtime; its output. */
function runExample(): Promise<string> {
  const { command, args } = runtimeCommand(new URL("../examples/custom_types.ts", import.meta.url));
  return new Promise<string>((resolve, reject) => {
    execFile(command, args, { timeout: 60_000 }, (err, out, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(out);
    });
  });
}

describe("custom types:", () => {
  /** The example runs beside this group's other tests (its three processes take seconds on Node): awaited last. */
  let example: Promise<string> | undefined;
  before(() => {
    example = runExample();
    example.catch(() => {}); // its test reports a failure
  });

  it("two child processes increment one counter through its proxy: the total is exact", async () => {
    await using m = await Manager.start({ transport: `unix:${join(dir, "kids.sock")}`, types: { Counter: COUNTER } });
    const c: Custom<Counter> = await m.custom<Counter>("Counter");
    const kids = [0, 1].map(() => spawn(WORKER, { as: "process", args: [c, 300] }));
    for (let i = 0; i < 300; i++) await c.increment();
    assert.deepEqual(await Promise.all(kids.map((k) => k.join())), [["Counter", 300], ["Counter", 300]]);
    assert.equal(await c.value(), 900);
  });

  it("is refused with TransportError(Unsupported) where no server hosts custom types (shared buffer, shm, a bare server)", async () => {
    const unsupported = (e: unknown) =>
      e instanceof TransportError && e.reason === "Unsupported" && /no server hosting custom types/.test(e.message);
    for (const transport of ["shared-buffer:", "shm:"]) {
      await using m = await Manager.start({ transport, types: { Counter: COUNTER } });
      await assert.rejects(() => m.custom("Counter"), unsupported, transport);
    }
    // a server started with the table of kinds alone (no manager's types), joined by a client
    await using server = await startServer({ address: "tcp://127.0.0.1:0", kinds: KINDS });
    await using m = await Manager.connect(server.address, { authkey: server.authkey });
    await assert.rejects(() => m.custom("Counter"), unsupported);
  });

  it("a type that is not a class, or whose module does not load, fails the start", async () => {
    const notClass = new URL("./fixtures/custom_not_a_class.ts", import.meta.url);
    const missing = new URL("./fixtures/custom_no_such_module.ts", import.meta.url);
    for (const types of [{ X: notClass }, { X: missing }, { X: (() => 1) as never }]) {
      await assert.rejects(
        () => Manager.start({ transport: "tcp://127.0.0.1:0", types }),
        (e) => e instanceof TypeError && e.message.startsWith("Cannot register custom type X as"),
      );
    }
  });

  it("examples/custom_types.ts prints what Python's register example does, and the counter's exact total", async () => {
    const stdout = await example!;
    assert.deepEqual(stdout.trim().split("\n"), ["7", "56", "hits: 3000"]);
  });
});
