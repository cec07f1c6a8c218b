/**
 * `npm run demo`: three workers share a work queue, a results dict and a
 * lock — first as threads on the shared buffer, then on a unix-socket
 * manager. The worker code (demo_worker.ts) is the same for both.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";

async function run(transport: string): Promise<void> {
  const t0 = performance.now();
  await using m = await Manager.start({ transport });
  const jobs = await m.queue<number | null>({ maxsize: 16 });
  const results = await m.dict<string, number>(undefined, { name: "results" });
  const lock = await m.lock();

  const names = ["ada", "bob", "cy"];
  const workers = names.map((name) =>
    spawn(new URL("./demo_worker.ts", import.meta.url), { args: [jobs, results, lock, name] })
  );
  for (let n = 1; n <= 30; n++) await jobs.put(n);
  for (const _ of names) await jobs.put(null); // one stop signal per worker
  const done = await Promise.all(workers.map((w) => w.join()));

  const entries = new Map(await results.entries());
  let sum = 0;
  for (const [k, v] of entries) if (k.endsWith("^2")) sum += v;
  console.log(`\n== ${m.transport} ==`);
  names.forEach((name, i) =>
    console.log(`  worker ${name}: ${done[i]} jobs (its count in the dict: ${entries.get(`by ${name}`) ?? 0})`)
  );
  console.log(`  sum of the squares of 1..30 from the dict: ${sum} (expected 9455)`);
  console.log(`  took ${(performance.now() - t0).toFixed(0)} ms, workers started included`);
}

await run("shared-buffer:");
await run(`unix:${join(tmpdir(), `procshare-demo-${process.pid}.sock`)}`);
