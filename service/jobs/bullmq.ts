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
import { Queue, Worker, type Processor } from "bullmq";
import { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisTarget } from "../config.ts";

export interface BullOptions {
  redis: RedisTarget;
  /** BullMQ key prefix (QUEUE_PREFIX), so several deployments (or test runs) can share one Redis. */
  prefix: string;
  log: Logger;
}

export interface Bull {
  /** A queue named `name` under the prefix; its errors are logged. */
  queue(name: string): Queue;
  /** A worker for queue `name`, one job at a time (every processor takes database locks anyway). */
  worker(name: string, processor: Processor): Worker;
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
  const connection = redis.kind === "cluster"
    ? new Cluster(redis.nodes, { redisOptions: { maxRetriesPerRequest: null } })
    : new Redis(redis.url, { maxRetriesPerRequest: null });
  connection.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  return {
    queue(name) {
      const queue = new Queue(name, { connection, prefix });
      queue.on("error", (error) => log.warn({ err: error, queue: name }, "queue error"));
      return queue;
    },
    worker: (name, processor) => new Worker(name, processor, { connection, prefix, concurrency: 1 }),
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
