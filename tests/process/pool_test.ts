import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Pool, WorkerError } from "../../process/mod.ts";
import type { SpawnAs } from "../../process/mod.ts";
import { Manager } from "../../manager.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";
import { Dict } from "../../structures/dict.ts";
import type { call } from "./fixtures/pool_tasks.ts";

const TASKS = new URL("./fixtures/pool_tasks.ts", import.meta.url);

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
  describe(`Pool as ${as}`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-pool-test-"));
    let m: Manager;
    /** `export: "call"`: a number is squared, else the first argument names the task. */
    let pool: Pool<typeof call>;

    before(async () => {
      // threads share the buffer; processes need a manager server
      [m, pool] = await Promise.all([
        Manager.start({ transport: as === "thread" ? "shared-buffer:" : `unix:${path.join(dir, "m.sock")}` }),
        Pool.start<typeof call>(TASKS, { size: 2, as, export: "call" }),
      ]);
    });

    after(async () => {
      await pool?.terminate();
      await m?.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("maps in the items' order, whatever the chunk size, with progress", async () => {
      const items = Array.from({ length: 50 }, (_, i) => i);
      const expected = items.map((n) => n * n);
      for (const chunksize of [undefined, 1, 7, 100]) {
        const seen: number[] = [];
        const got = await pool.map(items, {
          chunksize,
          onProgress: ({ done, total }) => {
            assert.equal(total, 50);
            seen.push(done);
          },
        });
        assert.deepEqual(got, expected, `chunksize ${chunksize}`);
        assert.equal(seen.at(-1), 50);
        assert.deepEqual(seen, [...seen].sort((a, b) => a - b), "progress only grows");
      }
      assert.deepEqual(await pool.map([]), []);
      const stats = pool.stats;
      assert.ok(stats.tasksDone >= 200, String(stats.tasksDone));
      assert.equal(stats.queueDepth, 0);
      assert.equal(stats.running, 0);
      assert.equal(stats.workers.length, 2);
      assert.equal(stats.workers.reduce((n, w) => n + w.tasksDone, 0), stats.tasksDone);
      assert.ok(stats.workers.every((w) => w.busyMs >= 0 && (as === "thread" ? w.threadId : w.pid) !== undefined));
    });

    it("numbers cross exactly in chunks of numbers (packed), beside chunks of other values", async () => {
      // a chunk whose items are all numbers crosses as one Float64Array each way: every number survives
      const odd = [NaN, Infinity, -Infinity, 1.5, 2 ** 26 + 1, -3, Number.MIN_VALUE, 0];
      assert.deepEqual(await pool.map(odd, { chunksize: 3 }), odd.map((n) => n * n));
      // (not -0: the codec sends it to a process as 0, in the item's argument list)
      const same = [NaN, 2 ** 53, -Number.MAX_VALUE, 0.1];
      assert.deepEqual(await pool.starmap(same.map((n) => ["same", n]), { chunksize: 4 }), same);
      // a chunk of mixed values, or mixed results, goes value by value
      assert.deepEqual(await pool.starmap([["same", 1], ["same", "a"], ["same", null], ["same", [2]]]), [
        1,
        "a",
        null,
        [2],
      ]);
      const many = Array.from({ length: 5_000 }, (_, i) => i - 2_500);
      const got = await pool.map(many, { chunksize: 1_000 });
      assert.ok(Array.isArray(got), "the results are an array, not a typed array");
      assert.deepEqual(got, many.map((n) => n * n));
      // the items are taken when map is called: changing the array afterwards changes nothing
      const later = [1, 2, 3];
      const pending = pool.map(later, { chunksize: 1 });
      later[0] = 100;
      later.push(4);
      assert.deepEqual(await pending, [1, 4, 9]);
      // a chunk with a failed item still fails that item only, numbers or not
      const e = await rejectsWith(pool.starmap([["evenOnly", 2], ["evenOnly", 3]], { chunksize: 2 }), "Error");
      assert.equal((e.cause as Error).message, "odd: 3");
    });

    it("imap yields in order; imapUnordered yields every result", async () => {
      const ordered: unknown[] = [];
      for await (const x of pool.imap([3, 1, 2])) ordered.push(x);
      assert.deepEqual(ordered, [9, 1, 4]);
      const unordered: unknown[] = [];
      for await (const x of pool.imapUnordered(Array.from({ length: 20 }, (_, i) => i), { chunksize: 3 })) {
        unordered.push(x);
      }
      assert.deepEqual(unordered.sort((a, b) => Number(a) - Number(b)), Array.from({ length: 20 }, (_, i) => i * i));
      // leaving the loop early drops the items not yet sent
      for await (const x of pool.imap(Array.from({ length: 1000 }, (_, i) => i))) {
        assert.equal(x, 0);
        break;
      }
      assert.equal(pool.stats.queueDepth, 0);
    });

    it("starmap, apply and applyAsync call with argument lists; async tasks are awaited", async () => {
      assert.deepEqual(await pool.starmap([["add", 1, 2], ["add", 3, 4], ["later", 5]]), [3, 7, 5]);
      assert.equal(await pool.apply("add", 2, 40), 42);
      assert.equal(await pool.applyAsync(["later", "x"]), "x");
      await assert.rejects(pool.map([1], { chunksize: 0 }), /'chunksize' must be a positive integer: received 0/);
      await assert.rejects(pool.applyAsync(1 as never), /'args' must be an array/);
    });

    it("a task that throws rejects that task only", async () => {
      const e = await rejectsWith(pool.starmap([["evenOnly", 2], ["evenOnly", 3], ["evenOnly", 4]]), "Error");
      assert.ok(e.cause instanceof RangeError);
      assert.equal(e.cause.message, "odd: 3");
      const results = await Promise.allSettled([pool.apply("evenOnly", 5), pool.apply("evenOnly", 6)]);
      assert.equal(results[0].status, "rejected");
      assert.deepEqual(results[1], { status: "fulfilled", value: 36 });
      // imap throws at the failing item's place, after the ones before it
      const got: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const x of pool.imap([2, "evenOnly", 3])) got.push(x);
        },
        (e: unknown) => e instanceof WorkerError && e.reason === "Error",
      );
      assert.deepEqual(got, [4]);
    });

    it("what cannot cross fails its task with a TypeError: an argument here, a result there", async () => {
      await assert.rejects(pool.map([1, (() => 1) as never]), (e: unknown) => e instanceof TypeError, "an argument");
      const e = await rejectsWith(pool.apply("unclonable"), "Error");
      assert.ok(e.cause instanceof TypeError);
      assert.match(e.cause.message, /Cannot return result from pool task/);
      assert.deepEqual(await pool.starmap([["add", 1, 1], ["unclonable"]]).catch((e) => e.reason), "Error");
      assert.equal(await pool.apply("add", 1, 2), 3, "the workers are fine");
    });

    it("a worker that dies mid-task fails that task with WorkerError; the pool replaces it and carries on", async () => {
      const started = pool.stats.workersStarted;
      const e = await rejectsWith(pool.apply("die"), "Exit");
      assert.equal(e.exitCode, as === "process" ? -9 : 7, e.message);
      const items = Array.from({ length: 10 }, (_, i) => i);
      assert.deepEqual(await pool.map(items, { chunksize: 1 }), items.map((i) => i * i));
      assert.equal(pool.stats.workersStarted, started + 1);
      assert.equal(pool.stats.workers.length, 2);
    });

    if (as === "process") {
      it("a worker SIGKILLed from outside fails its task with WorkerError; the pool carries on", async () => {
        const started = await m.queue<number>();
        const task = pool.apply("hang", started);
        const pid = await started.get();
        assert.ok(pool.stats.workers.some((w) => w.pid === pid));
        process.kill(pid, "SIGKILL");
        const e = await rejectsWith(task, "Exit");
        assert.equal(e.exitCode, -9);
        assert.match(e.message, new RegExp(`pid ${pid}`));
        assert.equal(await pool.apply("add", 1, 1), 2);
      });
    }

    it("an error no task caught kills the worker and fails its task with reason Error", async () => {
      const e = await rejectsWith(pool.apply("rejectLater"), "Error");
      assert.ok(e.cause instanceof SyntaxError, String(e.cause));
      assert.equal(e.cause.message, "nobody caught me");
      assert.equal(await pool.apply("add", 2, 2), 4);
    });

    it("structures are task arguments and results: a Dict each task writes to, a Lock", async () => {
      const d = await m.dict<string, string>();
      const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
      assert.deepEqual(await pool.starmap(keys.map((k) => ["record", d, k]), { chunksize: 1 }), keys);
      const entries = await d.entries();
      assert.deepEqual(entries.map(([k]) => k).sort(), [...keys].sort());
      assert.ok(entries.every(([, v]) => /^written by \d+\/\d+$/.test(v)));

      const lock = await m.lock();
      const counter = await m.dict<string, number>();
      await pool.starmap(Array.from({ length: 20 }, () => ["locked", lock, counter]), { chunksize: 1 });
      assert.equal(await counter.get("n"), 20, "no update lost under the lock");

      const back = await pool.apply("same", { inside: [d] });
      const [again] = (back as { inside: Dict<string, string>[] }).inside;
      assert.ok(again instanceof Dict, "the result was attached here");
      assert.equal(await again.size(), 10);
    });

    it("an abort signal or a timeout rejects the task, ends its worker, and the pool carries on", async () => {
      const started = await m.queue<number>();
      const controller = new AbortController();
      const task = pool.applyAsync(["hang", started], { signal: controller.signal });
      await started.get();
      const reason = new Error("enough");
      controller.abort(reason);
      const e = await rejectsWith(task, "Terminated");
      assert.equal(e.cause, reason);
      await rejectsWith(pool.applyAsync(["hang"], { timeout: 10 }), "Terminated");
      await rejectsWith(pool.map([1, 2], { signal: AbortSignal.abort() }), "Terminated");
      assert.equal(await pool.apply("add", 3, 3), 6);
    });

    it("runs the initializer in every worker; maxTasksPerChild replaces workers; close() then join()", async () => {
      const p = await Pool.start<(s: string) => string>(TASKS, {
        size: 1,
        as,
        export: "prefixed",
        initializer: "init",
        initArgs: [">"],
        maxTasksPerChild: 1,
      });
      await assert.rejects(p.join(), TypeError, "join() before close() is refused");
      const pending = p.map(["a", "b"], { chunksize: 1 });
      p.close();
      await rejectsWith(p.apply("c"), "Terminated");
      await p.join();
      assert.deepEqual(await pending, [">a", ">b"], "the replacement ran the initializer too");
      assert.equal(p.stats.workersStarted, 2);
      assert.equal(p.stats.workers.length, 0);
    });

    it("rejects the start with reason Spawn when a worker cannot load the task", async () => {
      const [e, missing] = await Promise.all([
        rejectsWith(Pool.start(TASKS, { size: 1, as, initializer: "badInit" }), "Spawn"),
        rejectsWith(Pool.start(TASKS, { size: 1, as, export: "nope" }), "Spawn"),
      ]);
      assert.match(e.message, /init failed/);
      assert.match(missing.message, /'nope'/);
    });

    it("terminate() fails what is unfinished and ends the workers", async () => {
      const pending = Promise.allSettled([pool.apply("hang"), pool.apply("hang"), pool.apply("hang")]);
      await pool.terminate();
      for (const r of await pending) {
        assert.equal(r.status, "rejected");
        assert.ok(r.reason instanceof WorkerError && r.reason.reason === "Terminated", String(r.reason));
      }
      await pool.join();
      assert.equal(pool.stats.workers.length, 0);
      await rejectsWith(pool.apply("add", 1, 1), "Terminated");
    });
  });
}

