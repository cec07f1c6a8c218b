/** Worker: creates a named block, fills it with `fill`, and exits without unlinking it. */
import { SharedMemory } from "../../../structures/shared_memory.ts";

export default async function (name: string, size: number, fill: number): Promise<string> {
  const shm = await SharedMemory.create({ name, size, timeout: 10_000 });
  shm.buf.fill(fill);
  return shm.name;
}
