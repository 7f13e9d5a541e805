/**
 * Numbered SQL migrations in service/db/migrations/, applied at start-up by node-pg-migrate under its
 * advisory lock, so several processes starting at once apply each migration once.
 */
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import type { Logger } from "pino";

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

export async function migrate(databaseUrl: string, log: Logger): Promise<void> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: "up",
    migrationsTable: "schema_migrations",
    count: Infinity,
    singleTransaction: true,
    // Wait for the lock, do not fail: HTTP processes and workers started together (docker compose up, a
    // supervisor) each migrate first; the first applies what is missing, the others then find nothing to do.
    // node-pg-migrate's default ("fail") made every process but the first exit at start-up.
    advisoryLockMode: "wait",
    log: (message: string) => log.debug(message),
    verbose: false,
  });
  if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, "database migrated");
}
