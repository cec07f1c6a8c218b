/**
 * Handles in, structures out: `attach(handle)` rebuilds a structure from its
 * serializable handle on whatever transport the handle names, and
 * `toWire`/`fromWire` carry structures inside argument lists (spawn, Pool,
 * postMessage by hand).
 * @module
 */
import { type Backend, type Handle, hasHandle, isHandle } from "./core/backend.ts";
import { KINDS } from "./kinds.ts";
import { Shared, type StructureSpec } from "./core/structure.ts";
import { providerOfVia } from "./transports/_registry.ts";
import { attachableForm, replaceStored, setAttachStored } from "./transports/_nested.ts";

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

// structures read from inside others (issue 10) arrive attached: `Shared.call` hands them here
setAttachStored((v, container) => replaceStored(v, async (s) => attach(await attachableForm(s.handle, container))));

/** Builds a structure over a given backend (a test seam for in-process remotes). */
export function attachWith<T = unknown>(handle: Handle, backend: Backend<unknown>): T {
  return specOf(handle.kind).client(handle, backend as never) as T;
}

/** True for an array or a plain object: the containers structures are looked for in. */
function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `v` with every structure, at any depth of arrays and plain objects, replaced by its marked handle. */
function handlesIn(v: unknown, seen: Set<object>): unknown {
  if (hasHandle(v)) {
    Shared.pinForTransfer(v); // a structure on a manager server stays while its handle travels
    return { [MARK]: v.handle };
  }
  if (!isContainer(v) || seen.has(v)) return v;
  seen.add(v);
  try {
    if (Array.isArray(v)) {
      const out = v.map((x) => handlesIn(x, seen));
      return out.every((x, i) => x === v[i]) ? v : out; // unchanged containers stay the same object
    }
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = handlesIn(v[k], seen);
      if (x !== v[k]) changed = true;
      out[k] = x;
    }
    return changed ? out : v;
  } finally {
    seen.delete(v);
  }
}

function isMarked(v: unknown): v is Record<typeof MARK, Handle> {
  return typeof v === "object" && v !== null && MARK in v && isHandle((v as Record<string, unknown>)[MARK]);
}

/** Inverse of {@linkcode handlesIn}: every marked handle, at any depth, attached. */
async function attachedIn(v: unknown): Promise<unknown> {
  if (isMarked(v)) return attach(v[MARK]);
  if (!isContainer(v)) return v;
  if (Array.isArray(v)) return Promise.all(v.map(attachedIn));
  const entries = await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await attachedIn(x)] as const));
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) {
    // defineProperty: a "__proto__" key stays an own key, as it arrived
    Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Replaces the structures in an argument list — at any depth of arrays and
 * plain objects — by marked handles (structured-clone and codec safe), as
 * Python pickles proxies inside lists and dicts. A structure on a manager
 * server gets one more reference on the sender's connection, so the
 * receiver finds it even if the sender drops its client meanwhile: it is
 * given back when the sender calls `close()` on the structure, or when the
 * sender's connection ends.
 *
 * @example A structure inside an object
 * ```ts
 * import { Manager, toWire } from "./mod.ts";
 * await using m = await Manager.start();
 * const lock = await m.lock();
 * const [wire] = toWire([{ guards: [lock] }]);
 * console.log(JSON.stringify(wire).includes("__procshare_handle__")); // true
 * ```
 */
export function toWire(args: readonly unknown[]): unknown[] {
  const seen = new Set<object>();
  return args.map((a) => handlesIn(a, seen));
}

/** Inverse of {@linkcode toWire}: attaches every marked handle, at any depth. */
export function fromWire(args: readonly unknown[]): Promise<unknown[]> {
  return Promise.all(args.map(attachedIn));
}
