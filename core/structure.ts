/**
 * A kind is a spec: everything one structure or primitive is — how its
 * engine is created, shared with another thread and opened there, the typed
 * table of its operations, and its client — in one value
 * ({@linkcode StructureSpec}). `kinds.ts` lists them all; transports and the
 * manager only ever see specs.
 *
 * The op table is the single list of what a kind can do remotely: the
 * manager server dispatches `(id, op, args)` through it, and clients extend
 * {@linkcode Shared}, whose `call` accepts only op names of the table, so a
 * client method cannot name an op the server would refuse.
 * @module
 */
import { abortedError, TransportError, type WaitDomain } from "../errors.ts";
import { threadId } from "../transports/_runtime/threads.ts";
import { attachRead, holdsStored, storedSeen } from "../transports/_nested.ts";
import {
  type Backend,
  type CallContext,
  type Handle,
  INSPECT_DENO,
  INSPECT_NODE,
  isAbort,
  redacted,
  type Remote,
} from "./backend.ts";
import { unsupportedSync } from "../errors.ts";

// deno-lint-ignore no-explicit-any
type AnyArgs = any;

/**
 * One operation of an engine: may return a promise (blocking ops).
 *
 * @internal
 */
export type Op<E> = (engine: E, args: AnyArgs, ctx: CallContext) => unknown;
/**
 * The operations of one kind, by name.
 *
 * @internal
 */
export type OpTable<E> = Readonly<Record<string, Op<E>>>;
/**
 * The argument tuple of an op.
 *
 * @internal
 */
export type ArgsOf<F> = F extends (e: never, args: infer A, ctx: never) => unknown ? A : never;
/**
 * The resolved result of an op.
 *
 * @internal
 */
export type ResultOf<F> = F extends (...a: never[]) => infer R ? Awaited<R> : never;

/** Fields of a shared-buffer handle besides `kind` and `via` (SharedArrayBuffers, sizes). */
export type SharedFields = Record<string, unknown>;

/** Everything a kind is, in one value. */
export interface StructureSpec<E, O extends OpTable<E> = OpTable<E>, C = unknown> {
  /** The kind's one spelling: in handles, on the wire, in `kinds.ts`. */
  readonly kind: string;
  /** Creates a fresh engine from the manager factory's parameters (positional, then options). */
  create(params: readonly unknown[]): E;
  /**
   * For a transport that copies the memory of `share` out of the process
   * and keeps names itself (`shm:` maps it in every process, names live in
   * the manager): creates an engine as `create` does, without process-local
   * side effects (a SharedMemory's name in the process's registry). Absent:
   * `create` serves.
   */
  createPortable?(params: readonly unknown[]): E;
  /** What a shared-buffer handle carries so another thread can open the same engine. */
  share(engine: E): SharedFields;
  /** Opens the engine of a shared-buffer handle in this thread. */
  open(shared: SharedFields): E;
  /** The operations: the remote allow-list and the contract of the client. */
  readonly ops: O;
  /** Builds the public object over a backend. */
  client(handle: Handle, backend: Backend<E>): C;
  /**
   * Releases what an engine the manager created holds beyond its memory (a
   * SharedMemory's name): called once per engine when its manager shuts down.
   * Should not throw; an error is ignored.
   */
  dispose?(engine: E): void;
}

/** Identity with inference: `export const dictSpec = defineStructure({ … })`. */
export function defineStructure<E, O extends OpTable<E>, C>(spec: StructureSpec<E, O, C>): StructureSpec<E, O, C> {
  return spec;
}

/** A table of kinds, by kind name (`kinds.ts` holds the one of procshare). */
// deno-lint-ignore no-explicit-any
export type Kinds = Readonly<Record<string, StructureSpec<any, OpTable<any>, unknown>>>;

/** The context of a local call: this thread's id, and the caller's signal. */
class LocalContext implements CallContext {
  constructor(readonly signal: AbortSignal | undefined) {}
  get ownerId(): number {
    return threadId();
  }
}
const LOCAL: CallContext = new LocalContext(undefined);
const nothing = (): void => {};

/**
 * How many live clients stand on each remote (a Value and its `getLock()`,
 * a Barrier and its `withAction` copies share one): the remote's reference
 * goes back when the last of them is garbage collected.
 */
