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
 * | 0 | `B_GUARD` | robust mutex guarding every other word |
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
 * dead in the thread registry, and breaks the barrier if so.
 * @module
 */
import { LockError } from "../errors.ts";
import { type Handle, registerStructure } from "../transports/_attach.ts";
import { type CallContext, registerKind } from "../transports/_host.ts";
import { adoptRegistry, isDead, registryBuffer, threadId } from "../transports/_runtime/threads.ts";
import { deadlineOf, spinWhile, type WaitOptions, waitSlice, waitSliceAsync } from "./_kernel.ts";
import { ABORTED, ACQUIRED_OWNER_DIED, lockAsync, lockSync, tryLock, unlock } from "./_mutex.ts";
import type { Remote } from "./_remote.ts";
import { unsupportedSync } from "./lock.ts";
import { remoteCall, waitError } from "./rlock.ts";

/** Robust mutex word guarding the other words. */
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

/**
 * The barrier engine. Every method takes the caller's owner id (a thread id,
 * or over a socket the connection's id).
 */
export class BarrierEngine {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly parties: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer, 0, B_OUTCOMES / 2);
    this.parties = Atomics.load(this.i32, B_PARTIES);
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

  /** The handle threads of this process attach to. */
  localHandle(): BarrierHandle {
    return { kind: "barrier", via: "shared-buffer", buffer: this.buffer, registry: registryBuffer() };
  }

  /** The default timeout of `wait`, if any. */
  defaultTimeout(): number | undefined {
    const t = this.f64[B_TIMEOUT_F64];
    return Number.isNaN(t) ? undefined : t;
  }

  // -- the guarded section ---------------------------------------------------

  /** Takes the guard; a guard whose owner died mid-change breaks the barrier. */
  #enter(): void {
    const id = threadId();
    if (tryLock(this.i32, B_GUARD, id)) return;
    if (lockSync(this.i32, B_GUARD, id, Infinity) === ACQUIRED_OWNER_DIED) this.#break();
  }

  async #enterAsync(): Promise<void> {
    const id = threadId();
    if (tryLock(this.i32, B_GUARD, id)) return;
    if (await lockAsync(this.i32, B_GUARD, id, Infinity, undefined) === ACQUIRED_OWNER_DIED) this.#break();
  }

  #leave(): void {
    unlock(this.i32, B_GUARD, threadId());
  }

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
    Atomics.notify(this.i32, B_GEN);
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

  /** Outcome of generation `gen` for a sleeper that saw it end. */
  #outcome(gen: number, timedOut: boolean, timeout: number | undefined): void {
    if (this.#released(gen)) return;
    throw timedOut ? timeoutBroke(timeout) : brokenError();
  }

  /** A sleeper's periodic check: breaks the barrier when a party died. */
  #check(gen: number): void {
    if (Atomics.load(this.i32, B_GEN) !== gen) return;
    this.#enter();
    try {
      if (Atomics.load(this.i32, B_GEN) === gen && this.#partyDied()) this.#break();
    } finally {
      this.#leave();
    }
  }

  /** The sleeper gave up (timeout or abort): it breaks its generation, if still current. */
  #giveUp(gen: number): void {
    this.#enter();
    try {
      if (Atomics.load(this.i32, B_GEN) === gen) this.#break();
    } finally {
      this.#leave();
    }
  }

  /** A party arriving while the previous generation's action runs gave up: the next generation is broken. */
  #giveUpBusy(): void {
    this.#enter();
    try {
      Atomics.store(this.i32, B_BROKEN, 1);
    } finally {
      this.#leave();
    }
  }

  /**
   * Arrives and blocks the thread until every party has; returns the arrival
   * index, and with `hasAction` tells the last party to run the action and
   * then call {@linkcode complete}.
   */
  waitSync(id: number, options?: WaitOptions, hasAction = false): Arrival {
    const timeout = options?.timeout ?? this.defaultTimeout();
    const deadline = deadlineOf(timeout, "wait on barrier");
    if (options?.signal?.aborted) throw waitError("wait on barrier", ABORTED, timeout, options.signal);
    for (;;) {
      this.#enter();
      let a: Arrival;
      try {
        a = this.#arrive(id, hasAction);
      } finally {
        this.#leave();
      }
      const busy = a.next === BUSY;
      const gen = a.gen;
      if (a.next === RUN_ACTION) return a;
      let timedOut = false;
      if (!spinWhile(this.i32, B_GEN, gen)) {
        while (Atomics.load(this.i32, B_GEN) === gen) {
          if (!waitSlice(this.i32, B_GEN, gen, deadline)) {
            if (busy) {
              this.#giveUpBusy();
              throw timeoutBroke(timeout);
            }
            this.#giveUp(gen);
            timedOut = true;
            break;
          }
          this.#check(gen);
        }
      }
      if (busy) continue;
      this.#outcome(gen, timedOut, timeout);
      return a;
    }
  }

  /** The asynchronous twin of {@linkcode waitSync}; an aborted signal breaks the barrier too. */
  async wait(id: number, options?: WaitOptions, hasAction = false): Promise<Arrival> {
    const timeout = options?.timeout ?? this.defaultTimeout();
    const deadline = deadlineOf(timeout, "wait on barrier");
    const signal = options?.signal;
    if (signal?.aborted) throw waitError("wait on barrier", ABORTED, timeout, signal);
    for (;;) {
      await this.#enterAsync();
      let a: Arrival;
      try {
        a = this.#arrive(id, hasAction);
      } finally {
        this.#leave();
      }
      const busy = a.next === BUSY;
      const gen = a.gen;
      if (a.next === RUN_ACTION) return a;
      let timedOut = false;
      if (!spinWhile(this.i32, B_GEN, gen)) {
        while (Atomics.load(this.i32, B_GEN) === gen) {
          const slept = await waitSliceAsync(this.i32, B_GEN, gen, deadline, signal);
          if (signal?.aborted) {
            if (busy) this.#giveUpBusy();
            else this.#giveUp(gen);
            if (busy || !this.#released(gen)) throw waitError("wait on barrier", ABORTED, timeout, signal);
            break;
          }
          if (!slept) {
            if (busy) {
              this.#giveUpBusy();
              throw timeoutBroke(timeout);
            }
            this.#giveUp(gen);
            timedOut = true;
            break;
          }
          this.#check(gen);
        }
      }
      if (busy) continue;
      this.#outcome(gen, timedOut, timeout);
      return a;
    }
  }

  /**
   * The last party ran the action of generation `gen`: releases everyone
   * (`ok`) or breaks the barrier (the action threw). Throws
   * `LockError("Broken")` when the generation was broken meanwhile.
   */
  complete(id: number, gen: number, ok: boolean): void {
    this.#enter();
    try {
      const i = this.i32;
      const current = Atomics.load(i, B_GEN) === gen && Atomics.load(i, B_COUNT) === this.parties &&
        Atomics.load(i, B_ARRIVED + this.parties - 1) === id;
      if (!current) throw brokenError();
      if (ok) this.#end(true);
      else this.#break();
    } finally {
      this.#leave();
    }
  }

  /** Breaks the barrier: every waiter, and every later `wait`, fails with `Broken` until `reset()`. */
  abort(): void {
    this.#enter();
    try {
      this.#break();
    } finally {
      this.#leave();
    }
  }

  /** Returns the barrier to its initial state; current waiters fail with `Broken`. */
  reset(): void {
    this.#enter();
    try {
      if (Atomics.load(this.i32, B_COUNT) > 0) this.#end(false);
      Atomics.store(this.i32, B_BROKEN, 0);
    } finally {
      this.#leave();
    }
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

function timeoutArg(v: unknown): number | undefined {
  return v === null ? undefined : v as number | undefined;
}

registerKind<BarrierEngine>("barrier", {
  create: (params) => {
    const options = (params[1] ?? {}) as { timeout?: number };
    return BarrierEngine.create(params[0], options.timeout);
  },
  localHandle: (e) => e.localHandle(),
  ops: {
    // -> [index, generation to complete | null]
    wait: async (e, [timeout, hasAction], ctx: CallContext) => {
      const a = await e.wait(ctx.ownerId, { timeout: timeoutArg(timeout), signal: ctx.signal }, hasAction === true);
      return [a.index, a.next === RUN_ACTION ? a.gen : null];
    },
    complete: (e, [gen, ok], ctx) => {
      if (typeof gen !== "number" || !Number.isInteger(gen)) {
        throw new TypeError(`Cannot complete barrier as 'gen' must be an integer: received ${gen}`);
      }
      return e.complete(ctx.ownerId, gen, ok === true);
    },
    abort: (e) => e.abort(),
    reset: (e) => e.reset(),
    broken: (e) => e.broken(),
    nWaiting: (e) => e.nWaiting(),
    parties: (e) => e.parties,
    defaultTimeout: (e) => e.defaultTimeout() ?? null,
  },
});

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
 * **Transports**: shared buffer (sync and async), socket and pipe (async;
 * the party is the connection, and the action runs in the client that arrives
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
export class Barrier {
  readonly #engine: BarrierEngine | undefined;
  readonly #remote: Remote | undefined;
  readonly #action: (() => unknown) | undefined;
  /** Serializable description: pass it to a worker and `attach` it there. */
  readonly handle: Handle;

  /** @internal Use `Manager.barrier()` or `attach(handle)`. */
  constructor(handle: Handle, engine?: BarrierEngine, remote?: Remote, action?: () => unknown) {
    if (action !== undefined && typeof action !== "function") {
      throw new TypeError(`Cannot create barrier as 'action' must be a function: received ${typeof action}`);
    }
    this.handle = handle;
    this.#engine = engine;
    this.#remote = remote;
    this.#action = action;
  }

  /** This barrier, as an object that runs `action` whenever it arrives last. */
  withAction(action: () => unknown): Barrier {
    return new Barrier(this.handle, this.#engine, this.#remote, action);
  }

  #local(what: string): BarrierEngine {
    if (!this.#engine) throw unsupportedSync(what, this.handle.via);
    return this.#engine;
  }

  /**
   * Waits for every party; resolves with this party's arrival index (0 to
   * `parties - 1`). Fails with `LockError("Broken")` when the barrier is or
   * becomes broken (including by this wait's timeout), `"Aborted"` when the
   * signal aborts.
   */
  async wait(options?: WaitOptions): Promise<number> {
    const action = this.#action;
    if (this.#engine) {
      const id = threadId();
      const a = await this.#engine.wait(id, options, action !== undefined);
      if (a.next === RUN_ACTION) await this.#runAction(a.gen, (gen, ok) => this.#engine!.complete(id, gen, ok));
      return a.index;
    }
    if (options?.timeout !== undefined) deadlineOf(options.timeout, "wait on barrier");
    const [index, gen] = await remoteCall<[number, number | null]>(
      this.#remote!,
      "wait on barrier",
      "wait",
      [options?.timeout, action !== undefined],
      options,
    );
    if (gen !== null) await this.#runAction(gen, (g, ok) => this.#remote!.call("complete", [g, ok]));
    return index;
  }

  /** The synchronous twin of {@linkcode wait} (shared buffer only); a promise the action returns is not awaited. */
  waitSync(options?: WaitOptions): number {
    const engine = this.#local("waitSync");
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

  async #runAction(gen: number, complete: (gen: number, ok: boolean) => unknown): Promise<void> {
    try {
      await this.#action!();
    } catch (e) {
      await complete(gen, false);
      throw e;
    }
    await complete(gen, true);
  }

  /** Breaks the barrier: waiters and later waits fail with `LockError("Broken")` until `reset()`. */
  async abort(): Promise<void> {
    if (this.#engine) return this.#engine.abort();
    await this.#remote!.call("abort", []);
  }

  /** The synchronous twin of {@linkcode abort} (shared buffer only). */
  abortSync(): void {
    this.#local("abortSync").abort();
  }

  /** Returns the barrier to its initial, unbroken state; current waiters fail with `Broken`. */
  async reset(): Promise<void> {
    if (this.#engine) return this.#engine.reset();
    await this.#remote!.call("reset", []);
  }

  /** The synchronous twin of {@linkcode reset} (shared buffer only). */
  resetSync(): void {
    this.#local("resetSync").reset();
  }

  /** True while the barrier is broken. */
  async broken(): Promise<boolean> {
    return this.#engine ? this.#engine.broken() : (await this.#remote!.call("broken", [])) as boolean;
  }

  /** The synchronous twin of {@linkcode broken} (shared buffer only). */
  brokenSync(): boolean {
    return this.#local("brokenSync").broken();
  }

  /** Parties waiting in the current generation (Python's `n_waiting`). */
  async nWaiting(): Promise<number> {
    return this.#engine ? this.#engine.nWaiting() : (await this.#remote!.call("nWaiting", [])) as number;
  }

  /** The synchronous twin of {@linkcode nWaiting} (shared buffer only). */
  nWaitingSync(): number {
    return this.#local("nWaitingSync").nWaiting();
  }

  /** The number of parties (Python's `parties`). */
  async parties(): Promise<number> {
    return this.#engine ? this.#engine.parties : (await this.#remote!.call("parties", [])) as number;
  }
}

registerStructure("barrier", {
  fromLocal: (h) => {
    adoptRegistry(h.registry as SharedArrayBuffer);
    return new Barrier(h, new BarrierEngine(h.buffer as SharedArrayBuffer));
  },
  fromRemote: (h, remote) => new Barrier(h, undefined, remote),
});
