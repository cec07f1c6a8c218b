/**
 * The transports the List tests run on, written once, until `Manager.list()`
 * exists: each case starts a transport and opens lists on it exactly as
 * `Manager` opens its structures (`transport.open` + `attach`). When the
 * factory is in, replace `LIST_CASES` by `TRANSPORTS` from `../../_transports.ts`
 * (one line per test file): both give `start()` → an async-disposable with
 * `list(initial?, options?)`.
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attach } from "../../../transports/_attach.ts";
import { SharedBufferTransport } from "../../../transports/shared_buffer.ts";
import { start as startSocket } from "../../../transports/_socket_transport.ts";
import type { TransportImpl } from "../../../transports/transport.ts";
import "../../../structures/list.ts"; // registers the kind (until structures/mod.ts exports List)
import type { List, ListOptions } from "../../../structures/list.ts";

/** What the tests need of a manager: `list()` as `Manager.list` will have it, and disposal. */
export interface ListHost extends AsyncDisposable {
  list<T = unknown>(initial?: Iterable<T>, options?: ListOptions): Promise<List<T>>;
}

/** A named way of starting a host. */
export interface ListCase {
  readonly name: string;
  /** True when the lists have Sync twins. */
  readonly local: boolean;
  start(): Promise<ListHost>;
}

function host(t: TransportImpl): ListHost {
  return {
    // what Manager.list() does: [initial as an array, options without the name]
    list: async <T>(initial?: Iterable<T>, options?: ListOptions) =>
      attach<List<T>>(
        await t.open("list", options?.name, [
          initial === undefined ? undefined : [...initial],
          options && { ...options, name: undefined },
        ]),
      ),
    [Symbol.asyncDispose]: () => t.close(),
  };
}

let n = 0;
const dir = mkdtempSync(join(tmpdir(), "procshare-list-"));

/** Shared buffer and a unix-socket manager server. */
export const LIST_CASES: readonly ListCase[] = [
  { name: "shared-buffer", local: true, start: () => Promise.resolve(host(new SharedBufferTransport())) },
  {
    name: "unix socket",
    local: false,
    start: async () => host(await startSocket({ kind: "unix", path: join(dir, `l${process.pid}-${n++}.sock`) })),
  },
];
