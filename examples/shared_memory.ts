/**
 * Port of the `SharedMemory` programs of seeds 001 and 002 (numpy arrays
 * over a shared block, changed in place by other processes that attach it
 * by name): doubling an array, squaring a million numbers in four slices,
 * and adding 10 to an int64 array.
 *
 * ```py
 * def worker(shm_name, shape, dtype):
 *     existing_shm = SharedMemory(name=shm_name)
 *     array = np.ndarray(shape, dtype=dtype, buffer=existing_shm.buf)
 *     array[:] = array * 2
 *     existing_shm.close()
 * arr = np.array([1, 2, 3, 4, 5], dtype=np.float64)
 * shm = SharedMemory(create=True, size=arr.nbytes)
 * shared_arr = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf); shared_arr[:] = arr[:]
 * print(f"Before: {shared_arr}")
 * p = Process(target=worker, args=(shm.name, arr.shape, arr.dtype)); p.start(); p.join()
 * print(f"After: {shared_arr}")
 * shm.close(); shm.unlink()
 *
 * def compute_in_place(shm_name, shape, dtype, start, end):   # arr[start:end] = arr[start:end] ** 2
 * size = 1000000; arr = np.arange(size, dtype=np.float64)   (4 processes, a slice each)
 * print(f"First 10: {shared_arr[:10]}")
 *
 * def worker_process(shm_name, shape, dtype):   # array += 10; print(f"Worker modified array: {array}")
 * data = np.array([1, 2, 3, 4, 5], dtype=np.int64)
 * print(f"Original array: {shared_array}") … print(f"Array after worker: {shared_array}")
 * ```
 *
 * A typed array over `shm.buf` is the numpy array; the workers are threads
 * that attach the block by its name (on `shm:` a process can, too). Prints,
 * as numpy does: `Before: [1. 2. 3. 4. 5.]`, `After: [ 2.  4.  6.  8. 10.]`,
 * `First 10: [ 0.  1.  4.  9. 16. 25. 36. 49. 64. 81.]`,
 * `Original array: [1 2 3 4 5]`, `Worker modified array: [11 12 13 14 15]`,
 * `Array after worker: [11 12 13 14 15]`.
 *
 * Run: `node --import tsx examples/shared_memory.ts`, `deno run -A examples/shared_memory.ts`, `bun examples/shared_memory.ts`.
 * @module
 */
import { SharedMemory, spawn } from "../mod.ts";
import { ndarray } from "./_py.ts";

const WORKER = new URL("./workers/shared_memory.ts", import.meta.url);

{ // Basic SharedMemory
  const arr = new Float64Array([1, 2, 3, 4, 5]);
  const shm = await SharedMemory.create({ size: arr.byteLength });
  const sharedArr = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, arr.length);
  sharedArr.set(arr); // Copy data
  console.log(`Before: ${ndarray(sharedArr, { float: true })}`);
  const p = spawn(WORKER, { args: ["double", shm.name, arr.length] });
  await p.join();
  console.log(`After: ${ndarray(sharedArr, { float: true })}`);
  shm.close();
  await shm.unlink(); // Clean up
}
{ // SharedMemory with NumPy: a slice per worker
  const size = 1_000_000;
  const shm = await SharedMemory.create({ size: size * Float64Array.BYTES_PER_ELEMENT });
  const sharedArr = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, size);
  for (let i = 0; i < size; i++) sharedArr[i] = i; // np.arange(size)
  const numWorkers = 4;
  const chunkSize = Math.floor(size / numWorkers);
  const processes = [];
  for (let i = 0; i < numWorkers; i++) {
    const start = i * chunkSize;
    const end = i < numWorkers - 1 ? start + chunkSize : size;
    processes.push(spawn(WORKER, { args: ["computeInPlace", shm.name, size, start, end] }));
  }
  for (const p of processes) await p.join();
  console.log(`First 10: ${ndarray(sharedArr.subarray(0, 10), { float: true })}`);
  shm.close();
  await shm.unlink();
}
{ // seed 002: an int64 array, += 10 in a worker
  const data = new BigInt64Array([1n, 2n, 3n, 4n, 5n]);
  const shm = await SharedMemory.create({ size: data.byteLength });
  const sharedArray = new BigInt64Array(shm.buf.buffer, shm.buf.byteOffset, data.length);
  sharedArray.set(data);
  console.log(`Original array: ${ndarray(sharedArray)}`);
  const p = spawn(WORKER, { args: ["addTen", shm.name, data.length] });
  await p.join();
  console.log(`Array after worker: ${ndarray(sharedArray)}`);
  shm.close();
  await shm.unlink();
}
