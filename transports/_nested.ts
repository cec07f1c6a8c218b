/**
 * Structures stored inside structures (issue 10): a Dict whose values are
 * Queues, a List of Dicts. A structure written into another is encoded as
 * its handle under the CBOR tag {@linkcode NESTED_TAG} (so it is never
 * confused with user data), read back as a {@linkcode StoredHandle}, and
 * attached by the reading client (`Shared.call`) before the value is
 * returned, as Python's nested proxies arrive as proxies.
 *
 * What is stored per transport:
 * - `shm:` handles are plain data (`{ shm: file, bytes }`): stored as they are.
 * - socket handles are stored without their authkey; the reader fills it in
 *   from the structure it read through (same server address only). The
 *   server keeps a stored structure alive until shutdown (or
 *   `Manager.delete` of a named one): see `STORED_OWNER` in
 *   `socket/server.ts`.
 * - shared-buffer handles carry SharedArrayBuffers, which cannot be bytes:
 *   the storing thread keeps the handle in a table under a random key,
 *   posts it to every thread of the process on a `BroadcastChannel` (each
 *   keeps it: a stored structure lives as long as the process), and stores
 *   `{ kind, via, nested: key }`. A thread that reads a key it does not know
 *   yet (the post is on its way, or the thread started later) asks on the
 *   channel; every thread that knows it answers. The key means nothing in
 *   another process: store shared-buffer structures only in structures that
 *   stay in the process.
 * @module
 */
import type { Handle } from "../core/backend.ts";
import { type ProcessChannel, processChannel } from "./_runtime/broadcast.ts";

/** The CBOR tag of a stored structure (private use; its content is a map: the stored handle). */
export const NESTED_TAG = 41_017;

/** A structure as read from inside another, before the reader attaches it. */
export class StoredHandle {
  /** The stored form of the handle (see the module doc). */
  readonly handle: Handle;
  constructor(handle: Handle) {
    this.handle = handle;
  }
}

let seen = 0;

/** How many stored handles this thread has decoded so far: a call whose count did not move returns none. */
export function storedSeen(): number {
  return seen;
}

/** Counts one decoded stored handle (the codec's tag decoder). */
export function countStored(): void {
  seen++;
}

/** Shared-buffer handles stored by this thread or learnt from others, by key. */
const local = new Map<string, Handle>();
/** The key of each shared-buffer structure this thread stored, by its first buffer. */
const keys = new WeakMap<SharedArrayBuffer, string>();
const waiting = new Map<string, Array<(h: Handle) => void>>();
let channel: ProcessChannel | undefined;

function bus(): ProcessChannel {
  if (channel !== undefined) return channel;
  const c = processChannel("procshare:nested"); // unreferenced: the channel alone keeps no process alive
  c.onmessage = (ev) => {
    const m = ev.data as { ask?: string; key?: string; handle?: Handle };
    if (typeof m?.ask === "string") {
      const h = local.get(m.ask);
      if (h !== undefined) c.postMessage({ key: m.ask, handle: h });
    } else if (typeof m?.key === "string" && m.handle !== undefined) {
      if (!local.has(m.key)) local.set(m.key, m.handle);
      const ws = waiting.get(m.key);
      if (ws !== undefined) {
        waiting.delete(m.key);
        if (waiting.size === 0) c.unref();
        for (const w of ws) w(m.handle);
      }
    }
  };
  return (channel = c);
}

/** The form of `handle` to write into a structure's bytes. */
export function storedForm(handle: Handle): Handle {
  if (handle.via === "shared-buffer") {
    // one key per structure (its first buffer names it), so that storing it twice writes the same bytes
    const buf = Object.values(handle).find((x) => x instanceof SharedArrayBuffer) as SharedArrayBuffer | undefined;
    const known = buf === undefined ? undefined : keys.get(buf);
    if (known !== undefined) return { kind: handle.kind, via: handle.via, nested: known };
    const key = crypto.randomUUID();
    if (buf !== undefined) keys.set(buf, key);
    local.set(key, handle);
    // every thread of the process learns it now, so it stays readable after this thread ends
    bus().postMessage({ key, handle });
    return { kind: handle.kind, via: handle.via, nested: key };
  }
  if (handle.via === "socket") {
    const { authkey: _authkey, ...rest } = handle;
    return rest as Handle;
  }
  return handle;
}

