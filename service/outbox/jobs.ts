/**
 * Runs the outbox (fan-out, then sending what is due) about every second: from a BullMQ job
 * scheduler when REDIS_URL or REDIS_CLUSTER_NODES is set, or on an in-process timer. Every run starts from the database,
 * so several workers, a crash or a wiped Redis lose and duplicate nothing (row locks and leases
 * keep each delivery with one sender at a time).
 */
import type { Logger } from "pino";
import type { RedisTarget } from "../config.ts";
import { bullmq, type BullWorker } from "../jobs/bullmq.ts";
import { loop } from "../jobs/loop.ts";
import { keepScheduled } from "../jobs/schedule.ts";
import type { Cidr } from "../core/destinations.ts";
import type { Db } from "../db/pool.ts";
import { createDispatcher, type Dispatcher, type RetryPolicy } from "./dispatcher.ts";

export const OUTBOX_INTERVAL_MS = 1_000;

export interface OutboxJobs {
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface OutboxJobsOptions {
  db: Db;
  log: Logger;
  /** BullMQ when set; in-process timers when null. */
  redis: RedisTarget | null;
  /** BullMQ key prefix (QUEUE_PREFIX). */
  prefix: string;
  intervalMs?: number;
  /** Private blocks that may receive webhooks anyway (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate?: readonly Cidr[];
  retry?: Partial<RetryPolicy>;
}

function inProcess(dispatcher: Dispatcher, intervalMs: number, log: Logger): OutboxJobs {
  const runner = loop("outbox", intervalMs, () => dispatcher.runOnce(), log);
  return {
    async start() {
      runner.start();
    },
    async close() {
      dispatcher.abort();
      await runner.stop();
    },
  };
}

function bull(dispatcher: Dispatcher, options: OutboxJobsOptions & { redis: RedisTarget }, intervalMs: number): OutboxJobs {
  const { log } = options;
  const bull = bullmq({ redis: options.redis, prefix: options.prefix, log });
  const queue = bull.queue("outbox");
  let worker: BullWorker | null = null;
  // The next run comes with the next tick anyway: a failed run is not retried by BullMQ.
  // Kept, the schedule comes back after Redis is wiped (service/jobs/schedule.ts).
  const schedule = keepScheduled(
    queue,
    "outbox-every",
    intervalMs,
    {
      name: "outbox",
      opts: { attempts: 1, removeOnComplete: 100, removeOnFail: 500 },
    },
    log,
  );
  return {
    async start() {
      await schedule.start();
      worker = bull.worker("outbox", async () => await dispatcher.runOnce(), intervalMs);
      worker.onFailed((job, error) => log.warn({ err: error, job: job?.name }, "outbox job failed"));
      worker.onError((error) => log.warn({ err: error }, "outbox worker error"));
    },
    async close() {
      schedule.stop();
      dispatcher.abort();
      await worker?.close();
      await queue.close();
      bull.disconnect();
    },
  };
}

export function createOutboxJobs(options: OutboxJobsOptions): OutboxJobs {
  const intervalMs = options.intervalMs ?? OUTBOX_INTERVAL_MS;
  const dispatcher = createDispatcher({ db: options.db, log: options.log, allowPrivate: options.allowPrivate, retry: options.retry });
  return options.redis === null ? inProcess(dispatcher, intervalMs, options.log) : bull(dispatcher, { ...options, redis: options.redis }, intervalMs);
}
