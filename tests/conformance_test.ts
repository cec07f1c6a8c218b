/**
 * Surface conformance: for every kind in `KINDS` and every transport, every
 * public async method of its client is called with valid arguments, in one
 * script per kind, and must behave the same on every transport — the same
 * result, or the same typed error (tag and reason). A method a script does
 * not call fails the coverage test, so a new method cannot skip this.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Manager } from "../manager.ts";
import { KINDS } from "../kinds.ts";
import { PIPE, skipBecause, TRANSPORTS as BEHAVIOUR_TRANSPORTS } from "./_transports.ts";

/** Every transport the behaviour suites run, and `pipe:`. */
const TRANSPORTS = [...BEHAVIOUR_TRANSPORTS, PIPE];

// deno-lint-ignore no-explicit-any
type S = any;
type Step = readonly [method: string, run: (s: S) => unknown];

interface Case {
  /** The kind as `KINDS` names it. */
  readonly kind: keyof typeof KINDS;
  make(m: Manager): Promise<S>;
  readonly steps: readonly Step[];
}

/** The items of an async iterable, as an array. */
async function collect(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of it) out.push(x);
  return out;
}

let seq = 0;
const unique = (p: string) => `${p}-${process.pid}-${++seq}`;

const CASES: readonly Case[] = [
  {
    kind: "dict",
    make: (m) => m.dict<string, number>({ a: 1, b: 2 }),
    steps: [
      ["get", (s) => s.get("a")],
      ["set", (s) => s.set("c", 3)],
      ["has", (s) => s.has("c")],
      ["size", (s) => s.size()],
      ["keys", (s) => s.keys()],
      ["values", (s) => s.values()],
      ["entries", (s) => s.entries()],
      ["setDefault", (s) => s.setDefault("d", 4)],
      ["pop", (s) => s.pop("d")],
      ["popItem", (s) => s.popItem()],
      ["update", (s) => s.update({ e: 5 })],
      ["compareAndSet", (s) => s.compareAndSet("e", 5, 6)],
      ["compute", (s) => s.compute("e", (v: number) => v + 1)],
      ["toMap", (s) => s.toMap()],
      ["delete", (s) => s.delete("a")],
      ["clear", (s) => s.clear()],
    ],
  },
  {
    kind: "list",
    make: (m) => m.list([1, 2, 3]),
    steps: [
      ["get", (s) => s.get(0)],
      ["set", (s) => s.set(0, 10)],
      ["append", (s) => s.append(4)],
      ["extend", (s) => s.extend([5, 6])],
      ["insert", (s) => s.insert(1, 7)],
      ["pop", (s) => s.pop()],
      ["remove", (s) => s.remove(7)],
      ["index", (s) => s.index(3)],
      ["count", (s) => s.count(3)],
      ["includes", (s) => s.includes(3)],
      ["slice", (s) => s.slice(1, 3)],
      ["splice", (s) => s.splice(1, 1, 8, 9)],
      ["length", (s) => s.length()],
      ["reverse", (s) => s.reverse()],
      ["sort", (s) => s.sort()],
      ["sort", (s) => s.sort((a: number, b: number) => b - a)],
      ["toArray", (s) => s.toArray()],
      ["reversed", (s) => collect(s.reversed())],
      ["clear", (s) => s.clear()],
    ],
  },
  {
    kind: "set",
    make: (m) => m.set<unknown>([1, "a", { o: 1 }]),
    steps: [
      ["add", (s) => s.add({ o: 1 })],
      ["add", (s) => s.add(2)],
      ["has", (s) => s.has({ o: 1 })],
      ["discard", (s) => s.discard("a")],
      ["discard", (s) => s.discard("a")],
      ["size", (s) => s.size()],
      ["values", (s) => s.values()],
      ["union", (s) => s.union([2, 3, 3]).then((x: Set<unknown>) => [...x])],
      ["intersection", (s) => s.intersection([{ o: 1 }, 2, 9]).then((x: Set<unknown>) => [...x])],
      ["difference", (s) => s.difference(new Set([1])).then((x: Set<unknown>) => [...x])],
      ["union", (s) => s.union(5)], // not an iterable: TypeError
      ["update", (s) => s.update([7, 8])],
      ["toSet", (s) => s.toSet().then((x: Set<unknown>) => [...x])],
      ["clear", (s) => s.clear()],
      ["size", (s) => s.size()],
    ],
  },
  {
    kind: "namespace",
    make: (m) => m.namespace({ x: 1 }),
    steps: [
      ["get", (s) => s.get("x")],
      ["set", (s) => s.set("y", 2)],
      ["has", (s) => s.has("y")],
      ["update", (s) => s.update((a: Record<string, number>) => ({ ...a, z: 3 }))],
      ["toObject", (s) => s.toObject()],
      ["delete", (s) => s.delete("x")],
    ],
  },
  ...(["queue", "joinableQueue", "simpleQueue"] as const).map((kind): Case => ({
    kind,
    make: (m) => kind === "simpleQueue" ? m.simpleQueue() : m[kind]({ maxsize: kind === "queue" ? 2 : 0 }),
    steps: [
      ["put", (s) => s.put(1, { timeout: 100 })],
      ["putNowait", (s) => s.putNowait(2)],
      ["qsize", (s) => s.qsize()],
      ["full", (s) => s.full()],
      ["empty", (s) => s.empty()],
      ["get", (s) => s.get({ timeout: 100 })],
      ["getNowait", (s) => s.getNowait()],
      ["getNowait", (s) => s.getNowait()], // empty: QueueError("Empty")
      ["get", (s) => s.get({ timeout: 10 })], // QueueError("Timeout")
      ...(kind === "joinableQueue"
        ? [
          ["unfinished", (s: S) => s.unfinished()],
          ["taskDone", (s: S) => s.taskDone()],
          ["taskDone", (s: S) => s.taskDone()],
          ["taskDone", (s: S) => s.taskDone()], // more than put: an error
          ["join", (s: S) => s.join({ timeout: 100 })],
        ] as Step[]
        : []),
      ["isShutdown", (s) => s.isShutdown()],
      ["put", (s) => s.put(3)],
      ["shutdown", (s) => s.shutdown()],
      ["put", (s) => s.put(4)], // QueueError("ShutDown")
      ["get", (s) => s.get()], // what was left
      ["get", (s) => s.get()], // QueueError("ShutDown")
      ["shutdown", (s) => s.shutdown({ immediate: true })],
      ["isShutdown", (s) => s.isShutdown()],
    ],
  })),
  {
    kind: "value",
    make: (m) => m.value("i32", 5),
    steps: [
      ["load", (s) => s.load()],
      ["store", (s) => s.store(7)],
      ["add", (s) => s.add(3)],
      ["exchange", (s) => s.exchange(1)],
      ["compareExchange", (s) => s.compareExchange(1, 2)],
      ["getLock", (s) => s.getLock().withLock(() => s.add(1))],
      ["getObj", (s) => s.getObj().add(1)],
    ],
  },
  {
    kind: "array",
    make: (m) => m.array("f64", [1, 2, 3, 4]),
    steps: [
      ["get", (s) => s.get(1)],
      ["set", (s) => s.set(1, 5)],
      ["add", (s) => s.add(0, 2)],
      ["exchange", (s) => s.exchange(2, 9)],
      ["compareExchange", (s) => s.compareExchange(2, 9, 1)],
      ["slice", (s) => s.slice(1, 3)],
      ["fill", (s) => s.fill(0, 3)],
      ["setSlice", (s) => s.setSlice(0, [7, 8])],
      ["toArray", (s) => s.toArray()],
      ["get", (s) => s.get(99)], // out of range
      ["getLock", (s) => s.getLock().withLock(() => s.get(0))],
      ["getObj", (s) => s.getObj().toArray()],
    ],
  },
  {
    kind: "shared-memory",
    make: (m) => m.sharedMemory(16, { name: unique("conf-shm") }),
    steps: [
      ["write", (s) => s.write(2, new Uint8Array([1, 2, 3]))],
      ["read", (s) => s.read(0, 6)],
      ["unlink", (s) => s.unlink()],
    ],
  },
  {
    kind: "shareable-list",
    make: (m) => m.shareableList([1, "two", 3.5, null, true], { name: unique("conf-sl") }),
    steps: [
      ["get", (s) => s.get(1)],
      ["set", (s) => s.set(0, 7)],
      ["count", (s) => s.count(7)],
      ["index", (s) => s.index("two")],
      ["toArray", (s) => s.toArray()],
    ],
  },
  {
    kind: "lock",
    make: (m) => m.lock(),
    steps: [
      ["acquire", (s) => s.acquire({ timeout: 100 })],
      ["locked", (s) => s.locked()],
      ["tryAcquire", (s) => s.tryAcquire()],
      ["release", (s) => s.release()],
      ["release", (s) => s.release()], // not held: NotOwner
      ["withLock", (s) => s.withLock(() => 1)],
    ],
  },
  {
    kind: "rlock",
    make: (m) => m.rlock(),
    steps: [
      ["acquire", (s) => s.acquire({ timeout: 100 })],
      ["tryAcquire", (s) => s.tryAcquire()],
      ["locked", (s) => s.locked()],
      ["isOwned", (s) => s.isOwned()],
      ["releaseSave", (s) => s.releaseSave()],
      ["acquireRestore", (s) => s.acquireRestore(2)],
      ["release", (s) => s.release()],
      ["release", (s) => s.release()],
      ["release", (s) => s.release()], // not held: NotOwner
      ["withLock", (s) => s.withLock(() => 2)],
    ],
  },
  ...(["semaphore", "boundedSemaphore"] as const).map((kind): Case => ({
    kind,
    make: (m) => m[kind](2),
    steps: [
      ["acquire", (s) => s.acquire({ timeout: 100 })],
      ["tryAcquire", (s) => s.tryAcquire()],
      ["tryAcquire", (s) => s.tryAcquire()], // none left: undefined
      ["value", (s) => s.value()],
      ["release", (s) => s.release()],
      ["forgetOne", (s) => s.forgetOne()],
      ["release", (s) => s.release()],
      ["release", (s) => s.release()], // bounded: above the bound
      ["withPermit", (s) => s.withPermit(() => 3)],
      ["value", (s) => s.value()],
    ],
  })),
  {
    kind: "condition",
    make: (m) => m.condition(),
    steps: [
      ["notify", (s) => s.notify()], // lock not held: NotOwner
      ["acquire", (s) => s.acquire({ timeout: 100 })],
      ["tryAcquire", (s) => s.tryAcquire()],
      ["release", (s) => s.release()],
      ["notify", (s) => s.notify(2)],
      ["notifyAll", (s) => s.notifyAll()],
      ["wait", (s) => s.wait({ timeout: 10 })],
      ["waitFor", (s) => s.waitFor(() => true, { timeout: 10 })],
      ["withLock", (s) => s.withLock(() => 4)],
      ["release", (s) => s.release()],
    ],
  },
  {
    kind: "event",
    make: (m) => m.event(),
    steps: [
      ["isSet", (s) => s.isSet()],
      ["wait", (s) => s.wait({ timeout: 10 })],
      ["set", (s) => s.set()],
      ["wait", (s) => s.wait({ timeout: 10 })],
      ["clear", (s) => s.clear()],
      ["isSet", (s) => s.isSet()],
    ],
  },
  {
    kind: "barrier",
    make: (m) => m.barrier(1),
    steps: [
      ["parties", (s) => s.parties()],
      ["nWaiting", (s) => s.nWaiting()],
      ["wait", (s) => s.wait({ timeout: 100 })],
      ["broken", (s) => s.broken()],
      ["abort", (s) => s.abort()],
      ["wait", (s) => s.wait({ timeout: 100 })], // broken
      ["reset", (s) => s.reset()],
      ["broken", (s) => s.broken()],
    ],
  },
];

