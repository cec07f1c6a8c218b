/**
 * Handles in, structures out: `attach(handle)` rebuilds a structure from its
 * serializable handle on whatever transport the handle names, and
 * `toWire`/`fromWire` carry structures inside argument lists (spawn, Pool,
 * postMessage by hand).
 * @module
 */

/** Marker key of a structure inside a wire argument. */
const MARK = "__procshare_handle__";

/** Something with a serializable handle (every procshare structure). */
export interface HasHandle {
  readonly handle: Handle;
}

/** A plain-data description of a structure, with the transport that carries it. */
export interface Handle {
  /** Structure kind: "dict", "queue", "lock", … */
  readonly kind: string;
  /** Transport: "shared-buffer", "socket", … */
  readonly via: string;
  readonly [k: string]: unknown;
}

type Attacher = (handle: Handle) => unknown | Promise<unknown>;
const attachers = new Map<string, Attacher>();

/** How one structure kind's public object is built on each side. */
export interface StructureKind {
  /** From a shared-buffer handle: the engine runs in the caller's thread. */
  fromLocal(handle: Handle): unknown;
  /** From a remote handle: every operation goes through `remote`. */
  fromRemote(handle: Handle, remote: import("../sync/_remote.ts").Remote): unknown;
}
const structures = new Map<string, StructureKind>();

/** Registers a structure kind's constructors (called by each structure module). */
export function registerStructure(kind: string, k: StructureKind): void {
  structures.set(kind, k);
}

/** The constructors of a structure kind, or a typed error. */
export function structureOf(kind: string): StructureKind {
  const k = structures.get(kind);
  if (!k) throw new TypeError(`Cannot attach structure as its kind is unknown: received ${kind}`);
  return k;
}

/** Registers how handles of one transport are attached (called by transports). */
export function registerAttacher(via: string, fn: Attacher): void {
  attachers.set(via, fn);
}

/** True for a value that looks like a structure handle. */
export function isHandle(v: unknown): v is Handle {
  return typeof v === "object" && v !== null && typeof (v as Handle).kind === "string" &&
    typeof (v as Handle).via === "string";
}

/** The module that registers each transport's attacher, loaded on first use. */
const loaders: Record<string, () => Promise<unknown>> = {
  "shared-buffer": () => import("./shared_buffer.ts"),
  socket: () => import("./_socket_transport.ts"),
};

/** Rebuilds the structure a handle describes. */
export async function attach<T = unknown>(handle: Handle): Promise<T> {
  if (!isHandle(handle)) throw new TypeError(`Cannot attach as the value is not a handle: received ${String(handle)}`);
  if (!attachers.has(handle.via) && Object.hasOwn(loaders, handle.via)) await loaders[handle.via]();
  const fn = attachers.get(handle.via);
  if (!fn) throw new TypeError(`Cannot attach as transport '${handle.via}' is not loaded`);
  return (await fn(handle)) as T;
}

/** Replaces structures in an argument list by marked handles (structured-clone safe). */
export function toWire(args: readonly unknown[]): unknown[] {
  return args.map((a) =>
    typeof a === "object" && a !== null && "handle" in a && isHandle((a as HasHandle).handle)
      ? { [MARK]: (a as HasHandle).handle }
      : a
  );
}

/** Inverse of {@linkcode toWire}: attaches every marked handle. */
export function fromWire(args: readonly unknown[]): Promise<unknown[]> {
  return Promise.all(
    args.map((a) => typeof a === "object" && a !== null && MARK in a ? attach((a as Record<string, Handle>)[MARK]) : a),
  );
}
