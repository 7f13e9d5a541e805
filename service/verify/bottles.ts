/**
 * What the consumer page shows about a bottle, and what a consumer's visit writes: a `consumer_scan`
 * (or, with the cap code, an `opened`) event appended to the bottle's chain, so scan counts are
 * anchored like everything else. Only a coarse place and a salted hash of the IP are kept.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { randomSalt, type CanonicalEvent } from "../core/links.ts";
import { tokenHash } from "../core/secrets.ts";
import type { Place, ScanFact, StepFact } from "../core/warnings.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { appendEvents, lockHeads, type Head } from "../ledger/append.ts";

export interface Bottle {
  serial: string;
  gtin: string;
  brandId: number;
  brandSlug: string;
  brandName: string;
  product: { name: string; attributes: Record<string, unknown> } | null;
  lot: string | null;
  region: { code: string; name: string } | null;
  openedAt: Date | null;
}

export interface Step extends StepFact {
  n: number;
  anchor: { seq: number; blockNumber: number | null; blockTime: Date | null; txHash: string | null } | null;
}

export interface ScanSummary {
  consumer: number;
  beforeSale: number;
  first: ScanFact | null;
  recent: ScanFact[];
}

/** Consumer scans from one IP within this window count once (a page reload is not a new scan). */
const RESCAN_WINDOW = "10 minutes";

