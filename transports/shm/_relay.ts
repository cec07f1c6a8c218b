/**
 * Async futex waits for `shm:` that keep the event loop free: one relay
 * thread per JS thread that awaits, blocked in `futex_waitv` over every word
 * awaited at the time.
 *
 * **Why a relay.** A mapped `/dev/shm` file is never a `SharedArrayBuffer`,
 * so `Atomics.waitAsync` does not work on it, and a blocking futex wait on
 * the JS thread would freeze the event loop. An async FFI call per wait
 * (koffi `.async`, Deno `nonblocking`) holds a thread of the runtime's pool
 * and starves `fs` at 4 (Node) or 32 (Deno) pending waits; Bun has none. So
 * one `node:worker_threads` worker (it runs on Node, Deno and Bun) blocks in
 * `futex_waitv` (syscall 449, Linux ≥ 5.16) on up to 127 words plus a control
 * word, and wakes this thread natively: no message goes either way.
 *
 * **Addresses, not aliases.** Every thread of a process shares its address
 * space, and the kernel compares each word with its expected value itself,
 * so the relay needs only `(address, expected)` pairs: it maps no region and
 * never touches watched memory (a region unmapped meanwhile is an `EFAULT`
 * from the kernel, not a crash).
 *
 * **Slots, a list and one word each way.** Each watched `(address, expected)`
 * pair holds one of 127 slots, in an epoch of its own. This thread writes the
 * list of slots into a `SharedArrayBuffer` under a sequence number (a
 * seqlock), then moves the control word (in an anonymous shared page
 * mapped here, `MAP_SHARED | MAP_ANONYMOUS`: a real futex word) to that
 * sequence and wakes it; the relay reads the list, checks the sequence did
 * not move, and passes the sequence as the control word's expected value,
 * so a list written meanwhile ends its wait. When a word is woken, or
 * differs (`EAGAIN`/`EFAULT`: the relay probes each word with a zero-timeout
 * `FUTEX_WAIT`, a syscall each), the relay writes the slot's epoch into the
 * slot's `fired` word, skips that slot from then on, bumps `S_WOKE` and
 * `Atomics.notify`s it. This thread keeps one `Atomics.waitAsync` on
 * `S_WOKE` pending while it watches anything, and on each report settles the
 * watches whose slot fired in their epoch. A removed watch (settled,
 * timed out, aborted) frees its slot without waking the relay: a later
 * report of it carries an old epoch and is dropped. A new list needs a
 * futex wake only while the relay is parked (`S_PARKED`, set before it
 * re-reads the sequence and parks: a Dekker handshake over sequentially
 * consistent atomics); waking it cost this thread 5 µs at the median and
 * 27–67 µs at p90–p99, as the woken relay often takes the CPU at once.
 * Measured: async ping-pong between two processes went from 4–12k to
 * 11–87k hops/s on a loaded machine (scripts/bench/shm_relay.ts;
 * docs/decisions.md).
 *
 * **Spin, then park.** A wait with nothing else pending on this thread
 * first spins on its word for up to 20 µs (a hand-off from a process that
 * answers at once then costs no wake-up at all); one that spun in vain
 * makes the next 16 waits park at once, so a busy machine pays at most
 * 20 µs of CPU for every 17 waits.
 *
 * **No lost wake-ups.** A wait reads the word (`"mismatch"` if it differs)
 * and registers synchronously; the relay then passes the expected value to
 * `futex_waitv`, which refuses to sleep if the word changed meanwhile. A
 * wake-up may be spurious (`"ok"` while the word still holds `expected`):
 * callers loop, as with every futex.
 *
 * **Lifetime.** The relay starts on the first wait and then blocks, idle or
 * not, in `futex_waitv` (idle: on the control word alone, no CPU); the
 * worker is `unref`ed whenever nothing is watched, so it never keeps the
 * process alive, and on `exit` it is stopped (a stop word, then a new
 * list). Timeouts and aborts are timers and listeners of this thread, and
 * free the word's slot.
 *
 * **Fallback.** Without `futex_waitv` (`ENOSYS`: Linux < 5.16, or a seccomp
 * filter), or if the relay cannot start, waits poll the word with a
 * `setTimeout` backoff from 1 ms to 20 ms; so do words past the 127 a relay
 * watches. Polling sees changes of the word, not a bare wake-up.
 *
 * @example Waiting for another process without blocking
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { ShmRegion } from "./_region.ts";
 * import { waitAsync } from "./_relay.ts";
 * const ffi = await loadFfi();
 * using region = ShmRegion.create(ffi, { maxBytes: 4096, initialBytes: 4096 });
 * setTimeout(() => {
 *   Atomics.store(region.i32, 0, 1);
 *   region.notify(0);
 * }, 10);
 * console.log(await waitAsync(region, 0, 0, 1000)); // "ok"
 * region.unlink();
 * ```
 * @module
 */