/** How long a thread waits for another thread of its process to hand over a stored shared-buffer handle. */
const ASK_TIMEOUT_MS = 5_000;

/**
 * The handle to attach for a stored one read through `container`: fills in a
 * socket authkey, finds a shared-buffer handle by key (asking the other
 * threads of the process when this one does not know it).
 */
export function attachableForm(stored: Handle, container: Handle): Handle | Promise<Handle> {
  if (stored.via === "socket") {
    if (container.via !== "socket" || container.address !== stored.address) {
      throw new TypeError(
        `Cannot attach stored structure as it names another server than the one it was read from: received ${
          String(stored.address)
        }`,
      );
    }
    return { ...stored, authkey: container.authkey };
  }
  if (stored.via === "shared-buffer" && typeof stored.nested === "string") {
    const key = stored.nested;
    const h = local.get(key);
    if (h !== undefined) return h;
    const c = bus();
    return new Promise<Handle>((resolve, reject) => {
      const timer = setTimeout(() => {
        const ws = waiting.get(key);
        const i = ws?.indexOf(done) ?? -1;
        if (i >= 0) ws!.splice(i, 1);
        if (ws?.length === 0) waiting.delete(key);
        if (waiting.size === 0) c.unref();
        reject(
          new TypeError(
            `Cannot attach stored structure as no thread of this process holds it any more: received ${key}`,
          ),
        );
      }, ASK_TIMEOUT_MS);
      function done(h: Handle): void {
        clearTimeout(timer);
        resolve(h);
      }
      const ws = waiting.get(key);
      if (ws === undefined) waiting.set(key, [done]);
      else ws.push(done);
      c.ref();
      c.postMessage({ ask: key });
    });
  }
  return stored;
}

/** True when `v` holds a {@linkcode StoredHandle} in its arrays, plain objects, Maps or Sets. */
export function holdsStored(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > 66) return false;
  if (v instanceof StoredHandle) return true;
  if (ArrayBuffer.isView(v)) return false;
  if (Array.isArray(v) || v instanceof Set) {
    for (const x of v) if (holdsStored(x, depth + 1)) return true;
    return false;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) if (holdsStored(k, depth + 1) || holdsStored(x, depth + 1)) return true;
    return false;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v as Record<string, unknown>) {
    if (holdsStored((v as Record<string, unknown>)[k], depth + 1)) return true;
  }
  return false;
}

/** `v` with every {@linkcode StoredHandle} replaced by `attach(h)`'s result; containers copied where they change. */
export async function replaceStored(v: unknown, attach: (h: StoredHandle) => Promise<unknown>): Promise<unknown> {
  if (!holdsStored(v)) return v;
  if (v instanceof StoredHandle) return attach(v);
  if (Array.isArray(v)) return Promise.all(v.map((x) => replaceStored(x, attach)));
  if (v instanceof Set) return new Set(await Promise.all([...v].map((x) => replaceStored(x, attach))));
  if (v instanceof Map) {
    const out = new Map();
    for (const [k, x] of v) out.set(await replaceStored(k, attach), await replaceStored(x, attach));
    return out;
  }
  const out: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
  for (const k of Object.keys(v as object)) {
    const x = await replaceStored((v as Record<string, unknown>)[k], attach);
    Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Set by `attach.ts` when it loads: attaches the stored handles in a value read through `container`. */
export let attachStored: ((v: unknown, container: Handle) => Promise<unknown>) | undefined;

/** Installs {@linkcode attachStored} (`attach.ts` does, once). */
export function setAttachStored(f: (v: unknown, container: Handle) => Promise<unknown>): void {
  attachStored = f;
}

/** Attaches the stored handles of a value read through `container` (loads `attach.ts` if nothing did yet). */
export async function attachRead(v: unknown, container: Handle): Promise<unknown> {
  if (attachStored === undefined) await import("../attach.ts");
  return attachStored!(v, container);
}
