/**
 * Writer lock plus sequence counter in words of a structure's buffer, and
 * the undo journal that makes every change all or nothing.
 *
 * Writers serialise on the robust mutex and make the counter odd while the
 * structure is inconsistent; readers take no lock at all: they read the
 * counter, read the structure, and retry when the counter moved. Readers on
 * many threads so scale, as they never write a shared word.
 *
 * ## A writer that dies
 *
 * A thread can be terminated at any instruction, also inside its odd window
 * or half-way through a change of the allocator's words. So every change of
 * shared words is a *step* recorded in a {@linkcode Journal} first: the
 * writer logs the index and old value of each word it is about to write,
 * publishes the count of entries ({@linkcode Journal.arm}), writes, and
 * clears the count ({@linkcode Journal.commit}). Bytes are journaled as the
 * words that hold them. Whoever takes the lock over from a dead writer
 * (`ACQUIRED_OWNER_DIED`) rolls the armed entries back, newest first, in an
 * odd window of its own, and closes the window: readers then see the
 * structure as it was before the dead writer's step. A step that ended is
 * kept. Blocks allocated by a step that ended, for a change that never got
 * published, stay allocated: a kill can leak a block, never corrupt one.
 *
 * A reader that finds the counter odd for longer than a few spins looks at
 * the lock word: when its owner is marked dead (`markDead`, by the dead
 * thread's parent when it exits) the reader takes the lock and recovers.
 * While the owner is not yet known dead — the parent may be the reader's
 * own thread, blocked in this very read, so it never will be — a blocking
 * reader gives up after {@linkcode READ_LIMIT_MS} with `LockError("Timeout")`,
 * and a non-blocking one ({@linkcode SeqLock.tryReadBegin}) returns -1 at once
 * so that an async caller can yield to its event loop and try again.
 *
 * The async API of a structure runs its ops through {@linkcode nonBlockingOps}:
 * inside, a read that finds such a window, or a writer that cannot take the
 * lock within {@linkcode ASYNC_LOCK_MS}, gives up at once with nothing
 * changed, and the op is retried a timer tick later — the event loop keeps
 * turning (and can see the writer's exit), however long the window stays open.
 * @module
 */
import { isDead, threadId } from "../transports/_runtime/threads.ts";
import { LockError } from "../errors.ts";
import { ACQUIRED_OWNER_DIED, lockSync, ownerOf, TIMED_OUT, tryLock, unlock } from "../sync/_mutex.ts";
import { nap } from "../sync/_kernel.ts";

/** Spins a reader makes on an odd counter before it sleeps a little. */
const READ_SPINS = 256;
/** How long a blocking reader waits on one odd window whose writer is not known dead. */
export const READ_LIMIT_MS = 2000;
let readLimitMs = READ_LIMIT_MS;

/** Test only: sets how long a blocking reader waits (`undefined`: {@linkcode READ_LIMIT_MS}). */
export function setReadLimit(ms: number | undefined): void {
  readLimitMs = ms ?? READ_LIMIT_MS;
}

/** How long an op of the async API waits for the writer lock before it yields and retries. */
export const ASYNC_LOCK_MS = 1;

/** Thrown inside {@linkcode nonBlockingOps} where a blocking call would have waited. */
const STUCK: unique symbol = Symbol("procshare.seqlock.stuck");
/** True while an op of the async API runs: waits give up with STUCK instead. */
let nonBlocking = false;

/** Runs `fn` once without blocking; STUCK when it would have waited. */
function attempt<T>(fn: () => T): T | typeof STUCK {
  const prev = nonBlocking;
  nonBlocking = true;
  try {
    return fn();
  } catch (e) {
    if (e === STUCK) return STUCK;
    throw e;
  } finally {
    nonBlocking = prev;
  }
}

