/**
 * A barrier for a fixed number of parties: Python's
 * `multiprocessing.Barrier(parties, action, timeout)`.
 *
 * ## Layout
 *
 * One SharedArrayBuffer of Int32 words:
 *
 * | word | name | meaning |
 * |---|---|---|
 * | 0 | `B_GUARD` | the guard word of the robust guarded section (`_guard.ts`) over every other word |
 * | 1 | `B_GEN` | generation; the futex word waiters sleep on |
 * | 2 | `B_COUNT` | parties arrived in this generation |
 * | 3 | `B_BROKEN` | 1 while broken (until `reset()`) |
 * | 4 | `B_PARTIES` | the number of parties |
 * | 6–7 | `B_TIMEOUT_F64` | the default timeout in ms, as a Float64 (NaN: none) |
 * | 16–47 | `B_OUTCOMES` | one bit per generation (mod 1024): 1 when it was released, 0 when broken |
 * | 64… | `B_ARRIVED` | owner id of each arrival of this generation, by arrival index |
 *
 * A generation ends by moving `B_GEN` on — released (its outcome bit set) or
 * broken (cleared) — and waking every sleeper; a waiter reads the outcome of
 * *its* generation, so one that wakes late is not confused by the next. A
 * sleeper re-checks every 200 ms whether one of the arrived owner ids is
 * dead in the thread registry, and breaks the barrier if so. A thread that
 * dies holding the guard breaks the barrier too: whoever takes the guard
 * over breaks it before its own change (no journal: a broken generation
 * needs no undo).
 * @module
 */
import { type Backend, type CallContext, type Handle, timeoutArg } from "../core/backend.ts";
import { defineStructure, Shared } from "../core/structure.ts";
import { abortedError, LockError } from "../errors.ts";
import { isDead, threadId } from "../transports/_runtime/threads.ts";
import {
  type Deadline,
  deadlineOf,
  runAsync,
  runSync,
  spinWhile,
  type WaitLoop,
  type WaitOptions,
  wake,
} from "./_kernel.ts";
import { Guard } from "./_guard.ts";

/** The guard word of the guarded section over the other words. */
const B_GUARD = 0;
/** Generation; the futex word. */
const B_GEN = 1;
/** Parties arrived in this generation. */
const B_COUNT = 2;
/** 1 while broken. */
const B_BROKEN = 3;
/** The number of parties. */
const B_PARTIES = 4;
/** Index, in a Float64Array view, of the default timeout (words 6 and 7). */
const B_TIMEOUT_F64 = 3;
/** First word of the outcome bits. */
const B_OUTCOMES = 16;
/** Generations the outcome bits remember. */
const OUTCOME_GENERATIONS = 1024;
/** First word of the arrived owner ids. */
const B_ARRIVED = 64;
/** Most parties a barrier may have. */
const MAX_PARTIES = 1 << 16;

/** What a barrier wait yields to its caller. */
const PROCEED = 0;
/** The caller arrived last and must run the action, then `complete`. */
const RUN_ACTION = 1;
/** The caller could not arrive: generation `gen` is full and its action runs. */
const BUSY = 2;

/** Options of `Manager.barrier`. */
export interface BarrierOptions {
  /**
   * Called once per generation, in the party that arrives last, before the
   * others are released (Python's `action`). Functions never cross threads
   * or the wire: it runs only where this Barrier object (or one made with
   * `withAction`) arrives last.
   */
  readonly action?: () => unknown;
  /** Default `timeout` of `wait` in ms (Python's `timeout`). */
  readonly timeout?: number;
}

/** The shared-buffer handle of a Barrier. */
export interface BarrierHandle extends Handle {
  readonly kind: "barrier";
}

function brokenError(what = "wait on barrier"): LockError {
  return new LockError("Broken", `Cannot ${what} as it is broken`);
}

function timeoutBroke(timeout: number | undefined): LockError {
  return new LockError("Broken", `Cannot wait on barrier as the timeout elapsed and broke it: received ${timeout}`);
}

/** One arrival: its index, and what the caller must do next. */
interface Arrival {
  readonly index: number;
  readonly gen: number;
  readonly next: typeof PROCEED | typeof RUN_ACTION | typeof BUSY;
}

/** What an abandoned wait (its signal aborted) needs to know: the arrival it waits on. */
interface Waiting {
  arrival?: Arrival;
}

