/**
 * What the consumer page shows about a bottle, read in one statement, and what a consumer's visit
 * would write: a `consumer_scan` (or, with the cap code, an `opened`) event appended to the bottle's
 * chain, so scan counts are anchored like everything else (written by scan-writer.ts, many visits per
 * transaction). Only a coarse place and a salted hash of the IP are kept.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { GuidePrice } from "../core/price.ts";
import { tokenHash } from "../core/secrets.ts";
import { RECENT_SCANS_MS, type Place, type ScanFact } from "../core/warnings.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import type { ReadDb } from "../db/replica.ts";
import { scanFact, scansJsonSql, stepsJsonSql, stepsOf, type ScanRow, type Step, type StepRow } from "../ledger/read-model.ts";
import { storeKeySql } from "../store/keys.ts";
import { capWindowScansSql, rescanSql, type Visit, type VisitOutcome } from "./scan-writer.ts";

export type { Step };

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

export interface ScanSummary {
  consumer: number;
  beforeSale: number;
  first: ScanFact | null;
  recent: ScanFact[];
}

/** Everything the page shows about a bottle, and the visit it records (null when nothing is to be written). */
export interface BottleView {
  bottle: Bottle;
  steps: Step[];
  guidePrices: GuidePrice[];
  /** Consumer scans so far, oldest first. */
  scans: ScanFact[];
  /**
   * Null for the brand's (or its store's) own look, a reload from the same IP within the window, a
   * cap scanned again, a request that is no scan (a link preview, HEAD, a prefetch), or a bottle that
   * recorded its SCANS_PER_BOTTLE_PER_HOUR already.
   */
  visit: Visit | null;
}

/** Who asks for the page: the bottle's code and the public secret (or, with `cap`, the code under the cap), the client's IP, its bearer token. */
export interface PageRequest {
  gtin: string;
  serial: string;
  secret: string | undefined;
  cap: boolean;
  ip: string;
  token: string | null;
  /** False for a request that is not a person's scan (core/previews.ts): it sees the page, records nothing. */
  record: boolean;
}

interface Row {
  serial: string;
  gtin: string;
  brand_id: number;
  slug: string;
  brand_name: string;
  product_name: string | null;
  attributes: Record<string, unknown> | null;
  lot: string | null;
  region: string | null;
  region_name: string | null;
  opened_at: Date | null;
  last_n: number;
  key_hash: Buffer | null;
  scan_salt: Buffer;
  // Null when the secret does not match (nothing else is read then).
  steps: StepRow[] | null;
  prices: { amount: string; currency: string; below: number; above: number; region: string | null; validFrom: string }[] | null;
  scans: ScanRow[] | null;
  place: Place | null;
  rescan: boolean | null;
  last_hour: number | null;
  by_owner: boolean | null;
}

/**
 * One round trip: the bottle with its product, brand and region; and, only when the secret's hash
 * matches ($4), its steps with their batches, its guide prices, its scans, whether this IP scanned it
 * within the window, how many scans it recorded within SCAN_CAP_WINDOW, the IP's place in the
 * brand's table, and whether the bearer token is the brand's API key or one of its live store keys.
 */
const PAGE_SQL = `
SELECT c.serial, c.gtin, c.brand_id, b.slug, b.name AS brand_name, p.name AS product_name, p.attributes,
       c.lot, c.region, r.name AS region_name, c.opened_at, c.last_n, b.scan_salt,
       CASE WHEN $3 THEN c.cap_hash ELSE c.secret_hash END AS key_hash, v.*
  FROM serials sr JOIN codes c ON c.brand_id = sr.brand_id AND c.serial = sr.serial JOIN brands b ON b.id = c.brand_id
  LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
  LEFT JOIN regions r ON r.brand_id = c.brand_id AND r.code = c.region
  LEFT JOIN LATERAL (
    SELECT
      ${stepsJsonSql("c.serial")} AS steps,
      (SELECT coalesce(json_agg(json_build_object(
                'amount', g.amount::text, 'currency', g.currency, 'below', g.below::float8, 'above', g.above::float8, 'region', g.region, 'validFrom', g.valid_from)), '[]')
         FROM guide_prices g WHERE g.brand_id = c.brand_id AND g.gtin = c.gtin) AS prices,
      ${scansJsonSql("c.serial")} AS scans,
      (SELECT json_build_object('name', ip.place, 'latitude', ip.latitude, 'longitude', ip.longitude)
         FROM ip_places ip WHERE ip.brand_id = c.brand_id AND $6::inet <<= ip.cidr ORDER BY masklen(ip.cidr) DESC LIMIT 1) AS place,
      ${rescanSql("c.serial", "sha256(b.scan_salt || convert_to($5, 'UTF8'))")} AS rescan,
      ${capWindowScansSql("c.serial")} AS last_hour,
      ($7::bytea IS NOT NULL AND (b.api_key_hash = $7 OR ($8 AND ${storeKeySql("$7", "c.brand_id")}))) AS by_owner
     WHERE (CASE WHEN $3 THEN c.cap_hash ELSE c.secret_hash END) = $4
  ) v ON true
 WHERE sr.serial = $1 AND c.gtin = $2`;

