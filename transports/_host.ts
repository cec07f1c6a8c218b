/**
 * The engine host: the table of live structures behind a manager, by id and
 * by name, and the generic dispatch of remote calls `(id, op, args)` onto
 * them through each kind's op table. The shared-buffer transport uses it for
 * names; the manager server (socket transport) uses it to execute every
 * remote operation, so the semantics live in one place (DESIGN.md §3).
 *
 * The host knows no kind by itself: the manager hands it the table of kinds.
 *
 * ## Lifetimes
 *
 * A named structure lives until {@linkcode EngineHost.delete} or
 * {@linkcode EngineHost.clear} (the manager's shutdown). An anonymous one that
 * was opened for an owner (a connection of the socket server) is counted:
 * every open and {@linkcode EngineHost.retain} by a connection adds one
 * reference for it, {@linkcode EngineHost.release} takes one back, and a
 * connection that ends gives back all of its own ({@linkcode EngineHost.releaseOwner});
 * at zero references the structure leaves the table and is disposed of. The
 * kinds with a `dispose` (SharedMemory, ShareableList: blocks with a name in
 * the process) stay until deleted or shutdown, anonymous or not, as in
 * Python's SharedMemoryManager. The shared-buffer transport does not keep
 * anonymous structures here at all ({@linkcode EngineHost.make}): their
 * memory is their SharedArrayBuffers, freed by the garbage collector when no
 * thread holds them.
 * @module
 */
import { randomUUID } from "node:crypto";
import { CapacityError, TransportError } from "../errors.ts";
import { type CallContext, type Handle, isHandle } from "../core/backend.ts";
import type { Kinds, StructureSpec } from "../core/structure.ts";
import { markDead } from "./_runtime/threads.ts";

export type { CallContext } from "../core/backend.ts";

interface Entry {
  readonly spec: StructureSpec<unknown>;
  readonly engine: unknown;
  /** References held by owners (connections); counted only for structures opened for an owner. */
  refs: number;
  /** Kept whatever the references: named, or of a kind with a dispose, or opened without an owner. */
  pinned: boolean;
}

/**
 * The id that names the host itself in a remote call: `call(HOST_ID,
 * "instance", [])` answers {@linkcode EngineHost.instance}. Structure ids
 * start at 1.
 */
export const HOST_ID = 0;

/**
 * How many anonymous structures the connections of one manager server may
 * hold at once, by default: well below what the kernel's default memory-map
 * limit (65,530) lets a process hold of growable buffers, with room for
 * buffers freed but not collected yet.
 */
export const DEFAULT_MAX_ANONYMOUS = 16_384;

/** The live structures of one manager. */
export class EngineHost {
  /**
   * A random id of this host, different for every host ever made: handles of
   * a server carry it, so a handle of a server that stopped is told apart
   * from one of a new server on the same address (whose ids start again at 1).
   */
  readonly instance: string = randomUUID();
  #next = 1;
  readonly #kinds: Kinds;
  readonly #maxAnonymous: number;
  /** Entries freed at zero references (anonymous, opened for an owner; or deleted by name). */
  #unpinned = 0;
  readonly #byId = new Map<number, Entry>();
  readonly #byName = new Map<string, number>();
  /** For every owner: the ids it holds, with how many references to each. */
  readonly #owners = new Map<number, Map<number, number>>();

