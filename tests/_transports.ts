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
  start(): Promise<Manager>;
}

/** Shared buffer and a unix-socket manager server. */
export const TRANSPORTS: readonly TransportCase[] = [
  { name: "shared-buffer", local: true, start: () => Manager.start() },
  {
    name: "unix socket",
    local: false,
    start: () => Manager.start({ transport: `unix:${join(socketDir(), `m${process.pid}-${n++}.sock`)}` }),
  },
];
