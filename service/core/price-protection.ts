/**
 * Price protection: per store and period, how many bottles it sold, what share of them it sold
 * within the guide-price band, how its volume changed against the previous period of equal length,
 * and the compensation the brand's policy gives a store that held the price while its volume fell.
 * Pure; the report route feeds it rows from the database.
 *
 * For one store and one period:
 *   sold          bottles in its retail_sale events in the period (a sale's price is per bottle)
 *   judged        those with a guide price in force at the sale's time (for the store's region, else
 *                 national; guideInForce) in the report's currency, and a sale price in that currency.
 *                 Sales without a guide price in force, without a price or in another currency are
 *                 left out of the share (counted as `excluded`), not counted against the store.
 *   compliance    within / judged (null when nothing could be judged)
 *   volumeChange  (sold − previousSold) / previousSold (null when previousSold is 0)
 *   guideRevenue  the sum of the guide prices in force for the bottles sold (those with one)
 *   rate          0 unless compliance ≥ minCompliance and the volume fell (volumeChange < 0); then,
 *                 with fall = −volumeChange:
 *                   rate = baseRate + (maxRate − baseRate) × min(fall / maxFall, 1)
 *                 (baseRate at a fall near 0 %, maxRate at a fall of maxFall or more), rounded to 6 decimals
 *   compensation  rate × guideRevenue, rounded to the nearest cent
 */
import { fromCents, guideInForce, priceVerdict, toCents, type GuidePrice, type Money } from "./price.ts";

export interface PricePolicy {
  /** The share of sales within the band a store needs to be compensated, 0–1. */
  minCompliance: number;
  /** The rate at a fall in volume near 0 %, 0–1. */
  baseRate: number;
  /** The rate at a fall of `maxFall` or more, baseRate–1. */
  maxRate: number;
  /** The fall in volume (a fraction, e.g. 0.30) from which `maxRate` applies, (0, 1]. */
  maxFall: number;
}

export const DEFAULT_POLICY: Readonly<PricePolicy> = Object.freeze({ minCompliance: 0.95, baseRate: 0.05, maxRate: 0.08, maxFall: 0.3 });

/** What is wrong with a policy, field by field; empty when it is valid. */
export function policyProblems(policy: PricePolicy): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const fraction = (field: keyof PricePolicy, min: number, max: number, openMin = false) => {
    const value = policy[field];
    if (typeof value !== "number" || !Number.isFinite(value) || value > max || (openMin ? value <= min : value < min)) {
      problems.push({ field, message: `must be a number ${openMin ? ">" : "≥"} ${min} and ≤ ${max}` });
      return false;
    }
    return true;
  };
  fraction("minCompliance", 0, 1);
  const base = fraction("baseRate", 0, 1);
  const max = fraction("maxRate", 0, 1);
  fraction("maxFall", 0, 1, true);
  if (base && max && policy.maxRate < policy.baseRate) problems.push({ field: "maxRate", message: "must be at least baseRate" });
  return problems;
}

/** One bottle sold: a retail_sale event gives one of these per code it lists. */
export interface Sale {
  party: string;
  gtin: string;
  at: Date;
  /** The price per bottle, if the sale carried one. */
  price: Money | null;
}

export interface StoreRef {
  id: string;
  name: string;
  /** The store's sales region: its regional guide prices apply, else the national ones. */
  region: string | null;
}

export interface StoreLine {
  party: string;
  name: string;
  region: string | null;
  sold: number;
  previousSold: number;
  /** A signed fraction, rounded to 4 decimals; null when the previous period sold nothing. */
  volumeChange: number | null;
  judged: number;
  within: number;
  /** sold − judged: no guide price in force, no price, or another currency. */
  excluded: number;
  /** within / judged, rounded to 4 decimals; null when nothing could be judged. */
  compliance: number | null;
  guideRevenue: string;
  rate: number;
  compensation: string;
}

export interface PriceProtectionInput {
  policy: PricePolicy;
  /** The report's currency: guide prices and sales in others are left out. */
  currency: string;
  stores: StoreRef[];
  /** Bottles sold in the period. Sales by parties not in `stores` are ignored. */
  sales: Sale[];
  /** Bottles sold per party in the previous period of equal length. */
  previousSold: ReadonlyMap<string, number>;
  /** Guide prices (with their history) per GTIN. */
  guides: ReadonlyMap<string, readonly GuidePrice[]>;
}

const round = (value: number, decimals: number): number => {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
};

/** The compensation rate for a store's compliance and volume change under `policy` (see the top of this file). */
export function compensationRate(policy: PricePolicy, compliance: number | null, volumeChange: number | null): number {
  // the epsilon keeps 19/20 ≥ 0.95 true whatever the floating point does
  if (compliance === null || compliance + 1e-12 < policy.minCompliance) return 0;
  if (volumeChange === null || volumeChange >= 0) return 0;
  const fall = -volumeChange;
  return round(policy.baseRate + (policy.maxRate - policy.baseRate) * Math.min(fall / policy.maxFall, 1), 6);
}

export function priceProtection(input: PriceProtectionInput): StoreLine[] {
  const byParty = new Map<string, Sale[]>();
  for (const sale of input.sales) {
    const list = byParty.get(sale.party);
    if (list) list.push(sale);
    else byParty.set(sale.party, [sale]);
  }
  return input.stores.map((store) => {
    const sales = byParty.get(store.id) ?? [];
    let judged = 0,
      within = 0,
      revenueCents = 0;
    for (const sale of sales) {
      const guide = guideInForce(input.guides.get(sale.gtin) ?? [], store.region, sale.at);
      if (guide === null || guide.currency !== input.currency) continue;
      revenueCents += toCents(guide.amount);
      if (sale.price === null || sale.price.currency !== input.currency) continue;
      judged += 1;
      if (priceVerdict(sale.price, guide).verdict === "within") within += 1;
    }
    const sold = sales.length;
    const previousSold = input.previousSold.get(store.id) ?? 0;
    const change = previousSold === 0 ? null : (sold - previousSold) / previousSold;
    const compliance = judged === 0 ? null : within / judged;
    const rate = compensationRate(input.policy, compliance, change);
    return {
      party: store.id,
      name: store.name,
      region: store.region,
      sold,
      previousSold,
      volumeChange: change === null ? null : round(change, 4),
      judged,
      within,
      excluded: sold - judged,
      compliance: compliance === null ? null : round(compliance, 4),
      guideRevenue: fromCents(revenueCents),
      rate,
      compensation: fromCents(Math.round(rate * revenueCents)),
    };
  });
}

/** The sum of decimal money strings, exactly (in cents). */
export function sumMoney(amounts: readonly string[]): string {
  return fromCents(amounts.reduce((sum, amount) => sum + toCents(amount), 0));
}