  /**
   * A host of the kinds `kinds`. `maxAnonymous` bounds the anonymous
   * structures its owners (connections) hold at once (default
   * {@linkcode DEFAULT_MAX_ANONYMOUS}): past it an open fails with
   * `CapacityError("Full")` rather than the process running out of memory
   * maps, each structure's growable buffer being one or two of them.
   */
  constructor(kinds: Kinds, options?: { readonly maxAnonymous?: number }) {
    const max = options?.maxAnonymous ?? DEFAULT_MAX_ANONYMOUS;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TypeError(`Cannot create host as 'maxAnonymous' must be a positive integer: received ${max}`);
    }
    this.#kinds = kinds;
    this.#maxAnonymous = max;
  }

  /** The spec of a kind, or a typed error. */
  spec(kind: string): StructureSpec<unknown> {
    if (typeof kind !== "string" || !Object.hasOwn(this.#kinds, kind)) {
      throw new TransportError("UnknownOperation", `Cannot open structure as its kind is unknown: received ${kind}`);
    }
    return this.#kinds[kind];
  }

  /**
   * Opens the structure named `name` if it exists (its kind must match), or
   * creates a new one from `params`. Anonymous structures are always new.
   * With an `owner` (a connection's id), the owner takes one reference to it
   * (see the module's **Lifetimes**); without, an anonymous structure is kept
   * until {@linkcode clear}.
   */
  open(
    kind: string,
    name: string | undefined,
    params: readonly unknown[],
    owner?: number,
  ): { id: number; created: boolean } {
    const spec = this.spec(kind);
    if (name !== undefined) {
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeError(`Cannot open structure as 'name' must be a non-empty string: received ${name}`);
      }
      const existing = this.#byName.get(name);
      if (existing !== undefined) {
        const e = this.#byId.get(existing)!;
        if (e.spec.kind !== kind) {
          throw new TypeError(`Cannot open '${name}' as a ${kind} as it is a ${e.spec.kind}`);
        }
        if (owner !== undefined) this.retain(existing, owner);
        return { id: existing, created: false };
      }
    }
    const pinned = name !== undefined || owner === undefined || spec.dispose !== undefined;
    if (!pinned && this.#unpinned >= this.#maxAnonymous) {
      throw new CapacityError(
        "Full",
        `Cannot open ${kind} as the manager already holds ${this.#maxAnonymous} anonymous structures (close() the ones no longer needed): received ${this.#unpinned}`,
      );
    }
    const engine = spec.create(Array.isArray(params) ? params.map((p) => this.#resolve(p, true)) : params);
    const id = this.#next++;
    if (!pinned) this.#unpinned++;
    this.#byId.set(id, { spec, engine, refs: 0, pinned });
    if (name !== undefined) this.#byName.set(name, id);
    if (owner !== undefined) this.retain(id, owner);
    return { id, created: true };
  }

  /**
   * A new anonymous engine that the host does not keep (the shared-buffer
   * transport's: its clients hold its memory), or, for a kind with a
   * `dispose`, one kept until {@linkcode clear} as {@linkcode open} keeps it.
   */
  make(kind: string, params: readonly unknown[]): { spec: StructureSpec<unknown>; engine: unknown } {
    const spec = this.spec(kind);
    if (spec.dispose !== undefined) return this.entry(this.open(kind, undefined, params).id);
    return { spec, engine: spec.create(params) };
  }

  /** How many structures the host keeps (named, counted and pinned ones). */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * One more reference to the structure `id` for `owner`. Fails with
   * `TransportError("NotFound")` when the structure is gone (freed or deleted).
   */
  retain(id: number, owner: number): void {
    const e = this.entry(id);
    let held = this.#owners.get(owner);
    if (held === undefined) this.#owners.set(owner, held = new Map());
    held.set(id, (held.get(id) ?? 0) + 1);
    e.refs++;
  }

  /**
   * Gives back one of `owner`'s references to `id`; a reference the owner
   * does not hold is ignored (a release may cross a delete). At zero
   * references an unpinned structure is freed.
   */
  release(id: number, owner: number): void {
    const held = this.#owners.get(owner);
    const n = held?.get(id);
    if (held === undefined || n === undefined) return;
    if (n > 1) held.set(id, n - 1);
    else {
      held.delete(id);
      if (held.size === 0) this.#owners.delete(owner);
    }
    const e = this.#byId.get(id);
    if (e !== undefined) this.#unref(id, e, 1);
  }

  #unref(id: number, e: Entry, n: number): void {
    e.refs -= n;
    if (e.refs <= 0 && !e.pinned) this.#drop(id, e);
  }

  #drop(id: number, e: Entry): void {
    this.#byId.delete(id);
    this.#unpinned--;
    try {
      e.spec.dispose?.(e.engine);
    } catch {
      // best effort, as in clear
    }
  }

  /**
   * Forgets the name `name`: the structure is freed now if no owner holds
   * it, else when the last one lets go. True when the name existed.
   */
  delete(name: string): boolean {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot delete structure as 'name' must be a string: received ${typeof name}`);
    }
    const id = this.#byName.get(name);
    if (id === undefined) return false;
    this.#byName.delete(name);
    const e = this.#byId.get(id)!;
    if (e.pinned) {
      e.pinned = false;
      this.#unpinned++;
    }
    this.#unref(id, e, 0);
    return true;
  }

  #owns: ((h: Handle) => number | undefined) | undefined;

  /**
   * Tells the host which handles name its own structures (the transport
   * serving it knows: the socket server by its address). A parameter that is
   * such a handle reaches `spec.create` in its shared-buffer form, so a
   * Condition or a Value given a Lock of the same manager shares that lock's
   * memory (Python's `RebuildProxy` does the same for proxies of its server).
   */
  ownHandles(owns: (h: Handle) => number | undefined): void {
    this.#owns = owns;
  }

  /** A handle of one of this host's structures as its shared-buffer form; one level into plain objects. */
  #resolve(p: unknown, deep: boolean): unknown {
    if (typeof p !== "object" || p === null || Array.isArray(p) || ArrayBuffer.isView(p)) return p;
    if (isHandle(p)) {
      const id = this.#owns?.(p);
      const e = id === undefined ? undefined : this.#byId.get(id);
      if (!e || e.spec.kind !== p.kind) return p;
      return { ...e.spec.share(e.engine), kind: e.spec.kind, via: "shared-buffer" };
    }
    if (!deep || Object.getPrototypeOf(p) !== Object.prototype) return p;
    return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, this.#resolve(v, false)]));
  }

  /** The engine behind an id, with its spec. */
  entry(id: number): Entry {
    const e = this.#byId.get(id);
    if (!e) throw new TransportError("NotFound", `Cannot find structure: received id ${id}`);
    return e;
  }

  /** Dispatches one remote call; unknown operations are a typed error. */
  call(id: number, op: string, args: readonly unknown[], ctx: CallContext): unknown {
    if (id === HOST_ID) return this.#hostCall(op, args, ctx);
    const { spec, engine } = this.entry(id);
    const fn = typeof op === "string" && Object.hasOwn(spec.ops, op) ? spec.ops[op] : undefined;
    if (!fn) throw new TransportError("UnknownOperation", `Cannot call ${spec.kind}.${op} as it is not an operation`);
    if (!Array.isArray(args)) {
      throw new TransportError("Protocol", `Cannot call ${spec.kind}.${op} as args is not an array`);
    }
    return fn(engine, args, ctx);
  }

  /**
   * The operations of the host itself (id {@linkcode HOST_ID}):
   * `instance` → the instance id; `retain [id]` → one more reference for the
   * caller's connection (`NotFound` when gone); `release [ids]` → one
   * reference back per id listed; `delete [name]` → {@linkcode delete}.
   */
  #hostCall(op: string, args: readonly unknown[], ctx: CallContext): unknown {
    switch (op) {
      case "instance":
        return this.instance;
      case "retain": {
        const id = Array.isArray(args) ? args[0] : undefined;
        if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= HOST_ID) {
          throw new TransportError(
            "Protocol",
            `Cannot retain structure as its id is not a positive integer: received ${id}`,
          );
        }
        this.retain(id, ctx.ownerId);
        return null;
      }
      case "release": {
        const ids = Array.isArray(args) ? args[0] : undefined;
        if (!Array.isArray(ids)) {
          throw new TransportError("Protocol", `Cannot release structures as ids is not an array: received ${ids}`);
        }
        for (const id of ids) if (typeof id === "number") this.release(id, ctx.ownerId);
        return null;
      }
      case "delete":
        return this.delete(Array.isArray(args) ? args[0] as string : undefined as never);
    }
    throw new TransportError("UnknownOperation", `Cannot call host.${op} as it is not an operation`);
  }

  /**
   * A connection ended: what it held is free for others, told `ownerDied`,
   * and its references are given back (anonymous structures nobody else
   * holds are freed).
   */
  releaseOwner(ownerId: number): void {
    const held = this.#owners.get(ownerId);
    if (held !== undefined) {
      this.#owners.delete(ownerId);
      for (const [id, n] of held) {
        const e = this.#byId.get(id);
        if (e !== undefined) this.#unref(id, e, n);
      }
    }
    markDead(ownerId);
  }

  /**
   * Forgets every structure, disposing of each engine whose spec says how
   * (a SharedMemory's name is unlinked, as Python's SharedMemoryManager does
   * at shutdown). A failing dispose does not stop the others.
   */
  clear(): void {
    const entries = [...this.#byId.values()];
    this.#byId.clear();
    this.#byName.clear();
    this.#owners.clear();
    this.#unpinned = 0;
    for (const { spec, engine } of entries) {
      try {
        spec.dispose?.(engine);
      } catch {
        // a dispose is best effort: the manager is going away either way
      }
    }
  }
}
