/**
 * What the brand's console views read: events, bottles by state, alerts, anchoring health, the
 * brand's batches, its lots of codes and its set-up (products, regions, stores). Read-only SQL.
 */
import { toHex } from "../core/hash.ts";
import type { Db } from "../db/pool.ts";
import { periodStart } from "./periods.ts";

export interface Counted {
  key: string;
  count: number;
}

export interface BatchView {
  seq: number;
  state: "sealed" | "sent" | "anchored";
  leafCount: number;
  /** How many of the batch's leaves are this brand's links. */
  links: number;
  root: string;
  sealedAt: Date;
  anchoredAt: Date | null;
  txHash: string | null;
  blockNumber: number | null;
}

export interface AnchoringHealth {
  lastBatch: BatchView | null;
  /** The brand's links not anchored yet: not sealed, or in a batch still on its way to the chain. */
  pendingLinks: number;
  /** When the oldest of them was received. */
  oldestPending: Date | null;
}

export interface AlertView {
  id: number;
  kind: string;
  serial: string | null;
  party: string | null;
  partyName: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
}

export interface Lot {
  lot: string | null;
  gtin: string;
  product: string | null;
  region: string | null;
  codes: number;
  mintedAt: Date;
}

/**
 * `reports`: where the reports read (the console's counts, alerts, anchoring health, batches: the replica
 * while it keeps up, service/db/replica.ts; they show a little later what a lagging replica has not
 * replayed). The lists the console's forms redirect to (lots, products, regions, stores) read `db`,
 * the primary: a product just added must be on the page that follows.
 */
