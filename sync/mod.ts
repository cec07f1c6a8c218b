/**
 * Synchronisation primitives shared by threads, processes and machines.
 * @module
 */
export { Lock, type LockPermit } from "./lock.ts";
export type { WaitOptions } from "./_kernel.ts";
