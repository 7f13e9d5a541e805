/**
 * The one place BullMQ queues, workers and their Redis connection are made (the sealer's and
 * anchorer's jobs in anchoring/jobs.ts, the outbox's in outbox/jobs.ts): one connection per
 * wiring, the deployment's key prefix (QUEUE_PREFIX) on every queue and worker, errors logged
 * rather than thrown at the process. Redis only schedules: every job starts from the database.
 *
 * On a Redis Cluster (REDIS_CLUSTER_NODES) BullMQ's Lua scripts touch several keys of a queue at
 * once, which a cluster allows only when they hash to one slot: the prefix becomes a hash tag,
 * `{QUEUE_PREFIX}`, so every key of every queue (`{sealtrace}:seal:…`) lives in the same slot. One
 * Redis keeps the bare prefix, so existing deployments keep their keys.
 */
import { Queue, Worker, type Job, type Processor } from "bullmq";
import { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisTarget } from "../config.ts";

export interface BullOptions {
  redis: RedisTarget;
  /** BullMQ key prefix (QUEUE_PREFIX), so several deployments (or test runs) can share one Redis. */
  prefix: string;
  log: Logger;
}

/** A BullMQ worker as the factory keeps it (on a cluster, replaced when it stops taking jobs). */
export interface BullWorker {
  onFailed(listener: (job: Job | undefined, error: Error) => void): void;
  onError(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

/**
 * On a cluster, a worker that has started no job for this many of its schedule's intervals (and at
 * least WORKER_STALL_MIN_MS) while none runs is replaced by a new one, with a new blocking connection.
 * After a master comes back, a worker's blocking client duplicated from an ioredis Cluster can stay
 * wedged for good while every other command works (seen in test/cluster/redis-cluster.test.ts; BullMQ
 * issue 4138): the schedules are rebuilt, but nothing takes their jobs. Every processor starts from
 * the database under its locks, so a replaced worker's job, if any, is harmless.
 */
export const WORKER_STALL_INTERVALS = 10;
export const WORKER_STALL_MIN_MS = 20_000;

export interface Bull {
  /** A queue named `name` under the prefix; its errors are logged. */
  queue(name: string): Queue;
  /**
   * A worker for queue `name`, one job at a time (every processor takes database locks anyway);
   * `everyMs`: how often its schedule adds a job (the cluster's stall watchdog goes by it).
   */
  worker(name: string, processor: Processor, everyMs: number): BullWorker;
  /** Resolves when Redis answers (a cluster: when it also says its state is ok, every slot served). */
  ping(): Promise<void>;
  /** Drops the connection (close the workers and queues first). */
  disconnect(): void;
}

/** The key prefix BullMQ is given: on a cluster a hash tag, so that each queue's keys share one slot. */
export function bullPrefix(redis: RedisTarget, prefix: string): string {
  return redis.kind === "cluster" ? `{${prefix}}` : prefix;
}

export function bullmq(options: BullOptions): Bull {
  const { log, redis } = options;
  const prefix = bullPrefix(redis, options.prefix);
  // BullMQ's blocking workers need maxRetriesPerRequest: null; they duplicate this connection
  // (a Cluster duplicates with its seed nodes and these redisOptions).
  const connection =
    redis.kind === "cluster"
      ? new Cluster(redis.nodes, { redisOptions: { maxRetriesPerRequest: null } })
      : new Redis(redis.url, { maxRetriesPerRequest: null });
  connection.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  return {
    queue(name) {
      const queue = new Queue(name, { connection, prefix });
      queue.on("error", (error) => log.warn({ err: error, queue: name }, "queue error"));
      return queue;
    },
    worker(name, processor, everyMs) {
      const failed: ((job: Job | undefined, error: Error) => void)[] = [];
      const errors: ((error: Error) => void)[] = [];
      let running = 0;
      let lastStart = Date.now();
      const watched: Processor = async (job, token) => {
        running++;
        lastStart = Date.now();
        try {
          return await processor(job, token);
        } finally {
          running--;
          lastStart = Date.now();
        }
      };
      const make = () => {
        const worker = new Worker(name, watched, { connection, prefix, concurrency: 1 });
        worker.on("failed", (job, error) => {
          for (const listener of failed) listener(job, error);
        });
        worker.on("error", (error) => {
          for (const listener of errors) listener(error);
        });
        return worker;
      };
      let current = make();
      let timer: NodeJS.Timeout | null = null;
      if (redis.kind === "cluster") {
        const stallMs = Math.max(WORKER_STALL_MIN_MS, WORKER_STALL_INTERVALS * everyMs);
        timer = setInterval(
          () => {
            if (running > 0 || Date.now() - lastStart < stallMs) return;
            log.warn({ queue: name, idleMs: Date.now() - lastStart }, "worker took no job for too long (wedged cluster connection?): replaced");
            const stale = current;
            current = make();
            lastStart = Date.now();
            // Not awaited: a wedged worker may never finish closing.
            stale.close(true).catch((error: unknown) => log.debug({ err: error, queue: name }, "closing the replaced worker failed"));
          },
          Math.max(1_000, Math.floor(stallMs / 4)),
        );
        timer.unref();
      }
      return {
        onFailed: (listener) => {
          failed.push(listener);
        },
        onError: (listener) => {
          errors.push(listener);
        },
        async close() {
          if (timer) clearInterval(timer);
          if (redis.kind === "single") return await current.close();
          // On a cluster a wedged worker may never finish closing: give it 10 s, then stop waiting.
          let wait: NodeJS.Timeout | undefined;
          const closed = await Promise.race([
            current.close().then(() => true),
            new Promise<false>((resolve) => {
              wait = setTimeout(() => resolve(false), 10_000);
              wait.unref();
            }),
          ]);
          clearTimeout(wait);
          if (!closed) {
            log.warn({ queue: name }, "worker did not close within 10 s (wedged cluster connection?): forced");
            current.close(true).catch((error: unknown) => log.debug({ err: error, queue: name }, "forcing the worker closed failed"));
          }
        },
      };
    },
    async ping() {
      if (connection instanceof Cluster) {
        // A node answers PING even while the cluster refuses commands (a master down, its slots unserved).
        const info = String(await connection.cluster("INFO"));
        if (!/^cluster_state:ok\b/m.test(info)) throw new Error(`Redis Cluster state is not ok: ${/^cluster_state:(\S+)/m.exec(info)?.[1] ?? "unknown"}`);
        return;
      }
      await connection.ping();
    },
    disconnect() {
      connection.disconnect();
    },
  };
}
