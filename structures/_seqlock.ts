/**
 * Writer lock plus sequence counter in words of a structure's buffer.
 * Writers serialise on the robust mutex and make the counter odd while the
 * structure is inconsistent; readers take no lock at all: they read the
 * counter, read the structure, and retry when the counter moved. Readers on
 * many threads so scale, as they never write a shared word.
 * @module
 */
import { threadId } from "../transports/_runtime/threads.ts";
import { ACQUIRED_OWNER_DIED, lockSync, tryLock, unlock } from "../sync/_mutex.ts";
import { nap } from "../sync/_kernel.ts";

/** Spins a reader makes on an odd counter before it sleeps a little. */
const READ_SPINS = 256;

/** The writer side: lock, odd/even windows, unlock. */
export class SeqLock {
  constructor(readonly i32: Int32Array, readonly lockWord: number, readonly seqWord: number) {}

  /** Takes the writer lock, waiting as long as needed. Returns the id to unlock with. */
  lock(): number {
    const id = threadId();
    if (
      !tryLock(this.i32, this.lockWord, id) && lockSync(this.i32, this.lockWord, id, Infinity) === ACQUIRED_OWNER_DIED
    ) {
      // the previous writer died: if inside its window, close it so that readers stop retrying
      if (Atomics.load(this.i32, this.seqWord) & 1) Atomics.add(this.i32, this.seqWord, 1);
    }
    return id;
  }

  unlock(id: number): void {
    unlock(this.i32, this.lockWord, id);
  }

  /** Makes the counter odd: readers from now on retry. */
  begin(): void {
    Atomics.add(this.i32, this.seqWord, 1);
  }

  /** Makes the counter even again. */
  end(): void {
    Atomics.add(this.i32, this.seqWord, 1);
  }

  /** A stable (even) counter value to read under; spins, then naps, while a writer is inside. */
  readBegin(): number {
    const i32 = this.i32;
    let s = Atomics.load(i32, this.seqWord);
    for (let n = 0; (s & 1) !== 0; n++) {
      if (n > READ_SPINS) nap(i32, this.seqWord, s, 1);
      s = Atomics.load(i32, this.seqWord);
    }
    return s;
  }

  /** True when nothing was written since `s` was read. */
  readValid(s: number): boolean {
    return Atomics.load(this.i32, this.seqWord) === s;
  }
}