/** Ops of this thread that gave up, retried in their order before any later op runs. */
const backlog: Array<{ fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

async function drain(): Promise<void> {
  while (backlog.length > 0) {
    const head = backlog[0];
    let r: unknown;
    try {
      r = attempt(head.fn);
    } catch (e) {
      backlog.shift();
      head.reject(e);
      continue;
    }
    if (r === STUCK) await new Promise((resolve) => setTimeout(resolve, 1));
    else {
      backlog.shift();
      head.resolve(r);
    }
  }
}

/** True while ops of this thread wait to be retried: a later op must queue behind them. */
export function backlogged(): boolean {
  return backlog.length > 0;
}

/**
 * Runs a structure's op for its async API: at once when it can, else (it
 * would have waited on a writer) as a promise that retries it a timer tick
 * later. Ops that give up have changed nothing, so a retry is safe; ops of
 * one thread complete in the order they were called (a later op queues
 * behind one being retried), as they did when they blocked.
 */
export function runNonBlocking<T>(fn: () => T): T | Promise<T> {
  if (backlog.length === 0) {
    const r = attempt(fn);
    if (r !== STUCK) return r;
  }
  return new Promise<T>((resolve, reject) => {
    backlog.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    if (backlog.length === 1) void drain();
  });
}

/** The op table of a structure, every op run by {@linkcode runNonBlocking}. */
export function nonBlockingOps<T extends Record<string, (...args: never[]) => unknown>>(ops: T): T {
  const out: Record<string, (...args: never[]) => unknown> = {};
  for (const [name, op] of Object.entries(ops)) out[name] = (...args) => runNonBlocking(() => op(...args));
  return out as T;
}

/** Offset of the count of armed entries from the journal's first word (0: no step in progress). */
const J_COUNT = 0;
/** Offset of the first entry: the index of a word. */
const J_INDEX = 1;
/** Offset of the first entry's value to restore. */
const J_OLD = 2;
/** Words per entry. */
const J_ENTRY = 2;

/** Where a step is when the test hook runs: armed with nothing written yet. */
export const STEP_ARMED = 1;
/** Every word of the step written, the journal not yet cleared. */
export const STEP_WRITTEN = 2;
/** The journal cleared (for a window: the counter still odd). */
export const STEP_COMMITTED = 3;

/** A test hook at a point of a step: the journal and a view of its words. */
export type StepHook = (point: number, journal: Journal, i32: Int32Array) => void;

let stepHook: StepHook | undefined;

/**
 * Test only: runs `hook` at each point of every step of this thread (a test
 * freezes a worker there and terminates it, to kill it at a known place).
 * `undefined` removes it.
 */
export function setStepHook(hook: StepHook | undefined): void {
  stepHook = hook;
}

/** Words a journal of `entries` entries takes. */
export function journalWords(entries: number): number {
  return J_INDEX + entries * J_ENTRY;
}

/**
 * An undo journal in words `[base, base + journalWords(entries))` of a
 * buffer: one step at a time, under the owning structure's writer lock.
 *
 * A step: {@linkcode open}, {@linkcode log} every word it will write (reads
 * only so far), {@linkcode arm}, write, {@linkcode commit}. Logging the same
 * word twice is fine (rollback goes newest first). Nothing may throw between
 * `arm` and `commit`.
 *
 * @example A step of two words, as a structure makes it
 * ```ts
 * import { Journal, journalWords } from "./_seqlock.ts";
 * const i32 = new Int32Array(new SharedArrayBuffer((4 + journalWords(8)) * 4));
 * const j = new Journal(4, 8);
 * j.open();
 * j.log(i32, 0);
 * j.log(i32, 1);
 * j.arm(i32);
 * i32[0] = 7;
 * i32[1] = 9;
 * j.commit(i32);
 * console.log(i32[0], i32[1]); // 7 9
 * ```
 */
export class Journal {
  #n = 0;
  /**
   * Set by a heap over an `shm:` region whose buffer covers less than the
   * region (Bun): a buffer over at least `bytes`, so that `rollback` reaches
   * words a writer in another process logged after growing the region.
   */
  cover?: (bytes: number) => ArrayBufferLike;
  constructor(readonly base: number, readonly entries: number) {}

  /** Entries a step may still log. */
  room(): number {
    return this.entries - this.#n;
  }

  /** Starts a step: forgets whatever a step that threw before arming had logged. */
  open(): void {
    this.#n = 0;
  }

  /** Records word `w`'s current value, to be restored if the writer dies before commit. */
  log(i32: Int32Array, w: number): void {
    this.logAs(i32, w, i32[w]);
  }

  /** Records `v` as the value word `w` gets back if the writer dies before commit. */
  logAs(i32: Int32Array, w: number, v: number): void {
    const n = this.#n;
    if (n >= this.entries) {
      throw new RangeError(`Cannot journal word ${w} as the journal's ${this.entries} entries are used`);
    }
    const at = this.base + J_INDEX + n * J_ENTRY;
    i32[at] = w;
    i32[at + (J_OLD - J_INDEX)] = v;
    this.#n = n + 1;
  }

  /** Records the words holding bytes `[from, to)`. */
  logBytes(i32: Int32Array, from: number, to: number): void {
    for (let w = from >> 2, end = (to + 3) >> 2; w < end; w++) this.log(i32, w);
  }

  /**
   * Publishes the entries logged: from here on, a death is rolled back.
   * Plain stores suffice for the count: a thread is stopped between two
   * statements, each store done or not, and whoever reads the journal took
   * the lock over after the owner was marked dead (an atomic store and load).
   */
  arm(i32: Int32Array): void {
    i32[this.base + J_COUNT] = this.#n;
    if (stepHook !== undefined) stepHook(STEP_ARMED, this, i32);
  }

  /** The step is complete: nothing to roll back any more. */
  commit(i32: Int32Array): void {
    if (stepHook !== undefined) stepHook(STEP_WRITTEN, this, i32);
    i32[this.base + J_COUNT] = 0;
    this.#n = 0;
    if (stepHook !== undefined) stepHook(STEP_COMMITTED, this, i32);
  }

  /** True when a step is armed and not committed (its writer died, if the caller holds the lock). */
  pending(i32: Int32Array): boolean {
    return Atomics.load(i32, this.base + J_COUNT) !== 0;
  }

  /** The words an armed step logged (tests: a hook scribbles over them to play a writer killed half-way). */
  armedWords(i32: Int32Array): number[] {
    const n = Math.min(Atomics.load(i32, this.base + J_COUNT), this.entries), out: number[] = [];
    for (let k = 0; k < n; k++) out.push(i32[this.base + J_INDEX + k * J_ENTRY]);
    return out;
  }

  /**
   * Restores the words of an armed step, newest first, and clears it. `i32`
   * must cover every logged word, or `cover` give a buffer that does.
   */
  rollback(i32: Int32Array): void {
    const n = Math.min(Atomics.load(i32, this.base + J_COUNT), this.entries);
    if (this.cover !== undefined && n > 0) {
      const last = Math.max(...this.armedWords(i32));
      if (last >= i32.length) {
        try {
          const buf = this.cover((last + 1) * 4);
          i32 = new Int32Array(buf, 0, buf.byteLength >> 2);
        } catch {
          // a word past what the region can hold (a corrupt journal): skipped below, as ever
        }
      }
    }
    for (let k = n - 1; k >= 0; k--) {
      const at = this.base + J_INDEX + k * J_ENTRY;
      const w = i32[at];
      if (w >= 0 && w < i32.length) i32[w] = i32[at + (J_OLD - J_INDEX)];
    }
    Atomics.store(i32, this.base + J_COUNT, 0);
    this.#n = 0;
  }
}

/** The writer side: lock, odd/even windows, unlock; recovery from a writer that died. */
export class SeqLock {
  /**
   * @param i32 a view of at least the lock, counter and journal words
   * @param journal the undo journal of every change made under this lock (optional for
   *   a structure whose every window writes a single word)
   */
  constructor(
    readonly i32: Int32Array,
    readonly lockWord: number,
    readonly seqWord: number,
    readonly journal?: Journal,
  ) {}

  /** Takes the writer lock, waiting as long as needed. Returns the id to unlock with. */
  lock(): number {
    const id = threadId();
    if (tryLock(this.i32, this.lockWord, id)) return id;
    const r = lockSync(this.i32, this.lockWord, id, nonBlocking ? performance.now() + ASYNC_LOCK_MS : Infinity);
    if (r === ACQUIRED_OWNER_DIED) this.#recover();
    else if (r === TIMED_OUT) throw STUCK;
    return id;
  }

  unlock(id: number): void {
    unlock(this.i32, this.lockWord, id);
  }

  /** Makes the counter odd: readers from now on retry. Arms the journal's entries logged for this window. */
  begin(): void {
    this.journal?.arm(this.i32);
    Atomics.add(this.i32, this.seqWord, 1);
  }

  /** Commits the journal and makes the counter even again. */
  end(): void {
    this.journal?.commit(this.i32);
    Atomics.add(this.i32, this.seqWord, 1);
  }

  /**
   * The previous writer died holding the lock, which is now ours: undo its
   * armed step inside an odd window, then close the window (also one it left
   * open with nothing to undo).
   */
  #recover(): void {
    const i32 = this.i32, j = this.journal;
    const pending = j !== undefined && j.pending(i32);
    const odd = (Atomics.load(i32, this.seqWord) & 1) !== 0;
    if (!pending && !odd) return;
    if (!odd) Atomics.add(i32, this.seqWord, 1);
    if (pending) {
      // the logged words may lie anywhere in the buffer, which may have grown since this view was made
      const buf = i32.buffer;
      j.rollback(new Int32Array(buf, 0, buf.byteLength >> 2));
    }
    Atomics.add(i32, this.seqWord, 1);
  }

  /**
   * A stable (even) counter value to read under. On an odd counter it spins,
   * then naps; takes over from a dead writer; and fails with
   * `LockError("Timeout")` after {@linkcode READ_LIMIT_MS} in one window whose
   * writer is not known dead.
   */
  readBegin(): number {
    const s = Atomics.load(this.i32, this.seqWord);
    return (s & 1) === 0 ? s : this.#waitEven(s, true);
  }

  /** As {@linkcode readBegin}, but returns -1 instead of napping when the window stays open. */
  tryReadBegin(): number {
    const s = Atomics.load(this.i32, this.seqWord);
    return (s & 1) === 0 ? s : this.#waitEven(s, false);
  }

  #waitEven(s: number, block: boolean): number {
    const i32 = this.i32;
    let since = 0, window = s;
    for (let n = 0; (s & 1) !== 0; n++) {
      if (n > READ_SPINS) {
        const owner = ownerOf(i32, this.lockWord);
        if (owner !== 0 && isDead(owner)) {
          this.unlock(this.lock()); // takes over and recovers (or a live writer got there first)
        } else if (!block) {
          return -1;
        } else if (nonBlocking) {
          throw STUCK;
        } else {
          if (s !== window) window = s, since = 0;
          const now = Date.now();
          if (since === 0) since = now;
          else if (now - since > readLimitMs) throw stuck(owner);
          nap(i32, this.seqWord, s, 1);
        }
      }
      s = Atomics.load(i32, this.seqWord);
    }
    return s;
  }

  /** True when nothing was written since `s` was read. */
  readValid(s: number): boolean {
    return Atomics.load(this.i32, this.seqWord) === s;
  }
}

function stuck(owner: number): LockError {
  return new LockError(
    "Timeout",
    `Cannot read shared structure as its writer has been inside one write for over ${readLimitMs} ms and is not known dead (if it was terminated, read asynchronously so that its exit can be seen): received owner id ${owner}`,
  );
}
