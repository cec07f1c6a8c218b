/**
 * Python's remote manager (`BaseManager(address=("", 50000), authkey=b"abracadabra")`
 * serving a queue, and a client that `connect()`s and puts "hello"), with the
 * server in a process of its own. Another program, on this machine or one
 * that can reach the port, joins exactly as the client below does; a
 * standalone server is `npx procshare serve tcp://127.0.0.1:50000` with
 * `PROCSHARE_AUTHKEY` set.
 *
 * Run: node --import tsx examples/serve_remote.ts · deno run -A examples/serve_remote.ts · bun examples/serve_remote.ts
 */
import { Manager } from "../mod.ts";

// the server: a child process, stopped when this block ends (or by a client's shutdown({ server: true }))
await using server = await Manager.start({ transport: "tcp://127.0.0.1:0", serve: "process", authkey: "abracadabra" });

// a client: all it needs is the address and the authkey
{
  await using client = await Manager.connect(server.address!, { authkey: "abracadabra" });
  const queue = await client.queue<string>({ name: "queue" });
  await queue.put("hello");
}

const queue = await server.queue<string>({ name: "queue" });
console.log(await queue.get()); // hello