/**
 * The barrier engine. Every method takes the caller's owner id (a thread id,
 * or over a socket the connection's id).
 *
 * @internal
 */
export class BarrierEngine {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly parties: number;
  readonly #guard: Guard;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer, 0, B_OUTCOMES / 2);
    this.parties = Atomics.load(this.i32, B_PARTIES);
    // a guard whose holder died mid-change breaks the barrier
    this.#guard = new Guard(this.i32, { word: B_GUARD, onOwnerDied: () => this.#break() });
  }

  /** A fresh barrier for `parties`, with a default timeout. */
  static create(parties: unknown, timeout?: unknown): BarrierEngine {
    if (typeof parties !== "number" || !Number.isInteger(parties) || parties < 1 || parties > MAX_PARTIES) {
      throw new TypeError(
        `Cannot create barrier as 'parties' must be an integer from 1 to ${MAX_PARTIES}: received ${parties}`,
      );
    }
    if (timeout !== undefined && timeout !== null) deadlineOf(timeout as number, "create barrier");
    const buffer = new SharedArrayBuffer((B_ARRIVED + parties) * 4);
    const e = new BarrierEngine(buffer);
    Atomics.store(e.i32, B_PARTIES, parties);
    e.f64[B_TIMEOUT_F64] = timeout === undefined || timeout === null || timeout === Infinity ? NaN : timeout as number;
    return new BarrierEngine(buffer);
  }

  /** The default timeout of `wait`, if any. */
  defaultTimeout(): number | undefined {
    const t = this.f64[B_TIMEOUT_F64];
    return Number.isNaN(t) ? undefined : t;
  }

  // -- inside the guarded section --------------------------------------------

  #setOutcome(gen: number, released: boolean): void {
    const word = B_OUTCOMES + ((gen >>> 5) & (OUTCOME_GENERATIONS / 32 - 1));
    const bit = 1 << (gen & 31);
    if (released) Atomics.or(this.i32, word, bit);
    else Atomics.and(this.i32, word, ~bit);
  }

  #released(gen: number): boolean {
    const word = B_OUTCOMES + ((gen >>> 5) & (OUTCOME_GENERATIONS / 32 - 1));
    return (Atomics.load(this.i32, word) & (1 << (gen & 31))) !== 0;
  }

  /** Ends the generation: released or broken. Under the guard. */
  #end(released: boolean): void {
    const gen = Atomics.load(this.i32, B_GEN);
    this.#setOutcome(gen, released);
    Atomics.store(this.i32, B_COUNT, 0);
    Atomics.store(this.i32, B_GEN, (gen + 1) | 0);
    wake(this.i32, B_GEN, Infinity);
  }

  /** Breaks the barrier, failing every waiter. Under the guard. */
  #break(): void {
    Atomics.store(this.i32, B_BROKEN, 1);
    this.#end(false);
  }

  /** True when a party of this generation died. Under the guard. */
  #partyDied(): boolean {
    const count = Math.min(Atomics.load(this.i32, B_COUNT), this.parties);
    for (let k = 0; k < count; k++) {
      if (isDead(Atomics.load(this.i32, B_ARRIVED + k))) return true;
    }
    return false;
  }

  /** Registers an arrival of `id` (or finds the generation busy with its action). Under the guard. */
  #arrive(id: number, hasAction: boolean): Arrival {
    const i = this.i32;
    if (Atomics.load(i, B_BROKEN)) throw brokenError();
    const gen = Atomics.load(i, B_GEN);
    if (this.#partyDied()) {
      this.#break();
      throw brokenError();
    }
    const index = Atomics.load(i, B_COUNT);
    if (index >= this.parties) return { index: -1, gen, next: BUSY };
    Atomics.store(i, B_ARRIVED + index, id);
    Atomics.store(i, B_COUNT, index + 1);
    if (index < this.parties - 1) return { index, gen, next: PROCEED };
    if (hasAction) return { index, gen, next: RUN_ACTION };
    this.#end(true);
    return { index, gen, next: PROCEED };
  }

  // -- entering the guarded section (never across a wait) --------------------

  /** A sleeper's periodic check: breaks the barrier when a party died. */
  #check(gen: number): void {
    if (Atomics.load(this.i32, B_GEN) !== gen) return;
    this.#guard.run(() => {
      if (Atomics.load(this.i32, B_GEN) === gen && this.#partyDied()) this.#break();
    });
  }

  /** A party leaves before its generation ended (timeout or abort): the rendezvous is impossible. */
  #giveUp(a: Arrival): void {
    this.#guard.run(() => {
      // arriving while the previous generation's action runs: the next generation is broken
      if (a.next === BUSY) Atomics.store(this.i32, B_BROKEN, 1);
      else if (Atomics.load(this.i32, B_GEN) === a.gen) this.#break();
    });
  }

  /** Outcome of generation `gen` for a sleeper that saw it end. */
  #outcome(gen: number, timedOut: boolean, timeout: number | undefined): void {
    if (this.#released(gen)) return;
    throw timedOut ? timeoutBroke(timeout) : brokenError();
  }

  /**
   * A whole wait, for either driver: arrive in the guarded section (left
   * before any sleep), then sleep on `B_GEN` until the generation ends,
   * checking for dead parties every slice. A party that found the generation
   * busy with its action arrives again in the next one. An abandoned sleeper
   * (its signal aborted) leaves, which breaks its generation for the others.
   */
  *#waitLoop(
    id: number,
    hasAction: boolean,
    deadline: Deadline,
    timeout: number | undefined,
    waiting: Waiting,
  ): WaitLoop<Arrival> {
    const i = this.i32;
    for (;;) {
      const a = this.#guard.run(() => this.#arrive(id, hasAction));
      if (a.next === RUN_ACTION) return a;
      waiting.arrival = a;
      let timedOut = false;
      if (!spinWhile(i, B_GEN, a.gen)) {
        while (Atomics.load(i, B_GEN) === a.gen) {
          let slept: boolean | undefined;
          try {
            slept = yield { i32: i, index: B_GEN, expected: a.gen, deadline };
          } finally {
            if (slept === undefined) this.#giveUp(a);
          }
          if (!slept) {
            this.#giveUp(a);
            if (a.next === BUSY) throw timeoutBroke(timeout);
            timedOut = true;
            break;
          }
          this.#check(a.gen);
        }
      }
      if (a.next === BUSY) continue;
      this.#outcome(a.gen, timedOut, timeout);
      return a;
    }
  }

  /** The effective timeout of a wait, and its deadline; fails with `Aborted` when the signal fired. */
  #start(options: WaitOptions | undefined): [number | undefined, Deadline] {
    const timeout = options?.timeout ?? this.defaultTimeout();
    const deadline = deadlineOf(timeout, "wait on barrier");
    if (options?.signal?.aborted) throw abortedError("LockError", "wait on barrier", options.signal);
    return [timeout, deadline];
  }

  // -- operations ------------------------------------------------------------

  /**
   * Arrives and blocks the thread until every party has; returns the arrival
   * index, and with `hasAction` tells the last party to run the action and
   * then call {@linkcode complete}.
   */
  waitSync(id: number, options?: WaitOptions, hasAction = false): Arrival {
    const [timeout, deadline] = this.#start(options);
    return runSync(this.#waitLoop(id, hasAction, deadline, timeout, {}));
  }

  /**
   * The asynchronous twin of {@linkcode waitSync}; an aborted signal breaks
   * the barrier too. The arrival happens before this returns its promise.
   */
  async wait(id: number, options?: WaitOptions, hasAction = false): Promise<Arrival> {
    const [timeout, deadline] = this.#start(options);
    const signal = options?.signal;
    const waiting: Waiting = {};
    return await runAsync(this.#waitLoop(id, hasAction, deadline, timeout, waiting), signal, () => {
      const a = waiting.arrival;
      // released before the abort was seen: the wait succeeded
      if (a !== undefined && a.next !== BUSY && this.#released(a.gen)) return a;
      throw abortedError("LockError", "wait on barrier", signal);
    });
  }

  /**
   * The last party ran the action of generation `gen`: releases everyone
   * (`ok`) or breaks the barrier (the action threw). Throws
   * `LockError("Broken")` when the generation was broken meanwhile.
   */
  complete(id: number, gen: number, ok: boolean): void {
    this.#guard.run(() => {
      const i = this.i32;
      const current = Atomics.load(i, B_GEN) === gen && Atomics.load(i, B_COUNT) === this.parties &&
        Atomics.load(i, B_ARRIVED + this.parties - 1) === id;
      if (!current) throw brokenError();
      if (ok) this.#end(true);
      else this.#break();
    });
  }

  /** Breaks the barrier: every waiter, and every later `wait`, fails with `Broken` until `reset()`. */
  abort(): void {
    this.#guard.run(() => this.#break());
  }

  /** Returns the barrier to its initial state; current waiters fail with `Broken`. */
  reset(): void {
    this.#guard.run(() => {
      if (Atomics.load(this.i32, B_COUNT) > 0) this.#end(false);
      Atomics.store(this.i32, B_BROKEN, 0);
    });
  }

  /** True while broken. */
  broken(): boolean {
    return Atomics.load(this.i32, B_BROKEN) === 1;
  }

  /** Parties waiting in this generation. */
  nWaiting(): number {
    return this.broken() ? 0 : Math.min(Atomics.load(this.i32, B_COUNT), this.parties);
  }
}

