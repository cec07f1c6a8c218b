/**
 * The Manager: Python's `multiprocessing.Manager()` / `SyncManager`, whose
 * factories create (or, by name, open) shared structures on one transport.
 * @module
 */
import { TransportError } from "./errors.ts";
import { attach } from "./attach.ts";
import { type Authkey, type Handle, INSPECT_DENO, INSPECT_NODE } from "./core/backend.ts";
import { KINDS } from "./kinds.ts";
import { providerFor } from "./transports/_registry.ts";
import { formatTransport, parseTransport, type TransportImpl, type TransportOptions } from "./transports/transport.ts";
import { Dict, type DictOptions, type DictUpdate } from "./structures/dict.ts";
import { Queue, type QueueOptions } from "./structures/queue.ts";
import { List, type ListOptions } from "./structures/list.ts";
import type { SetOptions, SharedSet } from "./structures/set.ts";
import { JoinableQueue } from "./structures/joinable_queue.ts";
import { SimpleQueue } from "./structures/simple_queue.ts";
import { type Attributes, Namespace } from "./structures/namespace.ts";
import { Lock } from "./sync/lock.ts";
import { RLock } from "./sync/rlock.ts";
import { BoundedSemaphore, Semaphore, type SemaphoreOptions } from "./sync/semaphore.ts";
import { Condition, type ConditionLock, type ConditionOptions } from "./sync/condition.ts";
import { Event } from "./sync/event.ts";
import { Barrier, type BarrierOptions } from "./sync/barrier.ts";
import { RawValue, Value } from "./structures/value.ts";
import { RawArray, SharedArray } from "./structures/array.ts";
import type { SharedMemory } from "./structures/shared_memory.ts";
import type { ShareableItem, ShareableList } from "./structures/shareable_list.ts";
import type { InputOf, TypeCode } from "./structures/_typecodes.ts";
import { type Custom, type CustomObject, customSpec, type CustomType, loadTypes } from "./structures/custom.ts";

/** Options of `Manager.start`. */
export interface ManagerStartOptions {
  /**
   * Where the structures live: a URL (`shared-buffer:`, `unix:/path`,
   * `tcp://127.0.0.1:0`), an options object, or by default the
   * `PROCSHARE_TRANSPORT` environment variable, else the shared buffer.
   * Deno reads the variable only with `--allow-env=PROCSHARE_TRANSPORT`;
   * without it, a warning saying so is printed once and the shared buffer is
   * used.
   */
  readonly transport?: string | TransportOptions;
  /**
   * Authkey for socket transports (default: 32 random bytes). Bytes as they
   * are; a string of 64 hex digits (a generated key's `toHex()`) or
   * `"hex:"` followed by hex digits is read as hex; any other string is a
   * passphrase, encoded as UTF-8.
   */
  readonly authkey?: Uint8Array | string;
  /**
   * Largest message, in bytes, one call or one answer may take on a socket
   * transport (default 64 MiB, `67108864`): a larger value fails with
   * `TransportError("FrameTooLarge")` and the connection goes on serving.
   * Give clients that `Manager.connect` the same value; structures handed to
   * other threads and processes carry it. The shared buffer has no such limit.
   */
  readonly maxFrameBytes?: number;
  /**
   * Socket server: a client whose unsent replies pass this many bytes is
   * not read from until it reads them (default 2 × `maxFrameBytes`).
   */
  readonly maxPendingReplyBytes?: number;
  /**
   * Socket server: a message must arrive whole within this many ms of its
   * first byte, or its client is cut off (default 30000).
   */
  readonly frameTimeoutMs?: number;
  /**
   * Socket server: most anonymous structures it holds at once (default
   * 16384); one more fails with `CapacityError` until some are closed.
   */
  readonly maxAnonymous?: number;
  /**
   * Custom types the manager's server hosts, by name (Python's
   * `BaseManager.register(typeid, callable)`): for each, the URL of a module
   * whose default export is a class, or the class itself while the server
   * runs in this process. `m.custom(name, args)` constructs one in the
   * server. Only transports with a manager server (`unix:`, `tcp:`) host
   * them; a module that does not load, or a default export that is not a
   * class, fails the start with a `TypeError`.
   */
  readonly types?: Readonly<Record<string, CustomType>>;
  /**
   * `"process"`: run the server of a `unix:` or `tcp:` transport in a child
   * process of this runtime, as Python's `Manager()` does, and connect to it
   * (by default the server runs in this process). Its structures then outlive
   * a crash of any client, this process included: `shutdown()` here, or
   * `shutdown({ server: true })` from any client holding the authkey, stops
   * it. The child is also stopped when this process exits (its `exit`
   * event); killed without that (SIGKILL), it is left serving — see
   * `orphanTimeoutMs`.
   */
  readonly serve?: "process";
  /**
   * With `serve: "process"`: once its starter died without shutting it down,
   * the server stops when no client has been connected for this many ms
   * (default 60000); `Infinity` keeps it until a `shutdown({ server: true })`.
   */
  readonly orphanTimeoutMs?: number;
}

