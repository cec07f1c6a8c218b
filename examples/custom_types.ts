/**
 * Port of Python's "Customized managers" example (`BaseManager.register`),
 * then the same for a counter that two child processes share:
 *
 * ```py
 * class MathsClass:
 *     def add(self, x, y): return x + y
 *     def mul(self, x, y): return x * y
 *
 * class MyManager(BaseManager): pass
 * MyManager.register('Maths', MathsClass)
 *
 * with MyManager() as manager:
 *     maths = manager.Maths()
 *     print(maths.add(4, 3))         # prints 7
 *     print(maths.mul(7, 8))         # prints 56
 * ```
 *
 * `Manager.start({ types })` is `register`: a class given as it is (the
 * server runs in this process), or the URL of a module whose default export
 * is the class. `m.custom<T>(type, args)` is `manager.Maths()`: the object
 * is constructed in the server, and every method of its proxy runs there,
 * awaited. The proxy passes to child processes in `spawn` args as any
 * structure; they call it without knowing the class.
 *
 * Run: `node --import tsx examples/custom_types.ts`,
 * `deno run -A examples/custom_types.ts`, `bun examples/custom_types.ts`.
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, spawn } from "../mod.ts";
import type Counter from "./workers/counter.ts";
import type countTo from "./workers/count_to.ts";

/** Python's `MathsClass`. */
class MathsClass {
  add(x: number, y: number): number {
    return x + y;
  }
  mul(x: number, y: number): number {
    return x * y;
  }
}

await using manager = await Manager.start({
  transport: `unix:${join(tmpdir(), `procshare-custom-types-${process.pid}.sock`)}`,
  types: { Maths: MathsClass, Counter: new URL("./workers/counter.ts", import.meta.url) },
});

const maths = await manager.custom<MathsClass>("Maths");
console.log(await maths.add(4, 3)); // prints 7
console.log(await maths.mul(7, 8)); // prints 56

// two processes and this one increment one counter, 1,000 times each
const counter = await manager.custom<Counter>("Counter", [0], { name: "hits" });
const children = [1, 2].map(() =>
  spawn<typeof countTo>(new URL("./workers/count_to.ts", import.meta.url), { args: [counter, 1000], as: "process" })
);
for (let i = 0; i < 1000; i++) await counter.increment();
await Promise.all(children.map((p) => p.join()));
console.log(`hits: ${await counter.value()}`); // hits: 3000
