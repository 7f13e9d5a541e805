/**
 * Operations: liveness, readiness (database, Redis, chain) and Prometheus metrics.
 * Readiness answers coarse states only: why a dependency fails (host names, ports, driver messages)
 * goes to the log, never to whoever asks. Metrics need METRICS_TOKEN (bearer); without it they are
 * not served at all.
 */
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Db } from "../db/pool.ts";
import type { ReadStatus } from "../db/replica.ts";
import { bearerToken, secretsEqual } from "../http/auth.ts";
import { notFound, unauthorized } from "../http/errors.ts";
import type { Metrics } from "../metrics.ts";

/** A dependency's state as /readyz tells it. */
export type DependencyState = "ok" | "failing" | "not used";
export type Dependency = "database" | "redis" | "chain";

async function check(name: Dependency, probe: () => Promise<unknown>, log: FastifyBaseLogger, timeoutMs = 2_000): Promise<DependencyState> {
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), timeoutMs).unref())]);
    return "ok";
  } catch (error) {
    log.warn({ dependency: name, err: error }, "readiness check failing");
    return "failing";
  }
}

export function opsRoutes(
  app: FastifyInstance,
  deps: {
    db: Db;
    reads?: () => ReadStatus;
    metrics: Metrics;
    pingRedis: (() => Promise<void>) | null;
    pingChain: () => Promise<unknown>;
    metricsToken: string | null;
  },
): void {
  app.get("/healthz", { schema: { tags: ["ops"], summary: "Liveness" }, logLevel: "warn" }, async () => ({ status: "ok" }));

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["ops"],
        summary:
          "Readiness: database, Redis and chain answer (each ok, failing or not used; the causes are logged); " +
          "with a read replica, `reads`: where the public reads go (replica or primary), the replica's state and its measured lag",
      },
      logLevel: "warn",
    },
    async (_request, reply) => {
      const [database, redis, chain] = await Promise.all([
        check("database", () => deps.db.query("SELECT 1"), app.log),
        deps.pingRedis === null ? Promise.resolve<DependencyState>("not used") : check("redis", deps.pingRedis, app.log),
        check("chain", deps.pingChain, app.log),
      ]);
      const checks: Record<Dependency, DependencyState> = { database, redis, chain };
      const ready = Object.values(checks).every((c) => c !== "failing");
      // With a read replica (DATABASE_READ_URL): where the public reads go and the lag measured. A replica
      // that lags or fails does not make the service unready: its reads go to the primary.
      const reads = deps.reads?.();
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? "ready" : "not ready", checks, ...(reads === undefined || reads.replica === "not used" ? {} : { reads }) });
    },
  );

  app.get(
    "/metrics",
    {
      schema: { tags: ["ops"], summary: "Prometheus metrics (Authorization: Bearer METRICS_TOKEN; not served without METRICS_TOKEN)" },
      logLevel: "warn",
    },
    async (request, reply) => {
      if (deps.metricsToken === null) throw notFound("metrics are not served (set METRICS_TOKEN to serve them to its bearer)");
      const token = bearerToken(request);
      if (token === null || !secretsEqual(token, deps.metricsToken)) throw unauthorized("the metrics token is required (Authorization: Bearer METRICS_TOKEN)");
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
  );
}
