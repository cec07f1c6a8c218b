/**
 * Worker for "unlink while attached elsewhere": attaches by name, says so on
 * word 0 of `flag`, waits until the parent has unlinked the name (word 0 = 2),
 * then writes to the block it still holds and tries to attach by name again.
 */
import { SharedMemory, SharedMemoryError } from "../../../structures/shared_memory.ts";

export default async function (name: string, flag: SharedArrayBuffer) {
  const f = new Int32Array(flag);
  const shm = await SharedMemory.attach(name, { timeout: 10_000 });
  const words = new Int32Array(shm.buf.buffer, 0, 2);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
  Atomics.wait(f, 0, 1, 30_000); // woken when the parent stores 2
  const seenAfterUnlink = Atomics.load(words, 0);
  Atomics.store(words, 1, 222);
  let reattach = "attached";
  try {
    await SharedMemory.attach(name, { timeout: 10_000 });
  } catch (e) {
    reattach = e instanceof SharedMemoryError ? e.reason : String(e);
  }
  return { seenAfterUnlink, reattach, stillReadable: Atomics.load(words, 1) };
}