/** Options of `Manager.shutdown`. */
export interface ManagerShutdownOptions {
  /**
   * On a manager that joined with `Manager.connect`: also stop the server,
   * when it runs in its own process (`serve: "process"`, `procshare serve`);
   * every client's connection closes. A server running inside the program
   * that started it refuses with `TransportError("Unsupported")`. On a
   * manager that started its server, `shutdown()` stops it anyway.
   */
  readonly server?: boolean;
}

/** Options of `Manager.connect`. */
export interface ManagerConnectOptions {
  /**
   * The manager's authkey (`manager.authkey` on the side that started it):
   * its bytes, or as text its hex (`manager.authkey.toHex()`, 64 hex digits
   * for a generated key, or `"hex:"` followed by the hex of a key of any
   * length), or the passphrase string it was started with.
   */
  readonly authkey: Uint8Array | string;
  /**
   * Largest message, in bytes, one call or one answer may take (default
   * 64 MiB): use the value the manager was started with.
   */
  readonly maxFrameBytes?: number;
}

/** Options every factory takes. */
export interface StructureOptions {
  /** Name under which any thread or process of this manager finds the structure. */
  readonly name?: string;
}

function queueOptions(maxsize: number | QueueOptions | undefined, options: QueueOptions | undefined): QueueOptions {
  return typeof maxsize === "object" && maxsize !== null
    ? maxsize
    : { ...options, maxsize: maxsize ?? options?.maxsize };
}

/** A Lock crosses to the engine as its handle (a class instance cannot be encoded). */
function lockParam(lock: boolean | Lock | undefined): unknown {
  return lock instanceof Lock ? lock.handle : lock;
}

/**
 * A manager of shared structures on one transport. Start one with
 * {@linkcode Manager.start}; join one from another process with
 * {@linkcode Manager.connect}; end it with `shutdown()` or `await using`.
 *
 * Each factory takes Python's positional parameters, then options whose
 * `name` makes the structure findable: `m.dict(undefined, { name: "scores" })`
 * opens the existing dict of that name, or creates it.
 *
 * **Lifetimes**: a named structure lives until {@linkcode Manager.delete} or
 * shutdown. An anonymous one lives while a thread or connection holds it:
 * `close()` a client (or let `using` do it) when done with it; a client
 * dropped without closing is given back when the garbage collector takes it,
 * which may be much later — on a manager server, whose connections may hold
 * at most `DEFAULT_MAX_ANONYMOUS` (16,384) anonymous structures at once
 * before an open fails with `CapacityError`, close what you create in a loop.
 * SharedMemory and ShareableList blocks stay until unlinked or shutdown.
 *
 * @example A dict, a queue and a lock
 * ```ts
 * import { Manager } from "./mod.ts";
 * await using m = await Manager.start();              // shared buffer
 * const scores = await m.dict<string, number>({ a: 1 }, { name: "scores" });
 * const jobs = await m.queue<number>({ maxsize: 10 });
 * const lock = await m.lock();
 * await lock.withLock(() => scores.set("a", 2));
 * await jobs.put(1);
 * ```
 */
export class Manager implements AsyncDisposable {
  readonly #transport: TransportImpl;
  /** Joined with `connect` (the server is someone else's). */
  readonly #joined: boolean;
  #closed = false;

  private constructor(transport: TransportImpl, joined = false) {
    this.#transport = transport;
    this.#joined = joined;
  }

