/** Worker: attaches a block by name alone and writes `bytes` at `offset`; returns what it read first. */
import { SharedMemory } from "../../../structures/shared_memory.ts";

export default async function (
  name: string,
  offset: number,
  bytes: number[],
): Promise<{ size: number; first: number[] }> {
  const shm = await SharedMemory.attach(name, { timeout: 10_000 });
  const first = Array.from(shm.buf.subarray(0, 4));
  shm.buf.set(bytes, offset);
  shm.close();
  return { size: shm.size, first };
}
