/**
 * What a store's console views read and write: its stock on hand from the scans it already does
 * (bottles received there minus bottles sold there, per product) and its low-stock threshold.
 */
import type { Db } from "../db/pool.ts";
import { invalid } from "../http/errors.ts";

export interface StockLine {
  gtin: string;
  name: string | null;
  received: number;
  sold: number;
  onHand: number;
}

/** The threshold a store has not set yet: warn when a product is down to this many bottles. */
export const DEFAULT_LOW_STOCK = 5;
export const MAX_LOW_STOCK = 1_000_000;

export function createStoreData(db: Db) {
  return {
    /**
     * Per product the store ever received: distinct bottles received there, distinct bottles sold
     * there, and on hand = received − sold (negative when it sold bottles it never recorded receiving).
     */
    async stock(brandId: number, party: string): Promise<StockLine[]> {
      const { rows } = await db.query<{ gtin: string; name: string | null; received: number; sold: number }>(
        `SELECT c.gtin, p.name,
                count(DISTINCT c.serial) FILTER (WHERE x.type = 'store_receiving')::int AS received,
                count(DISTINCT c.serial) FILTER (WHERE x.type = 'retail_sale')::int AS sold
           FROM (SELECT e.type, s.serial FROM events e CROSS JOIN LATERAL unnest(e.codes) AS s(serial)
                  WHERE e.brand_id = $1 AND e.party = $2 AND e.type IN ('store_receiving', 'retail_sale')) x
           JOIN codes c ON c.brand_id = $1 AND c.serial = x.serial
           LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
          GROUP BY c.gtin, p.name ORDER BY p.name, c.gtin`,
        [brandId, party],
      );
      return rows.map((r) => ({ ...r, onHand: r.received - r.sold }));
    },

    async lowStockThreshold(brandId: number, party: string): Promise<number> {
      const {
        rows: [row],
      } = await db.query<{ low_stock_threshold: number }>("SELECT low_stock_threshold FROM store_settings WHERE brand_id = $1 AND party = $2", [
        brandId,
        party,
      ]);
      return row?.low_stock_threshold ?? DEFAULT_LOW_STOCK;
    },

    async setLowStockThreshold(brandId: number, party: string, threshold: number): Promise<void> {
      if (!Number.isSafeInteger(threshold) || threshold < 0 || threshold > MAX_LOW_STOCK) {
        throw invalid("threshold", `must be a whole number from 0 to ${MAX_LOW_STOCK}`);
      }
      await db.query(
        `INSERT INTO store_settings (brand_id, party, low_stock_threshold) VALUES ($1, $2, $3)
         ON CONFLICT (brand_id, party) DO UPDATE SET low_stock_threshold = EXCLUDED.low_stock_threshold, updated_at = now()`,
        [brandId, party, threshold],
      );
    },
  };
}

export type StoreData = ReturnType<typeof createStoreData>;
