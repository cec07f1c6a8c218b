/** Worker: attaches a ShareableList by name, adds `n` to item 0 and stores `text` in item 1. */
import { ShareableList } from "../../../structures/shareable_list.ts";

export default async function (name: string, n: number, text: string): Promise<unknown[]> {
  const sl = await ShareableList.attach(name, { timeout: 10_000 });
  await sl.set(0, (await sl.get(0) as number) + n);
  await sl.set(1, text);
  return sl.toArraySync();
}
