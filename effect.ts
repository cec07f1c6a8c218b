/**
 * The Effect API of procshare: the manager as a service provided by a
 * scoped Layer per transport, structures as Effects that need it, every
 * operation as an Effect whose failures are the tagged errors of
 * `errors.ts`, and whose interruption cancels a blocking wait (through the
 * operation's `signal`).
 *
 * @example A counter under a lock, on the shared buffer
 * ```ts
 * import { Effect } from "effect";
 * import * as P from "./effect.ts";
 *
 * const program = Effect.gen(function* () {
 *   const d = yield* P.dict<string, number>();
 *   const lock = yield* P.lock();
 *   yield* P.withLock(lock, P.DictOps.compute(d, "hits", (n) => (n ?? 0) + 1));
 *   return yield* P.DictOps.get(d, "hits");
 * });
 * console.log(await Effect.runPromise(Effect.provide(program, P.layer())));
 * ```
 * @module
 */
// The effect package documents its own types: `@internal` tells `deno doc --lint` not to ask this module to export them.
import {
  /** @internal */
  Context,
  /** @internal */
  Effect,
  /** @internal */
  Layer,
} from "effect";
import {
  CapacityError,
  CodecError,
  LockError,
  QueueError,
  SharedMemoryError,
  TransportError,
  WorkerError,
} from "./errors.ts";
import { Manager, type ManagerConnectOptions, type ManagerStartOptions, type StructureOptions } from "./manager.ts";
import type { Dict, DictOptions, DictUpdate } from "./structures/dict.ts";
import type { Queue, QueueOptions } from "./structures/queue.ts";
import type { JoinableQueue } from "./structures/joinable_queue.ts";
import type { Value } from "./structures/value.ts";
import type { SharedArray } from "./structures/array.ts";
import type { InputOf, TypeCode } from "./structures/_typecodes.ts";
import type { Custom } from "./structures/custom.ts";
import type { Lock, LockPermit } from "./sync/lock.ts";
import type { WaitOptions } from "./sync/_kernel.ts";

export { CapacityError, CodecError, LockError, QueueError, SharedMemoryError, TransportError, WorkerError };
export type { Factory };

/** Every error a procshare Effect may fail with. */
export type ProcshareFailure =
  | LockError
  | QueueError
  | CapacityError
  | CodecError
  | TransportError
  | WorkerError
  | SharedMemoryError;

/** The service key {@linkcode ProcshareManager} extends, typed so that JSR's fast check reads the class. */
const /** @internal */ ProcshareManagerKey: Context.ServiceClass<ProcshareManager, "procshare/Manager", Manager> =
  Context.Service<ProcshareManager, Manager>()("procshare/Manager");

/**
 * The manager, as a service: what every structure factory of this module
 * needs. Provide it with {@linkcode layer} (start a manager) or
 * {@linkcode layerConnect} (join one served by another process).
 *
 * @example Reaching the manager itself
 * ```ts
 * import { Effect } from "effect";
 * import * as P from "./effect.ts";
 * const program = Effect.map(Effect.service(P.ProcshareManager), (m) => m.transport);
 * console.log(await Effect.runPromise(Effect.provide(program, P.layer()))); // shared-buffer:
 * ```
 */
export class ProcshareManager extends ProcshareManagerKey {}

function isFailure(e: unknown): e is ProcshareFailure {
  return e instanceof LockError || e instanceof QueueError || e instanceof CapacityError || e instanceof CodecError ||
    e instanceof TransportError || e instanceof WorkerError || e instanceof SharedMemoryError;
}

type Settled<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: ProcshareFailure };

/**
 * Lifts one Promise-API call into an Effect; interruption aborts `signal`.
 * procshare's tagged errors fail the Effect; anything else (a `TypeError`
 * from bad input, a bug) stays a defect, as Effect's own APIs do.
 */
function lift<A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, ProcshareFailure> {
  return Effect.flatMap(
    Effect.promise((signal: AbortSignal) =>
      f(signal).then(
        (value): Settled<A> => ({ ok: true, value }),
        (error): Settled<A> => {
          if (isFailure(error)) return { ok: false, error };
          throw error;
        },
      )
    ),
    (r) => r.ok ? Effect.succeed(r.value) : Effect.fail(r.error),
  );
}

