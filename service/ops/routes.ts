/**
 * Operations: liveness, readiness (database, Redis, chain) and Prometheus metrics.
 */
import type { FastifyInstance } from "fastify";
import type { Db } from "../db/pool.ts";
import type { Metrics } from "../metrics.ts";

const NOT_USED = "not used (in-process jobs)";

async function check(probe: () => Promise<unknown>, timeoutMs = 2_000): Promise<string> {
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), timeoutMs).unref())]);
    return "ok";
  } catch (error) {
    return `failing: ${(error as Error).message.split("\n")[0]!.slice(0, 200)}`;
  }
}

export function opsRoutes(app: FastifyInstance, deps: { db: Db; metrics: Metrics; pingRedis: (() => Promise<void>) | null; pingChain: () => Promise<unknown> }): void {
  app.get("/healthz", { schema: { tags: ["ops"], summary: "Liveness" }, logLevel: "warn" }, async () => ({ status: "ok" }));

  app.get("/readyz", { schema: { tags: ["ops"], summary: "Readiness: database, Redis and chain answer" }, logLevel: "warn" }, async (_request, reply) => {
    const [database, redis, chain] = await Promise.all([
      check(() => deps.db.query("SELECT 1")),
      deps.pingRedis === null ? Promise.resolve(NOT_USED) : check(deps.pingRedis),
      check(deps.pingChain),
    ]);
    const checks = { database, redis, chain };
    const ready = Object.values(checks).every((c) => c === "ok" || c === NOT_USED);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", checks });
  });

  app.get("/metrics", { schema: { tags: ["ops"], summary: "Prometheus metrics" }, logLevel: "warn" }, async (_request, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