import { Worker, workerData } from "node:worker_threads";
import { SharedMemoryError } from "../../errors.ts";
import { Errno, type Ffi, loadFfi } from "./_ffi.ts";
import { isTypeScript, runtime } from "../_runtime/runtime.ts";
import { waitSliceAsync, wake } from "../../sync/_kernel.ts";

/** How an async wait ended: woken (or spuriously), timed out, the word differed at the call, or aborted. */
export type AsyncWaitResult = "ok" | "timeout" | "mismatch" | "aborted";

/** How async waits are served: a `futex_waitv` relay thread, or polling (the fallback). */
export type AsyncWaitMode = "relay" | "poll";

/** What an async wait needs of a region (`ShmRegion` has it): its words and where they are mapped. */
export interface WaitableRegion {
  /** The name, for error messages. */
  readonly name: string;
  /** The mapping as 32-bit words. */
  readonly i32: Int32Array;
  /** The mapping's start address in this process. */
  readonly address: number;
  /** True once the mapping is gone. */
  readonly closed: boolean;
}

/** Async waits on shared-memory words, served by one relay thread (or by polling). */
export interface AsyncWaiter {
  /** How this waiter serves waits. */
  readonly mode: AsyncWaitMode;
  /** Waits now pending. */
  readonly pending: number;
  /** Distinct `(word, expected value)` pairs now watched (by the relay or by polling). */
  readonly watching: number;
  /**
   * The relay's counters since it started (zeros without one): `futex_waitv`
   * calls, those that found a word changed or the list moved (`EAGAIN`), and
   * reports to this thread.
   */
  readonly relayRounds: { readonly waits: number; readonly mismatches: number; readonly reports: number };
  /**
   * Waits, without blocking the event loop, while `region.i32[index]` holds
   * `expected`: `"mismatch"` at once when it does not, `"ok"` when the word
   * is woken (`futexWake` from any process) or seen changed, `"timeout"`
   * after `timeoutMs` (default `Infinity`), `"aborted"` when `signal` aborts.
   * Rejects with `SharedMemoryError("Closed")` when the region is closed
   * (before or while waiting), `RangeError` for a bad index or timeout.
   */
  waitAsync(
    region: WaitableRegion,
    index: number,
    expected: number,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<AsyncWaitResult>;
  /** Stops the relay thread; pending waits resolve `"ok"` (spuriously: callers re-check). */
  close(): Promise<void>;
}

// ---- layout ---------------------------------------------------------------------------------

/** `struct futex_waitv`: `u64 val; u64 uaddr; u32 flags; u32 __reserved;`, 24 bytes (as 32-bit words below). */
const WAITV_BYTES = 24;
const WAITV_VAL = 0;
const WAITV_ADDR_LO = 2;
const WAITV_ADDR_HI = 3;
const WAITV_FLAGS = 4;
/** `FUTEX2_SIZE_U32`, without `FUTEX2_PRIVATE`: the words are shared between processes. */
const FUTEX2_SIZE_U32 = 2;
/** `FUTEX_WAITV_MAX`: entries per call; the first is the control word. */
const FUTEX_WAITV_MAX = 128;
/** Words one relay watches. */
export const RELAY_CAPACITY = FUTEX_WAITV_MAX - 1;
/** The control page (anonymous, shared between this process's threads): word 0 mirrors `S_SEQ` once even. */
const CONTROL_BYTES = 4096;
/** Poll backoff of the fallback. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 20;
/**
 * How long a wait spins on its word before it parks, when nothing else waits
 * (ms; see `setSpinMicros`). Measured on a loaded 2-core VM
 * (scripts/bench/shm_relay.ts): a spin that meets a quick other side makes
 * a hop cost no wake-up (87–910k hops/s), one that does not costs its 20 µs;
 * the median gained on Node and Deno and was mixed on Bun.
 */
const SPIN_MS = 0.02;
/** Waits that skip the spin after one that failed (the other side was not quick: the CPU is better left to it). */
const SPIN_BACKOFF = 16;
let spinMs = SPIN_MS;

/**
 * Sets how long an async wait spins on its word before it parks, in
 * microseconds (default 20; 0: never), for benchmarks that compare.
 *
 * @example Turning the spin off
 * ```ts
 * import { setSpinMicros } from "./_relay.ts";
 * setSpinMicros(0);
 * ```
 */
export function setSpinMicros(us: number): void {
  if (typeof us !== "number" || !(us >= 0) || !Number.isFinite(us)) {
    throw new RangeError(`Cannot set the shm wait spin as it must be a finite number of microseconds: received ${us}`);
  }
  spinMs = us / 1000;
}
/** The default, for `setSpinMicros` callers that put it back. */
export const DEFAULT_SPIN_MICROS: number = SPIN_MS * 1000;
/** Marks the relay's `workerData`. */
const RELAY_TAG = "procshare.shm.relay";

// Words of the `SharedArrayBuffer` this thread and its relay share (`Int32Array`).
/** The watch list's sequence: odd while this thread rewrites the list, even once it is whole. */
const S_SEQ = 0;
/** Entries in the watch list. */
const S_COUNT = 1;
/** Non-zero once the relay is asked to stop. */
const S_STOP = 2;
/** Bumped by the relay (then `Atomics.notify`) after it marks slots fired; this thread `Atomics.waitAsync`s on it. */
const S_WOKE = 3;
/** Counters of the relay, for benchmarks: `futex_waitv` calls, those that found a word changed, reports. */
const S_ROUNDS = 4;
const S_MISMATCHES = 5;
const S_REPORTS = 6;
/** 1 while the relay is in (or about to enter) a futex wait: only then does a new list need a futex wake. */
const S_PARKED = 7;
/** `S_FIRED + slot`: the epoch of the slot's last watch the relay saw woken or changed. */
const S_FIRED = 8;
/** The watch list: `S_LIST + ENTRY * k`, `RELAY_CAPACITY` entries. */
const S_LIST = S_FIRED + FUTEX_WAITV_MAX;
const ENTRY = 5;
const E_SLOT = 0;
const E_EPOCH = 1;
const E_ADDR_LO = 2;
const E_ADDR_HI = 3;
/** The expected value, as the kernel compares it (stored as `| 0`). */
const E_EXPECTED = 4;
const SHARED_BYTES = 4 * (S_LIST + ENTRY * RELAY_CAPACITY);

interface RelayStart {
  readonly tag: typeof RELAY_TAG;
  /** The words above. */
  readonly shared: SharedArrayBuffer;
  /** The control word's address (word 0 of the control page). */
  readonly control: number;
}

// ---- the relay thread -----------------------------------------------------------------------

/**
 * The relay's loop, blocking in `futex_waitv` on the control word and every
 * watched word whose slot has not fired yet: it reads the list under its
 * sequence (a seqlock), marks each woken or changed word's slot fired and
 * tells this thread with `Atomics.notify`, then reads the list again. Idle,
 * it blocks on the control word alone (no CPU); it returns once stopped.
 */
async function runRelay(start: RelayStart): Promise<void> {
  const ffi = await loadFfi();
  const page = ffi.mmapAnonymous(FUTEX_WAITV_MAX * WAITV_BYTES);
  if (typeof page === "number") {
    throw new RangeError(`Cannot start the shm wait relay as mmap failed: received errno ${-page}`);
  }
  const u32 = new Uint32Array(page.buffer);
  const s = new Int32Array(start.shared);
  const slots = new Int32Array(RELAY_CAPACITY);
  const epochs = new Int32Array(RELAY_CAPACITY);
  const addresses = new Float64Array(RELAY_CAPACITY);
  const expecteds = new Uint32Array(RELAY_CAPACITY);
  const entry = (i: number, address: number, expected: number) => {
    const w = (i * WAITV_BYTES) / 4;
    u32[w + WAITV_VAL] = expected;
    u32[w + WAITV_VAL + 1] = 0;
    u32[w + WAITV_ADDR_LO] = address % 2 ** 32;
    u32[w + WAITV_ADDR_HI] = Math.floor(address / 2 ** 32);
    u32[w + WAITV_FLAGS] = FUTEX2_SIZE_U32;
    u32[w + WAITV_FLAGS + 1] = 0;
  };
  /** True when the word at `address` no longer holds `expected` (a zero-timeout FUTEX_WAIT). */
  const changed = (address: number, expected: number): boolean => {
    try {
      return ffi.futexWait(address, expected, 0) === "mismatch";
    } catch {
      return true; // unmapped: this thread looks at its region
    }
  };
  const fire = (k: number) => Atomics.store(s, S_FIRED + slots[k], epochs[k]);
  const tell = () => {
    Atomics.add(s, S_WOKE, 1);
    Atomics.add(s, S_REPORTS, 1);
    wake(s, S_WOKE, 1); // Atomics.notify, through the kernel
  };
  /**
   * Parks (the futex call `park` makes) unless the list moved from `seq`: the
   * writer stores the sequence, then reads `S_PARKED`; this stores
   * `S_PARKED`, then reads the sequence (both sequentially consistent), so
   * one of them sees the other and a list is never missed.
   */
  const parked = <T>(seq: number, park: () => T): T | undefined => {
    Atomics.store(s, S_PARKED, 1);
    const r = Atomics.load(s, S_SEQ) === seq ? park() : undefined;
    Atomics.store(s, S_PARKED, 0);
    return r;
  };
  while (Atomics.load(s, S_STOP) === 0) {
    const seq = Atomics.load(s, S_SEQ);
    if ((seq & 1) !== 0) {
      // the list is being rewritten: the control word moves from seq - 1 once it is whole
      parked(seq, () => ffi.futexWait(start.control, seq - 1, Infinity));
      continue;
    }
    let n = 0;
    const count = Math.min(Atomics.load(s, S_COUNT), RELAY_CAPACITY);
    for (let k = 0; k < count; k++) {
      const e = S_LIST + ENTRY * k;
      const slot = Atomics.load(s, e + E_SLOT);
      const epoch = Atomics.load(s, e + E_EPOCH);
      if (slot < 0 || slot >= RELAY_CAPACITY || Atomics.load(s, S_FIRED + slot) === epoch) continue;
      slots[n] = slot;
      epochs[n] = epoch;
      addresses[n] = (Atomics.load(s, e + E_ADDR_LO) >>> 0) + (Atomics.load(s, e + E_ADDR_HI) >>> 0) * 2 ** 32;
      expecteds[n] = Atomics.load(s, e + E_EXPECTED) >>> 0;
      n++;
    }
    if (Atomics.load(s, S_SEQ) !== seq) continue; // rewritten meanwhile: read it again
    entry(0, start.control, seq >>> 0);
    for (let k = 0; k < n; k++) entry(1 + k, addresses[k], expecteds[k]);
    Atomics.add(s, S_ROUNDS, 1);
    const r = parked(seq, () => ffi.futexWaitv(page.address, 1 + n)) ?? 0;
    if (r === 0 || r === -Errno.EINTR) continue; // a new list (or a signal): read it again
    if (r > 0) {
      fire(r - 1);
      tell();
    } else if (r === -Errno.EAGAIN || r === -Errno.EFAULT) {
      Atomics.add(s, S_MISMATCHES, 1);
      // some word differs (or is unmapped), or the list moved on: probe the words (a syscall each,
      // no mapping needed); the ones that changed fire, the list is read again either way
      let any = false;
      for (let k = 0; k < n; k++) {
        if (changed(addresses[k], expecteds[k])) {
          fire(k);
          any = true;
        }
      }
      if (any) tell();
    } else {
      // the relay fails (this thread polls from then on)
      throw new RangeError(`Cannot wait in the shm wait relay as futex_waitv failed: received errno ${-r}`);
    }
  }
}

if ((workerData as RelayStart | null)?.tag === RELAY_TAG) await runRelay(workerData as RelayStart);

// ---- this thread's side ---------------------------------------------------------------------

interface Pending {
  readonly watch: Watch;
  readonly resolve: (r: AsyncWaitResult) => void;
  readonly reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Watch {
  readonly key: string;
  readonly region: WaitableRegion;
  readonly index: number;
  readonly address: number;
  /** The expected value as the kernel compares it (unsigned). */
  readonly expected: number;
  polled: boolean;
  /** The relay's slot (-1 when polled) and this watch's epoch in it. */
  slot: number;
  epoch: number;
  readonly waiters: Set<Pending>;
}

const BOOTSTRAP = new URL("../../process/_bootstrap.mjs", import.meta.url);
const SELF = new URL(import.meta.url);

/** True when this kernel has `futex_waitv` (it answers EINVAL to an empty list, ENOSYS when missing). */
export function hasFutexWaitv(ffi: Ffi): boolean {
  return ffi.futexWaitv(0, 0) === -Errno.EINVAL;
}

/** Spins at most `ms` while `i32[index] === expected`; true when it changed. */
function spinWhile(i32: Int32Array, index: number, expected: number, ms: number): boolean {
  const end = performance.now() + ms;
  do {
    for (let i = 0; i < 32; i++) if (Atomics.load(i32, index) !== expected) return true;
  } while (performance.now() < end);
  return false;
}

class Waiter implements AsyncWaiter {
  readonly #ffi: Ffi;
  #mode: AsyncWaitMode;
  readonly #watches = new Map<string, Watch>();
  #pending = 0;
  /** Waits that will not spin before one tries again. */
  #spinSkip = 0;
  // relay
  #worker: Worker | undefined;
  #shared: Int32Array | undefined;
  #control: Int32Array | undefined;
  #controlAddress = 0;
  /** The relay's slots: the watch in each, and the free ones. */
  readonly #slots: (Watch | undefined)[] = [];
  readonly #free: number[] = [];
  #epoch = 0;
  #relayed = 0;
  /** A watch was added since the list was last written; a write is queued; an `Atomics.waitAsync` is pending. */
  #dirty = false;
  #flushQueued = false;
  #armed = false;
  #reffed = false;
  #unrefQueued = false;
  #exitHook: (() => void) | undefined;
  #exited: Promise<void> | undefined;
  // poll
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #pollDelay = POLL_MIN_MS;

