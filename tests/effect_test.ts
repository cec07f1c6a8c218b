import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import * as P from "../effect.ts";
import { Manager } from "../manager.ts";

const dir = mkdtempSync(join(tmpdir(), "procshare-effect-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("Effect API", () => {
  test("a layer provides the manager; structures and operations are Effects", async () => {
    const program = Effect.gen(function* () {
      const d = yield* P.dict<string, number>({ a: 1 });
      const lock = yield* P.lock();
      yield* P.withLock(lock, P.DictOps.compute(d, "a", (n) => (n ?? 0) + 41));
      yield* P.DictOps.set(d, "b", 2);
      return yield* P.DictOps.entries(d);
    });
    const out = await Effect.runPromise(Effect.provide(program, P.layer()));
    assert.deepEqual(out, [["a", 42], ["b", 2]]);
  });

  test("failures are tagged errors in the error channel", async () => {
    const program = Effect.gen(function* () {
      const q = yield* P.queue<number>();
      return yield* P.QueueOps.get(q, { timeout: 10 });
    }).pipe(Effect.catchTag("QueueError", (e) => Effect.succeed(`caught ${e.reason}`)));
    assert.equal(await Effect.runPromise(Effect.provide(program, P.layer())), "caught Timeout");
  });

  test("interrupting a blocked get cancels it and takes nothing", async () => {
    const program = Effect.gen(function* () {
      const q = yield* P.queue<number>();
      const first = yield* Effect.exit(Effect.timeout(P.QueueOps.get(q), 30));
      yield* P.QueueOps.put(q, 7);
      return [Exit.isFailure(first), yield* P.QueueOps.get(q, { timeout: 1000 })] as const;
    });
    assert.deepEqual(await Effect.runPromise(Effect.provide(program, P.layer())), [true, 7]);
  });

  test("the socket layer shuts its server down when the scope closes", async () => {
    const address = `unix:${join(dir, "e.sock")}`;
    const program = Effect.gen(function* () {
      const d = yield* P.dict<string, string>();
      yield* P.DictOps.set(d, "k", "v");
      return yield* P.DictOps.get(d, "k");
    });
    assert.equal(await Effect.runPromise(Effect.provide(program, P.layer({ transport: address }))), "v");
    // the server is gone: connecting fails with a tagged TransportError
    const again = Effect.provide(P.dict(), P.layerConnect(address, { authkey: "x" }));
    const exit = await Effect.runPromiseExit(again);
    assert.ok(Exit.isFailure(exit));
  });

  test("every factory of the Manager has an Effect; every kind's blocking ops run as Effects", async () => {
    const factories = Object.getOwnPropertyNames(Manager.prototype).filter((n) =>
      !["constructor", "shutdown", "toJSON"].includes(n) &&
      typeof Object.getOwnPropertyDescriptor(Manager.prototype, n)!.value === "function"
    );
    assert.ok(factories.length >= 17, `factories: ${factories}`);
    for (const name of factories) assert.equal(typeof (P as Record<string, unknown>)[name], "function", name);
    const program = Effect.gen(function* () {
      const sem = yield* P.semaphore(1);
      const ev = yield* P.event();
      const b = yield* P.barrier(1);
      const jq = yield* P.joinableQueue();
      const n = yield* P.value("i32", 1);
      yield* P.withPermit(sem, P.op(ev, "set"));
      const set = yield* P.wait(ev, { timeout: 100 });
      const arrival = yield* P.wait(b, { timeout: 100 });
      yield* P.put(jq, 5);
      const item = yield* P.get(jq);
      yield* P.op(jq, "taskDone");
      yield* P.join(jq, { timeout: 100 });
      const added = yield* P.op(n, "add", 2);
      return [set, arrival, item, added];
    });
    assert.deepEqual(await Effect.runPromise(Effect.provide(program, P.layer())), [true, 0, 5, 1]); // add returns the previous value
  });

  test("a user bug (TypeError) stays a defect, a tagged error is a failure", async () => {
    const bad = Effect.gen(function* () {
      const ev = yield* P.event();
      return yield* P.wait(ev, { timeout: -1 });
    });
    const exit = await Effect.runPromiseExit(Effect.provide(bad, P.layer()));
    assert.ok(Exit.isFailure(exit) && Exit.hasDies(exit), "a TypeError is a defect");
    const timeout = Effect.gen(function* () {
      const l = yield* P.lock();
      yield* P.acquire(l);
      return yield* P.acquire(l, { timeout: 10 });
    });
    const failed = await Effect.runPromiseExit(Effect.provide(timeout, P.layer()));
    assert.ok(Exit.isFailure(failed) && !Exit.hasDies(failed), "a LockError is a failure");
  });
});
