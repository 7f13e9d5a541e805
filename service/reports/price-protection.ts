/**
 * The price-protection report's data: a brand's retail sales in a period and the previous period
 * of equal length, its stores, guide prices and policy, handed to core/price-protection.ts.
 */
import { csvRow } from "../core/labels.ts";
import {
  DEFAULT_POLICY,
  policyProblems,
  priceProtection,
  sumMoney,
  type PricePolicy,
  type Sale,
  type StoreLine,
  type StoreRef,
} from "../core/price-protection.ts";
import type { Db } from "../db/pool.ts";
import { AppError } from "../http/errors.ts";
import { loadGuidePrices } from "../pricing/guide-prices.ts";

export interface PriceProtectionReport {
  from: string;
  to: string;
  previous: { from: string; to: string };
  currency: string;
  policy: PricePolicy;
  stores: StoreLine[];
  totals: { sold: number; previousSold: number; guideRevenue: string; compensation: string };
}

export const CSV_COLUMNS = [
  "party",
  "name",
  "region",
  "sold",
  "previous_sold",
  "volume_change",
  "judged",
  "within",
  "excluded",
  "compliance",
  "guide_revenue",
  "rate",
  "compensation",
  "currency",
] as const;

export function reportCsv(report: PriceProtectionReport): string {
  const text = (value: number | null) => (value === null ? "" : String(value));
  return (
    csvRow([...CSV_COLUMNS]) +
    report.stores
      .map((s) =>
        csvRow([
          s.party,
          s.name,
          s.region,
          String(s.sold),
          String(s.previousSold),
          text(s.volumeChange),
          String(s.judged),
          String(s.within),
          String(s.excluded),
          text(s.compliance),
          s.guideRevenue,
          String(s.rate),
          s.compensation,
          report.currency,
        ]),
      )
      .join("")
  );
}

/** A stored policy, with defaults for anything missing (policies are whole objects, but be lenient). */
function policyOf(stored: unknown): PricePolicy {
  const value = (typeof stored === "object" && stored !== null ? stored : {}) as Partial<PricePolicy>;
  return { ...DEFAULT_POLICY, ...value };
}

export function createPriceProtection(db: Db) {
  async function policy(brandId: number): Promise<PricePolicy> {
    const {
      rows: [row],
    } = await db.query<{ price_policy: unknown }>("SELECT price_policy FROM brands WHERE id = $1", [brandId]);
    return policyOf(row?.price_policy);
  }

  return {
    policy,

    /** Replaces the brand's policy (fields left out take the defaults); 422 listing every problem. */
    async setPolicy(brandId: number, given: Partial<PricePolicy>): Promise<PricePolicy> {
      const next: PricePolicy = { ...DEFAULT_POLICY, ...given };
      const problems = policyProblems(next);
      if (problems.length > 0) {
        throw new AppError(422, "invalid", problems.map((p) => `${p.field} ${p.message}`).join("; "), { field: problems[0]!.field, problems });
      }
      await db.query("UPDATE brands SET price_policy = $2 WHERE id = $1", [brandId, next]);
      return next;
    },

    async report(brandId: number, from: Date, to: Date, currency: string): Promise<PriceProtectionReport> {
      const previousFrom = new Date(from.getTime() - (to.getTime() - from.getTime()));
      const { rows: saleRows } = await db.query<{ party: string; gtin: string; occurred_at: Date; amount: string | null; currency: string | null }>(
        `SELECT e.party, c.gtin, e.occurred_at, e.price_amount::text AS amount, e.price_currency AS currency
           FROM events e CROSS JOIN LATERAL unnest(e.codes) AS s(serial)
           JOIN codes c ON c.brand_id = e.brand_id AND c.serial = s.serial
          WHERE e.brand_id = $1 AND e.type = 'retail_sale' AND e.occurred_at >= $2 AND e.occurred_at < $3`,
        [brandId, from, to],
      );
      const { rows: previousRows } = await db.query<{ party: string; sold: number }>(
        `SELECT e.party, sum(cardinality(e.codes))::int AS sold FROM events e
          WHERE e.brand_id = $1 AND e.type = 'retail_sale' AND e.occurred_at >= $2 AND e.occurred_at < $3
          GROUP BY e.party`,
        [brandId, previousFrom, from],
      );
      // Every store of the brand, and any other party that sold in either period.
      const { rows: storeRows } = await db.query<{ id: string; name: string; region: string }>(
        `SELECT id, name, region FROM parties
          WHERE brand_id = $1 AND (kind = 'store' OR id = ANY($2::text[])) ORDER BY id`,
        [brandId, [...new Set([...saleRows.map((r) => r.party), ...previousRows.map((r) => r.party)])]],
      );
      const guides = await loadGuidePrices(
        db,
        brandId,
        saleRows.map((r) => r.gtin),
      );

      const current = await policy(brandId);
      const stores: StoreRef[] = storeRows.map((r) => ({ id: r.id, name: r.name, region: r.region }));
      const sales: Sale[] = saleRows.map((r) => ({
        party: r.party,
        gtin: r.gtin,
        at: r.occurred_at,
        price: r.amount === null || r.currency === null ? null : { amount: r.amount, currency: r.currency },
      }));
      const lines = priceProtection({
        policy: current,
        currency,
        stores,
        sales,
        guides,
        previousSold: new Map(previousRows.map((r) => [r.party, r.sold])),
      });
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        previous: { from: previousFrom.toISOString(), to: from.toISOString() },
        currency,
        policy: current,
        stores: lines,
        totals: {
          sold: lines.reduce((n, s) => n + s.sold, 0),
          previousSold: lines.reduce((n, s) => n + s.previousSold, 0),
          guideRevenue: sumMoney(lines.map((s) => s.guideRevenue)),
          compensation: sumMoney(lines.map((s) => s.compensation)),
        },
      };
    },
  };
}

export type PriceProtection = ReturnType<typeof createPriceProtection>;
