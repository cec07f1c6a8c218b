// The first module of every spawned worker thread, in every runtime. It only
// imports the TypeScript entry (`workerData.entry`), after registering the
// tsx loader on Node 20, which cannot load a .ts file in a worker by itself
// (no type stripping, and the parent's `--import tsx` does not reach
// workers). Deno and Bun run .ts directly, but a .ts worker root under
// `deno test` is type-checked on every spawn (~2 s); a .mjs root is not.
// "tsx" is resolved from this package, so the worker finds it (and
// "effect", "cbor-x") in the project's node_modules whatever its cwd.
import { workerData } from "node:worker_threads";

// Through a variable: Deno would otherwise add tsx (and its types) to the
// worker's module graph and type-check it under `deno test`.
const TSX_API = "tsx/esm/api";

if (workerData?.typescript) {
  const { register } = await import(TSX_API);
  register();
}
await import(workerData.entry);
