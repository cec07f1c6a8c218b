import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { CodecError, Pipe, PipeError, spawn, WorkerError } from "../../mod.ts";
import type { Connection, SpawnAs } from "../../mod.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";
import type pipeEcho from "./fixtures/pipe_echo.ts";
import type pipeRecv from "./fixtures/pipe_recv.ts";
import type pipeSend from "./fixtures/pipe_send.ts";
import type pipeSync from "./fixtures/pipe_sync.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}.ts`, import.meta.url);

async function rejectsPipe(p: Promise<unknown>, reason: string): Promise<PipeError> {
  const e = await p.then(
    (v) => assert.fail(`expected a PipeError "${reason}", got ${String(v)}`),
    (e: unknown) => e,
  );
  assert.ok(e instanceof PipeError, `expected a PipeError, got ${String(e)}`);
  assert.equal(e.reason, reason, e.message);
  return e;
}

const VALUES: unknown[] = [
  [42, null, "hello"],
  { nested: { list: [1, "two"] } },
  new Map<unknown, unknown>([["k", 1]]),
  new Date(0),
  2n ** 70n,
  "unicode ✓ \u{1F600}",
];

describe("Pipe in one thread", () => {
  it("carries values whole and in order, both ways", async () => {
    const [a, b] = Pipe();
    for (const v of VALUES) await a.send(v);
    for (const v of VALUES) assert.deepEqual(await b.recv(), v);
    await b.send("back");
    assert.equal(await a.recv(), "back");
  });

  it("carries bytes, a slice of them, and messages longer than its buffer", async () => {
    const [a, b] = Pipe({ capacity: 64 });
    const big = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251);
    const sent = Promise.all([a.sendBytes(new Uint8Array([1, 2, 3, 4, 5]), 1, 3), a.sendBytes(big), a.send(big)]);
    assert.deepEqual(await b.recvBytes(), new Uint8Array([2, 3, 4]));
    assert.deepEqual(await b.recvBytes(), big);
    assert.deepEqual(await b.recv(), big);
    await sent;
  });

  it("recv times out or is aborted with nothing taken", async () => {
    const [a, b] = Pipe();
    const e = await rejectsPipe(a.recv({ timeout: 10 }), "Timeout");
    assert.equal(e.message, "Cannot receive from connection as the timeout elapsed: received 10");
    const ctl = new AbortController();
    const pending = a.recv({ signal: ctl.signal });
    ctl.abort(new Error("stop"));
    assert.equal(((await rejectsPipe(pending, "Aborted")).cause as Error).message, "stop");
    await rejectsPipe(a.recv({ signal: AbortSignal.abort() }), "Aborted");
    await b.send("still here");
    assert.equal(await a.recv({ timeout: 0 }), "still here");
  });

  it("poll tells whether recv would wait", async () => {
    const [a, b] = Pipe();
    assert.equal(await a.poll(), false);
    assert.equal(await a.poll(5), false);
    const later = a.poll(30_000);
    await b.send(1);
    assert.equal(await later, true);
    assert.equal(await a.poll(), true, "the message is still there");
    assert.equal(await a.recv(), 1);
    b.close();
    assert.equal(await a.poll(), true, "at EOF recv does not wait either");
  });

  it("close: the peer receives the rest then EOF, its send is a broken pipe, this end is closed", async () => {
    const [a, b] = Pipe();
    await a.send(1);
    await a.send(2);
    a.close();
    a.close(); // idempotent
    assert.equal(a.closed, true);
    const got: unknown[] = [];
    for await (const v of b) got.push(v);
    assert.deepEqual(got, [1, 2]);
    await rejectsPipe(b.recv(), "EOF");
    await rejectsPipe(b.send(3), "BrokenPipe");
    await rejectsPipe(a.send(3), "Closed");
    await rejectsPipe(a.recv(), "Closed");
    assert.throws(() => a.recvSync(), (e: unknown) => e instanceof PipeError && e.reason === "Closed");
  });

  it("using closes the end", async () => {
    const [a, b] = Pipe();
    {
      using _ = b;
      await b.send("bye");
    }
    assert.equal(b.closed, true);
    assert.equal(await a.recv(), "bye");
    await rejectsPipe(a.recv(), "EOF");
  });

  it("duplex: false makes a receive-only and a send-only end", async () => {
    const [r, w] = Pipe<string>({ duplex: false });
    assert.deepEqual([r.readable, r.writable, w.readable, w.writable], [true, false, false, true]);
    await w.send("one way");
    assert.equal(await r.recv(), "one way");
    await rejectsPipe(r.send("x"), "Closed");
    await rejectsPipe(w.recv(), "Closed");
  });

  it("has synchronous twins", () => {
    const [a, b] = Pipe<number>();
    assert.equal(b.pollSync(), false);
    a.sendSync(7);
    a.sendBytesSync(new Uint8Array([9]));
    assert.equal(b.pollSync(), true);
    assert.equal(b.recvSync(), 7);
    assert.deepEqual(b.recvBytesSync(), new Uint8Array([9]));
    assert.throws(() => b.recvSync({ timeout: 5 }), (e: unknown) => e instanceof PipeError && e.reason === "Timeout");
    const waiting = b.recv();
    assert.throws(() => b.recvSync({ timeout: 0 }), /Cannot call recvSync as an async recv on this end is under way/);
    a.sendSync(5);
    return waiting.then((v) => assert.equal(v, 5));
  });

  it("refuses bad input with typed errors", async () => {
    assert.throws(() => Pipe({ duplex: 1 as unknown as boolean }), {
      name: "TypeError",
      message: "Cannot create pipe as 'duplex' must be a boolean: received 1",
    });
    assert.throws(() => Pipe({ capacity: 0 }), /Cannot create pipe as 'capacity' must be an integer/);
    const [a, b] = Pipe();
    await assert.rejects(a.recv({ timeout: -1 }), TypeError);
    await assert.rejects(a.sendBytes("text" as unknown as Uint8Array), TypeError);
    await assert.rejects(a.sendBytes(new Uint8Array(2), 1, 5), RangeError);
    await assert.rejects(a.send(() => 1), CodecError);
    await a.send("after the refusals");
    assert.equal(await b.recv(), "after the refusals", "a refused value sends nothing");
  });
});

