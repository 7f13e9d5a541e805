/**
 * Auditors' data: batches (one, or a page), a batch's leaves (streamed, a bounded page at a time), the latest checkpoint,
 * which chain and registry to check them on, and the brand's own events with their links and proofs,
 * with what the brand needs to check each event's commitments and, for the whole history, the head
 * of each of its chains in the latest anchored heads map (`npm run audit` checks them all).
 * A final batch ('anchored': CONFIRMATIONS blocks deep, its block checked) is cached long, with a
 * strong ETag naming its transaction; one still confirming (mined, not yet that deep) shows its
 * transaction and block but is not cached, since a reorganisation can still move or drop it.
 */
import { Readable } from "node:stream";
import { Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ChainRef } from "../core/bundle.ts";
import { memberSalt } from "../core/commitments.ts";
import { toHex } from "../core/hash.ts";
import { readTiles } from "../anchoring/head-tiles.ts";
import { leafLinesAfter, readLinkPlaces, readLinkTile, storedProof } from "../anchoring/link-tiles.ts";
import { proofFromTiles, tilesForProof } from "../core/heads.ts";
import { TILE_WIDTH, tileId, type TileKey } from "../core/tiles.ts";
import type { Db } from "../db/pool.ts";
import type { ReadDb } from "../db/replica.ts";
import type { Api } from "../http/api.ts";
import { AppError, invalid, notFound } from "../http/errors.ts";
import { anchoredHere, anchoredHereSql, latestAnchoredSql, onCurrentRegistry } from "../ledger/read-model.ts";

/**
 * A batch. Format 2 (docs/PROOF-FORMAT.md) anchors root = node(linksRoot, headsRoot, headsDepth):
 * its leaves recompute `linksRoot`; format 1 anchors its links tree's root alone.
 */
const Batch = Type.Object({
  seq: Type.Integer(),
  root: Type.String(),
  leafCount: Type.Integer(),
  status: Type.Union([Type.Literal("sealed"), Type.Literal("sent"), Type.Literal("confirming"), Type.Literal("anchored")]),
  txHash: Type.Union([Type.String(), Type.Null()]),
  blockNumber: Type.Union([Type.Integer(), Type.Null()]),
  blockTime: Type.Union([Type.String(), Type.Null()]),
  format: Type.Union([Type.Literal(1), Type.Literal(2)]),
  linksRoot: Type.Optional(Type.String()),
  headsRoot: Type.Optional(Type.String()),
  headsDepth: Type.Optional(Type.Integer()),
});

interface FormatColumns {
  format: 1 | 2;
  links_root: Buffer | null;
  heads_root: Buffer | null;
  heads_depth: number | null;
}
interface BatchRow extends FormatColumns {
  seq: number;
  root: Buffer;
  leaf_count: number;
  last_link: number | null;
  state: string;
  tx_hash: string | null;
  block_number: number | null;
  block_time: Date | null;
  chain_id: number | null;
  registry: string | null;
}

/**
 * What the API says of a batch: sealed; sent (its transaction is out); confirming (mined in
 * blockNumber, fewer than CONFIRMATIONS blocks deep: it may still move or vanish); anchored (final).
 */
type BatchStatus = "sealed" | "sent" | "confirming" | "anchored";

const BATCH_COLUMNS =
  "seq, root, leaf_count, last_link, state, tx_hash, block_number, block_time, chain_id, registry, format, links_root, heads_root, heads_depth";
const IMMUTABLE = "public, max-age=31536000, immutable";
/** Rows read per round trip when streaming: memory stays flat whatever the batch size. */
const PAGE = 10_000;
/** Leaves one /leaves request streams at most (4.4 MB of text); larger batches are read page by page. */
export const LEAVES_PAGE_MAX = 65_536;
/** A leaf's line in /leaves: "0x", 64 hex digits, "\n". */
const LEAF_LINE = 67;
/** Events per page of the brand's export (an event names at most 1,000 bottles: at most 100,000 links a page). */
const EVENT_PAGE = 100;
/** Chains per page of the export's head records. */
const HEAD_PAGE = 1_000;

