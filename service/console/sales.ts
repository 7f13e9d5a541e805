/**
 * Retail sales as the console charts them: bottles sold per week or month (China time), per region
 * of the selling store, and per product, for a brand or one of its stores. A retail_sale event
 * sells every bottle it lists.
 */
import type { Db } from "../db/pool.ts";
import { periodKey, periodStarts, TIME_ZONE, type Unit } from "./periods.ts";

export interface Bucket {
  period: string;
  bottles: number;
}
export interface ProductSales {
  gtin: string;
  name: string | null;
  bottles: number;
}

/** Bottles sold in each of the last `count` weeks or months (oldest first; empty periods are 0). */
export async function salesSeries(db: Db, brandId: number, party: string | null, unit: Exclude<Unit, "day">, count: number, now: Date): Promise<Bucket[]> {
  const starts = periodStarts(unit, count, now);
  const { rows } = await db.query<{ period: string; bottles: number }>(
    `SELECT to_char(date_trunc($4, e.occurred_at AT TIME ZONE '${TIME_ZONE}'), 'YYYY-MM-DD') AS period, sum(cardinality(e.codes))::int AS bottles
       FROM events e
      WHERE e.brand_id = $1 AND e.type = 'retail_sale' AND ($2::text IS NULL OR e.party = $2) AND e.occurred_at >= $3
      GROUP BY 1`,
    [brandId, party, starts[0], unit],
  );
  const sold = new Map(rows.map((r) => [r.period, r.bottles]));
  return starts.map((start) => ({ period: periodKey(start), bottles: sold.get(periodKey(start)) ?? 0 }));
}

/** Bottles sold since `since`, per region of the selling party (null: a party the brand never set up). */
export async function salesByRegion(db: Db, brandId: number, since: Date): Promise<{ region: string | null; name: string | null; bottles: number }[]> {
  const { rows } = await db.query<{ region: string | null; name: string | null; bottles: number }>(
    `SELECT p.region, r.name, sum(cardinality(e.codes))::int AS bottles
       FROM events e
       LEFT JOIN parties p ON p.brand_id = e.brand_id AND p.id = e.party
       LEFT JOIN regions r ON r.brand_id = e.brand_id AND r.code = p.region
      WHERE e.brand_id = $1 AND e.type = 'retail_sale' AND e.occurred_at >= $2
      GROUP BY p.region, r.name ORDER BY bottles DESC, p.region`,
    [brandId, since],
  );
  return rows;
}

/** The products most sold since `since` (by the brand, or by one store), most first. */
export async function bestSellers(db: Db, brandId: number, party: string | null, since: Date, limit = 10): Promise<ProductSales[]> {
  const { rows } = await db.query<ProductSales>(
    `SELECT c.gtin, p.name, count(*)::int AS bottles
       FROM events e CROSS JOIN LATERAL unnest(e.codes) AS s(serial)
       JOIN codes c ON c.brand_id = e.brand_id AND c.serial = s.serial
       LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
      WHERE e.brand_id = $1 AND e.type = 'retail_sale' AND ($2::text IS NULL OR e.party = $2) AND e.occurred_at >= $3
      GROUP BY c.gtin, p.name ORDER BY bottles DESC, c.gtin LIMIT $4`,
    [brandId, party, since, limit],
  );
  return rows;
}
