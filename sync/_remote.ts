/**
 * The client side of a structure on a remote transport: one function that
 * sends `(op, args)` to the structure's engine on the manager and resolves
 * with its answer. Socket and pipe transports provide it; the public classes
 * only see this.
 * @module
 */

/** Calls one operation of a remote structure. */
export interface Remote {
  call(op: string, args: readonly unknown[], signal?: AbortSignal): Promise<unknown>;
}

/** True for the AbortError a remote call rejects with when its signal fires. */
export function isAbort(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as Error).name === "AbortError";
}
