/**
 * Reading guide prices: the one query every feature that judges a price uses (checks at ingest, the
 * store check, consumer price reports, the price-protection report, the consumer page).
 */
import type pg from "pg";
import type { GuidePrice } from "../core/price.ts";

/** Every guide price (with its history) of the brand's products `gtins`, by GTIN. */
export async function loadGuidePrices(db: Pick<pg.ClientBase, "query"> | pg.Pool, brandId: number, gtins: string[]): Promise<Map<string, GuidePrice[]>> {
  const { rows } = await db.query<{ gtin: string; amount: string; currency: string; below: number; above: number; region: string | null; valid_from: Date }>(
    `SELECT gtin, amount::text AS amount, currency, below::float8 AS below, above::float8 AS above, region, valid_from
       FROM guide_prices WHERE brand_id = $1 AND gtin = ANY($2::text[])`,
    [brandId, [...new Set(gtins)]],
  );
  const byGtin = new Map<string, GuidePrice[]>();
  for (const r of rows) {
    const guide: GuidePrice = { amount: r.amount, currency: r.currency, below: r.below, above: r.above, region: r.region, validFrom: r.valid_from };
    byGtin.set(r.gtin, [...(byGtin.get(r.gtin) ?? []), guide]);
  }
  return byGtin;
}
