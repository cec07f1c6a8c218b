/**
 * Port of seed 001's "Pipe for Two-Way Communication" programs and its
 * Exercise 3: a sender and a receiver process on the two ends of a `Pipe`,
 * a ping-pong between the parent and a child, and a request-response worker:
 *
 * ```py
 * def sender(conn): conn.send("Hello from sender!"); conn.send([1, 2, 3]); conn.close()
 * def receiver(conn):
 *     msg1 = conn.recv(); msg2 = conn.recv()
 *     print(f"Received: {msg1}"); print(f"Received: {msg2}")
 * parent_conn, child_conn = Pipe()
 * p1 = Process(target=sender, args=(child_conn,)); p2 = Process(target=receiver, args=(parent_conn,))
 * p1.start(); p2.start(); p1.join(); p2.join()
 *
 * def ping_pong(conn, name):
 *     for i in range(3):
 *         msg = conn.recv(); print(f"{name} received: {msg}"); conn.send(f"{name} reply {i}")
 *     conn.close()
 * conn1, conn2 = Pipe(); p = Process(target=ping_pong, args=(conn2, "Worker")); p.start()
 * for i in range(3):
 *     conn1.send(f"Main message {i}"); reply = conn1.recv(); print(f"Main received: {reply}")
 * p.join()
 *
 * def compute_worker(conn):
 *     while True:
 *         msg = conn.recv()
 *         if msg is None: break
 *         conn.send(msg ** 2)
 *     conn.close()
 * (for num in [3, 7, 11, 15, 20]: send num, print(f"{num}^2 = {result}"); then send None)
 * ```
 *
 * The workers are threads (the ends of a Pipe go to processes too: see
 * examples/pipe.ts). Prints `Received: Hello from sender!`,
 * `Received: [1, 2, 3]`, the six ping-pong lines, then `3^2 = 9` …
 * `20^2 = 400`.
 *
 * Run: `node --import tsx examples/pipes.ts`, `deno run -A examples/pipes.ts`, `bun examples/pipes.ts`.
 * @module
 */
import { Pipe, spawn } from "../mod.ts";

const WORKER = new URL("./workers/pipes.ts", import.meta.url);

{ // Basic Pipe
  const [parentConn, childConn] = Pipe();
  const p1 = spawn(WORKER, { args: ["sender", childConn] });
  const p2 = spawn(WORKER, { args: ["receiver", parentConn] });
  await p1.join();
  await p2.join();
}
{ // Bidirectional Pipe
  const [conn1, conn2] = Pipe<string>();
  const p = spawn(WORKER, { args: ["pingPong", conn2, "Worker"] });
  for (let i = 0; i < 3; i++) {
    await conn1.send(`Main message ${i}`);
    const reply = await conn1.recv();
    console.log(`Main received: ${reply}`);
  }
  await p.join();
}
{ // Exercise 3: request-response
  const [parentConn, childConn] = Pipe<number | null>();
  const p = spawn(WORKER, { args: ["computeWorker", childConn] });
  for (const num of [3, 7, 11, 15, 20]) {
    await parentConn.send(num);
    const result = await parentConn.recv();
    console.log(`${num}^2 = ${result}`);
  }
  await parentConn.send(null); // shutdown signal
  await p.join();
}
