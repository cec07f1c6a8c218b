/**
 * The `shm:` transport (first cut): every structure's memory is a region of
 * `/dev/shm` mapped by each process that uses it, and the engines run
 * unchanged over the mappings (their waits go through the futex: see
 * `_region.ts`). A manager is one region, `procshare-…` or the name of
 * `shm:/name`, holding
 *
 * - a Lock (bytes 0–63) that makes open-or-create by name atomic across
 *   processes;
 * - a header: a magic word and the name of the names region;
 * - room for an owner registry (unused: owner ids come from the user's
 *   registry, {@linkcode ShmOwners.session}, the same for every manager, so
 *   that lock words hold ids unique across processes and managers, and a
 *   dead process's or thread's locks pass on).
 *
 * The names region is a Dict engine: structure name → handle, plus one
 * `\0region:<file>` key per region made for the manager, which `shutdown`
 * unlinks.
 *
 * A structure is made on SharedArrayBuffers by its spec, then each buffer of
 * `spec.share(engine)` is copied into a new region (reserving a growable
 * buffer's `maxByteLength`, committing its `byteLength`) and replaced in the
 * handle by `{ shm: file, bytes }`. Attaching maps each region once per
 * thread and calls `spec.open` over the mappings.
 * @module
 */
import { type Handle, isHandle } from "../../core/backend.ts";
import type { Kinds, StructureSpec } from "../../core/structure.ts";
import { SharedMemoryError, TransportError } from "../../errors.ts";
import { LockEngine } from "../../sync/lock.ts";
import { DictEngine } from "../../structures/dict.ts";
import { threadId, useForeignIds } from "../_runtime/threads.ts";
import type { StartOptions, TransportConfig, TransportImpl, TransportProvider } from "../transport.ts";
import { type Ffi, loadFfi } from "./_ffi.ts";
import { ShmOwners } from "./_owners.ts";
import { ShmRegion } from "./_region.ts";

/** The `via` of shm handles. */
export const VIA = "shm";

/** Bytes of a manager region. */
const MANAGER_BYTES = 64 * 1024;
/** Word of the header's magic ("psMG"), after the lock's 64 bytes. */
const W_MAGIC = 16;
const MAGIC = 0x70734d47;
/** Word holding the length of the names region's file name; its bytes follow from byte 72. */
const W_NAMES_LEN = 17;
const NAMES_AT = 72;
/** The names dict's reservation and first commit. */
const NAMES_MAX_BYTES = 64 << 20;
const NAMES_INITIAL_BYTES = 64 * 1024;
/** Key prefix of the names dict's entries that list the regions made for the manager. */
const REGION_KEY = "\0region:";

/** A buffer of a handle, in a region: what replaces each SharedArrayBuffer. */
interface RegionRef {
  readonly shm: string;
  readonly bytes: number;
}

function isRegionRef(v: unknown): v is RegionRef {
  return typeof v === "object" && v !== null && typeof (v as RegionRef).shm === "string" &&
    typeof (v as RegionRef).bytes === "number" && Object.keys(v).length === 2;
}

/** A manager's region as one thread sees it. */
interface Joined {
  readonly region: ShmRegion;
  readonly lock: LockEngine;
  readonly names: DictEngine;
  readonly namesRegion: ShmRegion;
}

/** This thread's mappings, by file name (a mapping is per thread: SHM.md §1). */
const regions = new Map<string, ShmRegion>();
/** The reference of each mapping's buffer, so that an engine over a region shares it as that region. */
const refs = new WeakMap<ArrayBuffer, RegionRef>();

function remember(r: ShmRegion, bytes: number): ShmRegion {
  regions.set(r.name, r);
  if (!refs.has(r.buffer)) refs.set(r.buffer, { shm: r.name, bytes });
  return r;
}
/** The managers this thread joined, by region name. */
const managers = new Map<string, Joined>();
let ffiPromise: Promise<Ffi> | undefined;
let idsJoined = false;

function ffi(): Promise<Ffi> {
  return ffiPromise ??= loadFfi().catch((e) => {
    ffiPromise = undefined;
    throw e;
  });
}

/** The mapping of `name` in this thread (opened once). */
function mapped(f: Ffi, name: string, minBytes: number): ShmRegion {
  let r = regions.get(name);
  if (r === undefined || r.closed) r = remember(ShmRegion.open(f, name, { minBytes }), minBytes);
  return r;
}

/** Joins the user's registry of owner ids, once per thread: one id across every manager. */
function useIds(f: Ffi): void {
  if (idsJoined) return;
  useForeignIds(ShmOwners.session(f));
  idsJoined = true;
}