const holders = new WeakMap<Remote, number>();
/** The safety net: a client dropped without `close()` gives its reference back when collected. */
const finalizer = new FinalizationRegistry<Remote>((remote) => {
  const n = (holders.get(remote) ?? 1) - 1;
  if (n > 0) holders.set(remote, n);
  else {
    holders.delete(remote);
    remote.release?.(false);
  }
});

function closedError(kind: string, what: string): TransportError {
  return new TransportError("Closed", `Cannot ${what} as this client was closed: received a closed ${kind}`);
}

/**
 * The base of every client: a structure reached through its engine (shared
 * buffer) or a remote (socket). `call` runs one op of the kind's table
 * wherever the structure lives; the op names are checked by the compiler.
 *
 * Every structure and primitive inherits its public members from here: the
 * serializable {@linkcode Shared.handle} to post to a worker (or send to
 * another process) and `attach` there, and a `toJSON` and inspectors that
 * print the handle with its authkey redacted, never the engine's memory.
 *
 * @example Every structure has a handle
 * ```ts
 * import { attach, type Dict, Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const d = await m.dict<string, number>({ a: 1 });
 * console.log(d.handle.kind, d.handle.via); // dict shared-buffer
 * const again = await attach<Dict<string, number>>(d.handle); // what a worker does with a posted handle
 * console.log(await again.get("a"), JSON.stringify(d) === JSON.stringify(d.handle)); // 1 true
 * ```
 */
export abstract class Shared<E, O extends OpTable<E>> {
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;
  readonly #engine: E | undefined;
  readonly #remote: Remote | undefined;
  readonly #ops: O;
  #closed = false;

