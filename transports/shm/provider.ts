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
 * A structure is made on SharedArrayBuffers by its spec (`createPortable`
 * when it has one: a SharedMemory's name lives in the manager, not in the
 * process), then each buffer of `spec.share(engine)` is copied into a new
 * region (reserving a growable buffer's `maxByteLength`, committing its
 * `byteLength`) and replaced in the handle by `{ shm: file, bytes }`.
 * Attaching maps each region once per thread and calls `spec.open` over the
 * mappings.
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Handle, isHandle } from "../../core/backend.ts";
import type { Kinds, StructureSpec } from "../../core/structure.ts";
import { SharedMemoryError, TransportError } from "../../errors.ts";
import { toAuthkey } from "../_auth.ts";
import { LockEngine } from "../../sync/lock.ts";
import { DictEngine } from "../../structures/dict.ts";
import { registerForeignNames } from "../../structures/_shm_names.ts";
import { threadId, useForeignIds } from "../_runtime/threads.ts";
import type { StartOptions, TransportConfig, TransportImpl, TransportProvider } from "../transport.ts";
import { type Ffi, loadFfi } from "./_ffi.ts";
import { ShmOwners } from "./_owners.ts";
import { randomSuffix, ShmRegion } from "./_region.ts";
import { sweepWith } from "./_sweep.ts";

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
/** Word (byte 316, after the longest names-region name): 1 when the manager was started with an authkey, whose salted HMAC follows. */
const W_AUTH = 79;
/** Bytes of the authkey's salt, then of its HMAC-SHA256 under that salt. */
const AUTH_SALT_AT = 320;
const AUTH_SALT_BYTES = 16;
const AUTH_MAC_AT = AUTH_SALT_AT + AUTH_SALT_BYTES;
const AUTH_MAC_BYTES = 32;
/** How long a process opening `shm:/name` waits for its creator to finish laying it out. */
const LAYOUT_WAIT_MS = 2000;
/** The names dict's reservation and first commit. */
const NAMES_MAX_BYTES = 64 << 20;
const NAMES_INITIAL_BYTES = 64 * 1024;
/** Key prefix of the names dict's entries that list the regions made for the manager. */
const REGION_KEY = "\0region:";
/** Key prefix of the entry listing the regions made for a named structure (unlinked by `delete`). */
const MADE_KEY = "\0made:";

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

/** HMAC-SHA256 of `salt` under the authkey: what a manager region keeps of its authkey. */
function authMac(authkey: Uint8Array | string, salt: Uint8Array): Uint8Array {
  return createHmac("sha256", toAuthkey(authkey)).update("procshare:shm").update(salt).digest();
}

/**
 * Refuses to join a manager started with an authkey unless `authkey` is
 * the same (a manager started without one takes any, or none).
 */
function checkAuth(region: ShmRegion, authkey: Uint8Array | string | undefined): void {
  if (Atomics.load(region.i32, W_AUTH) !== 1) return;
  if (authkey === undefined || authkey === "") {
    throw new TransportError(
      "Auth",
      `Cannot join shm manager as it was started with an authkey and none was given: received shm:/${region.name}`,
    );
  }
  const salt = region.u8.slice(AUTH_SALT_AT, AUTH_SALT_AT + AUTH_SALT_BYTES);
  const mac = region.u8.slice(AUTH_MAC_AT, AUTH_MAC_AT + AUTH_MAC_BYTES);
  if (!timingSafeEqual(authMac(authkey, salt), mac)) {
    throw new TransportError(
      "Auth",
      `Cannot join shm manager as the authkey was refused: received shm:/${region.name}`,
    );
  }
}