/** Consumer scans: how many, the first, those since the sale, and recent ones for the copy check. */
export function scanSummary(facts: ScanFact[], soldAt: Date | null, now = Date.now()): ScanSummary {
  // Scans before the retail sale are the trade's (a dealer pre-querying codes), not consumers'.
  const consumer = soldAt === null ? facts : facts.filter((f) => f.at >= soldAt);
  return {
    consumer: consumer.length,
    beforeSale: facts.length - consumer.length,
    first: consumer[0] ?? null,
    recent: facts.filter((f) => now - f.at.getTime() < RECENT_SCANS_MS),
  };
}

/**
 * What the page shows once its visit is recorded (`outcome`, null when there was none to record):
 * the scans its group wrote for the bottle added to those read, or the opening it wrote.
 */
export function afterVisit(view: BottleView, outcome: VisitOutcome | null): { bottle: Bottle; steps: Step[]; scans: ScanFact[]; scanned: boolean } {
  const { bottle, steps, scans } = view;
  if (outcome === null || view.visit === null) return { bottle, steps, scans, scanned: false };
  if (view.visit.kind === "consumer_scan") return { bottle, steps, scans: [...scans, ...outcome.scans], scanned: outcome.counted };
  const { opening } = outcome;
  return {
    bottle: { ...bottle, openedAt: bottle.openedAt ?? opening?.at ?? outcome.at },
    steps: opening === null ? steps : [...steps, { type: "opened", at: opening.at, party: null, anchor: null }],
    scans,
    scanned: false,
  };
}

export function createBottleRepo(db: Db, chain: () => Promise<{ chainId: number; registry: string }>, options: { scansPerHour: number; reads?: ReadDb }) {
  return {
    /** The bottle's page, if the secret (or cap code) matches; otherwise null, exactly like an unknown code. */
    async forPage(request: PageRequest): Promise<BottleView | null> {
      const { secret } = request;
      const given = secret === undefined || secret === "" ? null : Buffer.from(tokenHash(secret));
      const token = request.token === null ? null : Buffer.from(tokenHash(request.token));
      // A consumer's page reads the replica (service/db/replica.ts): what it decides about the visit is
      // checked again on the primary, under the head's lock, by the scan writer whenever the head's n
      // has moved since (a lagging replica: the IP's recent scans and the hour's are counted again
      // there). A request with a bearer token reads the primary: whether it is the brand's or a live
      // store key (its look is then no consumer's scan) is a credential check, true as soon as a key is issued.
      const reader = request.token === null ? (options.reads?.("consumer-page") ?? db) : db;
      const [
        {
          rows: [row],
        },
        current,
      ] = await Promise.all([
        // Prepared once per connection: planning this statement costs more than running it.
        reader.query<Row>({
          name: "verify-page-4",
          text: PAGE_SQL,
          values: [
            request.serial,
            request.gtin,
            request.cap,
            given,
            request.ip,
            isIP(request.ip) === 0 ? null : request.ip,
            token,
            request.token?.startsWith("sts_") ?? false,
          ],
        }),
        chain(),
      ]);
      // The database only told whether the hashes are equal; the answer rests on a constant-time comparison.
      if (!row || given === null || row.key_hash === null || row.steps === null || !timingSafeEqual(given, row.key_hash)) return null;

      const bottle: Bottle = {
        serial: row.serial,
        gtin: row.gtin,
        brandId: row.brand_id,
        brandSlug: row.slug,
        brandName: row.brand_name,
        product: row.product_name === null ? null : { name: row.product_name, attributes: row.attributes ?? {} },
        lot: row.lot,
        region: row.region === null ? null : { code: row.region, name: row.region_name ?? row.region },
        openedAt: row.opened_at,
      };
      const steps = stepsOf(row.steps, current);
      const guidePrices: GuidePrice[] = row.prices!.map((g) => ({ ...g, validFrom: new Date(g.validFrom) }));
      const scans = row.scans!.map(scanFact);

      // The brand looking at its own bottle (API key), or one of its stores (store key), is not a consumer's visit.
      let visit: Visit | null = null;
      const seen = { n: row.last_n, rescan: row.rescan === true, lastHour: row.last_hour ?? 0 };
      const of = { serial: bottle.serial, brandId: bottle.brandId, brandSlug: bottle.brandSlug };
      if (row.by_owner === true || !request.record) visit = null;
      else if (request.cap) visit = bottle.openedAt === null ? { kind: "opened", ...of, place: row.place, seen } : null;
      else if (!seen.rescan && seen.lastHour < options.scansPerHour)
        visit = { kind: "consumer_scan", ...of, ipHash: createHash("sha256").update(row.scan_salt).update(request.ip).digest(), place: row.place, seen };
      return { bottle, steps, guidePrices, scans, visit };
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

export type BottleRepo = ReturnType<typeof createBottleRepo>;