export function createBottleStore(db: Db, chain: () => Promise<{ chainId: number; registry: string }>) {
  async function find(where: string, params: unknown[]): Promise<(Bottle & { secretHash: Buffer; capHash: Buffer | null; scanSalt: Buffer }) | null> {
    const { rows: [row] } = await db.query<{
      serial: string; gtin: string; brand_id: number; slug: string; brand_name: string; product_name: string | null;
      attributes: Record<string, unknown> | null; lot: string | null; region: string | null; region_name: string | null;
      opened_at: Date | null; secret_hash: Buffer; cap_hash: Buffer | null; scan_salt: Buffer;
    }>(
      `SELECT c.serial, c.gtin, c.brand_id, b.slug, b.name AS brand_name, p.name AS product_name, p.attributes,
              c.lot, c.region, r.name AS region_name, c.opened_at, c.secret_hash, c.cap_hash, b.scan_salt
         FROM codes c JOIN brands b ON b.id = c.brand_id
         LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
         LEFT JOIN regions r ON r.brand_id = c.brand_id AND r.code = c.region
        WHERE ${where}`,
      params,
    );
    if (!row) return null;
    return {
      serial: row.serial, gtin: row.gtin, brandId: row.brand_id, brandSlug: row.slug, brandName: row.brand_name,
      product: row.product_name === null ? null : { name: row.product_name, attributes: row.attributes ?? {} },
      lot: row.lot, region: row.region === null ? null : { code: row.region, name: row.region_name ?? row.region },
      openedAt: row.opened_at, secretHash: row.secret_hash, capHash: row.cap_hash, scanSalt: row.scan_salt,
    };
  }

  function matches(hash: Buffer | null, secret: string | undefined): boolean {
    return hash !== null && secret !== undefined && secret !== "" && timingSafeEqual(tokenHash(secret), hash);
  }

  async function placeFor(brandId: number, ip: string): Promise<Place | null> {
    const { rows: [row] } = await db.query<{ place: string; latitude: number | null; longitude: number | null }>(
      `SELECT place, latitude, longitude FROM ip_places
        WHERE brand_id = $1 AND $2::inet <<= cidr ORDER BY masklen(cidr) DESC LIMIT 1`,
      [brandId, ip],
    ).catch(() => ({ rows: [] as { place: string; latitude: number | null; longitude: number | null }[] }));
    return row ? { name: row.place, latitude: row.latitude, longitude: row.longitude } : null;
  }

  /** Appends one event SealTrace itself writes for the bottle, in the caller's transaction (which locked its head). */
  async function appendOwn(tx: Tx, bottle: Bottle, heads: Map<string, Head>, type: "consumer_scan" | "opened", place: Place | null, at: string): Promise<number> {
    const canonical: CanonicalEvent = { brand: bottle.brandSlug, id: `${type}-${randomUUID()}`, type, codes: [bottle.serial], occurredAt: at, receivedAt: at, salt: randomSalt() };
    if (place !== null) canonical.place = place.name;
    if (type === "opened") canonical.by = "consumer";
    const { events } = await appendEvents(tx, bottle.brandId, null, at, [{
      canonical, brandEventId: canonical.id as string, occurredAt: at, party: null, to: null, price: null, data: null,
    }], heads);
    return events[0]!.id;
  }

  return {
    /** The bottle, if the public secret from its QR code matches; otherwise null, like an unknown code. */
    async bySecret(gtin: string, serial: string, secret: string | undefined) {
      const bottle = await find("c.serial = $1 AND c.gtin = $2", [serial, gtin]);
      return bottle && matches(bottle.secretHash, secret) ? bottle : null;
    },

    async byCapCode(gtin: string, serial: string, capCode: string | undefined) {
      const bottle = await find("c.serial = $1 AND c.gtin = $2", [serial, gtin]);
      return bottle && matches(bottle.capHash, capCode) ? bottle : null;
    },

    /** Records a consumer's verification (unless the same IP verified it minutes ago); true if written. */
    async recordScan(bottle: Bottle & { scanSalt: Buffer }, ip: string): Promise<boolean> {
      const ipHash = createHash("sha256").update(bottle.scanSalt).update(ip).digest();
      const place = await placeFor(bottle.brandId, ip);
      return await withTransaction(db, async (tx) => {
        const heads = await lockHeads(tx, [bottle.serial]);
        const recent = await tx.query(
          `SELECT 1 FROM scans WHERE serial = $1 AND ip_hash = $2 AND scanned_at > now() - interval '${RESCAN_WINDOW}'`,
          [bottle.serial, ipHash],
        );
        if (recent.rowCount) return false;
        const now = new Date().toISOString();
        const eventId = await appendOwn(tx, bottle, heads, "consumer_scan", place, now);
        await tx.query(
          "INSERT INTO scans (serial, event_id, scanned_at, place, latitude, longitude, ip_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          [bottle.serial, eventId, now, place?.name ?? null, place?.latitude ?? null, place?.longitude ?? null, ipHash],
        );
        return true;
      });
    },

    /** Records that the cap code was scanned: the bottle is opened (once). True if this visit opened it. */
    async recordOpening(bottle: Bottle, ip: string): Promise<boolean> {
      const place = await placeFor(bottle.brandId, ip);
      return await withTransaction(db, async (tx) => {
        const heads = await lockHeads(tx, [bottle.serial]);
        if (heads.get(bottle.serial)?.openedAt) return false;
        await appendOwn(tx, bottle, heads, "opened", place, new Date().toISOString());
        return true;
      });
    },

    /** The bottle's life, step by step, with places and anchoring (consumer scans left out). */
    async steps(bottle: Bottle): Promise<Step[]> {
      const current = await chain();
      const { rows } = await db.query<{
        n: number; type: string; occurred_at: Date; party: string | null; party_name: string | null; kind: string | null; region: string | null;
        batch_seq: number | null; state: string | null; chain_id: number | null; registry: string | null; block_number: number | null; block_time: Date | null; tx_hash: string | null;
      }>(
        `SELECT l.n, e.type, e.occurred_at, e.party, p.name AS party_name, p.kind, p.region,
                l.batch_seq, b.state, b.chain_id, b.registry, b.block_number, b.block_time, b.tx_hash
           FROM links l JOIN events e ON e.id = l.event_id
           LEFT JOIN parties p ON p.brand_id = e.brand_id AND p.id = e.party
           LEFT JOIN batches b ON b.seq = l.batch_seq
          WHERE l.serial = $1 AND e.type <> 'consumer_scan'
          ORDER BY l.n`,
        [bottle.serial],
      );
      return rows.map((r) => ({
        n: r.n,
        type: r.type,
        at: r.occurred_at,
        party: r.party === null ? null : { id: r.party, name: r.party_name ?? r.party, kind: r.kind ?? "", region: r.region ?? "" },
        anchor: r.state === "anchored" && r.chain_id === current.chainId && r.registry === current.registry
          ? { seq: r.batch_seq!, blockNumber: r.block_number, blockTime: r.block_time, txHash: r.tx_hash }
          : null,
      }));
    },

    /** Consumer scans: how many, the first, those since the sale, and recent ones for the copy check. */
    async scans(bottle: Bottle, soldAt: Date | null): Promise<ScanSummary> {
      const { rows } = await db.query<{ scanned_at: Date; place: string | null; latitude: number | null; longitude: number | null }>(
        "SELECT scanned_at, place, latitude, longitude FROM scans WHERE serial = $1 ORDER BY scanned_at",
        [bottle.serial],
      );
      const facts: ScanFact[] = rows.map((r) => ({ at: r.scanned_at, place: r.place === null ? null : { name: r.place, latitude: r.latitude, longitude: r.longitude } }));
      // Scans before the retail sale are the trade's (a dealer pre-querying codes), not consumers'.
      const consumer = soldAt === null ? facts : facts.filter((f) => f.at >= soldAt);
      return {
        consumer: consumer.length,
        beforeSale: facts.length - consumer.length,
        first: consumer[0] ?? null,
        recent: facts.filter((f) => Date.now() - f.at.getTime() < 7 * 86_400_000),
      };
    },

    /** Replaces the brand's IP-range → place table. */
    async putPlaces(brandId: number, places: { cidr: string; place: string; latitude?: number; longitude?: number }[]): Promise<number> {
      return await withTransaction(db, async (tx) => {
        await tx.query("DELETE FROM ip_places WHERE brand_id = $1", [brandId]);
        if (places.length > 0) {
          await tx.query(
            `INSERT INTO ip_places (brand_id, cidr, place, latitude, longitude)
             SELECT $1, t.cidr::cidr, t.place, t.lat, t.lon FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[]) AS t(cidr, place, lat, lon)`,
            [brandId, places.map((p) => p.cidr), places.map((p) => p.place), places.map((p) => p.latitude ?? null), places.map((p) => p.longitude ?? null)],
          );
        }
        return places.length;
      });
    },
  };
}

export type BottleStore = ReturnType<typeof createBottleStore>;
