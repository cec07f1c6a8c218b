/**
 * The thread registry: one small SharedArrayBuffer per process that gives
 * every thread (and every remote connection the manager serves) a unique id,
 * and records which ids are dead. Lock words store their owner's id, so a
 * waiter can tell that the owner died and take the lock over (DESIGN.md §4).
 *
 * The registry travels inside every shared-buffer handle; a thread adopts the
 * first registry it sees, before it needs an id of its own.
 * @module
 */

/** Word holding the last id handed out. */
const R_NEXT_ID = 0;
/** First word of the per-id state array. */
const R_STATES = 16;
/** How many ids a registry can hand out (ids are 1..MAX_IDS-1). */
export const MAX_IDS = 1 << 16;
/** State of an id that is alive (or never used). */
export const ID_ALIVE = 0;
/** State of an id whose thread or connection ended. */
export const ID_DEAD = 1;

let registry: Int32Array | undefined;
let myId = 0;

/** The registry buffer of this thread, created on first use. */
export function registryBuffer(): SharedArrayBuffer {
  if (!registry) registry = new Int32Array(new SharedArrayBuffer((R_STATES + MAX_IDS) * 4));
  return registry.buffer as SharedArrayBuffer;
}

/** Adopts a registry received from another thread, unless this thread has one. */
export function adoptRegistry(buf: SharedArrayBuffer | undefined): void {
  if (!registry && buf instanceof SharedArrayBuffer) registry = new Int32Array(buf);
}

function words(): Int32Array {
  registryBuffer();
  return registry!;
}

/** Hands out a fresh id (for a thread, or a remote connection acting as one). */
export function allocateId(): number {
  const id = Atomics.add(words(), R_NEXT_ID, 1) + 1;
  if (id >= MAX_IDS) throw new RangeError(`Cannot allocate a thread id as all ${MAX_IDS - 1} are used`);
  return id;
}

/** This thread's id. */
export function threadId(): number {
  if (myId === 0) myId = allocateId();
  return myId;
}

/** Marks an id dead: locks it holds become free for the taking. */
export function markDead(id: number): void {
  if (id > 0 && id < MAX_IDS) Atomics.store(words(), R_STATES + id, ID_DEAD);
}

/** True when the id's thread or connection is known to have ended. */
export function isDead(id: number): boolean {
  return id > 0 && id < MAX_IDS && Atomics.load(words(), R_STATES + id) === ID_DEAD;
}

/**
 * Reserves an id for a worker about to start, so that its parent can mark it
 * dead when it exits even if it never ran a line.
 */
export function reserveWorkerId(): number {
  return allocateId();
}

/** Sets this thread's id (a spawned worker gets the one its parent reserved). */
export function setThreadId(id: number): void {
  myId = id;
}
