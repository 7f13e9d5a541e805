/**
 * Job wiring for the sealer and the anchorer: BullMQ when REDIS_URL or REDIS_CLUSTER_NODES is set (any number of worker
 * processes; database locks keep one sealer and one anchorer at a time), or the same processors on
 * in-process timers. Redis only schedules: every run starts from the database's state, so a wiped
 * Redis loses nothing.
 */
import { UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import type { RedisTarget } from "../config.ts";
import { bullmq, type BullWorker } from "../jobs/bullmq.ts";
import { loop } from "../jobs/loop.ts";
import { keepScheduled, type KeptSchedule } from "../jobs/schedule.ts";
import { AnchorConflictError, type Anchorer } from "./anchorer.ts";
import type { Sealer } from "./sealer.ts";

export interface Jobs {
  /** Ingest tells how many links it just committed; a full batch's worth seals at once. */
  linksAdded(count: number): void;
  /** Starts running the processors (workers only). */
  startWorkers(): Promise<void>;
  /** Resolves when the scheduler (Redis) answers; in-process jobs have nothing to ask. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

interface Processors {
  sealer: Sealer;
  /** Null in an HTTP-only process that cannot anchor. */
  anchorer: Anchorer | null;
  sealIntervalMs: number;
  sealMaxLinks: number;
  /** Creates the coming months' partitions (ledger/partitions.ts), every `partitionsIntervalMs`. */
  partitions: () => Promise<unknown>;
  partitionsIntervalMs: number;
  log: Logger;
}

/** Counts links since the last trigger and fires when a full batch has arrived. */
function batchTrigger(max: number, fire: () => void) {
  let pending = 0;
  return (count: number) => {
    pending += count;
    if (pending >= max) {
      pending = 0;
      fire();
    }
  };
}

export function createInProcessJobs(p: Processors): Jobs {
  const anchorLoop = p.anchorer ? loop("anchor", p.sealIntervalMs, () => p.anchorer!.anchorPending(), p.log) : null;
  const sealLoop = loop(
    "seal",
    p.sealIntervalMs,
    async () => {
      const sealed = await p.sealer.sealAll();
      if (sealed.length > 0) anchorLoop?.kick();
    },
    p.log,
  );
  const partitionsLoop = loop("partitions", p.partitionsIntervalMs, p.partitions, p.log);
  let started = false;
  return {
    linksAdded: batchTrigger(p.sealMaxLinks, () => {
      if (started) sealLoop.kick();
    }),
    async startWorkers() {
      started = true;
      sealLoop.start();
      anchorLoop?.start();
      partitionsLoop.start();
    },
    async ping() {},
    async close() {
      await sealLoop.stop();
      await anchorLoop?.stop();
      await partitionsLoop.stop();
    },
  };
}

export function createBullJobs(p: Processors & { redis: RedisTarget; prefix: string }): Jobs {
  const bull = bullmq({ redis: p.redis, prefix: p.prefix, log: p.log });
  const sealQueue = bull.queue("seal");
  const anchorQueue = bull.queue("anchor");
  const workers: BullWorker[] = [];
  const schedules: KeptSchedule[] = [];
  const jobOptions = { attempts: 8, backoff: { type: "exponential", delay: 1_000 }, removeOnComplete: 100, removeOnFail: 500 };

  return {
    linksAdded: batchTrigger(p.sealMaxLinks, () => {
      sealQueue
        .add("seal", {}, { ...jobOptions, deduplication: { id: "seal-now" } })
        .catch((error: unknown) => p.log.warn({ err: error }, "could not enqueue a seal job"));
    }),
    async startWorkers() {
      // Schedules live in Redis: kept, they come back after a wipe (service/jobs/schedule.ts).
      schedules.push(keepScheduled(sealQueue, "seal-every", p.sealIntervalMs, { name: "seal", opts: jobOptions }, p.log));
      // Partition upkeep rides on the seal queue (no queue, worker and connections of its own for an
      // hourly job of milliseconds); its next run comes within the hour anyway, so no retries.
      schedules.push(
        keepScheduled(
          sealQueue,
          "partitions-every",
          p.partitionsIntervalMs,
          { name: "partitions", opts: { attempts: 1, removeOnComplete: 10, removeOnFail: 50 } },
          p.log,
        ),
      );
      const seal = bull.worker(
        "seal",
        async (job) => {
          if (job.name === "partitions") return { created: await p.partitions() };
          const sealed = await p.sealer.sealAll();
          if (sealed.length > 0) await anchorQueue.add("anchor", {}, { ...jobOptions, deduplication: { id: "anchor-now" } });
          return { sealed: sealed.map((b) => b.seq) };
        },
        p.sealIntervalMs,
      );
      workers.push(seal);
      if (p.anchorer) {
        const anchorer = p.anchorer;
        schedules.push(keepScheduled(anchorQueue, "anchor-every", p.sealIntervalMs, { name: "anchor", opts: jobOptions }, p.log));
        workers.push(
          bull.worker(
            "anchor",
            async () => {
              try {
                return { anchored: await anchorer.anchorPending() };
              } catch (error) {
                // A conflicting root on chain needs an operator: retrying cannot help.
                if (error instanceof AnchorConflictError) throw new UnrecoverableError(error.message);
                throw error;
              }
            },
            p.sealIntervalMs,
          ),
        );
      }
      for (const worker of workers) {
        worker.onFailed((job, error) => p.log.warn({ err: error, job: job?.name, attempts: job?.attemptsMade }, "job failed"));
        worker.onError((error) => p.log.warn({ err: error }, "worker error"));
      }
      for (const schedule of schedules) await schedule.start();
    },
    async ping() {
      await bull.ping();
    },
    async close() {
      for (const schedule of schedules) schedule.stop();
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([sealQueue.close(), anchorQueue.close()]);
      bull.disconnect();
    },
  };
}
