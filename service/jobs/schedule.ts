/**
 * BullMQ job schedulers that come back after Redis loses them. A scheduler lives in Redis, so a
 * FLUSHALL or a restart without persistence takes it away, and with it every scheduled run; the work
 * itself is safe in PostgreSQL, but nothing would start it any more. Each worker upserts its
 * schedulers at start and then checks every few seconds that they are still there.
 */
import type { Queue } from "bullmq";
import type { Logger } from "pino";

export const SCHEDULE_CHECK_MS = 3_000;

export interface KeptSchedule {
  start(): Promise<void>;
  stop(): void;
}

export function keepScheduled(
  queue: Queue,
  id: string,
  everyMs: number,
  template: { name: string; opts: Record<string, unknown> },
  log: Logger,
  checkMs = SCHEDULE_CHECK_MS,
): KeptSchedule {
  let timer: NodeJS.Timeout | null = null;
  const upsert = () => queue.upsertJobScheduler(id, { every: everyMs }, template);
  const check = async () => {
    try {
      if ((await queue.getJobScheduler(id)) === undefined) {
        await upsert();
        log.warn({ scheduler: id }, "job scheduler was missing from Redis (wiped or restarted): scheduled again");
      }
    } catch (error) {
      // Redis unreachable: the next check tries again.
      log.debug({ err: error, scheduler: id }, "could not check the job scheduler");
    }
  };
  return {
    async start() {
      await upsert();
      timer = setInterval(() => {
        void check();
      }, checkMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
