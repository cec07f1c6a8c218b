/**
 * Transport URLs: every form `parseTransport` reads formats back to itself;
 * malformed ones are `TransportError("BadUrl")`; transports that are parsed
 * but not built yet (`redis://`) fail at `Manager.start`
 * with `TransportError("Unsupported")` naming what is available.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Manager, TransportError } from "../../mod.ts";
import { formatTransport, parseTransport } from "../../transports/transport.ts";

const reason = (r: string) => (e: unknown): boolean => e instanceof TransportError && e.reason === r;

describe("transport URLs", () => {
  it("round-trip through parseTransport and formatTransport", () => {
    for (
      const url of [
        "shared-buffer:",
        "unix:/tmp/app.sock",
        "tcp://127.0.0.1:7070",
        "tcp://[::1]:7070",
        "shm:",
        "shm:/app-1.state_2",
        "pipe:",
        "redis://localhost:6379/0?prefix=app:",
      ]
    ) {
      assert.equal(formatTransport(parseTransport(url)), url);
    }
  });

  it("refuses malformed ones with BadUrl", () => {
    for (const url of ["unix:", "tcp://127.0.0.1", "shm:/", "shm:/../etc", "shm:/a/b", "ftp://x", "", "shm:/x y"]) {
      assert.throws(() => parseTransport(url), reason("BadUrl"), url);
    }
  });

  it("transports not built yet fail at start with Unsupported, naming those that are", async () => {
    for (const url of ["redis://localhost:6379"]) {
      await assert.rejects(
        Manager.start({ transport: url }),
        (e) => reason("Unsupported")(e) && /unix:/.test((e as Error).message),
        url,
      );
    }
  });
});
