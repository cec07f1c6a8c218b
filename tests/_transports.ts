/**
 * The transports every behaviour test runs against, written once: each
 * entry starts a fresh manager. A socket entry starts the real server.
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager } from "../mod.ts";

let n = 0;
const dir = mkdtempSync(join(tmpdir(), "procshare-test-"));

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
    start: () => Manager.start({ transport: `unix:${join(dir, `m${process.pid}-${n++}.sock`)}` }),
  },
];