/** Methods that are not operations of the structure (and so need no step). */
const NOT_OPERATIONS = new Set([
  "constructor",
  "toJSON",
  "releaseNow",
  "withAction",
  // protected helpers of the client bases
  "call",
  "blocking",
  "exec",
  "local",
  "attachedSince",
  "holding",
  "holdingSync",
  // SharedMemory.close() is synchronous (Python's close()): it detaches this instance only
  "close",
]);

/** The public async surface of a client: its prototype chain's methods, Sync twins excepted. */
function surface(s: object): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(s); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name)!;
      if (typeof d.value === "function" && !name.endsWith("Sync") && !NOT_OPERATIONS.has(name)) names.add(name);
    }
  }
  return [...names].sort();
}

/** A comparable picture of a result or a failure. */
function outcome(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if ("handle" in v) return `<${v.constructor.name}>`;
  if (typeof (v as { release?: unknown }).release === "function") {
    return { permit: v.constructor.name, ownerDied: (v as { ownerDied?: boolean }).ownerDied };
  }
  if (ArrayBuffer.isView(v)) return { bytes: [...(v as Uint8Array)] };
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [k, outcome(x)]) };
  if (Array.isArray(v)) return v.map(outcome);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, outcome(x)]));
}

async function runCase(c: Case, start: () => Promise<Manager>): Promise<unknown[]> {
  await using m = await start();
  const s = await c.make(m);
  const log: unknown[] = [];
  for (const [method, run] of c.steps) {
    try {
      log.push([method, "ok", outcome(await run(s))]);
    } catch (e) {
      const err = e as Error & { _tag?: string; reason?: string };
      log.push([method, "error", err._tag ?? err.name, err.reason]);
    }
  }
  return log;
}