/** Lays out a new manager region and its names region. */
function createManager(f: Ffi, name: string | undefined): Joined {
  useIds(f); // first: a registry that cannot be joined leaves no region behind
  const region = ShmRegion.create(f, { name, maxBytes: MANAGER_BYTES, initialBytes: MANAGER_BYTES });
  let namesRegion: ShmRegion | undefined;
  try {
    region.u8.set(new Uint8Array(new LockEngine().buffer));
    const dict = DictEngine.create({ maxBytes: NAMES_MAX_BYTES, initialBytes: NAMES_INITIAL_BYTES });
    namesRegion = ShmRegion.create(f, { maxBytes: NAMES_MAX_BYTES, initialBytes: dict.buffer.byteLength });
    namesRegion.u8.set(new Uint8Array(dict.buffer));
    const bytes = new TextEncoder().encode(namesRegion.name);
    region.u8.set(bytes, NAMES_AT);
    Atomics.store(region.i32, W_NAMES_LEN, bytes.length);
    Atomics.store(region.i32, W_MAGIC, MAGIC);
  } catch (e) {
    namesRegion?.unlink();
    region.unlink();
    throw e;
  }
  regions.set(region.name, region);
  regions.set(namesRegion.name, namesRegion);
  const joined = joinedOver(region, namesRegion);
  managers.set(region.name, joined);
  return joined;
}

function joinedOver(region: ShmRegion, namesRegion: ShmRegion): Joined {
  return {
    region,
    namesRegion,
    lock: new LockEngine(region.buffer as unknown as SharedArrayBuffer),
    names: new DictEngine(namesRegion.buffer as unknown as SharedArrayBuffer),
  };
}

/** Joins the manager of region `name` in this thread (once). */
function joinManager(f: Ffi, name: string): Joined {
  const known = managers.get(name);
  if (known !== undefined) return known;
  const region = mapped(f, name, MANAGER_BYTES);
  const len = Atomics.load(region.i32, W_NAMES_LEN);
  if (Atomics.load(region.i32, W_MAGIC) !== MAGIC || len <= 0 || len > 200) {
    throw new TransportError(
      "BadUrl",
      `Cannot join shm manager as its region is not a manager's: received shm:/${name}`,
    );
  }
  const namesName = new TextDecoder().decode(region.u8.slice(NAMES_AT, NAMES_AT + len));
  const joined = joinedOver(region, mapped(f, namesName, NAMES_INITIAL_BYTES));
  managers.set(name, joined);
  useIds(f);
  return joined;
}

