/**
 * Guide prices: the price in force for a product, region and moment, its tolerance band, and how a
 * retail price compares. Money is handled in integer cents (amounts up to 12 digits and 2 decimals).
 */

export interface Money {
  amount: string;
  currency: string;
}

export interface GuidePrice extends Money {
  /** Allowed fraction under / over the guide price, e.g. 0.05 and 0.10. */
  below: number;
  above: number;
  /** Null for the national price; a region code for a regional one. */
  region: string | null;
  validFrom: Date;
}

export type PriceVerdict = "below" | "within" | "above" | "other_currency";

/**
 * A money amount as SealTrace takes it everywhere (event prices, guide prices, the store check, price
 * reports, the console's scan box): a decimal string of up to 12 digits, no leading zero, and up to 2
 * decimals, e.g. "1499.00" or "1499". The one pattern for JSON schemas, HTML `pattern` attributes
 * (anchors are harmless there) and the parsers below.
 */
export const AMOUNT_PATTERN = "^(0|[1-9][0-9]{0,11})([.][0-9]{1,2})?$";
const AMOUNT = new RegExp(AMOUNT_PATTERN);

/** Whether `text` is an amount (AMOUNT_PATTERN). */
export function isAmount(text: string): boolean {
  return AMOUNT.test(text);
}

export function toCents(amount: string): number {
  const match = AMOUNT.exec(amount);
  if (!match) throw new RangeError(`not a price: "${amount}"`);
  return Number(match[1]) * 100 + Number((match[2] ?? ".").slice(1).padEnd(2, "0"));
}

export function fromCents(cents: number): string {
  const whole = Math.floor(cents / 100);
  return `${whole}.${String(cents - whole * 100).padStart(2, "0")}`;
}

/** The band's bounds, rounded outwards to whole cents (exact: fractions are taken to basis points). */
export function band(guide: GuidePrice): { min: string; max: string } {
  const cents = BigInt(toCents(guide.amount));
  const below = BigInt(Math.round(guide.below * 10_000));
  const above = BigInt(Math.round(guide.above * 10_000));
  const min = (cents * (10_000n - below)) / 10_000n; // floor
  const max = (cents * (10_000n + above) + 9_999n) / 10_000n; // ceiling
  return { min: fromCents(Number(min)), max: fromCents(Number(max)) };
}

/** How `price` compares with the band, and its deviation from the guide price (a signed fraction). */
export function priceVerdict(price: Money, guide: GuidePrice): { verdict: PriceVerdict; deviation: number } {
  if (price.currency !== guide.currency) return { verdict: "other_currency", deviation: 0 };
  const paid = toCents(price.amount);
  const guideCents = toCents(guide.amount);
  const { min, max } = band(guide);
  const deviation = Math.round(((paid - guideCents) / guideCents) * 10_000) / 10_000;
  const verdict: PriceVerdict = paid < toCents(min) ? "below" : paid > toCents(max) ? "above" : "within";
  return { verdict, deviation };
}

/**
 * The guide price in force at `at` for a region: the latest regional price valid by then, else the
 * latest national one. Null if none was in force yet.
 */
export function guideInForce(prices: readonly GuidePrice[], region: string | null, at: Date): GuidePrice | null {
  const latest = (candidates: GuidePrice[]) =>
    candidates.filter((p) => p.validFrom.getTime() <= at.getTime()).sort((a, b) => b.validFrom.getTime() - a.validFrom.getTime())[0] ?? null;
  return (region !== null ? latest(prices.filter((p) => p.region === region)) : null) ?? latest(prices.filter((p) => p.region === null));
}