/** The operations of a Barrier, local and remote; the party is the caller's `ctx.ownerId`. */
const /** @internal */ barrierOps = {
  /** Arrives and waits: `[index, generation whose action the caller must run and complete, or null]`. */
  wait: async (
    e: BarrierEngine,
    [timeout, hasAction]: [number | undefined, boolean],
    ctx: CallContext,
  ): Promise<[number, number | null]> => {
    const a = await e.wait(ctx.ownerId, { timeout: timeoutArg(timeout), signal: ctx.signal }, hasAction === true);
    return [a.index, a.next === RUN_ACTION ? a.gen : null];
  },
  complete: (e: BarrierEngine, [gen, ok]: [number, boolean], ctx: CallContext): void => {
    if (typeof gen !== "number" || !Number.isInteger(gen)) {
      throw new TypeError(`Cannot complete barrier as 'gen' must be an integer: received ${gen}`);
    }
    return e.complete(ctx.ownerId, gen, ok === true);
  },
  abort: (e: BarrierEngine): void => e.abort(),
  reset: (e: BarrierEngine): void => e.reset(),
  broken: (e: BarrierEngine): boolean => e.broken(),
  nWaiting: (e: BarrierEngine): number => e.nWaiting(),
  parties: (e: BarrierEngine): number => e.parties,
  defaultTimeout: (e: BarrierEngine): number | null => e.defaultTimeout() ?? null,
};

