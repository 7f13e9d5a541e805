/**
 * Process entry: config → resources → HTTP and/or workers; graceful shutdown on SIGINT/SIGTERM.
 *   node service/main.ts            HTTP and workers (npm start)
 *   node service/main.ts --worker   workers only (npm run worker)
 *   node service/main.ts --http     HTTP only
 */
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { startRuntime, type Role } from "./runtime.ts";

const role: Role = process.argv.includes("--worker") ? "worker" : process.argv.includes("--http") ? "http" : "all";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const runtime = await startRuntime(config, { role, log });

  if (runtime.url !== null) {
    const lines = [`SealTrace is running at ${runtime.url} (API docs: ${runtime.url}/docs)`];
    if (runtime.embedded.database) lines.push(`  database: embedded PGlite in ${config.dataDir}/pgdata`);
    if (runtime.embedded.chain) lines.push(`  chain:    local development chain at ${runtime.chain.rpcUrl}, registry ${runtime.chain.registry}`);
    if (config.adminToken === null) lines.push(`  admin token (kept in ${config.dataDir}/admin-token): ${runtime.adminToken}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  } else {
    log.info({ role }, "workers running");
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    runtime.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  console.error("sealtrace failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});
