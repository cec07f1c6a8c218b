/**
 * The transports every behaviour test runs against, written once: each
 * entry starts a fresh manager. A socket entry starts the real server, its
 * socket in a temporary folder made on first use and removed, with anything
 * left in it, when the test file's tests are done.
 * @module
 */
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager } from "../mod.ts";
import { runtime } from "../transports/_runtime/runtime.ts";

let n = 0;
let dir: string | undefined;
after(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});
function socketDir(): string {
  return (dir ??= mkdtempSync(join(tmpdir(), "procshare-test-")));
}

/** A named way of starting a manager. */
export interface TransportCase {
  readonly name: string;
  /** True when the structures have Sync twins. */
  readonly local: boolean;
  /** True when the manager has no authkey (`pipe:`: only the workers it spawns reach it). */
  readonly keyless?: boolean;
  /**
   * Kinds (as `KINDS` names them) that do not work on this transport yet, each with the reason a
   * test skipping them prints.
   */
  readonly pending?: Readonly<Record<string, string>>;
  start(): Promise<Manager>;
}

/**
 * `pipe:` (its server in this process, reached over an in-memory stream): the socket transport's
 * server and client over another duplex, so the behaviour suites' unix socket runs cover it; the
 * conformance test runs it too, and tests/transports/pipe_transport_test.ts with real children.
 */
export const PIPE: TransportCase = {
  name: "pipe",
  local: false,
  keyless: true,
  start: () => Manager.start({ transport: "pipe:" }),
};

/** Shared buffer, a unix-socket manager server, and `shm:` (regions of /dev/shm; Linux). */
export const TRANSPORTS: readonly TransportCase[] = [
  { name: "shared-buffer", local: true, start: () => Manager.start() },
  {
    name: "unix socket",
    local: false,
    start: () => Manager.start({ transport: `unix:${join(socketDir(), `m${process.pid}-${n++}.sock`)}` }),
  },
  {
    name: "shm",
    local: true,
    start: () => Manager.start({ transport: "shm:" }),
  },
];

/**
 * Skips the running test, printing why: Bun and Node report it skipped with the reason; Deno's
 * `node:test` counts it passed and prints nothing, so the reason is printed here.
 */
export function skipBecause(ctx: { skip(message?: string): void }, why: string): void {
  if (runtime === "deno") console.log(`# SKIP ${why}`);
  ctx.skip(why);
}
