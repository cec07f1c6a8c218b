// The first module of the benchmark's hand-made worker threads (the
// postMessage baselines, which need MessagePorts and so cannot go through
// procshare's `spawn`). On Node it registers tsx, which Node 20 needs to load
// a .ts module in a worker; Deno and Bun load TypeScript by themselves. Then
// it runs the default export of `workerData.module` with `workerData.args`
// and posts `{ ok, value | error }` to the parent, which terminates it.
import { parentPort, workerData } from "node:worker_threads";

// Through a variable, so that Deno does not put tsx into the module graph.
const TSX_API = "tsx/esm/api";

if (!("Deno" in globalThis) && !("Bun" in globalThis)) {
  const { register } = await import(TSX_API);
  register();
}
try {
  const mod = await import(workerData.module);
  const value = await mod.default(...workerData.args);
  parentPort.postMessage({ ok: true, value });
} catch (e) {
  parentPort.postMessage({ ok: false, error: String(e?.stack ?? e) });
}
