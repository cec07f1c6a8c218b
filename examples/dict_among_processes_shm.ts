/**
 * Seed 000, "multiprocessing: How do I share a dict among multiple
 * processes?", on `shm:`: the program of examples/dict_among_processes.ts
 * (four processes each update the dict and write their own entry), then the
 * comparison the seed's answer makes — a dict of string keys read by four
 * processes at once — in gets per second.
 *
 * On `shm:` the dict lives in files in `/dev/shm` that every process maps;
 * there is no server, so the children use the Sync twins (`computeSync`,
 * `setSync`, `getSync`), each a few hundred nanoseconds, where
 * `Manager().dict()` in Python (and procshare's `unix:`) costs a round trip
 * to the server per call. `npm run bench -- --only C` measures the same
 * reads beside Python's Manager and a `multiprocessing.shared_memory` hash.
 *
 * Prints `{1: '11111', '2': 10, <pid>: 'Hi, I was written by process <pid>', …}`,
 * then `4 processes read 1000 keys: <rate> gets/s in all (getSync on shm:)`.
 *
 * Linux only (`shm:`). Run: `node --import tsx examples/dict_among_processes_shm.ts`,
 * `deno run -A examples/dict_among_processes_shm.ts`, `bun examples/dict_among_processes_shm.ts`.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import type f from "./workers/dict_among_processes_shm.ts";

/** Processes sharing the dict. */
const PROCESSES = 4;
/** String keys of the dict the processes read. */
const KEYS = 1000;
/** Gets each process performs. */
const GETS = 500_000;

/** Python's repr of a str or int, for printing the dict as Python does. */
function repr(x: unknown): string {
  return typeof x === "string" ? `'${x.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : String(x);
}

/** A rate with an SI suffix. */
function rate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(1)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);
}

await using manager = await Manager.start({ transport: "shm:" });
const d = await manager.dict<number | string, number | string>();
d.setSync(1, "1");
d.setSync("2", 2);
const table = await manager.dict<string, string>(
  new Map(Array.from({ length: KEYS }, (_, i) => [`key:${i}`, `value:${i}`])),
);
const start = await manager.barrier(PROCESSES);

const children = Array.from(
  { length: PROCESSES },
  (_, p) =>
    spawn<typeof f>(new URL("./workers/dict_among_processes_shm.ts", import.meta.url), {
      args: [d, table, start, KEYS, GETS, (p * KEYS / PROCESSES) | 0],
      as: "process",
    }),
);
const rates = await Promise.all(children.map((p) => p.join()));

console.log(`{${d.entriesSync().map(([k, v]) => `${repr(k)}: ${repr(v)}`).join(", ")}}`);
console.log(
  `${PROCESSES} processes read ${KEYS} keys: ${rate(rates.reduce((s, r) => s + r, 0))} gets/s in all (getSync on shm:)`,
);