/** Lays out a new manager region and its names region. */
function createManager(f: Ffi, name: string | undefined, authkey: Uint8Array | string | undefined): Joined {
  useIds(f); // first: a registry that cannot be joined leaves no region behind
  const mac = authkey === undefined ? undefined : (() => {
    const salt = new Uint8Array(randomBytes(AUTH_SALT_BYTES));
    return { salt, mac: authMac(authkey, salt) };
  })();
  const region = ShmRegion.create(f, { name, maxBytes: MANAGER_BYTES, initialBytes: MANAGER_BYTES });
  let namesRegion: ShmRegion | undefined;
  try {
    region.u8.set(new Uint8Array(new LockEngine().buffer));
    if (mac !== undefined) {
      region.u8.set(mac.salt, AUTH_SALT_AT);
      region.u8.set(mac.mac, AUTH_MAC_AT);
      Atomics.store(region.i32, W_AUTH, 1);
    }
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

/**
 * Opens `shm:/name`, made by another process, for `Manager.start`: waits
 * (up to {@linkcode LAYOUT_WAIT_MS}) for its creator to finish laying it
 * out, checks the authkey, and joins it.
 */
async function openNamedManager(f: Ffi, name: string, authkey: Uint8Array | string | undefined): Promise<Joined> {
  const region = mapped(f, name, MANAGER_BYTES);
  const deadline = Date.now() + LAYOUT_WAIT_MS;
  while (Atomics.load(region.i32, W_MAGIC) !== MAGIC && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  checkAuth(region, authkey);
  return joinManager(f, name);
}

let swept = false;
/** Removes, once per process, the region files of dead creators (`_sweep.ts`); never fails a start. */
function sweepOnce(f: Ffi): void {
  if (swept) return;
  swept = true;
  try {
    sweepWith(f);
  } catch {
    // a sweep is housekeeping: a listing that fails leaves files for the next start
  }
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
/**
 * A new file name for a region of manager `m`: the prefix of its names
 * region, `procshare-<pid>-<starttime>-` of the process that started the
 * manager, whatever process makes the structure. The sweeper then removes
 * a manager's regions once its starter is dead (as the starter's shutdown
 * would have), never while the starter lives: a joining process that made a
 * structure and exited leaves it usable by name.
 */
function regionName(m: Joined): string | undefined {
  const prefix = /^procshare-[0-9]+-[0-9]+-/.exec(m.namesRegion.name)?.[0];
  return prefix === undefined ? undefined : prefix + randomSuffix();
}

function toRegions(f: Ffi, v: unknown, made: string[], m: Joined, depth = 0): unknown {
  if (v instanceof ArrayBuffer && refs.has(v)) return refs.get(v); // an engine over a region already (a given Lock)
  if (v instanceof SharedArrayBuffer) {
    const growable = (v as { growable?: boolean }).growable === true;
    const max = growable ? (v as unknown as { maxByteLength: number }).maxByteLength : v.byteLength;
    const maxBytes = Math.max(4, Math.ceil(max / 4) * 4);
    const r = ShmRegion.create(f, {
      name: regionName(m),
      maxBytes,
      initialBytes: Math.min(maxBytes, Math.ceil(v.byteLength / 4) * 4),
    });
    made.push(r.name);
    r.u8.set(new Uint8Array(v));
    return refs.get(remember(r, v.byteLength).buffer);
  }
  if (depth > 4 || typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => toRegions(f, x, made, m, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = toRegions(f, x, made, m, depth + 1);
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

/** Unlinks the region file `file`; one already gone is no error. */
function unlinkQuietly(f: Ffi, file: string): void {
  try {
    (regions.get(file) ?? mapped(f, file, 4)).unlink();
  } catch (e) {
    if (!(e instanceof SharedMemoryError)) throw e;
  }
}

/** True when `v` (a handle, to depth 4) refers to the region `file`. */
function refersTo(v: unknown, file: string, depth = 0): boolean {
  if (isRegionRef(v)) return v.shm === file;
  if (depth > 4 || typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return false;
  return Object.values(v).some((x) => refersTo(x, file, depth + 1));
}

// A SharedMemory's (or ShareableList's) block is named in its manager's names
// dict: its unlink forgets the name there, if it still names a structure on the block.
registerForeignNames({
  forget(manager: string, name: string, buffer: ArrayBufferLike): boolean {
    const m = managers.get(manager), ref = refs.get(buffer as ArrayBuffer);
    if (m === undefined || ref === undefined) return false;
    const me = threadId();
    m.lock.acquireSync(me);
    try {
      return refersTo(m.names.get(name), ref.shm) && m.names.delete(name);
    } finally {
      m.lock.release(me);
    }
  },
});

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

  #create(kind: string, params: readonly unknown[], name?: string): Handle {
    const spec = this.#spec(kind);
    const ps = Array.isArray(params) ? params.map((p) => this.#resolve(p, true)) : params;
    const engine = spec.createPortable ? spec.createPortable(ps) : spec.create(ps);
    const made: string[] = [];
    try {
      const fields = toRegions(this.#ffi, spec.share(engine), made, this.#m) as Record<string, unknown>;
      for (const r of made) this.#m.names.set(REGION_KEY + r, 1);
      if (name !== undefined) this.#m.names.set(MADE_KEY + name, made);
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
      const handle = this.#create(kind, params, name);
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
      const made = this.#m.names.get(MADE_KEY + name);
      if (Array.isArray(made)) {
        this.#m.names.delete(MADE_KEY + name);
        for (const file of made) {
          if (typeof file !== "string") continue;
          this.#m.names.delete(REGION_KEY + file);
          unlinkQuietly(this.#ffi, file);
        }
      }
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
      unlinkQuietly(this.#ffi, k.slice(REGION_KEY.length));
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
    sweepOnce(f);
    const name = config.kind === "shm" ? config.name : undefined;
    if (options.authkey !== undefined) toAuthkey(options.authkey); // a bad authkey fails before any file is made
    try {
      return new ShmTransport(f, options.kinds, createManager(f, name, options.authkey), true);
    } catch (e) {
      // `shm:/name` opens the manager when another process made it first
      if (name === undefined || !(e instanceof SharedMemoryError) || e.reason !== "Exists") throw e;
      let joined: Joined;
      try {
        joined = await openNamedManager(f, name, options.authkey);
      } catch (e) {
        // a manager whose creator died before laying it out, or whose names region was swept: made anew
        if (
          !(e instanceof SharedMemoryError && e.reason === "NotFound") &&
          !(e instanceof TransportError && e.reason === "BadUrl")
        ) throw e;
        unlinkQuietly(f, name);
        return new ShmTransport(f, options.kinds, createManager(f, name, options.authkey), true);
      }
      return new ShmTransport(f, options.kinds, joined, false);
    }
  },
  async connect(config: TransportConfig, options): Promise<TransportImpl> {
    const f = await ffi();
    if (config.kind !== "shm" || config.name === undefined) {
      throw new TransportError("BadUrl", `Cannot connect to shm manager as the address has no name: received shm:`);
    }
    const joined = joinManager(f, config.name);
    checkAuth(joined.region, options.authkey);
    return new ShmTransport(f, (options as { kinds?: Kinds }).kinds ?? {}, joined, false);
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
