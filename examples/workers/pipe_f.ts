/** The child of examples/pipe.ts: Python's `f(conn)`. */
import type { Connection } from "../../mod.ts";

export default async function f(conn: Connection): Promise<void> {
  await conn.send([42, null, "hello"]);
  conn.close();
}