for (const as of ["thread", "process"] as SpawnAs[]) {
  describe(`Pipe with a ${as}`, () => {
    it("carries values both ways; closing ends the worker's iteration", async () => {
      const [a, b] = Pipe();
      const w = spawn<typeof pipeEcho>(fixture("pipe_echo"), { args: [b], as });
      const big = Uint8Array.from({ length: 200_000 }, (_, i) => i % 253);
      for (const v of [...VALUES, big]) {
        await a.send(v);
        assert.deepEqual(await a.recv(), v);
      }
      a.close();
      assert.equal(await w.join(), VALUES.length + 1);
    });

    it("runs the Python docs' example: the child sends [42, None, 'hello'] and closes", async () => {
      const [parentConn, childConn] = Pipe();
      const p = spawn<typeof pipeSend>(fixture("pipe_send"), { args: [childConn, [[42, null, "hello"]]], as });
      assert.deepEqual(await parentConn.recv(), [42, null, "hello"]);
      await rejectsPipe(parentConn.recv(), "EOF");
      assert.equal(await p.join(), 1);
    });

    it("hands the end over to the worker", async () => {
      const [a, b] = Pipe();
      const w = spawn<typeof pipeRecv>(fixture("pipe_recv"), { args: [{ conn: b }], as });
      const e = await rejectsPipe(b.send(1), "Closed");
      assert.match(e.message, /passed to worker 'Thread-\d+'|passed to worker 'Process-\d+'/);
      b.close(); // as Python's parent closes its copy: nothing happens to the worker's end
      assert.throws(() => spawn(fixture("pipe_recv"), { args: [b], as }), TypeError);
      await a.send("x");
      a.close();
      assert.deepEqual(await w.join(), ["x"]);
    });

    it("a worker killed while holding its end gives its peer EOF", async () => {
      const [a, b] = Pipe();
      const w = spawn(fixture("pipe_hold"), { args: [b], as });
      assert.equal(await a.recv(), "ready");
      await w.kill();
      await rejectsPipe(a.recv(), "EOF");
      await rejectsPipe(a.send("anyone?"), "BrokenPipe");
    });

    it("a send to a closed peer fails the worker with PipeError BrokenPipe", async () => {
      const [a, b] = Pipe();
      a.close();
      const e = await spawn(fixture("pipe_send"), { args: [b, [1]], as }).join().catch((e) => e);
      assert.ok(e instanceof WorkerError && e.reason === "Error", String(e));
      assert.ok(e.cause instanceof PipeError, String(e.cause));
      assert.equal(e.cause.reason, "BrokenPipe");
    });

    it("joins two workers, one on each end", async () => {
      const [r, w] = Pipe({ duplex: false });
      const receiver = spawn<typeof pipeRecv>(fixture("pipe_recv"), { args: [r], as });
      const sender = spawn<typeof pipeSend>(fixture("pipe_send"), { args: [w, ["Hello from sender!", [1, 2, 3]]], as });
      assert.equal(await sender.join(), 2);
      assert.deepEqual(await receiver.join(), ["Hello from sender!", [1, 2, 3]]);
    });

    it(as === "thread" ? "has synchronous twins in a thread" : "has no synchronous twins in a process", async () => {
      const [a, b] = Pipe<number>();
      const w = spawn<typeof pipeSync>(fixture("pipe_sync"), { args: [b as Connection<number>], as });
      if (as === "thread") {
        await a.send(21);
        assert.equal(await a.recv(), 42);
        assert.equal(await w.join(), "ok");
      } else {
        assert.match(await w.join(), /Cannot call recvSync as this end of the pipe is in another process/);
      }
    });
  });
}

describe("examples/pipe.ts", () => {
  it("prints what the Python docs' example prints", async () => {
    const { command, args } = runtimeCommand(new URL("../../examples/pipe.ts", import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        command,
        [...args],
        { timeout: 60_000 },
        (e, stdout, stderr) => e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout),
      )
    );
    assert.equal(out, '[42,null,"hello"]\n');
  });
});
