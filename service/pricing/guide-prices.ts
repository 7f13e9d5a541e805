/**
 * The `guide_prices` table: a brand sets a product's guide price and band, national or for one
 * region, from a moment on (./routes.ts); earlier prices stay as its history. `loadGuidePrices` is the
 * one query every feature that judges a price uses (checks at ingest, the store check, consumer price
 * reports, the price-protection report).
 */
import type pg from "pg";
import type { GuidePrice } from "../core/price.ts";

type Queryable = Pick<pg.ClientBase, "query"> | pg.Pool;

export interface NewGuidePrice {
  amount: string;
  currency: string;
  below: number;
  above: number;
  /** Absent for the national price. */
  region?: string | undefined;
  /** ISO 8601; absent for now. */
  validFrom?: string | undefined;
}

interface GuideRow {
  region: string | null;
  amount: string;
  currency: string;
  below: number;
  above: number;
  valid_from: Date;
}

const guideOf = (r: GuideRow): GuidePrice => ({
  amount: r.amount,
  currency: r.currency,
  below: r.below,
  above: r.above,
  region: r.region,
  validFrom: r.valid_from,
});

/** Adds a guide price to the product's history, and returns it as stored. */
export async function insertGuidePrice(db: Queryable, brandId: number, gtin: string, price: NewGuidePrice): Promise<GuidePrice> {
  const { amount, currency, below, above, region, validFrom } = price;
  const {
    rows: [row],
  } = await db.query<GuideRow>(
    `INSERT INTO guide_prices (brand_id, gtin, region, amount, currency, below, above, valid_from)
     VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::timestamptz, now()))
     RETURNING region, amount::text AS amount, currency, below::float8 AS below, above::float8 AS above, valid_from`,
    [brandId, gtin, region ?? null, amount, currency, below, above, validFrom ?? null],
  );
  return guideOf(row!);
}

/** The product's guide prices, newest first. */
export async function guidePriceHistory(db: Queryable, brandId: number, gtin: string): Promise<GuidePrice[]> {
  const { rows } = await db.query<GuideRow>(
    `SELECT region, amount::text AS amount, currency, below::float8 AS below, above::float8 AS above, valid_from
       FROM guide_prices WHERE brand_id = $1 AND gtin = $2 ORDER BY valid_from DESC, id DESC`,
    [brandId, gtin],
  );
  return rows.map(guideOf);
}

/** Every guide price (with its history) of the brand's products `gtins`, by GTIN. */
export async function loadGuidePrices(db: Queryable, brandId: number, gtins: string[]): Promise<Map<string, GuidePrice[]>> {
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
