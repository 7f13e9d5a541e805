/**
 * Auditors' data: batches (one, or a page), every leaf of a batch (streamed), the latest checkpoint,
 * which chain and registry to check them on, and the brand's own events with their links and proofs.
 * Anchored batches never change, so their answers carry long-lived cache headers and strong ETags.
 */
import { Readable } from "node:stream";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ChainRef } from "../core/bundle.ts";
import { toHex } from "../core/hash.ts";
import { proofFromBytes } from "../core/merkle.ts";
import type { Db } from "../db/pool.ts";
import { requireBrand } from "../http/auth.ts";
import { AppError, notFound } from "../http/errors.ts";

const Batch = Type.Object({
  seq: Type.Integer(), root: Type.String(), leafCount: Type.Integer(),
  status: Type.Union([Type.Literal("sealed"), Type.Literal("sent"), Type.Literal("anchored")]),
  txHash: Type.Union([Type.String(), Type.Null()]), blockNumber: Type.Union([Type.Integer(), Type.Null()]),
  blockTime: Type.Union([Type.String(), Type.Null()]),
});

interface BatchRow { seq: number; root: Buffer; leaf_count: number; state: string; tx_hash: string | null; block_number: number | null; block_time: Date | null; chain_id: number | null; registry: string | null }

const BATCH_COLUMNS = "seq, root, leaf_count, state, tx_hash, block_number, block_time, chain_id, registry";
const IMMUTABLE = "public, max-age=31536000, immutable";
/** Rows read per round trip when streaming: memory stays flat whatever the batch size. */
const PAGE = 10_000;

function present(batch: BatchRow, current: ChainRef) {
  // Anchored on another registry (before a move or a fresh development chain): not anchored here yet.
  const anchored = batch.state === "anchored" && batch.chain_id === current.chainId && batch.registry === current.registry;
  return {
    seq: batch.seq,
    root: toHex(batch.root),
    leafCount: batch.leaf_count,
    status: anchored ? "anchored" : batch.state === "anchored" ? "sealed" : batch.state,
    txHash: anchored ? batch.tx_hash : null,
    blockNumber: anchored ? batch.block_number : null,
    blockTime: anchored ? batch.block_time?.toISOString() ?? null : null,
  };
}

/** Answers 304 when the client already has this version; otherwise sets the caching headers. */
function cacheable(request: FastifyRequest, reply: FastifyReply, etag: string | null, cacheControl: string): boolean {
  void reply.header("cache-control", etag === null ? "no-store" : cacheControl);
  if (etag === null) return false;
  void reply.header("etag", etag);
  if (request.headers["if-none-match"] === etag) {
    void reply.code(304).send();
    return true;
  }
  return false;
}

/** A stream of text produced page by page (keyset pagination), so nothing large is ever held. */
function pagedStream<T>(fetchPage: (after: T | null) => Promise<{ text: string; last: T | null }>): Readable {
  let after: T | null = null;
  let done = false;
  return new Readable({
    async read() {
      if (done) return;
      try {
        const { text, last } = await fetchPage(after);
        if (last === null) {
          done = true;
          if (text) this.push(text);
          this.push(null);
          return;
        }
        after = last;
        this.push(text);
      } catch (error) {
        this.destroy(error as Error);
      }
    },
  });
}