/**
 * A barrier: Python's `multiprocessing.Barrier(parties, action, timeout)`, on
 * any transport. Each of `parties` threads (or processes) calls `wait()`;
 * all of them are released together when the last arrives, and each gets a
 * distinct arrival index: 0 for the first to arrive, `parties - 1` for the
 * last. The barrier then starts its next generation.
 *
 * The optional `action` runs once per generation in the party that arrives
 * last, before the others are released; if it throws, the barrier breaks and
 * its error reaches that party. A function cannot travel to other threads or
 * over the wire, so the action belongs to this Barrier object: a party whose
 * object has no action (a worker's attached copy) releases the generation
 * without one. Give workers the action with {@linkcode withAction} when any
 * of them may arrive last.
 *
 * A wait whose timeout elapses breaks the barrier: it and every other waiter
 * fail with `LockError("Broken")` (Python's `BrokenBarrierError`), and so does
 * every later `wait` until `reset()`. `abort()` breaks it on purpose. A wait
 * whose signal aborts fails with `LockError("Aborted")` and breaks the barrier
 * for the others.
 *
 * **Fairness**: not applicable: a generation releases all its parties at
 * once. Parties of the next generation arriving while the action runs wait
 * for it to finish.
 *
 * **Cancellation**: a timeout or an aborted signal leaves the barrier broken
 * (as in Python, a party that leaves makes the rendezvous impossible).
 *
 * **Visibility**: arrival and release go through a robust internal mutex with
 * sequentially consistent atomics: everything a party wrote before `wait()`,
 * and everything the action wrote, is visible to every party after it.
 *
 * **Transports**: shared buffer (sync and async) and socket (async; the
 * party is the connection, and the action runs in the client that arrives
 * last, between its arrival and `complete`). A party that dies while others
 * wait (a terminated worker, a dropped connection) breaks the barrier within
 * one 200 ms wait slice.
 *
 * @example Two phases in step
 * ```ts
 * import { Manager } from "../mod.ts";
 * await using m = await Manager.start();
 * const step = await m.barrier(2, { action: () => console.log("both arrived") });
 * const [a, b] = await Promise.all([step.wait(), step.wait()]);
 * console.log(a + b); // 1: the indexes are 0 and 1
 * ```
 */
