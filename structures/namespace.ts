/**
 * A bag of named attributes shared by threads, processes or machines:
 * Python's `Manager().Namespace()`.
 * @module
 */
import { type Handle, registerStructure } from "../transports/_attach.ts";
import { registerKind } from "../transports/_host.ts";
import { adoptRegistry, registryBuffer } from "../transports/_runtime/threads.ts";
import { unsupportedSync } from "../sync/lock.ts";
import type { Remote } from "../sync/_remote.ts";
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

registerKind<DictEngine>("namespace", {
  create: ([initial, options]) => {
    const e = DictEngine.create(options as DictOptions | undefined);
    if (initial) e.update(toPairs(initial as Attributes, "create namespace"));
    return e;
  },
  localHandle: (e) => ({ kind: "namespace", via: "shared-buffer", buffer: e.buffer, registry: registryBuffer() }),
  ops: {
    get: (e, [k]) => e.get(checkName(k, "get attribute")),
    set: (e, [k, v]) => e.set(checkName(k, "set attribute"), v),
    delete: (e, [k]) => e.delete(checkName(k, "delete attribute")),
    has: (e, [k]) => e.has(k),
    entriesVersioned: (e) => e.entriesVersioned(),
    replaceIf: (e, [version, pairs]) => e.replaceIf(version as number, pairs as Array<[string, unknown]>),
  },
});

/**
 * Named attributes shared like Python's `Namespace` proxy: `get`, `set`,
 * `delete`, `has`, a plain-object snapshot, and an atomic `update` of several
 * attributes at once.
 *
 * **Visibility**: each `set` is visible to all once it returned; `update`
 * applies all its changes at once (readers see all or none).
 *
 * **Transports**: shared buffer (sync twins; `update`'s function runs under
 * the namespace's writer lock), socket and pipe (`update` retries its pure
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
export class Namespace {
  readonly #engine: DictEngine | undefined;
  readonly #remote: Remote | undefined;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;

  /** @internal Use `Manager.namespace()` or `attach(handle)`. */
  constructor(handle: Handle, engine?: DictEngine, remote?: Remote) {
    this.handle = handle;
    this.#engine = engine;
    this.#remote = remote;
  }

  #local(what: string): DictEngine {
    if (!this.#engine) throw unsupportedSync(what, this.handle.via);
    return this.#engine;
  }

  /** The attribute's value, or undefined. */
  async get<T = unknown>(name: string): Promise<T | undefined> {
    checkName(name, "get attribute");
    return this.#engine ? this.#engine.get(name) as T : this.#remote!.call("get", [name]) as Promise<T>;
  }
  /** Sets an attribute. */
  async set(name: string, value: unknown): Promise<void> {
    checkName(name, "set attribute");
    if (this.#engine) this.#engine.set(name, value);
    else await this.#remote!.call("set", [name, value]);
  }
  /** Removes an attribute; true when it existed. */
  async delete(name: string): Promise<boolean> {
    checkName(name, "delete attribute");
    return this.#engine ? this.#engine.delete(name) : this.#remote!.call("delete", [name]) as Promise<boolean>;
  }
  /** True when the attribute exists. */
  async has(name: string): Promise<boolean> {
    return this.#engine ? this.#engine.has(name) : this.#remote!.call("has", [name]) as Promise<boolean>;
  }
  /** A snapshot of every attribute, as a plain object. */
  async toObject(): Promise<Attributes> {
    if (this.#engine) return Object.fromEntries(this.#engine.entries() as Array<[string, unknown]>);
    const [, entries] = await this.#remote!.call("entriesVersioned", []) as [number, Array<[string, unknown]>];
    return Object.fromEntries(entries);
  }
  /**
   * Atomically replaces the attributes with what `fn` returns from the
   * current ones (attributes missing from the result are deleted). `fn` must
   * be pure: over a socket it may run more than once.
   */
  async update(fn: (attrs: Attributes) => Attributes): Promise<Attributes> {
    if (this.#engine) return this.updateSync(fn);
    for (;;) {
      const [version, entries] = await this.#remote!.call("entriesVersioned", []) as [number, Array<[string, unknown]>];
      const next = fn(Object.fromEntries(entries));
      const pairs = toPairs(next, "update namespace");
      if (await this.#remote!.call("replaceIf", [version, pairs])) return next;
    }
  }

  /** The synchronous twin of {@linkcode get} (shared buffer only). */
  getSync<T = unknown>(name: string): T | undefined {
    return this.#local("getSync").get(checkName(name, "get attribute")) as T | undefined;
  }
  /** The synchronous twin of {@linkcode set} (shared buffer only). */
  setSync(name: string, value: unknown): void {
    this.#local("setSync").set(checkName(name, "set attribute"), value);
  }
  /** The synchronous twin of {@linkcode delete} (shared buffer only). */
  deleteSync(name: string): boolean {
    return this.#local("deleteSync").delete(checkName(name, "delete attribute"));
  }
  /** The synchronous twin of {@linkcode has} (shared buffer only). */
  hasSync(name: string): boolean {
    return this.#local("hasSync").has(name);
  }
  /** The synchronous twin of {@linkcode toObject} (shared buffer only). */
  toObjectSync(): Attributes {
    return Object.fromEntries(this.#local("toObjectSync").entries() as Array<[string, unknown]>);
  }
  /** The synchronous twin of {@linkcode update} (shared buffer only); `fn` runs under the writer lock. */
  updateSync(fn: (attrs: Attributes) => Attributes): Attributes {
    let result: Attributes = {};
    this.#local("updateSync").transform((entries) => {
      result = fn(Object.fromEntries(entries as Array<[string, unknown]>));
      return toPairs(result, "update namespace");
    });
    return result;
  }
}

registerStructure("namespace", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new Namespace(h, new DictEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new Namespace(h, undefined, remote),
});
