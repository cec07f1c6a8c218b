/**
 * A manager server in its own process (issue 10 items 5 and 6):
 * `Manager.start({ serve: "process" })`, its survival of a killed starter,
 * `shutdown({ server: true })` from another client, the orphan policy of the
 * child, and the `procshare serve` command line. Real processes on every
 * runtime; every wait is on a line printed, a process's exit or a promise of
 * the library, never on a sleep.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Manager, TransportError } from "../../mod.ts";
import { runtimeCommand } from "../../transports/_runtime/runtime.ts";
import { randomAuthkey } from "../../transports/_auth.ts";
import { startServerProcess } from "../../transports/socket/_serve_process.ts";
import { serve } from "../../transports/socket/_serve.ts";
import { KINDS } from "../../kinds.ts";
import { fileURLToPath } from "node:url";
import type Counter from "../fixtures/custom_counter.ts";

const STARTER = new URL("./fixtures/serve_starter.ts", import.meta.url);
const CLI = new URL("../../cli/procshare.ts", import.meta.url);
const CHILD = new URL("../../transports/socket/_serve_child.ts", import.meta.url);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "procshare-serve-"));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A child of this runtime on `script`, its output collected, with a wait for a line and for its exit. */
class Run {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #waiters: Array<() => void> = [];

  constructor(script: URL, args: readonly string[], env?: Record<string, string>) {
    const { command, args: pre } = runtimeCommand(script);
    this.child = spawn(command, [...pre, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      this.stdout += s;
      for (const w of this.#waiters) w();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        for (const w of this.#waiters) w();
        resolve({ code, signal });
      })
    );
  }

  /** The first match of `re` in stdout, once printed; fails if the process exits first. */
  line(re: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.stdout);
        if (m) {
          this.#waiters = this.#waiters.filter((w) => w !== check);
          resolve(m);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          reject(new Error(`exited before printing ${re}: stdout ${this.stdout} stderr ${this.stderr}`));
        }
      };
      this.#waiters.push(check);
      check();
    });
  }
}