export function auditRoutes(app: FastifyInstance, deps: { db: Db; chain: () => Promise<ChainRef>; publicRpcUrl: string }): void {
  const { db } = deps;

  app.get<{ Querystring: { after?: number; limit?: number } }>("/api/v1/batches", {
    schema: {
      tags: ["audit"], summary: "Batches in seq order after `after`: root, leaf count, status and anchoring",
      querystring: Type.Object({
        after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
      }),
      response: { 200: Type.Object({ batches: Type.Array(Batch), next: Type.Union([Type.Integer(), Type.Null()]) }) },
    },
  }, async (request, reply) => {
    const after = request.query.after ?? 0;
    const limit = request.query.limit ?? 100;
    const current = await deps.chain();
    const { rows } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, limit]);
    const batches = rows.map((row) => present(row, current));
    const full = batches.length === limit;
    // A full page of anchored batches can never change again.
    const final = full && batches.every((b) => b.status === "anchored");
    const etag = final ? `"batches-${after}-${limit}-${batches.at(-1)!.root.slice(2, 18)}"` : null;
    if (cacheable(request, reply, etag, IMMUTABLE)) return reply;
    if (!final) void reply.header("cache-control", "public, max-age=2");
    return { batches, next: full ? batches.at(-1)!.seq : null };
  });

  app.get<{ Params: { seq: number } }>("/api/v1/batches/:seq", {
    schema: {
      tags: ["audit"], summary: "One sealed batch: root, leaf count, status and its anchoring transaction",
      params: Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
      response: { 200: Batch },
    },
  }, async (request, reply) => {
    const { rows: [row] } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE seq = $1`, [request.params.seq]);
    if (row === undefined) throw notFound(`no batch ${request.params.seq}`);
    const batch = present(row, await deps.chain());
    const etag = batch.status === "anchored" ? `"batch-${batch.seq}-${batch.root.slice(2, 18)}-${batch.txHash!.slice(2, 18)}"` : null;
    if (cacheable(request, reply, etag, IMMUTABLE)) return reply;
    return batch;
  });

  app.get<{ Params: { seq: number } }>("/api/v1/batches/:seq/leaves", {
    schema: {
      tags: ["audit"],
      summary: "Every leaf of a batch in leaf-index order, one 0x-hex leaf per line (text/plain, streamed)",
      params: Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
    },
  }, async (request, reply) => {
    const seq = request.params.seq;
    const { rows: [row] } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE seq = $1`, [seq]);
    if (row === undefined) throw notFound(`no batch ${seq}`);
    const root = toHex(row.root);
    // The leaves of a sealed batch are fixed by its root, anchored or not.
    if (cacheable(request, reply, `"leaves-${seq}-${root.slice(2, 18)}"`, IMMUTABLE)) return reply;
    void reply.type("text/plain; charset=utf-8").header("x-batch-root", root).header("x-leaf-count", String(row.leaf_count));
    return reply.send(pagedStream<number>(async (after) => {
      const { rows } = await db.query<{ leaf_index: number; leaf: Buffer }>(
        "SELECT leaf_index, leaf FROM links WHERE batch_seq = $1 AND leaf_index > $2 ORDER BY leaf_index LIMIT $3",
        [seq, after ?? -1, PAGE],
      );
      return { text: rows.map((r) => `${toHex(r.leaf)}\n`).join(""), last: rows.length === 0 ? null : rows.at(-1)!.leaf_index };
    }));
  });

  app.get("/api/v1/checkpoint", {
    schema: {
      tags: ["audit"], summary: "The latest anchored batch: seq and root, with the chain and registry holding it",
      response: { 200: Type.Object({
        seq: Type.Integer(), root: Type.Union([Type.String(), Type.Null()]), chainId: Type.Integer(), registry: Type.String(),
        txHash: Type.Union([Type.String(), Type.Null()]), blockNumber: Type.Union([Type.Integer(), Type.Null()]), blockTime: Type.Union([Type.String(), Type.Null()]),
      }) },
    },
  }, async (_request, reply) => {
    const current = await deps.chain();
    const { rows: [row] } = await db.query<BatchRow>(
      `SELECT ${BATCH_COLUMNS} FROM batches WHERE state = 'anchored' AND chain_id = $1 AND registry = $2 ORDER BY seq DESC LIMIT 1`,
      [current.chainId, current.registry],
    );
    void reply.header("cache-control", "public, max-age=2");
    if (row === undefined) return { seq: 0, root: null, ...current, txHash: null, blockNumber: null, blockTime: null };
    const batch = present(row, current);
    return { seq: batch.seq, root: batch.root, ...current, txHash: batch.txHash, blockNumber: batch.blockNumber, blockTime: batch.blockTime };
  });

  app.get("/api/v1/chain", {
    schema: {
      tags: ["audit"], summary: "The chain and registry roots are anchored on, and an RPC URL the public may use",
      response: { 200: Type.Object({ chainId: Type.Integer(), registry: Type.String(), rpcUrl: Type.String() }) },
    },
  }, async () => ({ ...(await deps.chain()), rpcUrl: deps.publicRpcUrl }));

  app.get<{ Querystring: { from?: string; to?: string } }>("/api/v1/audit/events", {
    schema: {
      tags: ["audit"],
      summary: "The brand's canonical events (received in [from, to)) with their hashes, links and proofs, as NDJSON, streamed",
      security: [{ brandApiKey: [] }],
      querystring: Type.Object({ from: Type.Optional(Type.String({ format: "date-time" })), to: Type.Optional(Type.String({ format: "date-time" })) }),
    },
  }, async (request, reply) => {
    const brand = await requireBrand(db, request);
    const { from, to } = request.query;
    if (from !== undefined && to !== undefined && Date.parse(from) >= Date.parse(to)) {
      throw new AppError(400, "bad_request", "from must be before to", { field: "from" });
    }
    const current = await deps.chain();
    void reply.type("application/x-ndjson; charset=utf-8").header("cache-control", "private, no-store");
    return reply.send(pagedStream<number>(async (after) => {
      const { rows } = await db.query<{
        id: number; brand_event_id: string; canonical: unknown; event_hash: Buffer; received_at: Date;
        links: { serial: string; n: number; prev: string; link_hash: string; leaf: string; batch_seq: number | null; leaf_index: number | null; proof: string | null;
          root: string | null; state: string | null; chain_id: number | null; registry: string | null; tx_hash: string | null; block_number: number | null; block_time: string | null }[];
      }>(
        `SELECT e.id, e.brand_event_id, e.canonical, e.event_hash, e.received_at,
                json_agg(json_build_object(
                  'serial', l.serial, 'n', l.n, 'prev', encode(l.prev, 'hex'), 'link_hash', encode(l.link_hash, 'hex'),
                  'leaf', encode(l.leaf, 'hex'), 'batch_seq', l.batch_seq, 'leaf_index', l.leaf_index, 'proof', encode(l.proof, 'hex'),
                  'root', encode(b.root, 'hex'), 'state', b.state, 'chain_id', b.chain_id, 'registry', b.registry,
                  'tx_hash', b.tx_hash, 'block_number', b.block_number, 'block_time', b.block_time) ORDER BY l.serial) AS links
           FROM events e JOIN links l ON l.event_id = e.id LEFT JOIN batches b ON b.seq = l.batch_seq
          WHERE e.brand_id = $1 AND e.id > $2
            AND ($3::timestamptz IS NULL OR e.received_at >= $3) AND ($4::timestamptz IS NULL OR e.received_at < $4)
          GROUP BY e.id ORDER BY e.id LIMIT $5`,
        [brand.id, after ?? 0, from ?? null, to ?? null, 1_000],
      );
      const text = rows.map((e) => `${JSON.stringify({
        eventId: String(e.id),
        id: e.brand_event_id,
        receivedAt: e.received_at.toISOString(),
        event: e.canonical,
        eventHash: toHex(e.event_hash),
        links: e.links.map((l) => {
          const anchored = l.state === "anchored" && l.chain_id === current.chainId && l.registry === current.registry;
          return {
            link: { serial: l.serial, n: l.n, event: toHex(e.event_hash), prev: `0x${l.prev}` },
            linkHash: `0x${l.link_hash}`,
            leaf: `0x${l.leaf}`,
            batch: l.batch_seq === null ? null : { seq: l.batch_seq, leafIndex: l.leaf_index, root: `0x${l.root}`, proof: l.proof === null ? [] : proofFromBytes(Buffer.from(l.proof, "hex")) },
            anchor: anchored ? { seq: l.batch_seq, root: `0x${l.root}`, txHash: l.tx_hash, blockNumber: l.block_number, blockTime: l.block_time === null ? null : new Date(l.block_time).toISOString() } : null,
          };
        }),
      })}\n`).join("");
      return { text, last: rows.length === 0 ? null : rows.at(-1)!.id };
    }));
  });
}
