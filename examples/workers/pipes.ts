/** examples/pipes.ts's worker: Python's `sender`, `receiver`, `ping_pong` and `compute_worker`, chosen by name. */
import type { Connection } from "../../mod.ts";
import { repr } from "../_py.ts";

/** Sends a string and a list, then closes its end. */
export async function sender(conn: Connection): Promise<void> {
  await conn.send("Hello from sender!");
  await conn.send([1, 2, 3]);
  conn.close();
}

/** Receives two messages and prints them as Python's f-string does (`str`, so a list as its repr). */
export async function receiver(conn: Connection): Promise<void> {
  const msg1 = await conn.recv();
  const msg2 = await conn.recv();
  console.log(`Received: ${typeof msg1 === "string" ? msg1 : repr(msg1)}`);
  console.log(`Received: ${typeof msg2 === "string" ? msg2 : repr(msg2)}`);
}

/** Three rounds: receive, print, reply. */
export async function pingPong(conn: Connection<string>, name: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const msg = await conn.recv();
    console.log(`${name} received: ${msg}`);
    await conn.send(`${name} reply ${i}`);
  }
  conn.close();
}

/** Squares each number it receives until `null`. */
export async function computeWorker(conn: Connection<number | null>): Promise<void> {
  for (;;) {
    const msg = await conn.recv();
    if (msg === null) break;
    await conn.send(msg ** 2);
  }
  conn.close();
}

/** Runs the target named `name` with the rest of the arguments. */
export default async function (
  name: "sender" | "receiver" | "pingPong" | "computeWorker",
  conn: Connection<never>,
  who?: string,
): Promise<void> {
  if (name === "sender") await sender(conn);
  else if (name === "receiver") await receiver(conn);
  else if (name === "pingPong") await pingPong(conn, who!);
  else await computeWorker(conn);
}