/** `format`, and for format 2 the parts of the root. */
function formatOf(row: FormatColumns): { format: 1 } | { format: 2; linksRoot: string; headsRoot: string; headsDepth: number } {
  return row.format === 2 ? { format: 2, linksRoot: toHex(row.links_root!), headsRoot: toHex(row.heads_root!), headsDepth: row.heads_depth! } : { format: 1 };
}

function present(batch: BatchRow, current: ChainRef) {
  // Anchored on another registry (before a move or a fresh development chain): not anchored here yet.
  const here = onCurrentRegistry(batch, current);
  const status: BatchStatus =
    batch.state === "anchored"
      ? here
        ? "anchored"
        : "sealed"
      : batch.state === "sent" && here && batch.block_number !== null
        ? "confirming"
        : (batch.state as BatchStatus);
  const onChain = status === "anchored" || status === "confirming";
  return {
    seq: batch.seq,
    root: toHex(batch.root),
    leafCount: batch.leaf_count,
    status,
    txHash: onChain ? batch.tx_hash : null,
    blockNumber: onChain ? batch.block_number : null,
    blockTime: onChain ? (batch.block_time?.toISOString() ?? null) : null,
    ...formatOf(batch),
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

export function auditRoutes(app: Api, deps: { db: Db; reads?: ReadDb; chain: () => Promise<ChainRef>; publicRpcUrl: string | null }): void {
  // Batches, leaves, tiles, the checkpoint and the audit export read the replica while it keeps up
  // (service/db/replica.ts), each answer from one source; the brand's API key is checked on the primary (the auth hook).
  const primary = deps.db;
  const reader = (): Db => deps.reads?.("audit") ?? primary;

  app.get(
    "/api/v1/batches",
    {
      schema: {
        tags: ["audit"],
        summary: "Batches in seq order after `after`: root, leaf count, status and anchoring",
        querystring: Type.Object({
          after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
        }),
        response: { 200: Type.Object({ batches: Type.Array(Batch), next: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request, reply) => {
      const db = reader();
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
    },
  );

  app.get(
    "/api/v1/batches/:seq",
    {
      schema: {
        tags: ["audit"],
        summary:
          "One sealed batch: root, leaf count, status (sealed, sent, confirming: mined but fewer than CONFIRMATIONS blocks deep, " +
          "anchored: final) and its anchoring transaction; cached long only once final",
        params: Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
        response: { 200: Batch },
      },
    },
    async (request, reply) => {
      const db = reader();
      const {
        rows: [row],
      } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE seq = $1`, [request.params.seq]);
      if (row === undefined) throw notFound(`no batch ${request.params.seq}`);
      const batch = present(row, await deps.chain());
      // Only a final batch is cached (its ETag names its transaction); one confirming may still change.
      const etag = batch.status === "anchored" ? `"batch-${batch.seq}-${batch.root.slice(2, 18)}-${batch.txHash!.slice(2, 18)}"` : null;
      if (cacheable(request, reply, etag, IMMUTABLE)) return reply;
      return batch;
    },
  );

  app.get(
    "/api/v1/batches/:seq/leaves",
    {
      schema: {
        tags: ["audit"],
        summary:
          `A batch's leaves in leaf-index order from leaf \`from\` (0 by default), at most \`limit\` (${LEAVES_PAGE_MAX} by default and at most), ` +
          "one 0x-hex leaf per line (text/plain, streamed). While leaves remain, `x-next-from` (and a Link rel=next) names the next page's `from`",
        params: Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
        querystring: Type.Object({
          from: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LEAVES_PAGE_MAX })),
        }),
      },
    },
    async (request, reply) => {
      const db = reader();
      const seq = request.params.seq;
      const {
        rows: [row],
      } = await db.query<BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE seq = $1`, [seq]);
      if (row === undefined) throw notFound(`no batch ${seq}`);
      const from = request.query.from ?? 0;
      const limit = request.query.limit ?? LEAVES_PAGE_MAX;
      if (from > row.leaf_count) throw invalid("from", `batch ${seq} has ${row.leaf_count} leaves: from must be at most ${row.leaf_count}`);
      // Leaves [from, end): one request never streams more than LEAVES_PAGE_MAX of them.
      const end = Math.min(from + limit, row.leaf_count);
      const root = toHex(row.root);
      // The leaves of a sealed batch are fixed by its root, anchored or not.
      if (cacheable(request, reply, `"leaves-${seq}-${root.slice(2, 18)}-${from}-${end}"`, IMMUTABLE)) return reply;
      void reply
        .type("text/plain; charset=utf-8")
        .header("x-batch-root", root)
        .header("x-leaf-count", String(row.leaf_count))
        .header("x-leaf-from", String(from));
      if (end < row.leaf_count) {
        void reply
          .header("x-next-from", String(end))
          .header("link", `</api/v1/batches/${seq}/leaves?from=${end}${request.query.limit === undefined ? "" : `&limit=${limit}`}>; rel="next"`);
      }
      if (end === from) return reply.send("");
      // Batches sealed since migration 0010 keep their leaves as tiles; older ones in their links.
      const page =
        row.last_link !== null
          ? (after: number) => leafLinesAfter(db, seq, after, Math.ceil(PAGE / TILE_WIDTH))
          : async (after: number) => {
              const { rows } = await db.query<{ leaf_index: number; leaf: Buffer }>(
                "SELECT leaf_index, leaf FROM links WHERE batch_seq = $1 AND leaf_index > $2 AND leaf_index < $3 ORDER BY leaf_index LIMIT $4",
                [seq, after, end, PAGE],
              );
              return { text: rows.map((r) => `${toHex(r.leaf)}\n`).join(""), last: rows.length === 0 ? null : rows.at(-1)!.leaf_index };
            };
      return reply.send(
        pagedStream<number>(async (after) => {
          if (after !== null && after >= end - 1) return { text: "", last: null };
          const { text, last } = await page(after ?? from - 1);
          if (last === null || last < end) return { text, last };
          // The page ran past `end`: keep the lines before it (each line is "0x" + 64 hex digits + "\n").
          const keep = text.length - (last - end + 1) * LEAF_LINE;
          return { text: text.slice(0, Math.max(keep, 0)), last: end - 1 };
        }),
      );
    },
  );

  app.get(
    "/api/v1/batches/:seq/tiles/:level/:index",
    {
      schema: {
        tags: ["audit"],
        summary:
          "One tile of a batch's links tree (docs/PROOF-FORMAT.md, 'Tiles'): the nodes of tree level 8·level with indices " +
          "index·256 … index·256 + 255, 32 bytes each, concatenated (application/octet-stream; the level's last tile is shorter). Immutable",
        params: Type.Object({
          seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
          level: Type.Integer({ minimum: 0, maximum: 6 }),
          index: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
        }),
      },
    },
    async (request, reply) => {
      const db = reader();
      const { seq, level, index } = request.params;
      const tile = await readLinkTile(db, seq, level, index);
      if (tile === null) throw notFound(`batch ${seq} has no tile ${level}/${index} (batches sealed before tiles have none: use /leaves)`);
      // A sealed batch's tree never changes: the tile's address names its bytes.
      if (cacheable(request, reply, `"tile-${seq}-${level}-${index}"`, IMMUTABLE)) return reply;
      return reply.type("application/octet-stream").send(tile);
    },
  );

  app.get(
    "/api/v1/checkpoint",
    {
      schema: {
        tags: ["audit"],
        summary: "The latest anchored batch: seq and root, with the chain and registry holding it",
        response: {
          200: Type.Object({
            seq: Type.Integer(),
            root: Type.Union([Type.String(), Type.Null()]),
            chainId: Type.Integer(),
            registry: Type.String(),
            txHash: Type.Union([Type.String(), Type.Null()]),
            blockNumber: Type.Union([Type.Integer(), Type.Null()]),
            blockTime: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (_request, reply) => {
      const db = reader();
      const current = await deps.chain();
      const {
        rows: [row],
      } = await db.query<BatchRow>(latestAnchoredSql(BATCH_COLUMNS, "$1", "$2"), [current.chainId, current.registry]);
      void reply.header("cache-control", "public, max-age=2");
      if (row === undefined) return { seq: 0, root: null, ...current, txHash: null, blockNumber: null, blockTime: null };
      const batch = present(row, current);
      return { seq: batch.seq, root: batch.root, ...current, txHash: batch.txHash, blockNumber: batch.blockNumber, blockTime: batch.blockTime };
    },
  );

  app.get(
    "/api/v1/chain",
    {
      schema: {
        tags: ["audit"],
        summary: "The chain and registry roots are anchored on, and an RPC URL the public may use (null: the service offers none)",
        response: { 200: Type.Object({ chainId: Type.Integer(), registry: Type.String(), rpcUrl: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async () => ({ ...(await deps.chain()), rpcUrl: deps.publicRpcUrl }),
  );

  app.get(
    "/api/v1/audit/events",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["audit"],
        summary:
          "The brand's history as NDJSON, streamed: its events (received in [from, to)) with their hashes, links and proofs; " +
          "without from/to, then the checkpoint and each of its chains' head. One JSON object a line: " +
          "(1) an event: { eventId, id, receivedAt, event, eventHash, links: [{ link, linkHash, leaf, batch, anchor, identity? }], members?, epcis? } — " +
          "`batch` is null while pending, else { seq, leafIndex, root, proof, format, and for format 2 linksRoot, headsRoot, headsDepth } " +
          "(the proof leads from `leaf` to linksRoot in format 2, to root in format 1); `anchor` is the anchoring on the current registry, or null; " +
          "a chain's link 1 carries the `identity` its prev commits to ({ brand, gtin, lot, serial, index } or { brand, log, index }); " +
          "a format-2 event carries `members`: [{ serial, salt }] in the order of its codes tree; an EPCIS event `epcis`: { event, context }, the body its digest commits to. " +
          "(2) { checkpoint: { seq, root, linksRoot, headsRoot, headsDepth } }: the latest format-2 batch anchored on the current registry when the export began. " +
          "(3) { heads: { chain, index, n, linkHash, seq, proof } }, one per chain of the brand with a link in a format-2 batch anchored on the current registry " +
          "(up to the checkpoint), in index order: the chain's head in the checkpoint's heads map, with its proof (siblings from the leaf up).",
        security: [{ brandApiKey: [] }],
        querystring: Type.Object({ from: Type.Optional(Type.String({ format: "date-time" })), to: Type.Optional(Type.String({ format: "date-time" })) }),
      },
    },
    async (request, reply) => {
      const db = reader();
      const { brand } = request;
      const { from, to } = request.query;
      if (from !== undefined && to !== undefined && Date.parse(from) >= Date.parse(to)) {
        throw new AppError(400, "bad_request", "from must be before to", { field: "from" });
      }
      const current = await deps.chain();
      // The checkpoint is fixed before the first event is read: every link in a batch up to it is then
      // already sealed, so the events streamed after hold every link its heads map records.
      const checkpoint = from === undefined && to === undefined ? await latestHeadsBatch(db, current) : null;
      void reply.type("application/x-ndjson; charset=utf-8").header("cache-control", "private, no-store");
      type Cursor = { phase: "events" | "heads"; after: number };
      return reply.send(
        pagedStream<Cursor>(async (cursor) => {
          if (cursor === null || cursor.phase === "events") {
            const { text, last } = await eventPage(db, brand, current, cursor?.after ?? 0, from ?? null, to ?? null);
            if (last !== null) return { text, last: { phase: "events", after: last } };
            if (checkpoint === null) return { text, last: null };
            const { seq, root, linksRoot, headsRoot, headsDepth } = checkpoint;
            return { text: `${text}${JSON.stringify({ checkpoint: { seq, root, linksRoot, headsRoot, headsDepth } })}\n`, last: { phase: "heads", after: -1 } };
          }
          const { text, last } = await headsPage(db, brand.id, current, checkpoint!, cursor.after);
          return { text, last: last === null ? null : { phase: "heads", after: last } };
        }),
      );
    },
  );

  interface Checkpoint {
    seq: number;
    root: string;
    linksRoot: string;
    headsRoot: string;
    headsDepth: number;
  }

  /** The latest format-2 batch anchored on the current registry, or null. */
  async function latestHeadsBatch(db: Db, current: ChainRef): Promise<Checkpoint | null> {
    const {
      rows: [row],
    } = await db.query<BatchRow>(latestAnchoredSql(BATCH_COLUMNS, "$1", "$2", { format2: true }), [current.chainId, current.registry]);
    return row === undefined
      ? null
      : {
          seq: row.seq,
          root: toHex(row.root),
          linksRoot: toHex(row.links_root!),
          headsRoot: toHex(row.heads_root!),
          headsDepth: row.heads_depth!,
        };
  }

  /** One page of the brand's events, each with its links and what its commitments need. */
  async function eventPage(
    db: Db,
    brand: { id: number; slug: string },
    current: ChainRef,
    after: number,
    from: string | null,
    to: string | null,
  ): Promise<{ text: string; last: number | null }> {
    const { rows: events } = await db.query<{
      id: number;
      brand_event_id: string;
      canonical: unknown;
      event_hash: Buffer;
      received_at: Date;
      codes: string[];
      codes_secret: Buffer | null;
      epcis_body: unknown;
      epcis_context: unknown;
      is_epcis: boolean;
    }>(
      `SELECT e.id, e.brand_event_id, e.canonical, e.event_hash, e.received_at, e.codes, e.codes_secret,
              x.body AS epcis_body, x.context AS epcis_context, x.event_id IS NOT NULL AS is_epcis
         FROM events e LEFT JOIN epcis_events x ON x.event_id = e.id AND x.brand_id = e.brand_id
        WHERE e.brand_id = $1 AND e.id > $2
          AND ($3::timestamptz IS NULL OR e.received_at >= $3) AND ($4::timestamptz IS NULL OR e.received_at < $4)
        ORDER BY e.id LIMIT $5`,
      [brand.id, after, from, to, EVENT_PAGE],
    );
    if (events.length === 0) return { text: "", last: null };
    const { rows: links } = await db.query<
      FormatColumns & {
        id: number;
        event_id: number;
        serial: string;
        n: number;
        prev: Buffer;
        link_hash: Buffer;
        leaf: Buffer;
        batch_seq: number | null;
        leaf_index: number | null;
        proof: Buffer | null;
        root: Buffer | null;
        state: string | null;
        chain_id: number | null;
        registry: string | null;
        tx_hash: string | null;
        block_number: number | null;
        block_time: Date | null;
        gtin: string | null;
        lot: string | null;
        code_index: number | null;
        log_index: number | null;
      }
    >(
      `SELECT l.id, l.event_id, l.serial, l.n, l.prev, l.link_hash, l.leaf, s.seq AS batch_seq, l.leaf_index, l.proof,
              b.root, b.state, b.chain_id, b.registry, b.tx_hash, b.block_number, b.block_time, b.format, b.links_root, b.heads_root, b.heads_depth,
              c.gtin, c.lot, c.chain_index AS code_index, g.chain_index AS log_index
         FROM links l CROSS JOIN LATERAL (SELECT link_batch(l.id, l.batch_seq) AS seq) s LEFT JOIN batches b ON b.seq = s.seq
         LEFT JOIN codes c ON l.n = 1 AND c.serial = l.serial LEFT JOIN ledger_logs g ON l.n = 1 AND g.key = l.serial
        WHERE l.event_id = ANY($1::bigint[]) ORDER BY l.event_id, l.serial`,
      [events.map((e) => e.id)],
    );
    // Links sealed with tiles (migration 0010) get their leaf index and proof from them.
    const places = await readLinkPlaces(
      db,
      links.filter((l) => l.batch_seq !== null && l.proof === null).map((l) => l.id),
    );
    const linksOf = new Map<number, typeof links>();
    for (const link of links) {
      if (!linksOf.has(link.event_id)) linksOf.set(link.event_id, []);
      linksOf.get(link.event_id)!.push(link);
    }
    const text = events
      .map((e) => {
        const eventHash = toHex(e.event_hash);
        const record: Record<string, unknown> = {
          eventId: String(e.id),
          id: e.brand_event_id,
          receivedAt: e.received_at.toISOString(),
          event: e.canonical,
          eventHash,
          links: (linksOf.get(e.id) ?? []).map((l) => {
            const anchored = anchoredHere(l, current);
            const out: Record<string, unknown> = {
              link: { serial: l.serial, n: l.n, event: eventHash, prev: toHex(l.prev) },
              linkHash: toHex(l.link_hash),
              leaf: toHex(l.leaf),
              batch:
                l.batch_seq === null
                  ? null
                  : {
                      seq: l.batch_seq,
                      leafIndex: l.leaf_index ?? places.get(l.id)?.leafIndex ?? null,
                      root: toHex(l.root!),
                      proof: storedProof(l.proof, places.get(l.id)) ?? [],
                      ...formatOf(l),
                    },
              anchor: anchored
                ? { seq: l.batch_seq, root: toHex(l.root!), txHash: l.tx_hash, blockNumber: l.block_number, blockTime: l.block_time?.toISOString() ?? null }
                : null,
            };
            // What link 1's prev (the chain's genesis, core/commitments.ts) commits to.
            if (l.code_index !== null) out.identity = { brand: brand.slug, gtin: l.gtin, lot: l.lot, serial: l.serial, index: l.code_index };
            else if (l.log_index !== null) out.identity = { brand: brand.slug, log: l.serial, index: l.log_index };
            return out;
          }),
        };
        // A format-2 event commits to its bottles by a tree over salted leaves, in the order of its codes.
        if (e.codes_secret !== null) record.members = e.codes.map((serial) => ({ serial, salt: memberSalt(e.codes_secret!, serial) }));
        if (e.is_epcis) record.epcis = { event: e.epcis_body, context: e.epcis_context };
        return `${JSON.stringify(record)}\n`;
      })
      .join("");
    return { text, last: events.at(-1)!.id };
  }

  /**
   * One page of head records: each chain of the brand (bottles, and logs such as its EPCIS log) with a
   * link in a format-2 batch anchored on the current registry, up to the checkpoint, and its head in
   * the checkpoint's heads map with the proof cut from the tiles as of that batch.
   */
  async function headsPage(db: Db, brandId: number, current: ChainRef, checkpoint: Checkpoint, after: number): Promise<{ text: string; last: number | null }> {
    // In index order: chains begun together sit side by side in the map, so a page reads few tiles.
    const { rows: chains } = await db.query<{ chain: string; idx: number; n: number; link_hash: Buffer }>(
      `SELECT ch.chain, ch.idx, h.n, h.link_hash
         FROM (SELECT serial AS chain, chain_index AS idx FROM codes WHERE brand_id = $1 AND chain_index > $2
               UNION ALL
               SELECT key, chain_index FROM ledger_logs WHERE brand_id = $1 AND chain_index > $2) ch
         CROSS JOIN LATERAL (SELECT l.n, l.link_hash FROM links l WHERE l.serial = ch.chain AND link_batch(l.id, l.batch_seq) <= $3 ORDER BY l.n DESC LIMIT 1) h
        WHERE EXISTS (SELECT 1 FROM links l JOIN batches b ON b.seq = link_batch(l.id, l.batch_seq)
                       WHERE l.serial = ch.chain AND b.seq <= $3 AND b.format = 2 AND ${anchoredHereSql("b", "$4", "$5")})
        ORDER BY ch.idx LIMIT $6`,
      [brandId, after, checkpoint.seq, current.chainId, current.registry, HEAD_PAGE],
    );
    if (chains.length === 0) return { text: "", last: null };
    const depth = checkpoint.headsDepth;
    const keys = new Map<string, TileKey>();
    for (const { idx } of chains) for (const key of tilesForProof(idx, depth)) keys.set(tileId(key), key);
    const stored = await readTiles(db, [...keys.values()], checkpoint.seq);
    const text = chains
      .map(
        (c) =>
          `${JSON.stringify({
            heads: { chain: c.chain, index: c.idx, n: c.n, linkHash: toHex(c.link_hash), seq: checkpoint.seq, proof: proofFromTiles(c.idx, depth, stored) },
          })}\n`,
      )
      .join("");
    return { text, last: chains.at(-1)!.idx };
  }
}