/**
 * A layer that starts a manager on a transport (default: the shared buffer,
 * or `PROCSHARE_TRANSPORT`) and shuts it down when its scope closes.
 */
export function layer(options?: ManagerStartOptions): Layer.Layer<ProcshareManager, ProcshareFailure> {
  return Layer.effect(
    ProcshareManager,
    Effect.acquireRelease(lift(() => Manager.start(options)), (m) => Effect.promise(() => m.shutdown())),
  );
}

/** A layer that joins a manager served at `address`, and disconnects when its scope closes. */
export function layerConnect(
  address: string,
  options: ManagerConnectOptions,
): Layer.Layer<ProcshareManager, ProcshareFailure> {
  return Layer.effect(
    ProcshareManager,
    Effect.acquireRelease(lift(() => Manager.connect(address, options)), (m) => Effect.promise(() => m.shutdown())),
  );
}

/**
 * The Effect form of the manager factory `K`: the same parameters, and an
 * Effect that needs {@linkcode ProcshareManager} and succeeds with what the
 * factory's promise resolves to (`Factory<"lock">` takes
 * `options?: StructureOptions` and gives an `Effect<Lock, ProcshareFailure, ProcshareManager>`).
 *
 * @example Naming the type of a factory
 * ```ts
 * import { Effect } from "effect";
 * import * as P from "./effect.ts";
 * const makeLock: P.Factory<"lock"> = P.lock;
 * const held = Effect.flatMap(makeLock(), (l) => P.withLock(l, Effect.succeed("held")));
 * console.log(await Effect.runPromise(Effect.provide(held, P.layer()))); // held
 * ```
 */
type Factory<K extends keyof Manager> = Manager[K] extends (...args: infer A) => Promise<infer R>
  ? (...args: A) => Effect.Effect<R, ProcshareFailure, ProcshareManager>
  : never;

function factory<K extends keyof Manager>(name: K): Factory<K> {
  return ((...args: unknown[]) =>
    Effect.flatMap(
      Effect.service(ProcshareManager),
      (m) => lift(() => (m[name] as (...a: unknown[]) => Promise<unknown>)(...args)),
    )) as Factory<K>;
}

/** Creates or opens (by `options.name`) a shared dict. */
export const dict = <K = unknown, V = unknown>(
  initial?: DictUpdate<K, V>,
  options?: StructureOptions & DictOptions,
): Effect.Effect<Dict<K, V>, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(Effect.service(ProcshareManager), (m) => lift(() => m.dict<K, V>(initial, options)));

/** Creates or opens (by `options.name`) a shared queue. */
export const queue = <T = unknown>(
  maxsize?: number | QueueOptions,
  options?: QueueOptions,
): Effect.Effect<Queue<T>, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(Effect.service(ProcshareManager), (m) => lift(() => m.queue<T>(maxsize, options)));

/** Creates or opens a shared list (`Manager.list`). */
export const list: Factory<"list"> = factory("list");
/** Creates or opens a shared namespace (`Manager.namespace`). */
export const namespace: Factory<"namespace"> = factory("namespace");
/** Creates or opens a joinable queue (`Manager.joinableQueue`). */
export const joinableQueue: Factory<"joinableQueue"> = factory("joinableQueue");
/** Creates or opens a shared set (`Manager.set`). */
export const set: Factory<"set"> = factory("set");
/** Creates or opens a simple queue (`Manager.simpleQueue`). */
export const simpleQueue: Factory<"simpleQueue"> = factory("simpleQueue");
/** Creates or opens a typed shared scalar (`Manager.value`; with a lock unless `lock: false`). */
export const value = <C extends TypeCode>(
  typecode: C,
  init?: InputOf<C>,
  options?: StructureOptions & { readonly lock?: boolean | Lock },
): Effect.Effect<Value<C>, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(
    Effect.service(ProcshareManager),
    (m) => lift(() => m.value(typecode, init, options as { lock?: true }) as Promise<Value<C>>),
  );
