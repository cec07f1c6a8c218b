/**
 * A set shared by threads, processes or machines: Python's `SetProxy`
 * (`Manager().set()`, where Python 3.14's managers have one), on any
 * transport.
 *
 * It is a Dict's engine (`dict.ts`) holding the members as keys and a
 * one-byte `true` as every value: the same lock-free reads, robust writer
 * lock and memory, and no engine of its own to keep sound.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { encode } from "../transports/_codec.ts";
import { DictEngine, type DictOptions } from "./dict.ts";
import { nonBlockingOps } from "./_seqlock.ts";

/** Options of a shared set: a Dict's (`name`, `maxBytes`, `initialBytes`). */
export type SetOptions = DictOptions;

/** The value every member is stored with. */
const MEMBER = true;

/** Members are equal when their encodings are: a string key per encoding. */
function keyOf(member: unknown): string {
  const b = encode(member);
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** The distinct items of `items` (by encoding), in their first order. */
function distinct(items: readonly unknown[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const x of items) {
    const k = keyOf(x);
    if (!out.has(k)) out.set(k, x);
  }
  return out;
}

function itemsOf(other: unknown, what: string): unknown[] {
  if (typeof other === "object" && other !== null && Symbol.iterator in other && typeof other !== "string") {
    return [...(other as Iterable<unknown>)];
  }
  throw new TypeError(`Cannot ${what} as the argument is not an iterable: received ${String(other)}`);
}

/** `union`: the members (one snapshot), then the items that are not among them. */
function union(e: DictEngine, items: readonly unknown[]): unknown[] {
  const members = distinct(e.keys());
  const out = [...members.values()];
  for (const [k, x] of distinct(items)) if (!members.has(k)) out.push(x);
  return out;
}

/** `intersection`: the members that are among `items`, in the set's order. */
function intersection(e: DictEngine, items: readonly unknown[]): unknown[] {
  const other = distinct(items);
  return e.keys().filter((k) => other.has(keyOf(k)));
}

/** `difference`: the members that are not among `items`, in the set's order. */
function difference(e: DictEngine, items: readonly unknown[]): unknown[] {
  const other = distinct(items);
  return e.keys().filter((k) => !other.has(keyOf(k)));
}

/** The operations of a SharedSet, local and remote. */
const /** @internal */ setOps = nonBlockingOps({
  add: (e: DictEngine, [x]: [unknown]): void => e.set(x, MEMBER),
  discard: (e: DictEngine, [x]: [unknown]): boolean => e.delete(x),
  has: (e: DictEngine, [x]: [unknown]): boolean => e.has(x),
  size: (e: DictEngine): number => e.size(),
  values: (e: DictEngine): unknown[] => e.keys(),
  clear: (e: DictEngine): void => e.clear(),
  update: (e: DictEngine, [items]: [readonly unknown[]]): void =>
    e.update(itemsOf(items, "update set").map((x) => [x, MEMBER] as const)),
  union: (e: DictEngine, [items]: [readonly unknown[]]): unknown[] => union(e, itemsOf(items, "union set")),
  intersection: (e: DictEngine, [items]: [readonly unknown[]]): unknown[] =>
    intersection(e, itemsOf(items, "intersect set")),
  difference: (e: DictEngine, [items]: [readonly unknown[]]): unknown[] =>
    difference(e, itemsOf(items, "difference set")),
});

/** What the set operations take: any iterable, a SharedSet too. */
export type SetOperand<T> = Iterable<T> | SharedSet<T>;

/**
 * A set shared by threads (shared buffer), processes or machines (socket):
 * Python's `SetProxy` in camelCase, with JavaScript's `has` and `size`.
 *
 * Members are any data the codec round-trips, equal when their encodings
 * are (so `{ a: 1 }` is one member however often it is added, unlike a
 * JavaScript `Set` of objects). Iteration follows insertion order.
 * `union`, `intersection` and `difference` compute in one call where the
 * set lives and return a plain `Set`; the operand may be any iterable or
 * another SharedSet (whose members are fetched first).
 *
 * **Visibility**: as {@linkcode Dict}'s (it is a Dict's engine): a change is
 * visible to every reader once its call returned; readers take no lock.
 *
 * **Transports**: shared buffer and `shm:` (sync twins, lock-free reads) and
 * socket (async; one round trip a call).
 *
 * @example Tags seen by several workers
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const tags = await m.set<string>(["a", "b"]);
 * await tags.add("c");
 * await tags.discard("a");
 * console.log(await tags.has("b"), await tags.size()); // true 2
 * console.log(await tags.intersection(["c", "x"])); // Set(1) { "c" }
 * for await (const t of tags) console.log(t); // b, then c
 * ```
 */
export class SharedSet<T = unknown> extends Shared<DictEngine, typeof setOps> {
  /** @internal Use `Manager.set()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<DictEngine>) {
    super(handle, backend, setOps);
  }

  /** Adds `member` (Python's `add`); adding a member again changes nothing. */
  async add(member: T): Promise<void> {
    return this.exec("add", [member]);
  }
  /** Removes `member` if present (Python's `discard`); true when it was. */
  async discard(member: T): Promise<boolean> {
    return this.call("discard", [member]);
  }
  /** True when `member` is in the set (Python's `member in s`). */
  async has(member: T): Promise<boolean> {
    return this.call("has", [member]);
  }
  /** Number of members (Python's `len`). */
  async size(): Promise<number> {
    return this.call("size", []);
  }
  /** The members, in insertion order (a snapshot). */
  async values(): Promise<T[]> {
    return this.call("values", []) as T[];
  }
  /** Removes every member. */
  async clear(): Promise<void> {
    return this.exec("clear", []);
  }
  /** Adds every item of `items` in one atomic step per item (Python's `update`). */
  async update(items: SetOperand<T>): Promise<void> {
    return this.exec("update", [await this.#items(items)]);
  }
  /** The members and the items of `other`, as a plain `Set` (Python's `s.union(other)`). */
  async union(other: SetOperand<T>): Promise<Set<T>> {
    return new Set(await this.call("union", [await this.#items(other)]) as T[]);
  }
  /** The members also in `other`, as a plain `Set` (Python's `s.intersection(other)`). */
  async intersection(other: SetOperand<T>): Promise<Set<T>> {
    return new Set(await this.call("intersection", [await this.#items(other)]) as T[]);
  }
  /** The members not in `other`, as a plain `Set` (Python's `s.difference(other)`). */
  async difference(other: SetOperand<T>): Promise<Set<T>> {
    return new Set(await this.call("difference", [await this.#items(other)]) as T[]);
  }
  /** A copy as a plain `Set`. */
  async toSet(): Promise<Set<T>> {
    return new Set(await this.values());
  }
  /**
   * Iterates the members in insertion order: `for await (const x of s)`, on
   * every transport, over a snapshot taken by one call when the loop starts.
   *
   * @example Iterating a set
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start();
   * const s = await m.set([3, 1, 3]);
   * for await (const x of s) console.log(x); // 3, then 1
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (const x of await this.values()) yield x;
  }

  async #items(other: SetOperand<T>): Promise<unknown[]> {
    return other instanceof SharedSet ? await other.values() : itemsOf(other, "combine sets");
  }
  #itemsSync(other: SetOperand<T>): unknown[] {
    return other instanceof SharedSet ? other.valuesSync() : itemsOf(other, "combine sets");
  }

  /** The synchronous twin of {@linkcode add} (shared buffer only). */
  addSync(member: T): void {
    this.local("addSync").set(member, MEMBER);
  }
  /** The synchronous twin of {@linkcode discard} (shared buffer only). */
  discardSync(member: T): boolean {
    return this.local("discardSync").delete(member);
  }
  /** The synchronous twin of {@linkcode has} (shared buffer only). */
  hasSync(member: T): boolean {
    return this.local("hasSync").has(member);
  }
  /** The synchronous twin of {@linkcode size} (shared buffer only). */
  sizeSync(): number {
    return this.local("sizeSync").size();
  }
  /** The synchronous twin of {@linkcode values} (shared buffer only). */
  valuesSync(): T[] {
    return this.local("valuesSync").keys() as T[];
  }
  /** The synchronous twin of {@linkcode clear} (shared buffer only). */
  clearSync(): void {
    this.local("clearSync").clear();
  }
  /** The synchronous twin of {@linkcode update} (shared buffer only). */
  updateSync(items: SetOperand<T>): void {
    this.local("updateSync").update(this.#itemsSync(items).map((x) => [x, MEMBER] as const));
  }
  /** The synchronous twin of {@linkcode union} (shared buffer only). */
  unionSync(other: SetOperand<T>): Set<T> {
    return new Set(union(this.local("unionSync"), this.#itemsSync(other)) as T[]);
  }
  /** The synchronous twin of {@linkcode intersection} (shared buffer only). */
  intersectionSync(other: SetOperand<T>): Set<T> {
    return new Set(intersection(this.local("intersectionSync"), this.#itemsSync(other)) as T[]);
  }
  /** The synchronous twin of {@linkcode difference} (shared buffer only). */
  differenceSync(other: SetOperand<T>): Set<T> {
    return new Set(difference(this.local("differenceSync"), this.#itemsSync(other)) as T[]);
  }
  /** The synchronous twin of {@linkcode toSet} (shared buffer only). */
  toSetSync(): Set<T> {
    return new Set(this.valuesSync());
  }
}

/** The Set kind: a Dict engine with the members as keys. */
export const setSpec = defineStructure({
  kind: "set",
  create: ([initial, options]) => {
    const e = DictEngine.create(options as SetOptions | undefined);
    if (initial !== undefined && initial !== null) {
      e.update(itemsOf(initial, "create set").map((x) => [x, MEMBER] as const));
    }
    return e;
  },
  share: (e: DictEngine) => ({ buffer: e.buffer }),
  open: (h) => new DictEngine(h.buffer as SharedArrayBuffer),
  ops: setOps,
  client: (handle, backend: Backend<DictEngine>) => new SharedSet(handle, backend),
});
