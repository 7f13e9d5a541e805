/**
 * Numbered SQL migrations in service/db/migrations/, applied at start-up by node-pg-migrate
 * (which takes an advisory lock, so several processes starting at once apply each migration once).
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
    log: (message: string) => log.debug(message),
    verbose: false,
  });
  if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, "database migrated");
}