describe("Pool options", () => {
  it("refuses bad options with a TypeError, and what cannot reach a process", async () => {
    await assert.rejects(Pool.start(TASKS, { size: 0 }), /'size' must be a positive integer: received 0/);
    await assert.rejects(
      Pool.start(TASKS, { as: "fiber" as SpawnAs }),
      /'as' must be "thread" or "process": received "fiber"/,
    );
    await assert.rejects(Pool.start(TASKS, { maxTasksPerChild: 1.5 }), TypeError);
    await assert.rejects(Pool.start(42 as unknown as URL), TypeError);
    await assert.rejects(Pool.start(new URL("./nope.ts", import.meta.url), { size: 1 }), WorkerError);
    await assert.rejects(
      Pool.start(TASKS, { size: 1, as: "process", initArgs: [new SharedArrayBuffer(8)] }),
      /SharedArrayBuffer, which cannot cross processes/,
    );
  });
});

describe("Pool in a program", () => {
  it("idle pools left open do not keep the program alive nor leave files; terminate() resolves in a program with nothing else to do", async () => {
    // a temporary directory of its own: other programs' pools come and go in the shared one
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "procshare-pool-test-tmp-"));
    try {
      const { command, args } = runtimeCommand(new URL("./fixtures/pool_main.ts", import.meta.url));
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          command,
          [...args],
          { timeout: 30_000, env: { ...process.env, TMPDIR: tmp } },
          (err, out, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
        )
      );
      assert.equal(stdout.trim(), "[4,9,16]");
      // (tsx may leave its cache there)
      assert.deepEqual(
        fs.readdirSync(tmp).filter((n) => n.startsWith("procshare-pool-")),
        [],
        "the open process pool's directory is gone",
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