export function createBrandData(db: Db, reports: () => Db = () => db) {
  async function batches(brandId: number, before: number | null, limit: number): Promise<BatchView[]> {
    const { rows } = await reports().query<{
      seq: number;
      state: BatchView["state"];
      leaf_count: number;
      links: number;
      root: Buffer;
      sealed_at: Date;
      anchored_at: Date | null;
      tx_hash: string | null;
      block_number: number | null;
    }>(
      `SELECT b.seq, b.state, b.leaf_count, x.links, b.root, b.sealed_at, b.anchored_at, b.tx_hash, b.block_number
         FROM (SELECT s.seq, count(*)::int AS links FROM links l JOIN codes c ON c.serial = l.serial
                CROSS JOIN LATERAL (SELECT link_batch(l.id, l.batch_seq) AS seq) s
                WHERE c.brand_id = $1 AND s.seq IS NOT NULL AND ($2::bigint IS NULL OR s.seq < $2)
                GROUP BY s.seq ORDER BY s.seq DESC LIMIT $3) x
         JOIN batches b ON b.seq = x.seq
        ORDER BY b.seq DESC`,
      [brandId, before, limit],
    );
    return rows.map((r) => ({
      seq: r.seq,
      state: r.state,
      leafCount: r.leaf_count,
      links: r.links,
      root: toHex(r.root),
      sealedAt: r.sealed_at,
      anchoredAt: r.state === "anchored" ? r.anchored_at : null,
      txHash: r.state === "sealed" ? null : r.tx_hash,
      blockNumber: r.state === "anchored" ? r.block_number : null,
    }));
  }

  return {
    batches,

    /** Events that happened today and this week (China time, weeks from Monday), of every type. */
    async eventCounts(brandId: number, now: Date): Promise<{ today: number; week: number }> {
      const {
        rows: [row],
      } = await reports().query<{ today: number; week: number }>(
        `SELECT count(*) FILTER (WHERE occurred_at >= $3)::int AS today, count(*)::int AS week
           FROM events WHERE brand_id = $1 AND occurred_at >= $2 AND occurred_at <= $4`,
        [brandId, periodStart("week", now), periodStart("day", now), now],
      );
      return row!;
    },

    /** The brand's bottles by their current state (minted, production, …, retail_sale, opened). */
    async bottlesByState(brandId: number): Promise<Counted[]> {
      const { rows } = await reports().query<Counted>(
        "SELECT state AS key, count(*)::int AS count FROM codes WHERE brand_id = $1 GROUP BY state ORDER BY count DESC, state",
        [brandId],
      );
      return rows;
    },

    async alertsByKind(brandId: number, since: Date): Promise<Counted[]> {
      const { rows } = await reports().query<Counted>(
        "SELECT kind AS key, count(*)::int AS count FROM alerts WHERE brand_id = $1 AND created_at >= $2 GROUP BY kind ORDER BY count DESC, kind",
        [brandId, since],
      );
      return rows;
    },

    async anchoring(brandId: number): Promise<AnchoringHealth> {
      // Batches are anchored in order, so links not yet anchored are those after the last anchored
      // batch's range (pending or sealed), plus links of unanchored batches sealed before migration 0010.
      const {
        rows: [pending],
      } = await reports().query<{ count: number; oldest: Date | null }>(
        `SELECT count(*)::int AS count, min(e.received_at) AS oldest
           FROM (SELECT l.serial, l.event_id FROM links l
                  WHERE l.batch_seq IS NULL
                    AND l.id > COALESCE((SELECT max(last_link) FROM batches WHERE state = 'anchored'), (SELECT link_id FROM seal_start))
                 UNION ALL
                 SELECT l.serial, l.event_id FROM batches b JOIN links l ON l.batch_seq = b.seq WHERE b.state <> 'anchored') p
           JOIN codes c ON c.serial = p.serial AND c.brand_id = $1
           JOIN events e ON e.id = p.event_id AND e.brand_id = $1`,
        [brandId],
      );
      const [lastBatch] = await batches(brandId, null, 1);
      return { lastBatch: lastBatch ?? null, pendingLinks: pending!.count, oldestPending: pending!.oldest };
    },

    /** The newest alerts of one kind, with the party they name. */
    async alerts(brandId: number, kind: string, limit: number): Promise<AlertView[]> {
      const { rows } = await reports().query<{
        id: number;
        kind: string;
        serial: string | null;
        party: string | null;
        party_name: string | null;
        details: Record<string, unknown>;
        created_at: Date;
      }>(
        `SELECT a.id, a.kind, a.serial, a.party, p.name AS party_name, a.details, a.created_at
           FROM alerts a LEFT JOIN parties p ON p.brand_id = a.brand_id AND p.id = a.party
          WHERE a.brand_id = $1 AND a.kind = $2 ORDER BY a.id DESC LIMIT $3`,
        [brandId, kind, limit],
      );
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        serial: r.serial,
        party: r.party,
        partyName: r.party_name,
        details: r.details,
        createdAt: r.created_at,
      }));
    },

    /** Diversion alerts per responsible party (the distributor the bottles leaked from, when known). */
    async diversionsByResponsible(brandId: number): Promise<{ party: string | null; name: string | null; count: number }[]> {
      const { rows } = await reports().query<{ party: string | null; name: string | null; count: number }>(
        `SELECT a.details->>'responsible' AS party, COALESCE(p.name, max(a.details->>'responsibleName')) AS name, count(*)::int AS count
           FROM alerts a LEFT JOIN parties p ON p.brand_id = a.brand_id AND p.id = a.details->>'responsible'
          WHERE a.brand_id = $1 AND a.kind = 'diversion'
          GROUP BY a.details->>'responsible', p.name ORDER BY count DESC, party`,
        [brandId],
      );
      return rows;
    },

    /** The brand's minted codes, lot by lot. */
    async lots(brandId: number): Promise<Lot[]> {
      const { rows } = await db.query<{ lot: string | null; gtin: string; product: string | null; region: string | null; codes: number; minted_at: Date }>(
        `SELECT c.lot, c.gtin, p.name AS product, min(c.region) AS region, count(*)::int AS codes, min(c.created_at) AS minted_at
           FROM codes c LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
          WHERE c.brand_id = $1 GROUP BY c.lot, c.gtin, p.name ORDER BY minted_at DESC, c.lot`,
        [brandId],
      );
      return rows.map((r) => ({ lot: r.lot, gtin: r.gtin, product: r.product, region: r.region, codes: r.codes, mintedAt: r.minted_at }));
    },

    async products(brandId: number): Promise<{ gtin: string; name: string }[]> {
      const { rows } = await db.query<{ gtin: string; name: string }>("SELECT gtin, name FROM products WHERE brand_id = $1 ORDER BY name, gtin", [brandId]);
      return rows;
    },

    async regions(brandId: number): Promise<{ code: string; name: string }[]> {
      const { rows } = await db.query<{ code: string; name: string }>("SELECT code, name FROM regions WHERE brand_id = $1 ORDER BY code", [brandId]);
      return rows;
    },

    async stores(brandId: number): Promise<{ id: string; name: string; region: string; regionName: string | null }[]> {
      const { rows } = await db.query<{ id: string; name: string; region: string; region_name: string | null }>(
        `SELECT p.id, p.name, p.region, r.name AS region_name FROM parties p LEFT JOIN regions r ON r.brand_id = p.brand_id AND r.code = p.region
          WHERE p.brand_id = $1 AND p.kind = 'store' ORDER BY p.region, p.id`,
        [brandId],
      );
      return rows.map((r) => ({ id: r.id, name: r.name, region: r.region, regionName: r.region_name }));
    },

    /** One of the brand's stores, or null. */
    async store(brandId: number, party: string): Promise<{ id: string; name: string; region: string } | null> {
      const {
        rows: [row],
      } = await db.query<{ id: string; name: string; region: string }>(
        "SELECT id, name, region FROM parties WHERE brand_id = $1 AND id = $2 AND kind = 'store'",
        [brandId, party],
      );
      return row ?? null;
    },
  };
}

export type BrandData = ReturnType<typeof createBrandData>;
