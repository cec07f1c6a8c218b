/**
 * Synchronisation primitives shared by threads, processes and machines.
 * @module
 */
export { Lock, type LockPermit } from "./lock.ts";
export { RLock } from "./rlock.ts";
export { BoundedSemaphore, Semaphore, type SemaphoreOptions, type SemaphorePermit } from "./semaphore.ts";
export { Condition, type ConditionLock, type ConditionOptions } from "./condition.ts";
export { Event } from "./event.ts";
export { Barrier, type BarrierOptions } from "./barrier.ts";
export type { WaitOptions } from "./_kernel.ts";
export type { LockLike } from "./_lock_like.ts";
