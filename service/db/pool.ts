/**
 * The PostgreSQL pool and the one transaction helper every feature uses.
 */
import pg from "pg";
import type { Logger } from "pino";

export type Db = pg.Pool;
export type Tx = pg.PoolClient;

// bigint columns come back as JS numbers: every bigint we store (ids, seqs, blocks) stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** `applicationName` names the pool's sessions in pg_stat_activity (the replica's reads: "sealtrace-reads"). */
export function createPool(connectionString: string, log: Logger, max = 10, options: { applicationName?: string; connectionTimeoutMillis?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on("error", (error) => log.warn({ err: error }, "idle database connection lost"));
  // Nor may a checked-out one: pg-pool listens only while a client is idle, and a client held between
  // queries (a transaction doing other work, the anchorer's lock connection waiting on the chain)
  // emits 'error' with no query to fail when the server shuts down (57P01). The next query on it
  // fails, its holder answers 503 or retries, and the broken client is discarded on release.
  pool.on("connect", (client) => {
    client.on("error", (error) => log.warn({ err: error }, "database connection lost"));
  });
  return pool;
}

/** Runs `work` in one transaction: committed when it returns, rolled back when it throws. */
export async function withTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
