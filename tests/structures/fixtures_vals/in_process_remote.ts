/**
 * A manager server without the socket: one EngineHost of this thread and a
 * `Remote` that sends every call through it, its arguments and answer round-
 * tripped through the codec as the wire would. Lets the value, array, shared
 * memory and list suites exercise their remote operations and the public
 * classes' remote paths on every runtime.
 * @module
 */
import { attachWith } from "../../../attach.ts";
import { KINDS } from "../../../kinds.ts";
import { decode, encode } from "../../../transports/_codec.ts";
import { EngineHost } from "../../../transports/_host.ts";
import { allocateId } from "../../../transports/_runtime/threads.ts";
import type { Remote } from "../../../core/backend.ts";

/** Opens (or creates) a structure in a fresh host and attaches it as a remote client would. */
export async function openRemote<T>(kind: string, name: string | undefined, params: readonly unknown[]): Promise<T> {
  const host = new EngineHost(KINDS);
  const { id } = host.open(kind, name, params);
  const ownerId = allocateId();
  const remote: Remote = {
    async call(op, args, signal) {
      const wireArgs = decode(encode(args)) as unknown[];
      const result = await host.call(id, op, wireArgs, { ownerId, signal: signal ?? new AbortController().signal });
      return result === undefined ? undefined : decode(encode(result));
    },
  };
  return await attachWith<T>({ kind, via: "in-process", id }, { remote });
}
