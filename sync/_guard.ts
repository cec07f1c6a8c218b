/**
 * The robust guarded section of Semaphore and Barrier: a robust mutex word
 * (`_mutex.ts`) held for a few instructions around every change of the
 * primitive's other words, with an undo journal, so that a thread terminated
 * inside the section is undone by whoever takes the guard over.
 *
 * ## Layout
 *
 * The primitive places the guard in its own buffer and names its words
 * there; the journal is optional:
 *
 * | word | name | meaning |
 * |---|---|---|
 * | `word` | | the robust mutex word: 0, or the holding thread's id |
 * | `journal + 0` | `J_COUNT` | words journaled by the change in progress; 0 when none |
 * | `journal + 1 + 2k` | `J_INDEX` | index of the k-th word the change may write |
 * | `journal + 2 + 2k` | `J_OLD` | that word's value before the change |
 *
 * A change journals the words it may write ({@linkcode Guard.begin}), writes
 * them, and commits ({@linkcode Guard.commit}). `J_COUNT` is published after
 * the entries and cleared to commit, so a thread that dies anywhere in
 * between leaves either no change or a complete journal of it.
 *
 * ## Never across an await
 *
 * Entering is synchronous: the guard is held for a few instructions and
 * never across an `await`, so a thread never finds its own id in the word
 * (it would wait for itself forever). The wait is bounded by those few
 * instructions of the holder, or by one wait slice after the holder died.
 * Owners are threads (`threadId()`), not connections: the server thread
 * guards the changes of all its connections.
 * @module
 */
import { threadId } from "../transports/_runtime/threads.ts";
import { ACQUIRED_OWNER_DIED, lockSync, ownerOf, tryLock, unlock } from "./_mutex.ts";

/** Offset of the count of journaled words from the journal's first word. */
const J_COUNT = 0;
/** Offset of the first entry's word index. */
const J_INDEX = 1;
/** Offset of the first entry's old value. */
const J_OLD = 2;
/** Words per journal entry. */
const J_ENTRY = 2;

/** Words a journal of `entries` entries takes. */
export function journalWords(entries: number): number {
  return J_INDEX + entries * J_ENTRY;
}

/** Where a primitive keeps its guard, and what a takeover does besides undoing. */
export interface GuardLayout {
  /** Index of the robust mutex word. */
  readonly word: number;
  /** Index of the journal's first word, when changes are journaled. */
  readonly journal?: number;
  /** Most words one change journals (the journal takes {@linkcode journalWords} of them). */
  readonly entries?: number;
  /** Runs under the guard after a takeover from a dead holder, once its change is undone. */
  readonly onOwnerDied?: () => void;
}

/**
 * A robust guarded section over an Int32Array: enter, change (journaled),
 * leave. A holder that dies inside is detected by the next thread to enter,
 * within one wait slice; that thread undoes the journaled change and runs
 * `onOwnerDied` before its own change.
 *
 * @example A journaled change of two words
 * ```ts
 * import { Guard, journalWords } from "./_guard.ts";
 * const i32 = new Int32Array(new SharedArrayBuffer((2 + journalWords(2)) * 4));
 * const guard = new Guard(i32, { word: 0, journal: 2, entries: 2 });
 * guard.run(() => {
 *   guard.begin(1);
 *   Atomics.add(i32, 1, 5);
 *   guard.commit();
 * });
 * console.log(Atomics.load(i32, 1)); // 5
 * ```
 */
export class Guard {
  readonly #i32: Int32Array;
  readonly #word: number;
  readonly #journal: number;
  readonly #entries: number;
  readonly #onOwnerDied: (() => void) | undefined;

  constructor(i32: Int32Array, layout: GuardLayout) {
    this.#i32 = i32;
    this.#word = layout.word;
    this.#journal = layout.journal ?? -1;
    this.#entries = layout.journal === undefined ? 0 : layout.entries ?? 0;
    this.#onOwnerDied = layout.onOwnerDied;
  }

  /** Takes the guard for the calling thread, blocking it while another thread holds it. */
  enter(): void {
    const id = threadId();
    if (tryLock(this.#i32, this.#word, id)) return;
    if (ownerOf(this.#i32, this.#word) === id) {
      throw new Error("Cannot enter guarded section as this thread holds it already");
    }
    if (lockSync(this.#i32, this.#word, id, Infinity) === ACQUIRED_OWNER_DIED) this.#recover();
  }

  /** Gives the guard back. */
  leave(): void {
    unlock(this.#i32, this.#word, threadId());
  }

  /** Runs `fn` inside the guarded section (it must not return a promise). */
  run<T>(fn: () => T): T {
    this.enter();
    try {
      return fn();
    } finally {
      this.leave();
    }
  }

  /** Journals the words a change may write. Inside the section. */
  begin(...words: number[]): void {
    if (words.length > this.#entries) {
      throw new RangeError(`Cannot journal ${words.length} words as the journal has ${this.#entries} entries`);
    }
    const i = this.#i32;
    let at = this.#journal + J_INDEX;
    for (const w of words) {
      Atomics.store(i, at, w);
      Atomics.store(i, at + (J_OLD - J_INDEX), Atomics.load(i, w));
      at += J_ENTRY;
    }
    Atomics.store(i, this.#journal + J_COUNT, words.length);
  }

  /** The journaled change is complete. Inside the section. */
  commit(): void {
    Atomics.store(this.#i32, this.#journal + J_COUNT, 0);
  }

  /** The guard's holder died: undo its change, if one was in progress, then `onOwnerDied`. */
  #recover(): void {
    const i = this.#i32;
    if (this.#entries > 0) {
      const n = Math.min(Atomics.load(i, this.#journal + J_COUNT), this.#entries);
      for (let k = 0, at = this.#journal + J_INDEX; k < n; k++, at += J_ENTRY) {
        Atomics.store(i, Atomics.load(i, at), Atomics.load(i, at + (J_OLD - J_INDEX)));
      }
      Atomics.store(i, this.#journal + J_COUNT, 0);
    }
    this.#onOwnerDied?.();
  }
}
