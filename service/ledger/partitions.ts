/**
 * Partitions of events, links (by month of id) and scans (by month of scanned_at), created ahead of
 * time (migration 0017, docs/SCALING.md "Partitions"). The work is the database's ensure_partitions():
 * create the current and the next month's partitions when missing, then move the events and links id
 * sequences forward to the current month's first id (never backwards, never before its partition
 * exists). Driven only by the database's state, so running it again, from several workers at once, or
 * after a month without any is safe; it runs at every start-up and then from the worker's schedule.
 */
import type { Logger } from "pino";
import { withTransaction, type Db } from "../db/pool.ts";

/** How often a worker checks: the next month's partitions exist a month ahead, so hourly leaves hundreds of tries. */
export const PARTITIONS_INTERVAL_MS = 60 * 60 * 1_000;

/**
 * Creating a partition locks its parent table exclusively for a moment. Waiting behind a long
 * transaction (an audit export, a big seal) would queue every writer behind this lock: give up
 * after LOCK_TIMEOUT instead and try again at the next run (a month ahead, there are many).
 */
const LOCK_TIMEOUT = "3s";

/** Ensures the partitions for the month of `at` (the database's now() by default) and the next; returns how many were created. */
export async function ensurePartitions(db: Db, at: Date | null = null): Promise<number> {
  return withTransaction(db, async (tx) => {
    await tx.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    const {
      rows: [row],
    } = await tx.query<{ created: number }>("SELECT ensure_partitions(COALESCE($1::timestamptz, now())) AS created", [at]);
    return row!.created;
  });
}

/** The job: ensurePartitions, logged when it created something. */
export function partitionsJob(db: Db, log: Logger): () => Promise<number> {
  return async () => {
    const created = await ensurePartitions(db);
    if (created > 0) log.info({ created }, "partitions created ahead");
    return created;
  };
}
