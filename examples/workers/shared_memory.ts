/** examples/shared_memory.ts's worker: attaches the block by name and changes the array in place. */
import { SharedMemory } from "../../mod.ts";
import { ndarray } from "../_py.ts";

/** `array[:] = array * 2` over a float64 array of `length`. */
export function double(shm: SharedMemory, length: number): void {
  const array = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, length);
  for (let i = 0; i < length; i++) array[i] *= 2;
}

/** `arr[start:end] = arr[start:end] ** 2`. */
export function computeInPlace(shm: SharedMemory, length: number, start: number, end: number): void {
  const arr = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, length);
  for (let i = start; i < end; i++) arr[i] **= 2;
}

/** `array += 10` over an int64 array, then prints it. */
export function addTen(shm: SharedMemory, length: number): void {
  const array = new BigInt64Array(shm.buf.buffer, shm.buf.byteOffset, length);
  for (let i = 0; i < length; i++) array[i] += 10n;
  console.log(`Worker modified array: ${ndarray(array)}`);
}

/** Attaches the block named `shmName` (Python's `SharedMemory(name=shm_name)`), runs the target, closes it. */
export default async function (
  name: "double" | "computeInPlace" | "addTen",
  shmName: string,
  length: number,
  start: number,
  end: number,
): Promise<void> {
  const existingShm = await SharedMemory.attach(shmName);
  if (name === "double") double(existingShm, length);
  else if (name === "computeInPlace") computeInPlace(existingShm, length, start, end);
  else addTen(existingShm, length);
  existingShm.close();
}
