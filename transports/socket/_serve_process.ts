/**
 * The starter's side of a manager server in its own process (issue 10 item
 * 5, Python's `Manager()`): {@linkcode startServerProcess} runs
 * `_serve_child.ts` in a child of the same runtime, hands it the authkey on
 * stdin (never on argv) and waits for its address; {@linkcode servedTransport}
 * is the manager's transport over it, whose `close()` stops the child;
 * {@linkcode requestShutdown} is how any other client stops it.
 *
 * **Lifetime**: the child is sent SIGTERM when the starter exits (its `exit`
 * event, as Python's manager is finalized at exit). A starter that dies
 * without running it (SIGKILL, a crash of the runtime) leaves the server up:
 * it serves on while any client is connected, and stops `orphanTimeoutMs`
 * (60 s by default) after the last one left. The child does not hold the
 * starter's event loop open.
 *
 * @example Starting one and stopping it
 * ```ts
 * import { startServerProcess } from "./_serve_process.ts";
 * import { randomAuthkey } from "../_auth.ts";
 * const child = await startServerProcess("tcp://127.0.0.1:0", { authkey: randomAuthkey() });
 * console.log(child.address, child.pid);
 * await child.stop();
 * ```
 * @module
 */
import { spawn } from "node:child_process";
import type { Handle } from "../../core/backend.ts";
import { reviveError, TransportError } from "../../errors.ts";
import { runtimeCommand } from "../_runtime/runtime.ts";
import { HOST_ID } from "../_host.ts";
import type { TransportImpl } from "../transport.ts";
import { connect } from "./client.ts";
import { socketAddress } from "./address.ts";
import { SHUTDOWN_OP } from "./_serve.ts";
import type { ServeChildConfig, ServeChildReady } from "./_serve_child.ts";

/** Default of `orphanTimeoutMs`: an orphaned server with no client stops after a minute. */
export const DEFAULT_ORPHAN_TIMEOUT_MS = 60_000;

const EXT = /(\.[cm]?[jt]s)$/.exec(new URL(import.meta.url).pathname)?.[1] ?? ".ts";
/** The child's entry, with this file's extension (`.ts` in the sources, `.js` when built). */
const ENTRY = new URL(`./_serve_child${EXT}`, import.meta.url);

/**
 * Options of {@linkcode startServerProcess}.
 *
 * @example
 * ```ts
 * import type { ServerProcessOptions } from "./_serve_process.ts";
 * const o: ServerProcessOptions = { authkey: new Uint8Array(32), orphanTimeoutMs: Infinity };
 * ```
 */
export interface ServerProcessOptions {
  readonly authkey: Uint8Array;
  /** See `ManagerStartOptions.orphanTimeoutMs`. */
  readonly orphanTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly maxPendingReplyBytes?: number;
  readonly frameTimeoutMs?: number;
  readonly maxAnonymous?: number;
  /** Custom types the child loads and serves: name → URL of a module whose default export is the class. */
  readonly types?: Readonly<Record<string, string>>;
}

/**
 * A running server child.
 *
 * @example
 * ```ts
 * import type { ServerProcess } from "./_serve_process.ts";
 * const log = (p: ServerProcess) => console.log(`server ${p.pid} on ${p.address}`);
 * ```
 */
