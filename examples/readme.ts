/**
 * The README's example: three workers take 30 jobs from a shared queue and
 * add each job's id to their entry in a shared dict, under a shared lock.
 * Run: `node --import tsx examples/readme.ts`, `deno run -A examples/readme.ts`,
 * `bun examples/readme.ts`; with `-- unix` it runs over a unix-socket manager.
 * @module
 */
import { Manager, spawn } from "../mod.ts";
import type readmeWorker from "./workers/readme_worker.ts";

const transport = process.argv.includes("unix") ? `unix:/tmp/procshare-readme-${process.pid}.sock` : "shared-buffer:";
await using m = await Manager.start({ transport });
const scores = await m.dict<string, number>({}, { name: "scores" });
const jobs = await m.queue<{ id: number }>({ maxsize: 1000 });
const lock = await m.lock();

const workers = [0, 1, 2].map((i) =>
  spawn<typeof readmeWorker>(new URL("./workers/readme_worker.ts", import.meta.url), {
    args: [scores, jobs, lock, i],
  })
);
for (let id = 1; id <= 30; id++) await jobs.put({ id });
const done = await Promise.all(workers.map((w) => w.join()));

const total = (await scores.values()).reduce((a, b) => a + b, 0);
console.log(`jobs per worker: ${done.join(", ")}`);
console.log(`sum of job ids: ${total} (expected ${(30 * 31) / 2}) over ${m.transport}`);
