// The first module of every spawned worker thread, in every runtime. It only
// imports the entry (`workerData.entry`: _worker_entry.ts in the sources,
// _worker_entry.js in the npm package's dist/, where scripts/build.mjs copies
// this file), after registering the tsx loader when Node 20 must load
// TypeScript (the entry from the sources, or a user's .ts module): it cannot
// load a .ts file in a worker by itself (no type stripping, and the parent's
// `--import tsx` does not reach workers). A JavaScript user of dist/ needs no
// tsx. Deno and Bun run .ts directly, but a .ts worker root under
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
