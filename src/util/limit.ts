/**
 * Runs `fn` over `items` with at most `limit` calls in flight, in order of start; resolves when
 * all have settled (fn handles its own errors). `stop()` ends it early: no new item starts.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stop()) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
