/**
 * The one place BullMQ queues, workers and their Redis connection are made (the sealer's and
 * anchorer's jobs in anchoring/jobs.ts, the outbox's in outbox/jobs.ts): one connection per
 * wiring, the deployment's key prefix (QUEUE_PREFIX) on every queue and worker, errors logged
 * rather than thrown at the process. Redis only schedules: every job starts from the database.
 */
import { Queue, Worker, type Processor } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";

export interface BullOptions {
  redisUrl: string;
  /** BullMQ key prefix (QUEUE_PREFIX), so several deployments (or test runs) can share one Redis. */
  prefix: string;
  log: Logger;
}

export interface Bull {
  /** A queue named `name` under the prefix; its errors are logged. */
  queue(name: string): Queue;
  /** A worker for queue `name`, one job at a time (every processor takes database locks anyway). */
  worker(name: string, processor: Processor): Worker;
  /** Resolves when Redis answers. */
  ping(): Promise<void>;
  /** Drops the connection (close the workers and queues first). */
  disconnect(): void;
}

export function bullmq(options: BullOptions): Bull {
  const { prefix, log } = options;
  // BullMQ's blocking workers need maxRetriesPerRequest: null; they duplicate this connection.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  connection.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  return {
    queue(name) {
      const queue = new Queue(name, { connection, prefix });
      queue.on("error", (error) => log.warn({ err: error, queue: name }, "queue error"));
      return queue;
    },
    worker: (name, processor) => new Worker(name, processor, { connection, prefix, concurrency: 1 }),
    async ping() {
      await connection.ping();
    },
    disconnect() {
      connection.disconnect();
    },
  };
}