  /** @internal Use the Manager's factory or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<E>, ops: O) {
    this.handle = redacted(handle);
    this.#engine = backend.engine;
    this.#remote = backend.remote;
    this.#ops = ops;
    const remote = backend.remote;
    if (remote?.release !== undefined) {
      holders.set(remote, (holders.get(remote) ?? 0) + 1);
      finalizer.register(this, remote, this);
    }
  }

  /**
   * The engine, when the structure lives in this thread's memory.
   * Fails with `TransportError("Closed")` once the client is closed.
   *
   * @internal
   */
  protected get engine(): E | undefined {
    if (this.#closed) throw closedError(this.handle.kind, `use this ${this.handle.kind}`);
    return this.#engine;
  }

  /**
   * The manager connection, otherwise.
   * Fails with `TransportError("Closed")` once the client is closed.
   *
   * @internal
   */
  protected get remote(): Remote | undefined {
    if (this.#closed) throw closedError(this.handle.kind, `use this ${this.handle.kind}`);
    return this.#remote;
  }

  /**
   * Lets go of the structure: on a manager server, this client's reference
   * is given back at once (an anonymous structure no thread or connection
   * holds any more is freed; a named one lives until `Manager.delete(name)`
   * or shutdown); on the shared buffer, this client drops nothing but its
   * right to call, and the memory goes when no thread holds it. Every later
   * call of this client fails with `TransportError("Closed")`; other clients
   * of the structure are not affected, except the ones made from this one
   * (its `getLock()`). Calling it again does nothing. A client dropped
   * without `close()` gives its reference back when the garbage collector
   * takes it.
   *
   * @example Closing with `using`
   * ```ts
   * import { Manager } from "../mod.ts";
   * await using m = await Manager.start();
   * {
   *   using d = await m.dict<string, number>();
   *   await d.set("a", 1);
   * } // d is closed here
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const remote = this.#remote;
    if (remote?.release !== undefined) {
      finalizer.unregister(this);
      holders.delete(remote);
      remote.release(true);
    }
  }

  /** Closes this client when a `using` block ends (as {@linkcode close}). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes this client when an `await using` block ends (as {@linkcode close}). */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /**
   * Keeps the structure of `v` alive on its manager server while its handle
   * travels (spawn's arguments and results): one more reference on this
   * client's connection, given back by `close()` or when the connection ends.
   * Nothing to do on the shared buffer, where the handle carries the memory.
   *
   * @internal
   */
  static pinForTransfer(v: unknown): void {
    if (v instanceof Shared && !v.#closed) v.#remote?.pin?.();
  }

  /**
   * One operation wherever the structure lives. Locally the op runs at once
   * and its value is returned as it is (a throw is a throw): call it from an
   * `async` method, which turns both into its promise in one step. Remotely
   * the result is the call's promise.
   *
   * @internal
   */
  protected call<K extends keyof O & string>(
    op: K,
    args: ArgsOf<O[K]>,
    signal?: AbortSignal,
  ): ResultOf<O[K]> | Promise<ResultOf<O[K]>> {
    if (this.#closed) throw closedError(this.handle.kind, `call ${this.handle.kind}.${op}`);
    const engine = this.#engine;
    if (engine !== undefined) {
      const seen = storedSeen();
      const r = this.#ops[op](engine, args, signal ? new LocalContext(signal) : LOCAL) as ResultOf<O[K]>;
      // a structure read from inside this one arrives attached (issue 10); the counter keeps the common case free
      if (r instanceof Promise) return r.then((v) => this.#attachRead(v)) as Promise<ResultOf<O[K]>>;
      return storedSeen() === seen ? r : this.#attachRead(r) as Promise<ResultOf<O[K]>>;
    }
    const seen = storedSeen(); // the reply is decoded after this: an unmoved count means it holds no structure
    return this.#remote!.call(op, args as readonly unknown[], signal).then((v) =>
      storedSeen() === seen ? v : this.#attachRead(v)
    ) as Promise<ResultOf<O[K]>>;
  }

  /** `v` with the structures stored in it attached (`transports/_nested.ts`); `v` itself when it holds none. */
  #attachRead(v: unknown): unknown {
    return holdsStored(v) ? attachRead(v, this.handle) : v;
  }

  /**
   * For a method that reads its engine without {@linkcode call} (a hot
   * path): `v`, or the promise of it with the structures stored in it
   * attached, when the stored-handle count moved since `seen` (`storedSeen()`
   * taken before the read).
   *
   * @internal
   */
  protected attachedSince<T>(seen: number, v: T): T | Promise<T> {
    return storedSeen() === seen ? v : this.#attachRead(v) as T | Promise<T>;
  }

  /**
   * An op whose result is dropped, for `async` methods that resolve to
   * nothing: `return this.exec("set", [k, v])`. Locally nothing is left to
   * wait for once the op ran (unless the op itself is async); remotely it is
   * the call's promise.
   *
   * @internal
   */
  protected exec<K extends keyof O & string>(op: K, args: ArgsOf<O[K]>, signal?: AbortSignal): void | Promise<void> {
    const r = this.call(op, args, signal);
    return r instanceof Promise ? r.then(nothing) : undefined;
  }

  /**
   * A blocking op, to call from an `async` method as {@linkcode call}.
   * Locally the engine raises its domain's errors itself; remotely an already aborted signal fails at
   * once, and a call cancelled by its signal fails with the domain's
   * `Aborted` error.
   *
   * @internal
   */
  protected blocking<K extends keyof O & string>(
    op: K,
    args: ArgsOf<O[K]>,
    domain: WaitDomain,
    what: string,
    signal?: AbortSignal,
  ): ResultOf<O[K]> | Promise<ResultOf<O[K]>> {
    if (this.#engine !== undefined) return this.call(op, args, signal);
    return this.#remoteBlocking(op, args, domain, what, signal);
  }

  async #remoteBlocking<K extends keyof O & string>(
    op: K,
    args: ArgsOf<O[K]>,
    domain: WaitDomain,
    what: string,
    signal?: AbortSignal,
  ): Promise<ResultOf<O[K]>> {
    if (signal?.aborted) throw abortedError(domain, what, signal);
    try {
      return await this.call(op, args, signal);
    } catch (e) {
      if (isAbort(e)) throw abortedError(domain, what, signal);
      throw e;
    }
  }

  /** What `JSON.stringify` writes: the handle, its authkey redacted. */
  toJSON(): Handle {
    return this.handle;
  }

  /** What inspectors print: the class and its handle (authkey redacted), not the engine's memory. */
  [INSPECT_NODE](): string {
    return `${this.constructor.name} ${JSON.stringify(this.handle)}`;
  }

  /** Deno's inspector: as {@linkcode toJSON}. */
  [INSPECT_DENO](): string {
    return this[INSPECT_NODE]();
  }

  /**
   * The engine for a Sync twin, or the typed error on a transport without shared memory.
   *
   * @internal
   */
  protected local(what: string): E {
    if (this.#closed) throw closedError(this.handle.kind, `call ${what}`);
    if (this.#engine === undefined) throw unsupportedSync(what, this.handle.via);
    return this.#engine;
  }
}