export interface ServerProcess {
  /** The address it listens on (a unix path made absolute, a TCP port 0 resolved). */
  readonly address: string;
  /** Its process id. */
  readonly pid: number;
  /** Settles when the child has exited, with its exit code (or minus nothing: null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Stops it (SIGTERM: it closes its server and removes its socket file) and resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Checks an `orphanTimeoutMs` option and returns it, or {@linkcode DEFAULT_ORPHAN_TIMEOUT_MS}.
 *
 * @example
 * ```ts
 * import { checkOrphanTimeout } from "./_serve_process.ts";
 * console.log(checkOrphanTimeout(undefined), checkOrphanTimeout(Infinity)); // 60000 Infinity
 * ```
 */
export function checkOrphanTimeout(ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_ORPHAN_TIMEOUT_MS;
  if (typeof ms !== "number" || Number.isNaN(ms) || ms <= 0) {
    throw new TypeError(`Cannot start manager as 'orphanTimeoutMs' must be a positive number: received ${ms}`);
  }
  return ms;
}

/** Children still running, sent SIGTERM when this process exits. */
const children = new Set<number>();
let exitHook = false;

/**
 * SIGTERM to `pid` by `process.kill`, not `ChildProcess.kill`: a Deno child
 * killed by the latter from a Deno parent dies of the signal without running
 * its handler (Deno 2.9), so its socket file would stay.
 */
function terminate(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}

function endChildrenAtExit(): void {
  for (const pid of children) terminate(pid);
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Starts a manager server in a child process of this runtime, listening on
 * `address` (`unix:/path` or `tcp://host:port`), and resolves once it
 * listens. A server that cannot start (address in use, missing directory)
 * rejects with the child's own typed error.
 *
 * @example
 * ```ts
 * import { startServerProcess } from "./_serve_process.ts";
 * import { randomAuthkey } from "../_auth.ts";
 * const child = await startServerProcess("unix:/tmp/procshare-doc.sock", { authkey: randomAuthkey() });
 * await child.stop();
 * ```
 */
export function startServerProcess(address: string, options: ServerProcessOptions): Promise<ServerProcess> {
  socketAddress(address); // a bad address fails here, not in the child
  const orphanTimeoutMs = checkOrphanTimeout(options.orphanTimeoutMs);
  const config: ServeChildConfig = {
    address,
    authkey: toHex(options.authkey),
    orphanTimeoutMs: orphanTimeoutMs === Infinity ? null : orphanTimeoutMs,
    maxFrameBytes: options.maxFrameBytes,
    maxPendingReplyBytes: options.maxPendingReplyBytes,
    frameTimeoutMs: options.frameTimeoutMs,
    maxAnonymous: options.maxAnonymous,
    types: options.types,
  };
  const { command, args } = runtimeCommand(ENTRY);
  const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(null));
  });
  if (!exitHook) {
    exitHook = true;
    process.on("exit", endChildrenAtExit);
  }
  const pid = child.pid;
  if (pid !== undefined) {
    children.add(pid);
    void exited.then(() => children.delete(pid));
  }
  child.stdin!.on("error", () => {}); // the child gone: nothing more to tell it
  child.stdin!.write(JSON.stringify(config) + "\n");
  return new Promise<ServerProcess>((resolve, reject) => {
    let out = "";
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      child.kill("SIGKILL");
      reject(e);
    };
    child.on(
      "error",
      (e) =>
        fail(
          new TransportError(
            "Connect",
            `Cannot start manager server process as spawning failed: received ${e.message}`,
            { cause: e },
          ),
        ),
    );
    void exited.then((code) =>
      fail(
        new TransportError(
          "Connect",
          `Cannot start manager server process as it exited before it listened: received exit code ${code}`,
        ),
      )
    );
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      if (settled) return;
      out += chunk;
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      let ready: ServeChildReady;
      try {
        ready = JSON.parse(out.slice(0, nl)) as ServeChildReady;
      } catch {
        fail(
          new TransportError(
            "Protocol",
            `Cannot start manager server process as it answered: received ${out.slice(0, nl)}`,
          ),
        );
        return;
      }
      if ("error" in ready) {
        const { name, reason, message } = ready.error;
        fail(reviveError(name, reason ?? "", message));
        return;
      }
      settled = true;
      // the child must not keep this process alive: its exit hook, or shutdown, ends it
      child.stdout!.destroy();
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      resolve({
        address: ready.address,
        pid: child.pid!,
        exited,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.ref(); // wait for it, even when nothing else holds this process
          terminate(child.pid!);
          await exited;
        },
      });
    });
  });
}

/**
 * The transport of a manager that started its server as a child: `inner`
 * (a client of it) for every call; `close()` closes the client, then stops
 * the child.
 *
 * @example
 * ```ts
 * import { servedTransport, type ServerProcess } from "./_serve_process.ts";
 * import type { TransportImpl } from "../transport.ts";
 * const wrap = (inner: TransportImpl, child: ServerProcess) => servedTransport(inner, child);
 * ```
 */
export function servedTransport(inner: TransportImpl, child: ServerProcess): TransportImpl {
  return {
    get url() {
      return inner.url;
    },
    get address() {
      return inner.address;
    },
    get authkey() {
      return inner.authkey;
    },
    open: (kind: string, name: string | undefined, params: readonly unknown[]) => inner.open(kind, name, params),
    delete: (name: string) => inner.delete(name),
    release: (handle: Handle) => inner.release?.(handle),
    async close() {
      try {
        await inner.close();
      } finally {
        await child.stop();
      }
    },
  };
}

/**
 * Asks the manager server at `address` to stop, over a connection of its
 * own: a server of `serve: "process"` or `procshare serve` stops, closing
 * every client's connection and removing its socket file; an in-process
 * server of another program's `Manager.start` refuses with
 * `TransportError("Unsupported")` (its starter shuts it down). Resolves once
 * the server has dropped this connection.
 *
 * @example
 * ```ts
 * import { requestShutdown } from "./_serve_process.ts";
 * await requestShutdown("unix:/tmp/app.sock", "hex:" + "ab".repeat(32));
 * ```
 */
export async function requestShutdown(address: string, authkey: Uint8Array | string): Promise<void> {
  const client = await connect(address, { authkey });
  try {
    await client.call(HOST_ID, SHUTDOWN_OP, []);
  } catch (e) {
    if (e instanceof TransportError && e.reason === "UnknownOperation") {
      await client.close();
      throw new TransportError(
        "Unsupported",
        `Cannot shut down manager server as it runs inside the program that started it (that program's shutdown() stops it): received ${address}`,
        { cause: e },
      );
    }
    // the server may close this connection before its answer arrives: it is stopping, as asked
    if (!(e instanceof TransportError && e.reason === "Closed")) {
      await client.close();
      throw e;
    }
  }
  // the client's socket does not hold the event loop when idle: this timer does, until the server drops it
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    client.closed,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
  ]);
  clearTimeout(timer);
  await client.close();
}

/** How long {@linkcode requestShutdown} waits for the server to drop its connection. */
const SHUTDOWN_WAIT_MS = 10_000;
