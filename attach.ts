/**
 * Handles in, structures out: `attach(handle)` rebuilds a structure from its
 * serializable handle on whatever transport the handle names, and
 * `toWire`/`fromWire` carry structures inside argument lists (spawn, Pool,
 * postMessage by hand).
 * @module
 */
import { type Backend, type Handle, hasHandle, isHandle } from "./core/backend.ts";
import { KINDS } from "./kinds.ts";
import type { StructureSpec } from "./core/structure.ts";
import { providerOfVia } from "./transports/_registry.ts";

export { type Handle, type HasHandle, isHandle } from "./core/backend.ts";

/** Marker key of a structure inside a wire argument. */
const MARK = "__procshare_handle__";

function specOf(kind: string): StructureSpec<unknown> {
  if (!Object.hasOwn(KINDS, kind)) {
    throw new TypeError(`Cannot attach structure as its kind is unknown: received ${kind}`);
  }
  return KINDS[kind as keyof typeof KINDS] as unknown as StructureSpec<unknown>;
}

/**
 * Rebuilds the structure a handle describes, on the transport it names.
 *
 * @example Passing a lock to a worker by hand
 * ```ts
 * import { attach, Lock, Manager } from "./mod.ts";
 * await using m = await Manager.start();
 * const lock = await m.lock();
 * const again = await attach<Lock>(lock.handle); // what a worker does with a posted handle
 * console.log(await again.tryAcquire() !== undefined); // true
 * ```
 */
export async function attach<T = unknown>(handle: Handle): Promise<T> {
  if (!isHandle(handle)) throw new TypeError(`Cannot attach as the value is not a handle: received ${String(handle)}`);
  const provider = await providerOfVia(handle.via);
  const spec = specOf(handle.kind);
  return spec.client(handle, await provider.backend(handle, spec)) as T;
}

/** Builds a structure over a given backend (a test seam for in-process remotes). */
export function attachWith<T = unknown>(handle: Handle, backend: Backend<unknown>): T {
  return specOf(handle.kind).client(handle, backend as never) as T;
}

/** Replaces structures in an argument list by marked handles (structured-clone safe). */
export function toWire(args: readonly unknown[]): unknown[] {
  return args.map((a) => hasHandle(a) ? { [MARK]: a.handle } : a);
}

/** Inverse of {@linkcode toWire}: attaches every marked handle. */
export function fromWire(args: readonly unknown[]): Promise<unknown[]> {
  return Promise.all(
    args.map((a) => typeof a === "object" && a !== null && MARK in a ? attach((a as Record<string, Handle>)[MARK]) : a),
  );
}
