/**
 * The server connection handler and the client need nothing but a
 * {@linkcode Duplex}: here they run over an in-memory pair of streams, no
 * socket involved — the shape a pipe transport gives them.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TransportError } from "../../errors.ts";
import { defineStructure } from "../../core/structure.ts";
import type { Duplex } from "../../transports/_duplex.ts";
import { type CallContext, EngineHost } from "../../transports/_host.ts";
import { connectOver } from "../../transports/socket/client.ts";
import { serveConnection } from "../../transports/socket/server.ts";

type Listener = (arg?: never) => void;

/** One end of an in-memory stream pair: writes arrive at the peer a microtask later, as fresh buffers. */
class End implements Duplex {
  peer!: End;
  closed = false;
  readonly #listeners: Record<string, Listener[]> = { data: [], close: [], error: [] };

  static pair(): [End, End] {
    const a = new End();
    const b = new End();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const copy = bytes.slice();
    queueMicrotask(() => this.peer.#emit("data", copy));
    return true;
  }

  end(): void {
    queueMicrotask(() => this.destroy());
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.#emit("close"));
    this.peer.destroy();
  }

  on(event: "data" | "close" | "error", listener: (arg: never) => void): this {
    this.#listeners[event].push(listener as Listener);
    return this;
  }

  #emit(event: string, arg?: unknown): void {
    if (event === "data" && this.closed) return;
    for (const l of this.#listeners[event]) (l as (a: unknown) => void)(arg);
  }
}

const blockSpec = defineStructure({
  kind: "block-test",
  create: (): { n: number } => ({ n: 0 }),
  share: () => ({}),
  open: () => ({ n: 0 }),
  client: () => undefined,
  ops: {
    add: (e: { n: number }, [k]: [number]) => (e.n += k),
    block: (_e: { n: number }, _args: unknown[], ctx: CallContext) =>
      new Promise((_resolve, reject) => ctx.signal!.addEventListener("abort", () => reject(ctx.signal!.reason))),
  },
});

function serve(authkey: string) {
  const [serverEnd, clientEnd] = End.pair();
  const host = new EngineHost({ "block-test": blockSpec });
  let closed = 0;
  serveConnection(serverEnd, { authkey, host, onClose: () => closed++ });
  return { clientEnd, host, closed: () => closed };
}

describe("server and client over any Duplex", () => {
  it("shake hands, open, pipeline calls and cancel", async () => {
    const { clientEnd } = serve("k");
    await using client = await connectOver(clientEnd, "memory", { authkey: "k" });
    assert.equal(client.address, "memory");
    const { id } = await client.open("block-test", "b", []);
    assert.deepEqual(await Promise.all([1, 2, 3].map((k) => client.call(id, "add", [k]))), [1, 3, 6]);
    const ac = new AbortController();
    const blocked = client.call(id, "block", [], { signal: ac.signal });
    ac.abort("stop");
    await assert.rejects(blocked, { name: "AbortError" });
    assert.equal(await client.call(id, "add", [4]), 10);
  });

  it("refuses a wrong authkey", async () => {
    const { clientEnd, closed } = serve("right");
    await assert.rejects(connectOver(clientEnd, "memory", { authkey: "wrong" }), (e: unknown) => {
      assert.ok(e instanceof TransportError);
      assert.equal(e.reason, "Auth");
      return true;
    });
    assert.equal(clientEnd.closed, true);
    assert.equal(closed(), 1);
  });

  it("ends the served connection when the client closes, failing its calls in flight", async () => {
    const { clientEnd, closed } = serve("k");
    const client = await connectOver(clientEnd, "memory", { authkey: "k" });
    const { id } = await client.open("block-test", null, []);
    const blocked = client.call(id, "block", []);
    const rejected = assert.rejects(blocked, (e: unknown) => e instanceof TransportError && e.reason === "Closed");
    await client.close();
    await rejected;
    assert.equal(closed(), 1);
  });
});