describe("conformance", () => {
  test("every kind in KINDS has a script, and each script calls every public async method", async () => {
    // custom types run only in a manager server, not on every transport: tests/custom_types_test.ts
    assert.deepEqual(new Set(CASES.map((c) => c.kind)), new Set(Object.keys(KINDS).filter((k) => k !== "custom")));
    await using m = await TRANSPORTS[0].start();
    for (const c of CASES) {
      const called = new Set(c.steps.map(([name]) => name));
      const missing = surface(await c.make(m)).filter((name) => !called.has(name));
      assert.deepEqual(missing, [], `${c.kind}: methods no step calls`);
    }
  });

  for (const c of CASES) {
    test(`${c.kind} behaves the same on ${TRANSPORTS.map((t) => t.name).join(" and ")}`, async (ctx) => {
      const [reference, ...others] = TRANSPORTS;
      const expected = await runCase(c, reference.start);
      const pending: string[] = [];
      for (const t of others) {
        const why = t.pending?.[c.kind];
        if (why !== undefined) pending.push(`not on ${t.name}: ${why}`);
        else assert.deepEqual(await runCase(c, t.start), expected, `${c.kind} on ${t.name}`);
      }
      if (pending.length > 0) skipBecause(ctx, pending.join("; "));
    });
  }
});
