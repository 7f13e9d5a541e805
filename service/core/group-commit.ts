/**
 * Group commit: many callers submit one item each and wait; their items are written together, one
 * group per write. A group starts as soon as no write is in flight (no timer: a lone caller waits for
 * its own write only), and while one is in flight the next group accumulates, up to `maxGroup`. Each
 * caller's promise settles only when its group's write has returned: with the write's result for its
 * item, or with the error that failed the whole group. The queue is bounded: past `maxQueue` waiting
 * items, `submit` refuses at once (QueueFull) instead of holding memory without limit. `idle` is
 * called each time the last group is written and nothing waits (to let go of a connection).
 */

/** The queue of waiting items is full: the caller should answer "busy, retry shortly". */
export class QueueFull extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`more than ${limit} writes are waiting`);
    this.name = "QueueFull";
    this.limit = limit;
  }
}

export interface GroupCommit<T, R> {
  /** Resolves with the item's result once its group is written; rejects if the group (or this item) failed. */
  submit(item: T): Promise<R>;
  /** Resolves when nothing is waiting or being written. */
  drain(): Promise<void>;
}

/**
 * `write` gets each group's items in submission order and returns one entry per item: its result,
 * or an Error that fails that item alone. If `write` throws, every item of the group fails with it.
 */
export function createGroupCommit<T, R>(
  write: (items: T[]) => Promise<(R | Error)[]>,
  { maxGroup, maxQueue, idle }: { maxGroup: number; maxQueue: number; idle?: () => void },
): GroupCommit<T, R> {
  const queue: { item: T; resolve(result: R): void; reject(error: unknown): void }[] = [];
  let running: Promise<void> | null = null;

  async function run(): Promise<void> {
    // Let the callers whose requests arrived in the same turn of the event loop join the first group.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      // Cleared in the same turn as the queue is seen empty, so a later submit always starts a new run.
      if (queue.length === 0) {
        running = null;
        idle?.();
        return;
      }
      const group = queue.splice(0, maxGroup);
      let results: (R | Error)[];
      try {
        results = await write(group.map((entry) => entry.item));
        if (results.length !== group.length) throw new Error(`a group of ${group.length} got ${results.length} results`);
      } catch (error) {
        for (const entry of group) entry.reject(error);
        continue;
      }
      group.forEach((entry, i) => {
        const result = results[i]!;
        if (result instanceof Error) entry.reject(result);
        else entry.resolve(result);
      });
    }
  }

  return {
    submit(item) {
      if (queue.length >= maxQueue) return Promise.reject(new QueueFull(maxQueue));
      const settled = new Promise<R>((resolve, reject) => queue.push({ item, resolve, reject }));
      running ??= run();
      return settled;
    },
    async drain() {
      while (running !== null) await running;
    },
  };
}