export class Barrier extends Shared<BarrierEngine, typeof barrierOps> {
  readonly #backend: Backend<BarrierEngine>;
  readonly #action: (() => unknown) | undefined;

  /** @internal Use `Manager.barrier()` or `attach(handle)`. */
  constructor(handle: Handle, backend: Backend<BarrierEngine>, action?: () => unknown) {
    super(handle, backend, barrierOps);
    if (action !== undefined && typeof action !== "function") {
      throw new TypeError(`Cannot create barrier as 'action' must be a function: received ${typeof action}`);
    }
    this.#backend = backend;
    this.#action = action;
  }

  /** This barrier, as an object that runs `action` whenever it arrives last. */
  withAction(action: () => unknown): Barrier {
    return new Barrier(this.handle, this.#backend, action);
  }

  /**
   * Waits for every party; resolves with this party's arrival index (0 to
   * `parties - 1`). Fails with `LockError("Broken")` when the barrier is or
   * becomes broken (including by this wait's timeout), `"Aborted"` when the
   * signal aborts.
   */
  async wait(options?: WaitOptions): Promise<number> {
    if (options?.timeout !== undefined) deadlineOf(options.timeout, "wait on barrier");
    const [index, gen] = await this.blocking(
      "wait",
      [options?.timeout, this.#action !== undefined],
      "LockError",
      "wait on barrier",
      options?.signal,
    );
    if (gen !== null) await this.#runAction(gen);
    return index;
  }

  /** The synchronous twin of {@linkcode wait} (shared buffer only); a promise the action returns is not awaited. */
  waitSync(options?: WaitOptions): number {
    const engine = this.local("waitSync");
    const id = threadId();
    const a = engine.waitSync(id, options, this.#action !== undefined);
    if (a.next === RUN_ACTION) {
      try {
        this.#action!();
      } catch (e) {
        engine.complete(id, a.gen, false);
        throw e;
      }
      engine.complete(id, a.gen, true);
    }
    return a.index;
  }

  /** Runs the action of generation `gen` (this party arrived last), then releases or breaks it. */
  async #runAction(gen: number): Promise<void> {
    try {
      await this.#action!();
    } catch (e) {
      await this.call("complete", [gen, false]);
      throw e;
    }
    return this.exec("complete", [gen, true]);
  }

  /** Breaks the barrier: waiters and later waits fail with `LockError("Broken")` until `reset()`. */
  async abort(): Promise<void> {
    return this.exec("abort", []);
  }

  /** The synchronous twin of {@linkcode abort} (shared buffer only). */
  abortSync(): void {
    this.local("abortSync").abort();
  }

  /** Returns the barrier to its initial, unbroken state; current waiters fail with `Broken`. */
  async reset(): Promise<void> {
    return this.exec("reset", []);
  }

  /** The synchronous twin of {@linkcode reset} (shared buffer only). */
  resetSync(): void {
    this.local("resetSync").reset();
  }

  /** True while the barrier is broken. */
  async broken(): Promise<boolean> {
    return this.call("broken", []);
  }

  /** The synchronous twin of {@linkcode broken} (shared buffer only). */
  brokenSync(): boolean {
    return this.local("brokenSync").broken();
  }

  /** Parties waiting in the current generation (Python's `n_waiting`). */
  async nWaiting(): Promise<number> {
    return this.call("nWaiting", []);
  }

  /** The synchronous twin of {@linkcode nWaiting} (shared buffer only). */
  nWaitingSync(): number {
    return this.local("nWaitingSync").nWaiting();
  }

  /** The number of parties (Python's `parties`). */
  async parties(): Promise<number> {
    return this.call("parties", []);
  }
}

/** The Barrier kind. */
export const barrierSpec = defineStructure({
  kind: "barrier",
  create: (params) => {
    const options = (params[1] ?? {}) as { timeout?: number };
    return BarrierEngine.create(params[0], options.timeout);
  },
  share: (e: BarrierEngine) => ({ buffer: e.buffer }),
  open: (h) => new BarrierEngine(h.buffer as SharedArrayBuffer),
  ops: barrierOps,
  client: (handle, backend: Backend<BarrierEngine>) => new Barrier(handle, backend),
});