/** Creates or opens a typed shared array (`Manager.array`; with a lock unless `lock: false`). */
export const array = <C extends TypeCode>(
  typecode: C,
  sizeOrInit: number | Iterable<InputOf<C>>,
  options?: StructureOptions & { readonly lock?: boolean | Lock },
): Effect.Effect<SharedArray<C>, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(
    Effect.service(ProcshareManager),
    (m) => lift(() => m.array(typecode, sizeOrInit, options as { lock?: true }) as Promise<SharedArray<C>>),
  );
/** Creates or opens a named block of shared bytes (`Manager.sharedMemory`). */
export const sharedMemory: Factory<"sharedMemory"> = factory("sharedMemory");
/** Creates or opens a shareable list (`Manager.shareableList`). */
export const shareableList: Factory<"shareableList"> = factory("shareableList");
/**
 * Forgets the structure named `name` (`Manager.delete`): succeeds with true
 * when there was one. Exported as `delete` (`P.delete("scores")`).
 */
const deleteNamed: Factory<"delete"> = factory("delete");
export { deleteNamed as delete };
/** Creates or opens a shared lock (`Manager.lock`). */
export const lock: Factory<"lock"> = factory("lock");
/** Creates or opens a re-entrant lock (`Manager.rlock`). */
export const rlock: Factory<"rlock"> = factory("rlock");
/** Creates or opens a semaphore (`Manager.semaphore`). */
export const semaphore: Factory<"semaphore"> = factory("semaphore");
/** Creates or opens a bounded semaphore (`Manager.boundedSemaphore`). */
export const boundedSemaphore: Factory<"boundedSemaphore"> = factory("boundedSemaphore");
/** Creates or opens a condition variable (`Manager.condition`). */
export const condition: Factory<"condition"> = factory("condition");
/** Creates or opens an event (`Manager.event`). */
export const event: Factory<"event"> = factory("event");
/** Creates or opens a barrier (`Manager.barrier`). */
export const barrier: Factory<"barrier"> = factory("barrier");
/** Creates or opens (by `options.name`) an object of a type registered in `types` (`Manager.custom`). */
export const custom = <T = unknown>(
  type: string,
  args?: readonly unknown[],
  options?: StructureOptions,
): Effect.Effect<Custom<T>, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(Effect.service(ProcshareManager), (m) => lift(() => m.custom<T>(type, args, options)));

