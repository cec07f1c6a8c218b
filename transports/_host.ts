/**
 * The engine host: the table of live structures behind a manager, by id and
 * by name, and the generic dispatch of remote calls `(id, op, args)` onto
 * them. The shared-buffer transport uses it for names; the manager server
 * (socket and pipe transports) uses it to execute every remote operation, so
 * the semantics live in one place (DESIGN.md §3).
 * @module
 */
import { TransportError } from "../errors.ts";
import { markDead } from "./_runtime/threads.ts";

/** What a remote call knows of its caller. */
export interface CallContext {
  /** Id of the calling connection, used as lock owner id (from the thread registry). */
  readonly ownerId: number;
  /** Fires when the caller cancels the call or its connection closes. */
  readonly signal: AbortSignal;
}

/** One remote operation of an engine: may return a promise (blocking ops). */
export type RemoteOp<E> = (engine: E, args: readonly unknown[], ctx: CallContext) => unknown;

/** The remote operations of one structure kind, and how to create its engine. */
export interface EngineKind<E> {
  /** Creates a fresh engine from the factory's positional params and options. */
  create(params: readonly unknown[]): E;
  /** The handle threads of the hosting process may attach to directly. */
  localHandle(engine: E): unknown;
  /** The allow-list of remote operations. */
  readonly ops: Readonly<Record<string, RemoteOp<E>>>;
}

const kinds = new Map<string, EngineKind<unknown>>();

/** Registers a structure kind (called by each structure module at load). */
export function registerKind<E>(name: string, kind: EngineKind<E>): void {
  kinds.set(name, kind as EngineKind<unknown>);
}

/** The registered kind, or a typed error. */
export function kindOf(name: string): EngineKind<unknown> {
  const k = kinds.get(name);
  if (!k) {
    throw new TransportError("UnknownOperation", `Cannot open structure as its kind is unknown: received ${name}`);
  }
  return k;
}

interface Entry {
  readonly kind: string;
  readonly engine: unknown;
}

/** The live structures of one manager. */
export class EngineHost {
  #next = 1;
  readonly #byId = new Map<number, Entry>();
  readonly #byName = new Map<string, number>();

  /**
   * Opens the structure named `name` if it exists (its kind must match), or
   * creates a new one from `params`. Anonymous structures are always new.
   */
  open(kind: string, name: string | undefined, params: readonly unknown[]): { id: number; created: boolean } {
    if (name !== undefined) {
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeError(`Cannot open structure as 'name' must be a non-empty string: received ${name}`);
      }
      const existing = this.#byName.get(name);
      if (existing !== undefined) {
        const e = this.#byId.get(existing)!;
        if (e.kind !== kind) {
          throw new TypeError(`Cannot open '${name}' as a ${kind} as it is a ${e.kind}`);
        }
        return { id: existing, created: false };
      }
    }
    const engine = kindOf(kind).create(params);
    const id = this.#next++;
    this.#byId.set(id, { kind, engine });
    if (name !== undefined) this.#byName.set(name, id);
    return { id, created: true };
  }

  /** The engine behind an id, with its kind. */
  entry(id: number): Entry {
    const e = this.#byId.get(id);
    if (!e) throw new TransportError("NotFound", `Cannot find structure: received id ${id}`);
    return e;
  }

  /** Dispatches one remote call; unknown operations are a typed error. */
  call(id: number, op: string, args: readonly unknown[], ctx: CallContext): unknown {
    const e = this.entry(id);
    const fn = Object.hasOwn(kindOf(e.kind).ops, op) ? kindOf(e.kind).ops[op] : undefined;
    if (!fn) throw new TransportError("UnknownOperation", `Cannot call ${e.kind}.${op} as it is not an operation`);
    if (!Array.isArray(args)) {
      throw new TransportError("Protocol", `Cannot call ${e.kind}.${op} as args is not an array`);
    }
    return fn(e.engine, args, ctx);
  }

  /** A connection ended: what it held is free for others, told `ownerDied`. */
  releaseOwner(ownerId: number): void {
    markDead(ownerId);
  }

  /** Forgets every structure. */
  clear(): void {
    this.#byId.clear();
    this.#byName.clear();
  }
}
