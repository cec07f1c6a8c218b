/**
 * A bag of named attributes shared by threads, processes or machines:
 * Python's `Manager().Namespace()`.
 * @module
 */
import type { Backend, Handle } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { DictEngine, type DictOptions } from "./dict.ts";

/** The attributes of a namespace, as a plain object. */
export type Attributes = Record<string, unknown>;

function checkName(name: unknown, what: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`Cannot ${what} as the attribute name must be a non-empty string: received ${String(name)}`);
  }
  return name;
}

function toPairs(attrs: Attributes | void, what: string): Array<[string, unknown]> {
  if (attrs === null || typeof attrs !== "object" || Array.isArray(attrs)) {
    throw new TypeError(
      `Cannot ${what} as the function must return an object of attributes: received ${String(attrs)}`,
    );
  }
  return Object.entries(attrs);
}

/** The operations of a Namespace, local and remote (on a dict engine). */
const /** @internal */ namespaceOps = {
  get: (e: DictEngine, [k]: [string]): unknown => e.get(checkName(k, "get attribute")),
  set: (e: DictEngine, [k, v]: [string, unknown]): void => e.set(checkName(k, "set attribute"), v),
  delete: (e: DictEngine, [k]: [string]): boolean => e.delete(checkName(k, "delete attribute")),
  has: (e: DictEngine, [k]: [string]): boolean => e.has(k),
  entriesVersioned: (e: DictEngine): [number, Array<[unknown, unknown]>] => e.entriesVersioned(),
  replaceIf: (e: DictEngine, [version, pairs]: [number, Array<[string, unknown]>]): boolean =>
    e.replaceIf(version, pairs),
};

/**
 * Named attributes shared like Python's `Namespace` proxy: `get`, `set`,
 * `delete`, `has`, a plain-object snapshot, and an atomic `update` of several
 * attributes at once.
 *
 * **Visibility**: each `set` is visible to all once it returned; `update`
 * applies all its changes at once (readers see all or none).
 *
 * **Transports**: shared buffer (sync twins; `update`'s function runs under
 * the namespace's writer lock) and socket (async; `update` retries its pure
 * function until no other write came between its read and its commit).
 *
 * @example Shared settings
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const ns = await m.namespace({ x: 1 });
 * await ns.set("y", 2);
 * await ns.update((a) => ({ ...a, x: (a.x as number) + 10 }));
 * console.log(await ns.toObject()); // { x: 11, y: 2 }
 * ```
 */
export class Namespace extends Shared<DictEngine, typeof namespaceOps> {
  /** @internal Use `Manager.namespace()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<DictEngine>) {
    super(handle, backend, namespaceOps);
  }

  /** The attribute's value, or undefined. */
  async get<T = unknown>(name: string): Promise<T | undefined> {
    checkName(name, "get attribute");
    return this.call("get", [name]) as T | undefined;
  }
  /** Sets an attribute. */
  async set(name: string, value: unknown): Promise<void> {
    checkName(name, "set attribute");
    return this.exec("set", [name, value]);
  }
  /** Removes an attribute; true when it existed. */
  async delete(name: string): Promise<boolean> {
    checkName(name, "delete attribute");
    return this.call("delete", [name]);
  }
  /** True when the attribute exists. */
  async has(name: string): Promise<boolean> {
    return this.call("has", [name]);
  }
  /** A snapshot of every attribute, as a plain object. */
  async toObject(): Promise<Attributes> {
    const [, entries] = await this.call("entriesVersioned", []);
    return Object.fromEntries(entries as Array<[string, unknown]>);
  }
  /**
   * Atomically replaces the attributes with what `fn` returns from the
   * current ones (attributes missing from the result are deleted). `fn` must
   * be pure: over a socket it may run more than once.
   */
  async update(fn: (attrs: Attributes) => Attributes): Promise<Attributes> {
    if (this.engine) return this.updateSync(fn);
    for (;;) {
      const [version, entries] = await this.call("entriesVersioned", []);
      const next = fn(Object.fromEntries(entries as Array<[string, unknown]>));
      const pairs = toPairs(next, "update namespace");
      if (await this.call("replaceIf", [version, pairs])) return next;
    }
  }

  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync<T = unknown>(name: string): T | undefined {
    return this.local("getSync").get(checkName(name, "get attribute")) as T | undefined;
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(name: string, value: unknown): void {
    this.local("setSync").set(checkName(name, "set attribute"), value);
  }
  /** The synchronous twin of {@linkcode delete} (shared buffer only). */
  deleteSync(name: string): boolean {
    return this.local("deleteSync").delete(checkName(name, "delete attribute"));
  }
  /** The synchronous twin of {@linkcode has} (shared buffer only). */
  hasSync(name: string): boolean {
    return this.local("hasSync").has(name);
  }
  /** The synchronous twin of {@linkcode toObject} (shared buffer only). */
  toObjectSync(): Attributes {
    return Object.fromEntries(this.local("toObjectSync").entries() as Array<[string, unknown]>);
  }
  /** The synchronous twin of {@linkcode update} (shared buffer only); `fn` runs under the writer lock. */
  updateSync(fn: (attrs: Attributes) => Attributes): Attributes {
    let result: Attributes = {};
    this.local("updateSync").transform((entries) => {
      result = fn(Object.fromEntries(entries as Array<[string, unknown]>));
      return toPairs(result, "update namespace");
    });
    return result;
  }
}

/** The Namespace kind: a dict engine with string keys. */
export const namespaceSpec = defineStructure({
  kind: "namespace",
  create: ([initial, options]) => {
    const e = DictEngine.create(options as DictOptions | undefined);
    if (initial) e.update(toPairs(initial as Attributes, "create namespace"));
    return e;
  },
  share: (e: DictEngine) => ({ buffer: e.buffer }),
  open: (h) => new DictEngine(h.buffer as SharedArrayBuffer),
  ops: namespaceOps,
  client: (handle, backend: Backend<DictEngine>) => new Namespace(handle, backend),
});
