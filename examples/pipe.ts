/**
 * Port of the `Pipe` example of Python's multiprocessing docs
 * ("Exchanging objects between processes"): a child process sends a list
 * through one end of a pipe, the parent receives it from the other.
 *
 * ```python
 * def f(conn):
 *     conn.send([42, None, 'hello'])
 *     conn.close()
 *
 * parent_conn, child_conn = Pipe()
 * p = Process(target=f, args=(child_conn,))
 * p.start()
 * print(parent_conn.recv())   # prints "[42, None, 'hello']"
 * p.join()
 * ```
 *
 * Run: `node --import tsx examples/pipe.ts` (or `deno run -A`, or `bun`).
 * It prints `[42,null,"hello"]`.
 */
import { Pipe, spawn } from "../mod.ts";

const [parentConn, childConn] = Pipe();
const p = spawn(new URL("./workers/pipe_f.ts", import.meta.url), { args: [childConn], as: "process" });
console.log(JSON.stringify(await parentConn.recv()));
await p.join();
