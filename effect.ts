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
import { Context, Effect, Layer } from "effect";
import { CapacityError, CodecError, LockError, QueueError, TransportError, WorkerError } from "./errors.ts";
import { Manager, type ManagerConnectOptions, type ManagerStartOptions, type StructureOptions } from "./manager.ts";
import type { Dict, DictOptions, DictUpdate } from "./structures/dict.ts";
import type { Queue, QueueOptions } from "./structures/queue.ts";
import type { Lock, LockPermit } from "./sync/lock.ts";
import type { WaitOptions } from "./sync/_kernel.ts";

export { CapacityError, CodecError, LockError, QueueError, TransportError, WorkerError };

/** Every error a procshare Effect may fail with. */
export type ProcshareFailure = LockError | QueueError | CapacityError | CodecError | TransportError | WorkerError;

/** The manager, as a service. */
export class ProcshareManager extends Context.Service<ProcshareManager, Manager>()("procshare/Manager") {}

function toFailure(e: unknown): ProcshareFailure {
  if (
    e instanceof LockError || e instanceof QueueError || e instanceof CapacityError || e instanceof CodecError ||
    e instanceof TransportError || e instanceof WorkerError
  ) return e;
  return new TransportError("Remote", (e as Error)?.message ?? String(e), { cause: e });
}

/** Lifts one Promise-API call into an Effect; interruption aborts `signal`. */
function lift<A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, ProcshareFailure> {
  return Effect.tryPromise({ try: (signal: AbortSignal) => f(signal), catch: toFailure });
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

/** Creates or opens (by `options.name`) a shared lock. */
export const lock = (options?: StructureOptions): Effect.Effect<Lock, ProcshareFailure, ProcshareManager> =>
  Effect.flatMap(Effect.service(ProcshareManager), (m) => lift(() => m.lock(options)));

/** Holds `l` while `effect` runs; released however it ends (interruption included). */
export const withLock = <A, E, R>(
  l: Lock,
  effect: Effect.Effect<A, E, R>,
  options?: { readonly timeout?: number },
): Effect.Effect<A, E | ProcshareFailure, R> =>
  Effect.acquireUseRelease(
    lift((signal) => l.acquire({ timeout: options?.timeout, signal })),
    () => effect,
    (permit: LockPermit) => Effect.promise(() => permit.release()),
  );

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