/** Names of the methods of `T` that return a promise. */
export type AsyncMethods<T> =
  & {
    [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
  }[keyof T]
  & string;

/**
 * Any operation of any structure as an Effect: `op(counter, "add", 1)`.
 * For blocking operations prefer {@linkcode acquire}, {@linkcode wait},
 * {@linkcode put}, {@linkcode get} and {@linkcode join}, whose interruption
 * cancels the wait.
 */
export const op = <T, K extends AsyncMethods<T>>(
  structure: T,
  method: K,
  ...args: T[K] extends (...a: infer A) => Promise<unknown> ? A : never
): Effect.Effect<T[K] extends (...a: never[]) => Promise<infer R> ? R : never, ProcshareFailure> =>
  lift(() => (structure[method] as (...a: unknown[]) => Promise<never>).apply(structure, args));

/** Acquires a Lock, RLock, Semaphore or Condition's lock; interruption cancels the wait. */
export const acquire = <P>(
  l: { acquire(options?: WaitOptions): Promise<P> },
  options?: Omit<WaitOptions, "signal">,
): Effect.Effect<P, ProcshareFailure> => lift((signal) => l.acquire({ ...options, signal }));

/** Waits on an Event, Condition or Barrier; interruption cancels the wait. */
export const wait = <A>(
  w: { wait(options?: WaitOptions): Promise<A> },
  options?: Omit<WaitOptions, "signal">,
): Effect.Effect<A, ProcshareFailure> => lift((signal) => w.wait({ ...options, signal }));

/** Puts an item on any queue; interruption cancels a wait for room. */
export const put = <T>(
  q: Queue<T>,
  item: T,
  options?: Omit<WaitOptions, "signal">,
): Effect.Effect<void, ProcshareFailure> => lift((signal) => q.put(item, { ...options, signal }));

/** Takes an item from any queue; interruption cancels the wait. */
export const get = <T>(q: Queue<T>, options?: Omit<WaitOptions, "signal">): Effect.Effect<T, ProcshareFailure> =>
  lift((signal) => q.get({ ...options, signal }));

/** Waits until every item of a JoinableQueue is done; interruption cancels the wait. */
export const join = <T>(
  q: JoinableQueue<T>,
  options?: Omit<WaitOptions, "signal">,
): Effect.Effect<void, ProcshareFailure> => lift((signal) => q.join({ ...options, signal }));

/** Holds one acquisition of `l` (a Lock, RLock, Semaphore, Condition) while `effect` runs. */
export const withPermit = <A, E, R>(
  l: { acquire(options?: WaitOptions): Promise<{ release(): Promise<void> }> },
  effect: Effect.Effect<A, E, R>,
  options?: { readonly timeout?: number },
): Effect.Effect<A, E | ProcshareFailure, R> =>
  Effect.acquireUseRelease(
    lift((signal) => l.acquire({ timeout: options?.timeout, signal })),
    () => effect,
    (permit) => Effect.promise(() => permit.release()),
  );

/** Holds `l` while `effect` runs; released however it ends (interruption included). */
export const withLock = <A, E, R>(
  l: Lock,
  effect: Effect.Effect<A, E, R>,
  options?: { readonly timeout?: number },
): Effect.Effect<A, E | ProcshareFailure, R> => withPermit(l, effect, options);

/** Dict operations as Effects. */
export const DictOps = {
  get: <K, V>(d: Dict<K, V>, key: K): Effect.Effect<V | undefined, ProcshareFailure> => lift(() => d.get(key)),
  set: <K, V>(d: Dict<K, V>, key: K, value: V): Effect.Effect<void, ProcshareFailure> => lift(() => d.set(key, value)),
  has: <K, V>(d: Dict<K, V>, key: K): Effect.Effect<boolean, ProcshareFailure> => lift(() => d.has(key)),
  delete: <K, V>(d: Dict<K, V>, key: K): Effect.Effect<boolean, ProcshareFailure> => lift(() => d.delete(key)),
  size: <K, V>(d: Dict<K, V>): Effect.Effect<number, ProcshareFailure> => lift(() => d.size()),
  entries: <K, V>(d: Dict<K, V>): Effect.Effect<Array<[K, V]>, ProcshareFailure> => lift(() => d.entries()),
  compute: <K, V>(
    d: Dict<K, V>,
    key: K,
    fn: (current: V | undefined) => V | undefined,
  ): Effect.Effect<V | undefined, ProcshareFailure> => lift(() => d.compute(key, fn)),
  compareAndSet: <K, V>(
    d: Dict<K, V>,
    key: K,
    expected: V | undefined,
    next: V | undefined,
  ): Effect.Effect<boolean, ProcshareFailure> => lift(() => d.compareAndSet(key, expected, next)),
};

/** Queue operations as Effects; interrupting a blocked `get`/`put` cancels it. */
export const QueueOps = {
  put: <T>(q: Queue<T>, item: T, options?: { timeout?: number }): Effect.Effect<void, ProcshareFailure> =>
    lift((signal) => q.put(item, { timeout: options?.timeout, signal })),
  get: <T>(q: Queue<T>, options?: { timeout?: number }): Effect.Effect<T, ProcshareFailure> =>
    lift((signal) => q.get({ timeout: options?.timeout, signal })),
  qsize: <T>(q: Queue<T>): Effect.Effect<number, ProcshareFailure> => lift(() => q.qsize()),
};

/** Lock operations as Effects. */
export const LockOps = {
  acquire: (l: Lock, options?: Omit<WaitOptions, "signal">): Effect.Effect<LockPermit, ProcshareFailure> =>
    lift((signal) => l.acquire({ ...options, signal })),
  release: (l: Lock): Effect.Effect<void, ProcshareFailure> => lift(() => l.release()),
};