  /**
   * Starts a manager on a transport (default: the shared buffer, no server).
   *
   * @example A server in its own process, as Python's `Manager()`
   * ```ts
   * import { Manager } from "./mod.ts";
   * await using m = await Manager.start({ transport: "unix:/tmp/app.sock", serve: "process" });
   * const d = await m.dict<string, number>({ a: 1 }, { name: "d" });
   * // another program: await Manager.connect("unix:/tmp/app.sock", { authkey }) reads "d",
   * // even after this one was killed
   * ```
   */
  static async start(options?: ManagerStartOptions): Promise<Manager> {
    const config = parseTransport(options?.transport);
    if (options?.serve !== undefined) return await Manager.#startProcess(config, options);
    const provider = await providerFor(config.kind);
    return new Manager(
      await provider.start(config, {
        kinds: KINDS,
        authkey: options?.authkey,
        maxFrameBytes: options?.maxFrameBytes,
        maxPendingReplyBytes: options?.maxPendingReplyBytes,
        frameTimeoutMs: options?.frameTimeoutMs,
        maxAnonymous: options?.maxAnonymous,
        serverKinds: { custom: customSpec(await loadTypes(options?.types)) },
      }),
    );
  }

  static async #startProcess(config: TransportOptions, options: ManagerStartOptions): Promise<Manager> {
    if (options.serve !== "process") {
      throw new TypeError(`Cannot start manager as 'serve' must be "process": received ${String(options.serve)}`);
    }
    if (config.kind !== "unix" && config.kind !== "tcp") {
      throw new TransportError(
        "Unsupported",
        `Cannot start manager with serve: "process" as only unix: and tcp: transports have a server: received ${config.kind}:`,
      );
    }
    // a class cannot cross to the server process: only module URLs, which the child imports
    const types: Record<string, string> = {};
    for (const [name, source] of Object.entries(options.types ?? {})) {
      if (!(source instanceof URL) && typeof source !== "string") {
        throw new TypeError(
          `Cannot start manager with serve: "process" and custom type ${name} as a class cannot cross to the server process (give the URL of a module whose default export is the class): received ${typeof source}`,
        );
      }
      if (!URL.canParse(String(source))) {
        throw new TypeError(
          `Cannot register custom type ${name} as its module did not load: received ${String(source)}`,
        );
      }
      types[name] = new URL(String(source)).href;
    }
    const { servedTransport, startServerProcess } = await import("./transports/socket/_serve_process.ts");
    const { randomAuthkey, toAuthkey } = await import("./transports/_auth.ts");
    const provider = await providerFor(config.kind);
    const authkey = options.authkey === undefined ? randomAuthkey() : toAuthkey(options.authkey);
    const child = await startServerProcess(formatTransport(config), {
      authkey,
      orphanTimeoutMs: options.orphanTimeoutMs,
      maxFrameBytes: options.maxFrameBytes,
      maxPendingReplyBytes: options.maxPendingReplyBytes,
      frameTimeoutMs: options.frameTimeoutMs,
      maxAnonymous: options.maxAnonymous,
      types,
    });
    try {
      const client = await provider.connect!(parseTransport(child.address), {
        authkey,
        maxFrameBytes: options.maxFrameBytes,
        kinds: KINDS,
      });
      return new Manager(servedTransport(client, child));
    } catch (e) {
      await child.stop();
      throw e;
    }
  }

  /** Joins the manager serving at `address` (`unix:/path` or `tcp://host:port`; `shm:/name` needs an authkey only if it was started with one). */
  static async connect(address: string, options?: ManagerConnectOptions): Promise<Manager> {
    const config = parseTransport(address);
    const provider = await providerFor(config.kind);
    if (!provider.connect) {
      throw new TransportError(
        "BadUrl",
        `Cannot connect to manager as the address is not a server's: received ${address}`,
      );
    }
    if (config.kind !== "shm" && config.kind !== "pipe" && (!options || options.authkey === undefined)) {
      throw new TypeError("Cannot connect to manager as 'authkey' is missing: received undefined");
    }
    return new Manager(
      await provider.connect(config, {
        authkey: options?.authkey ?? "",
        maxFrameBytes: options?.maxFrameBytes,
        kinds: KINDS,
      }),
      true,
    );
  }

  /** The address other processes connect to; undefined on the shared buffer. */
  get address(): string | undefined {
    return this.#transport.address;
  }
  /**
   * The authkey other processes must present; undefined on the shared buffer.
   * Its bytes never print (`console.log`, `JSON.stringify` show `[redacted]`):
   * hand them on as text with `m.authkey.toHex()`, which `Manager.connect` accepts.
   */
  get authkey(): Authkey | undefined {
    return this.#transport.authkey as Authkey | undefined;
  }
  /** The transport's URL. */
  get transport(): string {
    return this.#transport.url;
  }

  async #open<T>(kind: string, name: string | undefined, params: readonly unknown[]): Promise<T> {
    if (this.#closed) throw new TransportError("Closed", "Cannot open structure as the manager is shut down");
    const handle: Handle = await this.#transport.open(kind, name, params);
    try {
      return await attach<T>(handle);
    } finally {
      // the structure's client holds its own reference now (or attaching failed)
      this.#transport.release?.(handle);
    }
  }

  /**
   * Forgets the structure named `name` (any kind): a later open of the name
   * creates a new one. The structure itself is freed once no thread or
   * connection holds it — clients attached to it keep working until they
   * close. Resolves `true` when the name existed, `false` otherwise.
   *
   * An anonymous structure needs no delete: it is freed when its last client
   * is closed (`close()`, `using`) or garbage collected. Named ones live until
   * `delete` or {@linkcode shutdown}.
   *
   * @example Reusing a name
   * ```ts
   * import { Manager } from "./mod.ts";
   * await using m = await Manager.start();
   * const a = await m.dict<string, number>({ n: 1 }, { name: "state" });
   * console.log(await m.delete("state"), await m.delete("state")); // true false
   * const b = await m.dict<string, number>(undefined, { name: "state" }); // a new, empty dict
   * console.log(await a.get("n"), await b.get("n")); // 1 undefined
   * ```
   */
  async delete(name: string): Promise<boolean> {
    if (this.#closed) throw new TransportError("Closed", "Cannot delete structure as the manager is shut down");
    if (typeof name !== "string" || name.length === 0) {
      throw new TypeError(`Cannot delete structure as 'name' must be a non-empty string: received ${String(name)}`);
    }
    return await this.#transport.delete(name);
  }

  /** A shared dict, filled from `initial` when created (Python's `Manager().dict()`). */
  dict<K = unknown, V = unknown>(
    initial?: DictUpdate<K, V>,
    options?: StructureOptions & DictOptions,
  ): Promise<Dict<K, V>> {
    return this.#open("dict", options?.name, [initial, options && { ...options, name: undefined }]);
  }

  /** A shared list, filled from `initial` when created (Python's `Manager().list()`). */
  list<T = unknown>(initial?: Iterable<T>, options?: StructureOptions & ListOptions): Promise<List<T>> {
    return this.#open("list", options?.name, [
      initial === undefined ? undefined : [...initial],
      options && { ...options, name: undefined },
    ]);
  }

  /**
   * A shared set, filled from `initial` when created (Python's
   * `Manager().set()`, a `SetProxy`): `add`, `discard`, `has`, `size`,
   * `union`/`intersection`/`difference` (plain `Set`s) and `for await`.
   *
   * @example A set of the ids seen
   * ```ts
   * import { Manager } from "./mod.ts";
   * await using m = await Manager.start();
   * const seen = await m.set<number>([1, 2]);
   * await seen.add(2);
   * console.log(await seen.size(), await seen.union([3])); // 2 Set(3) { 1, 2, 3 }
   * ```
   */
  set<T = unknown>(initial?: Iterable<T>, options?: StructureOptions & SetOptions): Promise<SharedSet<T>> {
    return this.#open("set", options?.name, [
      initial === undefined ? undefined : [...initial],
      options && { ...options, name: undefined },
    ]);
  }

  /**
   * A shared FIFO queue (Python's `Manager().Queue(maxsize)`): `m.queue(100)`
   * or `m.queue({ maxsize: 100, name })`.
   */
  queue<T = unknown>(maxsize?: number | QueueOptions, options?: QueueOptions): Promise<Queue<T>> {
    const o = queueOptions(maxsize, options);
    return this.#open("queue", o.name, [{ ...o, name: undefined }]);
  }

  /** A queue with `taskDone`/`join` (Python's `JoinableQueue(maxsize)`): `m.joinableQueue(100)` or `({ maxsize, name })`. */
  joinableQueue<T = unknown>(maxsize?: number | QueueOptions, options?: QueueOptions): Promise<JoinableQueue<T>> {
    const o = queueOptions(maxsize, options);
    return this.#open("joinableQueue", o.name, [{ ...o, name: undefined }]);
  }

  /** An unbounded queue (Python's `SimpleQueue()`). */
  simpleQueue<T = unknown>(options?: StructureOptions): Promise<SimpleQueue<T>> {
    return this.#open("simpleQueue", options?.name, []);
  }

  /** Shared named attributes (Python's `Manager().Namespace(**attrs)`). */
  namespace(initial?: Attributes, options?: StructureOptions & DictOptions): Promise<Namespace> {
    return this.#open("namespace", options?.name, [initial, options && { ...options, name: undefined }]);
  }

  /**
   * A typed shared scalar (Python's `Value(typecode, init)`): with a lock for
   * `getLock()` unless `lock: false` (then a `RawValue`).
   */
  value<C extends TypeCode>(
    typecode: C,
    init?: InputOf<C>,
    options?: StructureOptions & { readonly lock?: true | Lock },
  ): Promise<Value<C>>;
  /** A typed shared scalar without a lock (`lock: false`): a `RawValue`, each of whose operations is one atomic. */
  value<C extends TypeCode>(
    typecode: C,
    init: InputOf<C> | undefined,
    options: StructureOptions & { readonly lock: false },
  ): Promise<RawValue<C>>;
  value<C extends TypeCode>(
    typecode: C,
    init?: InputOf<C>,
    options?: StructureOptions & { readonly lock?: boolean | Lock },
  ): Promise<RawValue<C>> {
    return this.#open("value", options?.name, [typecode, init, { lock: lockParam(options?.lock) }]);
  }

  /**
   * A typed shared array (Python's `Array(typecode, size_or_initializer)`):
   * with a lock unless `lock: false` (then a `RawArray`).
   */
  array<C extends TypeCode>(
    typecode: C,
    sizeOrInit: number | Iterable<InputOf<C>>,
    options?: StructureOptions & { readonly lock?: true | Lock },
  ): Promise<SharedArray<C>>;
  /** A typed shared array without a lock (`lock: false`): a `RawArray`, atomic per element only. */
  array<C extends TypeCode>(
    typecode: C,
    sizeOrInit: number | Iterable<InputOf<C>>,
    options: StructureOptions & { readonly lock: false },
  ): Promise<RawArray<C>>;
  array<C extends TypeCode>(
    typecode: C,
    sizeOrInit: number | Iterable<InputOf<C>>,
    options?: StructureOptions & { readonly lock?: boolean | Lock },
  ): Promise<RawArray<C>> {
    const init = typeof sizeOrInit === "number" || Array.isArray(sizeOrInit) || ArrayBuffer.isView(sizeOrInit)
      ? sizeOrInit
      : Array.from(sizeOrInit);
    return this.#open("array", options?.name, [typecode, init, { lock: lockParam(options?.lock) }]);
  }

  /** A block of shared bytes (Python's `SharedMemory(name, create=True, size)`). */
  sharedMemory(size?: number, options?: StructureOptions): Promise<SharedMemory> {
    return this.#open("shared-memory", options?.name, [size, { name: options?.name }]);
  }

  /** A fixed-slot list of scalars and strings (Python's `ShareableList(sequence)`). */
  shareableList(sequence?: Iterable<ShareableItem>, options?: StructureOptions): Promise<ShareableList> {
    return this.#open("shareable-list", options?.name, [
      sequence === undefined ? undefined : Array.from(sequence),
      { name: options?.name },
    ]);
  }

  /** A shared non-recursive lock (Python's `Manager().Lock()`). */
  lock(options?: StructureOptions): Promise<Lock> {
    return this.#open("lock", options?.name, []);
  }

  /** A shared re-entrant lock (Python's `Manager().RLock()`). */
  rlock(options?: StructureOptions): Promise<RLock> {
    return this.#open("rlock", options?.name, []);
  }

  /** A shared counting semaphore holding `value` permits (Python's `Manager().Semaphore(value)`). */
  semaphore(value = 1, options?: StructureOptions & SemaphoreOptions): Promise<Semaphore> {
    return this.#open("semaphore", options?.name, [value, { maxHolders: options?.maxHolders }]);
  }

  /** A semaphore that refuses a release above `value` (Python's `Manager().BoundedSemaphore(value)`). */
  boundedSemaphore(value = 1, options?: StructureOptions & SemaphoreOptions): Promise<BoundedSemaphore> {
    return this.#open("boundedSemaphore", options?.name, [value, { maxHolders: options?.maxHolders }]);
  }

  /** A shared condition variable over `lock`, else over a new RLock (Python's `Manager().Condition(lock)`). */
  condition(lock?: ConditionLock, options?: StructureOptions & ConditionOptions): Promise<Condition> {
    const given = lock === undefined ? null : (lock?.handle ?? lock);
    return this.#open("condition", options?.name, [given, { maxWaiters: options?.maxWaiters }]);
  }

  /** A shared event (Python's `Manager().Event()`). */
  event(options?: StructureOptions): Promise<Event> {
    return this.#open("event", options?.name, []);
  }

  /**
   * A barrier for `parties` (Python's `Manager().Barrier(parties, action, timeout)`).
   * The action runs in this process only, when this object's wait arrives last.
   */
  async barrier(parties: number, options?: StructureOptions & BarrierOptions): Promise<Barrier> {
    const b = await this.#open<Barrier>("barrier", options?.name, [parties, { timeout: options?.timeout }]);
    return options?.action ? b.withAction(options.action) : b;
  }

  /**
   * An object of the custom type `type` (registered in `Manager.start({ types })`),
   * constructed in the manager server as `new Type(...args)` — or by
   * `name`, the one of that name (Python's `manager.Counter(*args)` for a
   * registered `Counter`). The proxy's methods are the class's public
   * methods, each run in the server and awaited by the caller; what a method
   * throws rejects the call (procshare's and the standard errors as their
   * class, any other as an `Error` of its name and message). Arguments and
   * results cross the wire through the codec, as every structure's values.
   * The proxy's handle passes to threads and processes as any structure's.
   *
   * Fails with `TransportError("Unsupported")` on a transport without a
   * manager server (shared buffer, `shm:`); with a `TypeError` for a type the
   * server does not know, or a name that holds another type.
   *
   * @example Python's `MathsClass`, registered as `Maths`
   * ```ts
   * import { Manager } from "./mod.ts";
   * class MathsClass {
   *   add(x: number, y: number): number {
   *     return x + y;
   *   }
   *   mul(x: number, y: number): number {
   *     return x * y;
   *   }
   * }
   * await using m = await Manager.start({ transport: "tcp://127.0.0.1:0", types: { Maths: MathsClass } });
   * const maths = await m.custom<MathsClass>("Maths");
   * console.log(await maths.add(4, 3), await maths.mul(7, 8)); // 7 56
   * ```
   */
  async custom<T = unknown>(type: string, args?: readonly unknown[], options?: StructureOptions): Promise<Custom<T>> {
    if (typeof type !== "string" || type.length === 0) {
      throw new TypeError(`Cannot create custom object as 'type' must be a non-empty string: received ${String(type)}`);
    }
    if (args !== undefined && !Array.isArray(args)) {
      throw new TypeError(`Cannot create ${type} as 'args' must be an array: received ${String(args)}`);
    }
    const c = await this.#open<CustomObject>("custom", options?.name, [type, args ?? []]);
    if (c.type !== type) {
      c.close();
      throw new TypeError(`Cannot open '${options?.name}' as a ${type} as it is a ${c.type}`);
    }
    return c as Custom<T>;
  }

  /**
   * Ends the manager: stops its server if it started one, closes connections,
   * and unlinks the names of the SharedMemory and ShareableList blocks it
   * created (as Python's SharedMemoryManager does); a manager that only
   * connected leaves the server's structures alone, unless told
   * `{ server: true }`: then a server in its own process (`serve: "process"`,
   * `procshare serve`) is stopped too, by any client holding the authkey.
   *
   * @example Stopping a standalone server from a client
   * ```ts
   * import { Manager } from "./mod.ts";
   * const m = await Manager.connect("unix:/tmp/app.sock", { authkey: "hex:" + "ab".repeat(32) });
   * await m.shutdown({ server: true });
   * ```
   */
  async shutdown(options?: ManagerShutdownOptions): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (options?.server === true && this.#joined) {
      const address = this.#transport.address;
      const kind = address === undefined ? undefined : parseTransport(address).kind;
      try {
        if (kind !== "unix" && kind !== "tcp") {
          throw new TransportError(
            "Unsupported",
            `Cannot shut down manager server as the transport has none: received ${this.#transport.url}`,
          );
        }
        const { requestShutdown } = await import("./transports/socket/_serve_process.ts");
        await requestShutdown(address!, this.#transport.authkey!);
      } finally {
        await this.#transport.close();
      }
      return;
    }
    await this.#transport.close();
  }

  /** Shuts the manager down when an `await using` block ends (as {@linkcode shutdown}). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** What `JSON.stringify` writes: the transport and address, never the authkey. */
  toJSON(): { transport: string; address: string | undefined } {
    return { transport: this.transport, address: this.address };
  }

  /** What Node's and Bun's inspectors print (no authkey). */
  [INSPECT_NODE](): string {
    return `Manager ${JSON.stringify(this)}`;
  }

  /** What Deno's inspector prints (no authkey). */
  [INSPECT_DENO](): string {
    return this[INSPECT_NODE]();
  }
}