  constructor(ffi: Ffi, mode: AsyncWaitMode) {
    this.#ffi = ffi;
    this.#mode = mode;
    for (let i = RELAY_CAPACITY - 1; i >= 0; i--) this.#free.push(i);
  }

  get mode(): AsyncWaitMode {
    return this.#mode;
  }

  get pending(): number {
    return this.#pending;
  }

  get watching(): number {
    return this.#watches.size;
  }

  get relayRounds(): { readonly waits: number; readonly mismatches: number; readonly reports: number } {
    const s = this.#shared;
    if (s === undefined) return { waits: 0, mismatches: 0, reports: 0 };
    return {
      waits: Atomics.load(s, S_ROUNDS),
      mismatches: Atomics.load(s, S_MISMATCHES),
      reports: Atomics.load(s, S_REPORTS),
    };
  }

  waitAsync(
    region: WaitableRegion,
    index: number,
    expected: number,
    timeoutMs: number = Infinity,
    signal?: AbortSignal,
  ): Promise<AsyncWaitResult> {
    if (region.closed) {
      return Promise.reject(
        new SharedMemoryError("Closed", `Cannot wait on shm region as it is closed: received ${region.name}`),
      );
    }
    const i32 = region.i32;
    if (!Number.isInteger(index) || index < 0 || index >= i32.length) {
      return Promise.reject(
        new RangeError(
          `Cannot wait on shm region as the index is outside the region's ${i32.length} words: received ${index}`,
        ),
      );
    }
    if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(
        new RangeError(
          `Cannot wait on shm region as 'timeoutMs' must be a non-negative number: received ${timeoutMs}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.resolve("aborted");
    if (Atomics.load(i32, index) !== (expected | 0)) return Promise.resolve("mismatch");
    if (timeoutMs === 0) return Promise.resolve("timeout");
    if (this.#pending === 0 && spinMs > 0) {
      // alone: spin a little first, unless the last spins failed (then skip a few)
      if (this.#spinSkip > 0) this.#spinSkip--;
      else if (spinWhile(i32, index, expected | 0, Math.min(spinMs, timeoutMs))) return Promise.resolve("ok");
      else this.#spinSkip = SPIN_BACKOFF;
    }
    return new Promise<AsyncWaitResult>((resolve, reject) => {
      const address = region.address + 4 * index;
      const u = expected >>> 0;
      const key = `${address}:${u}`;
      let watch = this.#watches.get(key);
      if (watch === undefined || watch.region !== region) {
        if (watch !== undefined) this.#drop(watch); // another mapping now at that address: its waits re-check
        const polled = this.#mode === "poll" || this.#free.length === 0;
        watch = { key, region, index, address, expected: u, polled, slot: -1, epoch: 0, waiters: new Set() };
        this.#watches.set(key, watch);
        if (polled) this.#schedulePoll(true);
        else this.#relay(watch);
      }
      const p: Pending = { watch, resolve, reject };
      watch.waiters.add(p);
      this.#pending++;
      if (Number.isFinite(timeoutMs)) p.timer = setTimeout(() => this.#settle(p, "timeout"), timeoutMs);
      if (signal !== undefined) {
        p.signal = signal;
        p.onAbort = () => this.#settle(p, "aborted");
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
    });
  }

  /** Settles one wait; the word stops being watched when nobody else awaits it. */
  #settle(p: Pending, result: AsyncWaitResult | Error): void {
    const watch = p.watch;
    if (!watch.waiters.delete(p)) return;
    this.#pending--;
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
    if (watch.waiters.size === 0) this.#forget(watch);
    if (typeof result === "string") p.resolve(result);
    else p.reject(result);
  }

  #forget(watch: Watch): void {
    if (this.#watches.get(watch.key) !== watch) return;
    this.#watches.delete(watch.key);
    if (watch.slot >= 0) {
      // The relay may still watch the slot until the next list: a wake-up of it then is
      // dropped here (the slot's epoch moved on), so removals need no write and no wake-up.
      this.#slots[watch.slot] = undefined;
      this.#free.push(watch.slot);
      watch.slot = -1;
      this.#relayed--;
      this.#changed();
    }
  }

  /** Settles every wait of `watch`: woken (`"ok"`), or rejected when its region was closed. */
  #drop(watch: Watch): void {
    const closed = watch.region.closed
      ? new SharedMemoryError(
        "Closed",
        `Cannot wait on shm region as it was closed while waiting: received ${watch.region.name}`,
      )
      : undefined;
    for (const p of [...watch.waiters]) this.#settle(p, closed ?? "ok");
    this.#forget(watch);
  }

  // ---- relay --------------------------------------------------------------------------------

  /** Gives `watch` a slot of the relay, in a new epoch; the list is written once this turn's waits are in. */
  #relay(watch: Watch): void {
    const slot = this.#free.pop()!;
    this.#epoch = this.#epoch >= 0x7fffffff ? 1 : this.#epoch + 1;
    watch.slot = slot;
    watch.epoch = this.#epoch;
    this.#slots[slot] = watch;
    this.#relayed++;
    this.#dirty = true;
    this.#changed();
  }

  /**
   * The relay's list may have to change: write it once the waits registered
   * in this run of microtasks are in (one write and one wake-up of the
   * relay for the 64 waits of a `Promise.all`).
   */
  #changed(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#mode !== "relay") return;
    if (this.#dirty) {
      if (!this.#start()) return;
      this.#dirty = false;
      this.#write();
      this.#arm();
    }
    // the relay blocks for this thread only while it watches something: only then may it keep the
    // process alive; unref once nothing was watched for a turn (a ping-pong re-waits at once)
    if (this.#relayed > 0) {
      if (!this.#reffed && this.#worker !== undefined) {
        this.#reffed = true;
        this.#worker.ref();
      }
    } else if (this.#reffed && !this.#unrefQueued) {
      this.#unrefQueued = true;
      setImmediate(() => {
        this.#unrefQueued = false;
        if (this.#relayed === 0 && this.#reffed && this.#worker !== undefined) {
          this.#reffed = false;
          this.#worker.unref();
          // end the pending wait for reports: its slice timer would hold the event loop up to 200 ms
          if (this.#armed) wake(this.#shared!, S_WOKE, 1);
        }
      });
    }
  }

  /** Writes the list under its sequence, then moves the control word to it and wakes the relay. */
  #write(): void {
    const s = this.#shared!;
    const seq = Atomics.load(s, S_SEQ);
    Atomics.store(s, S_SEQ, seq + 1);
    let k = 0;
    for (const w of this.#slots) {
      if (w === undefined) continue;
      const e = S_LIST + ENTRY * k++;
      Atomics.store(s, e + E_SLOT, w.slot);
      Atomics.store(s, e + E_EPOCH, w.epoch);
      Atomics.store(s, e + E_ADDR_LO, w.address % 2 ** 32);
      Atomics.store(s, e + E_ADDR_HI, Math.floor(w.address / 2 ** 32));
      Atomics.store(s, e + E_EXPECTED, w.expected);
    }
    Atomics.store(s, S_COUNT, k);
    Atomics.store(s, S_SEQ, (seq + 2) | 0);
    Atomics.store(this.#control!, 0, (seq + 2) | 0);
    // a relay still awake reads the new list before it parks (see `parked` in runRelay); waking it
    // costs a syscall, and often the CPU to the relay at once
    if (Atomics.load(s, S_PARKED) !== 0) this.#ffi.futexWake(this.#controlAddress, 1);
  }

  /**
   * Awaits the relay's next report (`Atomics.waitAsync` on `S_WOKE`, through
   * the kernel's `waitSliceAsync`: a native wake-up, no message), while some
   * slot is watched; settles the watches whose slot fired in their epoch.
   */
  #arm(): void {
    if (this.#armed || this.#relayed === 0 || this.#mode !== "relay") return;
    const s = this.#shared!;
    const seen = Atomics.load(s, S_WOKE);
    for (const w of this.#slots) {
      if (w !== undefined && Atomics.load(s, S_FIRED + w.slot) === w.epoch) this.#drop(w);
    }
    if (this.#relayed === 0) return;
    this.#armed = true;
    // woken, or a report came meanwhile, or a slice (200 ms) elapsed: look again (unless the
    // relay was stopped meanwhile: a new one has its own words)
    waitSliceAsync(s, S_WOKE, seen, Infinity, undefined).then(() => {
      if (this.#shared !== s) return;
      this.#armed = false;
      this.#arm();
    });
  }

  /** Starts the relay thread once; false (and polling from then on) when it cannot start. */
  #start(): boolean {
    if (this.#worker !== undefined) return true;
    try {
      const control = this.#ffi.mmapAnonymous(CONTROL_BYTES);
      if (typeof control === "number") throw new RangeError(`mmap failed: received errno ${-control}`);
      this.#control = new Int32Array(control.buffer);
      this.#controlAddress = control.address;
      const shared = new SharedArrayBuffer(SHARED_BYTES);
      this.#shared = new Int32Array(shared);
      const start: RelayStart = { tag: RELAY_TAG, shared, control: control.address };
      const worker = new Worker(BOOTSTRAP, {
        workerData: { ...start, entry: SELF.href, typescript: runtime === "node" && isTypeScript(SELF) },
      });
      this.#worker = worker;
      this.#reffed = true;
      this.#exited = new Promise((resolve) => worker.once("exit", () => resolve()));
      // an unexpected end (the relay failed to load, or died): poll instead
      worker.on("error", () => {
        if (this.#worker === worker) this.#fallBack();
      });
      worker.on("exit", () => {
        if (this.#worker === worker) this.#fallBack();
      });
      this.#exitHook = () => this.#stopRelay();
      process.once("exit", this.#exitHook);
      return true;
    } catch {
      this.#fallBack();
      return false;
    }
  }

  /** The relay is gone (failed to start, or died): its words are polled from now on. */
  #fallBack(): void {
    if (this.#mode === "poll") return;
    this.#mode = "poll";
    this.#stopRelay();
    for (const w of this.#watches.values()) {
      w.polled = true;
      if (w.slot >= 0) {
        this.#slots[w.slot] = undefined;
        this.#free.push(w.slot);
        w.slot = -1;
      }
    }
    this.#relayed = 0;
    if (this.#watches.size > 0) this.#schedulePoll(true);
  }

  #stopRelay(): void {
    const worker = this.#worker;
    if (worker === undefined) return;
    if (this.#exitHook !== undefined) process.off("exit", this.#exitHook);
    this.#exitHook = undefined;
    Atomics.store(this.#shared!, S_STOP, 1);
    this.#write();
    worker.unref();
    // end the wait for reports of this relay (its slice timer holds the event loop)
    if (this.#armed) wake(this.#shared!, S_WOKE, 1);
    this.#armed = false;
    this.#shared = undefined;
    this.#worker = undefined;
    this.#reffed = false;
  }

  // ---- poll ---------------------------------------------------------------------------------

  #schedulePoll(reset: boolean): void {
    if (reset) this.#pollDelay = POLL_MIN_MS;
    if (this.#pollTimer !== undefined) {
      if (!reset) return;
      clearTimeout(this.#pollTimer);
    }
    this.#pollTimer = setTimeout(() => this.#poll(), this.#pollDelay);
  }

  #poll(): void {
    this.#pollTimer = undefined;
    let any = false;
    let polled = 0;
    for (const w of [...this.#watches.values()]) {
      if (!w.polled) continue;
      if (w.region.closed || Atomics.load(w.region.i32, w.index) >>> 0 !== w.expected) {
        this.#drop(w);
        any = true;
      } else polled++;
    }
    if (polled === 0) return;
    this.#pollDelay = any ? POLL_MIN_MS : Math.min(POLL_MAX_MS, this.#pollDelay * 2);
    this.#schedulePoll(false);
  }

  async close(): Promise<void> {
    for (const w of [...this.#watches.values()]) this.#drop(w);
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    const exited = this.#exited;
    const worker = this.#worker;
    this.#stopRelay();
    this.#exited = undefined;
    // held until it has ended (it does at once: it was told to stop), or awaiting it would not keep
    // the event loop alive
    worker?.ref();
    if (exited !== undefined) await exited;
  }
}

/**
 * A new async waiter over `ffi`: a relay thread when the kernel has
 * `futex_waitv` (or `mode: "relay"` is asked), polling otherwise (or when
 * `mode: "poll"` is asked, as tests of the fallback do).
 *
 * @example Forcing the polling fallback
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { createAsyncWaiter } from "./_relay.ts";
 * const waiter = createAsyncWaiter(await loadFfi(), { mode: "poll" });
 * console.log(waiter.mode); // "poll"
 * await waiter.close();
 * ```
 */
export function createAsyncWaiter(ffi: Ffi, options?: { readonly mode?: AsyncWaitMode }): AsyncWaiter {
  return new Waiter(ffi, options?.mode ?? (hasFutexWaitv(ffi) ? "relay" : "poll"));
}

let shared: Waiter | undefined;
let sharedLoading: Promise<Waiter> | undefined;

/** This thread's waiter (one relay per JS thread), made on first use. */
export function asyncWaiter(): Promise<AsyncWaiter> {
  sharedLoading ??= loadFfi().then((ffi) => shared = createAsyncWaiter(ffi) as Waiter);
  sharedLoading.catch(() => sharedLoading = undefined);
  return sharedLoading;
}

/**
 * Waits, without blocking the event loop, while `region.i32[index]` holds
 * `expected`, on this thread's {@linkcode asyncWaiter}: `"mismatch"` at once
 * when it does not, `"ok"` when woken (possibly spuriously: re-check the
 * word), `"timeout"` after `timeoutMs`, `"aborted"` when `signal` aborts.
 *
 * @example Waiting with a timeout and a signal
 * ```ts
 * import { loadFfi } from "./_ffi.ts";
 * import { ShmRegion } from "./_region.ts";
 * import { waitAsync } from "./_relay.ts";
 * using region = ShmRegion.create(await loadFfi(), { maxBytes: 4096, initialBytes: 4096 });
 * console.log(await waitAsync(region, 0, 0, 10)); // "timeout"
 * console.log(await waitAsync(region, 0, 1, 10)); // "mismatch"
 * console.log(await waitAsync(region, 0, 0, Infinity, AbortSignal.abort())); // "aborted"
 * region.unlink();
 * ```
 */
export function waitAsync(
  region: WaitableRegion,
  index: number,
  expected: number,
  timeoutMs?: number,
  signal?: AbortSignal,
): Promise<AsyncWaitResult> {
  if (shared !== undefined) return shared.waitAsync(region, index, expected, timeoutMs, signal);
  // The first wait loads the FFI first: the word is read now, as for every later wait; a word
  // that held `expected` now and moved before the waiter was ready was woken ("ok").
  const held = !region.closed && Number.isInteger(index) && index >= 0 && index < region.i32.length &&
    Atomics.load(region.i32, index) === (expected | 0);
  return asyncWaiter().then(async (w) => {
    const result = await w.waitAsync(region, index, expected, timeoutMs, signal);
    return result === "mismatch" && held ? "ok" : result;
  });
}
