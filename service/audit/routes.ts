/**
 * Public batch data: a batch's root and anchoring, and which chain and registry to check it on.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { ChainRef } from "../core/bundle.ts";
import { toHex } from "../core/hash.ts";
import type { Db } from "../db/pool.ts";
import { notFound } from "../http/errors.ts";

const Batch = Type.Object({
  seq: Type.Integer(), root: Type.String(), leafCount: Type.Integer(),
  status: Type.Union([Type.Literal("sealed"), Type.Literal("sent"), Type.Literal("anchored")]),
  txHash: Type.Union([Type.String(), Type.Null()]), blockNumber: Type.Union([Type.Integer(), Type.Null()]),
  blockTime: Type.Union([Type.String(), Type.Null()]),
});

export function auditRoutes(app: FastifyInstance, deps: { db: Db; chain: () => Promise<ChainRef>; publicRpcUrl: string }): void {
  app.get<{ Params: { seq: number } }>("/api/v1/batches/:seq", {
    schema: {
      tags: ["audit"], summary: "One sealed batch: root, leaf count, status and its anchoring transaction",
      params: Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
      response: { 200: Batch },
    },
  }, async (request, reply) => {
    const { rows: [batch] } = await deps.db.query<{ seq: number; root: Buffer; leaf_count: number; state: string; tx_hash: string | null; block_number: number | null; block_time: Date | null }>(
      "SELECT seq, root, leaf_count, state, tx_hash, block_number, block_time FROM batches WHERE seq = $1",
      [request.params.seq],
    );
    if (batch === undefined) throw notFound(`no batch ${request.params.seq}`);
    const anchored = batch.state === "anchored";
    void reply.header("cache-control", anchored ? "public, max-age=300" : "no-store");
    return {
      seq: batch.seq,
      root: toHex(batch.root),
      leafCount: batch.leaf_count,
      status: batch.state,
      txHash: anchored ? batch.tx_hash : null,
      blockNumber: anchored ? batch.block_number : null,
      blockTime: anchored ? batch.block_time?.toISOString() ?? null : null,
    };
  });

  app.get("/api/v1/chain", {
    schema: {
      tags: ["audit"], summary: "The chain and registry roots are anchored on, and an RPC URL the public may use",
      response: { 200: Type.Object({ chainId: Type.Integer(), registry: Type.String(), rpcUrl: Type.String() }) },
    },
  }, async () => ({ ...(await deps.chain()), rpcUrl: deps.publicRpcUrl }));
}