/** `fields` with every SharedArrayBuffer (one level into plain objects and arrays) copied into a new region. */
function toRegions(f: Ffi, v: unknown, made: string[], depth = 0): unknown {
  if (v instanceof ArrayBuffer && refs.has(v)) return refs.get(v); // an engine over a region already (a given Lock)
  if (v instanceof SharedArrayBuffer) {
    const growable = (v as { growable?: boolean }).growable === true;
    const max = growable ? (v as unknown as { maxByteLength: number }).maxByteLength : v.byteLength;
    const maxBytes = Math.max(4, Math.ceil(max / 4) * 4);
    const r = ShmRegion.create(f, { maxBytes, initialBytes: Math.min(maxBytes, Math.ceil(v.byteLength / 4) * 4) });
    made.push(r.name);
    r.u8.set(new Uint8Array(v));
    return refs.get(remember(r, v.byteLength).buffer);
  }
  if (depth > 4 || typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => toRegions(f, x, made, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = toRegions(f, x, made, depth + 1);
  return out;
}

/** Inverse of {@linkcode toRegions}: every region reference replaced by this thread's mapping of it. */
function fromRegions(f: Ffi, v: unknown, depth = 0): unknown {
  if (isRegionRef(v)) return mapped(f, v.shm, v.bytes).buffer;
  if (depth > 4 || typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => fromRegions(f, x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = fromRegions(f, x, depth + 1);
  return out;
}

/** The `shm:` transport of one manager, as started or joined by this process. */
export class ShmTransport implements TransportImpl {
  readonly url: string;
  readonly address: string;
  readonly authkey = undefined;
  readonly #ffi: Ffi;
  readonly #kinds: Kinds;
  readonly #m: Joined;
  /** True in the process that started the manager: its shutdown unlinks every region. */
  readonly #owner: boolean;
  #closed = false;

  constructor(f: Ffi, kinds: Kinds, m: Joined, owner: boolean) {
    this.#ffi = f;
    this.#kinds = kinds;
    this.#m = m;
    this.#owner = owner;
    this.url = this.address = `shm:/${m.region.name}`;
  }

  #spec(kind: string): StructureSpec<unknown> {
    if (typeof kind !== "string" || !Object.hasOwn(this.#kinds, kind)) {
      throw new TransportError("UnknownOperation", `Cannot open structure as its kind is unknown: received ${kind}`);
    }
    return this.#kinds[kind];
  }

  /**
   * A handle of this manager among the parameters (one level into plain
   * objects) as its fields over this thread's mappings, the form
   * `spec.create` takes a Lock in (a Value's or a Condition's lock).
   */
  #resolve(p: unknown, deep: boolean): unknown {
    if (typeof p !== "object" || p === null || Array.isArray(p) || ArrayBuffer.isView(p)) return p;
    if (isHandle(p)) {
      if (p.via !== VIA || p.manager !== this.#m.region.name) return p;
      return { ...(fromRegions(this.#ffi, p) as Handle), via: "shared-buffer" };
    }
    if (!deep || Object.getPrototypeOf(p) !== Object.prototype) return p;
    return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, this.#resolve(v, false)]));
  }

  #create(kind: string, params: readonly unknown[]): Handle {
    const spec = this.#spec(kind);
    const engine = spec.create(Array.isArray(params) ? params.map((p) => this.#resolve(p, true)) : params);
    const made: string[] = [];
    try {
      const fields = toRegions(this.#ffi, spec.share(engine), made) as Record<string, unknown>;
      for (const r of made) this.#m.names.set(REGION_KEY + r, 1);
      return { ...fields, kind, via: VIA, manager: this.#m.region.name };
    } catch (e) {
      for (const r of made) regions.get(r)?.unlink();
      throw e;
    }
  }

  async open(kind: string, name: string | undefined, params: readonly unknown[]): Promise<Handle> {
    if (this.#closed) throw new TransportError("Closed", "Cannot open structure as the manager is shut down");
    if (name === undefined) return this.#create(kind, params);
    if (typeof name !== "string" || name.length === 0 || name.startsWith("\0")) {
      throw new TypeError(`Cannot open structure as 'name' must be a non-empty string: received ${String(name)}`);
    }
    const me = threadId();
    await this.#m.lock.acquire(me);
    try {
      const existing = this.#m.names.get(name);
      if (existing !== undefined) {
        if (!isHandle(existing)) {
          throw new TransportError("Protocol", `Cannot open '${name}' as its entry is not a handle`);
        }
        if (existing.kind !== kind) {
          throw new TypeError(`Cannot open '${name}' as a ${kind} as it is a ${existing.kind}`);
        }
        return existing;
      }
      const handle = this.#create(kind, params);
      this.#m.names.set(name, handle);
      return handle;
    } finally {
      this.#m.lock.release(me);
    }
  }

  async delete(name: string): Promise<boolean> {
    if (typeof name !== "string" || name.startsWith("\0")) {
      throw new TypeError(`Cannot delete structure as 'name' must be a string: received ${typeof name}`);
    }
    const me = threadId();
    await this.#m.lock.acquire(me);
    try {
      return this.#m.names.delete(name);
    } finally {
      this.#m.lock.release(me);
    }
  }

  /**
   * The starting process unlinks every region made for the manager (by any
   * process), then the names region and the manager region; mappings stay
   * (a view used after unmapping faults on Node), so clients in every
   * process keep working, and new attaches fail with NotFound. A joining
   * process unlinks nothing.
   */
  close(): Promise<void> {
    if (this.#closed || !this.#owner) {
      this.#closed = true;
      return Promise.resolve();
    }
    this.#closed = true;
    for (const k of this.#m.names.keys()) {
      if (typeof k !== "string" || !k.startsWith(REGION_KEY)) continue;
      const file = k.slice(REGION_KEY.length);
      try {
        (regions.get(file) ?? mapped(this.#ffi, file, 4)).unlink();
      } catch (e) {
        if (!(e instanceof SharedMemoryError)) throw e;
      }
    }
    this.#m.namesRegion.unlink();
    this.#m.region.unlink();
    managers.delete(this.#m.region.name);
    return Promise.resolve();
  }
}

/** The `shm:` provider. */
export const provider: TransportProvider = {
  schemes: ["shm"],
  via: VIA,
  async start(config: TransportConfig, options: StartOptions): Promise<TransportImpl> {
    const f = await ffi();
    const name = config.kind === "shm" ? config.name : undefined;
    return new ShmTransport(f, options.kinds, createManager(f, name), true);
  },
  async connect(config: TransportConfig, options): Promise<TransportImpl> {
    const f = await ffi();
    if (config.kind !== "shm" || config.name === undefined) {
      throw new TransportError("BadUrl", `Cannot connect to shm manager as the address has no name: received shm:`);
    }
    return new ShmTransport(f, (options as { kinds?: Kinds }).kinds ?? {}, joinManager(f, config.name), false);
  },
  async backend<E>(handle: Handle, spec: StructureSpec<E>) {
    const f = await ffi();
    if (typeof handle.manager !== "string") {
      throw new TypeError(`Cannot attach shm structure as its handle names no manager: received ${handle.manager}`);
    }
    joinManager(f, handle.manager);
    return { engine: spec.open(fromRegions(f, handle) as Record<string, unknown>) };
  },
};
