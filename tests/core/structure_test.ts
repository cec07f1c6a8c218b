/**
 * core/structure.ts: a client calls only the ops of its kind's table (the
 * compiler refuses any other name), locally on the engine and remotely
 * through the same table.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Backend, Handle } from "../../core/backend.ts";
import { defineStructure, Shared } from "../../core/structure.ts";
import { EngineHost } from "../../transports/_host.ts";
import { allocateId } from "../../transports/_runtime/threads.ts";

class CounterEngine {
  n = 0;
}

const counterOps = {
  add: (e: CounterEngine, [by]: [number]) => (e.n += by),
  read: (e: CounterEngine) => e.n,
};

class Counter extends Shared<CounterEngine, typeof counterOps> {
  constructor(handle: Handle, backend: Backend<CounterEngine>) {
    super(handle, backend, counterOps);
  }
  async add(by: number): Promise<number> {
    return this.call("add", [by]);
  }
  async read(): Promise<number> {
    return this.call("read", []);
  }
  /** Not an op of the table: the compiler refuses the name. */
  async reset(): Promise<unknown> {
    // @ts-expect-error "reset" is not an op of counterOps
    return this.call("reset", []);
  }
  /** An op called with arguments of the wrong type. */
  async addText(): Promise<unknown> {
    // @ts-expect-error add takes [number]
    return this.call("add", ["one"]);
  }
}

const counterSpec = defineStructure({
  kind: "counter-test",
  create: () => new CounterEngine(),
  share: () => ({}),
  open: () => new CounterEngine(),
  ops: counterOps,
  client: (h, b: Backend<CounterEngine>) => new Counter(h, b),
});

describe("Shared client over a spec", () => {
  test("runs ops on a local engine", async () => {
    const c = counterSpec.client({ kind: "counter-test", via: "test" }, { engine: new CounterEngine() });
    assert.equal(await c.add(2), 2);
    assert.equal(await c.read(), 2);
  });

  test("runs the same ops through a host, and a name outside the table is refused there too", async () => {
    const host = new EngineHost({ "counter-test": counterSpec });
    const { id } = host.open("counter-test", undefined, []);
    const ownerId = allocateId();
    const c = counterSpec.client({ kind: "counter-test", via: "test" }, {
      remote: { call: async (op, args) => await host.call(id, op, args, { ownerId }) },
    });
    assert.equal(await c.add(5), 5);
    assert.equal(await c.read(), 5);
    await assert.rejects(c.reset(), { name: "TransportError", reason: "UnknownOperation" });
  });
});
