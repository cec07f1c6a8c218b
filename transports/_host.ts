/**
 * The engine host: the table of live structures behind a manager, by id and
 * by name, and the generic dispatch of remote calls `(id, op, args)` onto
 * them through each kind's op table. The shared-buffer transport uses it for
 * names; the manager server (socket transport) uses it to execute every
 * remote operation, so the semantics live in one place (DESIGN.md §3).
 *
 * The host knows no kind by itself: the manager hands it the table of kinds.
 * @module
 */
import { randomUUID } from "node:crypto";
import { TransportError } from "../errors.ts";
import { type CallContext, type Handle, isHandle } from "../core/backend.ts";
import type { Kinds, StructureSpec } from "../core/structure.ts";
import { markDead } from "./_runtime/threads.ts";

export type { CallContext } from "../core/backend.ts";

interface Entry {
  readonly spec: StructureSpec<unknown>;
  readonly engine: unknown;
}

/**
 * The id that names the host itself in a remote call: `call(HOST_ID,
 * "instance", [])` answers {@linkcode EngineHost.instance}. Structure ids
 * start at 1.
 */
export const HOST_ID = 0;

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
  readonly #byId = new Map<number, Entry>();
  readonly #byName = new Map<string, number>();

  constructor(kinds: Kinds) {
    this.#kinds = kinds;
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
   */
  open(kind: string, name: string | undefined, params: readonly unknown[]): { id: number; created: boolean } {
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
        return { id: existing, created: false };
      }
    }
    const engine = spec.create(Array.isArray(params) ? params.map((p) => this.#resolve(p, true)) : params);
    const id = this.#next++;
    this.#byId.set(id, { spec, engine });
    if (name !== undefined) this.#byName.set(name, id);
    return { id, created: true };
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
    if (id === HOST_ID && op === "instance") return this.instance;
    const { spec, engine } = this.entry(id);
    const fn = typeof op === "string" && Object.hasOwn(spec.ops, op) ? spec.ops[op] : undefined;
    if (!fn) throw new TransportError("UnknownOperation", `Cannot call ${spec.kind}.${op} as it is not an operation`);
    if (!Array.isArray(args)) {
      throw new TransportError("Protocol", `Cannot call ${spec.kind}.${op} as args is not an array`);
    }
    return fn(engine, args, ctx);
  }

  /** A connection ended: what it held is free for others, told `ownerDied`. */
  releaseOwner(ownerId: number): void {
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
    for (const { spec, engine } of entries) {
      try {
        spec.dispose?.(engine);
      } catch {
        // a dispose is best effort: the manager is going away either way
      }
    }
  }
}