describe('Manager.start({ serve: "process" })', () => {
  it("serves from a child process, which shutdown() stops, removing its socket", async () => {
    const dir = tempDir();
    const sock = path.join(dir, "m.sock");
    try {
      const m = await Manager.start({ transport: `unix:${sock}`, serve: "process" });
      assert.equal(m.address, `unix:${sock}`);
      const d = await m.dict<string, number>({ a: 1 }, { name: "d" });
      await using other = await Manager.connect(m.address!, { authkey: m.authkey!.toHex() });
      const seen = await other.dict<string, number>(undefined, { name: "d" });
      await seen.set("b", 2);
      assert.deepEqual(await d.entries(), [["a", 1], ["b", 2]]);
      await m.shutdown();
      assert.equal(fs.existsSync(sock), false);
      await assert.rejects(
        Manager.connect(`unix:${sock}`, { authkey: m.authkey!.toHex() }),
        (e) => e instanceof TransportError && e.reason === "Connect",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps its structures when the starter is SIGKILLed; another client reads them, then stops it", async () => {
    const dir = tempDir();
    const sock = path.join(dir, "m.sock");
    const key = hex(randomAuthkey());
    try {
      const starter = new Run(STARTER, [`unix:${sock}`], { PROCSHARE_TEST_AUTHKEY: key });
      await starter.line(/ready\n/);
      starter.child.kill("SIGKILL");
      assert.equal((await starter.exited).signal, "SIGKILL");
      const m = await Manager.connect(`unix:${sock}`, { authkey: key });
      const d = await m.dict<string, number>(undefined, { name: "d" });
      assert.deepEqual(await d.entries(), [["a", 1], ["b", 2]]);
      await m.shutdown({ server: true });
      await assert.rejects(
        Manager.connect(`unix:${sock}`, { authkey: key }),
        (e) => e instanceof TransportError && e.reason === "Connect",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops the server when the starter exits without a shutdown", async () => {
    const dir = tempDir();
    const sock = path.join(dir, "m.sock");
    try {
      const starter = new Run(STARTER, [`unix:${sock}`, "exit"], { PROCSHARE_TEST_AUTHKEY: hex(randomAuthkey()) });
      await starter.line(/ready\n/);
      assert.equal((await starter.exited).code, 0);
      // the child got SIGTERM at the starter's exit: it removes its socket, then exits
      const deadline = performance.now() + 10_000;
      while (fs.existsSync(sock)) {
        if (performance.now() > deadline) assert.fail(`${sock} still there 10 s after its starter exited`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses serve on a transport without a server, and a serve value it does not know", async () => {
    await assert.rejects(
      Manager.start({ transport: "shared-buffer:", serve: "process" }),
      (e) => e instanceof TransportError && e.reason === "Unsupported",
    );
    await assert.rejects(
      Manager.start({ transport: "tcp://127.0.0.1:0", serve: "thread" as "process" }),
      (e) => e instanceof TypeError && /'serve' must be "process"/.test(e.message),
    );
    await assert.rejects(
      Manager.start({ transport: "unix:/procshare-no-such-dir/m.sock", serve: "process" }),
      (e) => e instanceof TransportError && e.reason === "Connect" && /does not exist/.test(e.message),
    );
  });

  it("refuses shutdown({ server: true }) of a server running inside its starter", async () => {
    await using m = await Manager.start({ transport: "tcp://127.0.0.1:0" });
    const other = await Manager.connect(m.address!, { authkey: m.authkey!.toHex() });
    await assert.rejects(
      other.shutdown({ server: true }),
      (e) => e instanceof TransportError && e.reason === "Unsupported",
    );
    const d = await m.dict<string, number>({ a: 1 });
    assert.equal(await d.get("a"), 1); // still serving
  });

  it("serves custom types given as module URLs; refuses a class, which cannot cross to the server process", async () => {
    const counterUrl = new URL("../fixtures/custom_counter.ts", import.meta.url);
    await using m = await Manager.start({
      transport: "tcp://127.0.0.1:0",
      serve: "process",
      types: { Counter: counterUrl },
    });
    const c = await m.custom<Counter>("Counter", [5], { name: "c" });
    assert.equal(await c.increment(2), 7);
    // the object lives in the server child: another client reaches it by name, with the typed errors of a method
    await using other = await Manager.connect(m.address!, { authkey: m.authkey!.toHex() });
    const seen = await other.custom<Counter>("Counter", [], { name: "c" });
    assert.equal(await seen.value(), 7);
    await assert.rejects(seen.withdraw(8), (e) => e instanceof Error && e.name === "OverdraftError");
    await assert.rejects(
      Manager.start({ transport: "tcp://127.0.0.1:0", serve: "process", types: { Counter: class {} } }),
      (e) => e instanceof TypeError && /a class cannot cross to the server process/.test(e.message),
    );
    await assert.rejects(
      Manager.start({
        transport: "tcp://127.0.0.1:0",
        serve: "process",
        types: { Bad: new URL("../fixtures/custom_not_a_class.ts", import.meta.url) },
      }),
      (e) => e instanceof TypeError && /Cannot register custom type Bad as it is not a class/.test(e.message),
    );
  });

  it("stops the child when asked, which exits 0", async () => {
    const child = await startServerProcess("tcp://127.0.0.1:0", { authkey: randomAuthkey() });
    assert.match(child.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    await child.stop();
    assert.equal(await child.exited, 0);
  });
});

describe("examples/serve_remote.ts", () => {
  it("prints what a client put on the served queue", async () => {
    const example = new Run(new URL("../../examples/serve_remote.ts", import.meta.url), []);
    assert.equal((await example.exited).code, 0, example.stderr);
    assert.equal(example.stdout, "hello\n");
  });
});

describe("orphan policy", () => {
  it("a server child whose starter let go stops once no client has been connected for orphanTimeoutMs", async () => {
    const dir = tempDir();
    const sock = path.join(dir, "o.sock");
    try {
      const { command, args } = runtimeCommand(CHILD);
      const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "inherit"] });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      let out = "";
      const ready = new Promise<string>((resolve) =>
        child.stdout!.setEncoding("utf8").on("data", (s: string) => {
          out += s;
          if (out.includes("\n")) resolve(out);
        })
      );
      const key = hex(randomAuthkey());
      child.stdin!.write(JSON.stringify({ address: `unix:${sock}`, authkey: key, orphanTimeoutMs: 20 }) + "\n");
      assert.deepEqual(JSON.parse(await ready), { address: `unix:${sock}` });
      const m = await Manager.connect(`unix:${sock}`, { authkey: key });
      child.stdin!.end(); // the starter is gone
      // a connected client keeps it serving (this one attaches nothing: an attached structure's
      // connection, cached for the process, would be a client too)
      assert.equal(await m.delete("nothing"), false);
      await m.shutdown();
      assert.equal(await exited, 0);
      assert.equal(fs.existsSync(sock), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serve().orphan() closes once the last client has left", async () => {
    const s = await serve({ address: "tcp://127.0.0.1:0", kinds: KINDS });
    const m = await Manager.connect(s.address, { authkey: hex(s.authkey) });
    s.orphan(10);
    assert.equal(s.connectionCount, 1);
    await m.shutdown();
    await s.closed;
    await assert.rejects(
      Manager.connect(s.address, { authkey: hex(s.authkey) }),
      (e) => e instanceof TransportError && e.reason === "Connect",
    );
  });
});

describe("procshare serve", () => {
  it("serves a unix socket with a generated key in a 0600 file; SIGTERM removes both", async () => {
    const dir = tempDir();
    const sock = path.join(dir, "app.sock");
    try {
      const cli = new Run(CLI, ["serve", `unix:${sock}`]);
      const [, address] = await cli.line(/serving on (\S+)\n/);
      const [, keyFile] = await cli.line(/authkey in (\S+)\n/);
      assert.equal(address, `unix:${sock}`);
      assert.equal(keyFile, `${sock}.key`);
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      {
        await using m = await Manager.connect(address, { authkey: fs.readFileSync(keyFile, "utf8").trim() });
        const d = await m.dict<string, number>({ n: 7 }, { name: "n" });
        assert.equal(await d.get("n"), 7);
      }
      process.kill(cli.child.pid!, "SIGTERM"); // (Deno's ChildProcess.kill skips a Deno child's handler)
      assert.equal((await cli.exited).code, 0);
      assert.equal(fs.existsSync(sock), false);
      assert.equal(fs.existsSync(keyFile), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes PROCSHARE_AUTHKEY on TCP and stops at a client's shutdown({ server: true })", async () => {
    const key = hex(randomAuthkey());
    const cli = new Run(CLI, ["serve", "tcp://127.0.0.1:0"], { PROCSHARE_AUTHKEY: key });
    const [, address] = await cli.line(/serving on (tcp:\/\/127\.0\.0\.1:\d+)\n/);
    const m = await Manager.connect(address, { authkey: key });
    const q = await m.queue<string>({ name: "q" });
    await q.put("x");
    await assert.rejects(
      Manager.connect(address, { authkey: hex(randomAuthkey()) }),
      (e) => e instanceof TransportError && e.reason === "Auth",
    );
    await m.shutdown({ server: true });
    assert.equal((await cli.exited).code, 0);
    assert.doesNotMatch(cli.stdout, /authkey in/);
  });

  it("serves the custom types of --types NAME=MODULE", async () => {
    const key = hex(randomAuthkey());
    const module = path.relative(
      process.cwd(),
      fileURLToPath(new URL("../fixtures/custom_counter.ts", import.meta.url)),
    );
    const cli = new Run(CLI, ["serve", "tcp://127.0.0.1:0", "--types", `Counter=${module}`], {
      PROCSHARE_AUTHKEY: key,
    });
    const [, address] = await cli.line(/serving on (tcp:\/\/127\.0\.0\.1:\d+)\n/);
    const m = await Manager.connect(address, { authkey: key });
    const c = await m.custom<Counter>("Counter", [40]);
    assert.equal(await c.increment(2), 42);
    await m.shutdown({ server: true });
    assert.equal((await cli.exited).code, 0);
  });

  it("prints its usage for --help, as installed", async () => {
    const help = new Run(CLI, ["--help"]);
    assert.equal((await help.exited).code, 0);
    assert.match(help.stdout, /^Usage: procshare serve ADDRESS/);
    assert.match(help.stdout, /PROCSHARE_AUTHKEY/);
  });

  it("exits 2 on a bad address, option or key, 1 when it cannot listen", async () => {
    const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
      [
        ["serve", "udp://127.0.0.1:1"],
        {},
        2,
        /Cannot parse transport as the scheme is unknown: received udp:\/\/127\.0\.0\.1:1/,
      ],
      [["serve"], {}, 2, /the address is missing/],
      [["serve", "tcp://127.0.0.1:0", "--max-frame-bytes", "-3"], {}, 2, /--max-frame-bytes .* received -3/],
      [["frobnicate"], {}, 2, /Cannot run command as it is unknown: received frobnicate/],
      [["serve", "tcp://127.0.0.1:0"], { PROCSHARE_AUTHKEY: "xyz" }, 2, /PROCSHARE_AUTHKEY .* received 3 characters/],
      [["serve", "unix:/procshare-no-such-dir/app.sock"], {}, 1, /directory \/procshare-no-such-dir does not exist/],
    ];
    const { main } = await import("../../cli/procshare.ts");
    const error = console.error;
    const saved = process.env.PROCSHARE_AUTHKEY;
    try {
      for (const [argv, env, code, message] of cases) {
        let printed = "";
        console.error = (s: string) => (printed += s);
        if (env.PROCSHARE_AUTHKEY === undefined) delete process.env.PROCSHARE_AUTHKEY;
        else process.env.PROCSHARE_AUTHKEY = env.PROCSHARE_AUTHKEY;
        assert.equal(await main(argv), code, argv.join(" "));
        assert.match(printed, message);
      }
    } finally {
      console.error = error;
      if (saved === undefined) delete process.env.PROCSHARE_AUTHKEY;
      else process.env.PROCSHARE_AUTHKEY = saved;
    }
  });
});
