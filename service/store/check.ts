/**
 * The store check: what a shop assistant must know about a bottle before taking it in or selling
 * it. It reads only; it is never a consumer scan. Another brand's bottle or an unknown serial is
 * `{authentic: false}` and nothing else.
 */
import { band, guideInForce, priceVerdict, type GuidePrice, type Money, type PriceVerdict } from "../core/price.ts";
import { warningsFor, type StepFact } from "../core/warnings.ts";
import { loadGuidePrices } from "../pricing/guide-prices.ts";
import type { Db } from "../db/pool.ts";
import { historyOf, recentScans } from "../ledger/read-model.ts";
import type { StoreRef } from "./keys.ts";
import { storeWarning, type Lang, type LifecycleFact, type StoreWarning } from "./messages.ts";

export type Intent = "receiving" | "sale";

export type CheckResult =
  | { authentic: false }
  | {
      authentic: true;
      serial: string;
      product: { gtin: string; name: string | null };
      state: string;
      region: { ok: boolean; assigned: string | null; store: string };
      price: {
        guide: Money | null;
        band: { min: string; max: string } | null;
        verdict: PriceVerdict | null;
        deviation: number | null;
      };
      warnings: StoreWarning[];
    };

/** Guide prices of one product, with their history. */
export async function guidePrices(db: Db, brandId: number, gtin: string): Promise<GuidePrice[]> {
  return (await loadGuidePrices(db, brandId, [gtin])).get(gtin) ?? [];
}

/** The lifecycle facts the store check adds to the consumer warnings. */
export function lifecycleFacts(input: { steps: StepFact[]; store: string; intent: Intent; soldBeforeWarned: boolean }): LifecycleFact[] {
  const { steps, store, intent } = input;
  const facts: LifecycleFact[] = [];
  const sales = steps.filter((s) => s.type === "retail_sale");
  if (sales.length > 0 && !input.soldBeforeWarned) facts.push({ kind: "already_sold", at: sales.at(-1)!.at, times: sales.length });
  const lastReceiving = steps.filter((s) => s.type === "store_receiving").at(-1);
  const receivedHere = lastReceiving !== undefined && lastReceiving.party?.id === store;
  if (intent === "sale") {
    if (!steps.some((s) => s.type === "store_receiving" && s.party?.id === store)) facts.push({ kind: "not_received_here" });
    else if (!receivedHere) facts.push({ kind: "received_elsewhere", at: lastReceiving!.at });
  } else {
    if (receivedHere) facts.push({ kind: "already_received_here", at: lastReceiving.at });
    else if (lastReceiving !== undefined && sales.length === 0) facts.push({ kind: "received_elsewhere", at: lastReceiving.at });
    if (!steps.some((s) => s.type === "warehouse_out")) facts.push({ kind: "never_shipped" });
  }
  return facts;
}

export function createStoreCheck(db: Db) {
  return {
    async check(store: StoreRef, serial: string, options: { price: Money | null; intent: Intent; lang: Lang; now?: Date }): Promise<CheckResult> {
      const now = options.now ?? new Date();
      const {
        rows: [code],
      } = await db.query<{ gtin: string; region: string | null; state: string; opened_at: Date | null; product: string | null }>(
        `SELECT c.gtin, c.region, c.state, c.opened_at, p.name AS product
           FROM codes c LEFT JOIN products p ON p.brand_id = c.brand_id AND p.gtin = c.gtin
          WHERE c.serial = $1 AND c.brand_id = $2`,
        [serial, store.brandId],
      );
      if (code === undefined) return { authentic: false };

      const steps = await historyOf(db, serial);
      // The recent scans (the copy check), and the buyer's first scan after the last sale, however old: the
      // store's own check is never a consumer's scan, so only a buyer's verification that is over a day old
      // makes the bottle sold_before (otherwise it is already_sold, below).
      const lastSale = steps.filter((s) => s.type === "retail_sale").at(-1)?.at ?? null;
      const scans = await recentScans(db, serial, now, lastSale);

      const warnings = warningsFor({ steps, openedAt: code.opened_at, assignedRegion: code.region, scans, now });
      const facts = lifecycleFacts({ steps, store: store.party, intent: options.intent, soldBeforeWarned: warnings.some((w) => w.kind === "sold_before") });

      const region = { ok: code.region === null || code.region === store.region, assigned: code.region, store: store.region };
      if (!region.ok) facts.push({ kind: "wrong_region", assigned: code.region!, store: store.region });

      // The guide price in force now, for the store's own region (else the national one).
      const guide = guideInForce(await guidePrices(db, store.brandId, code.gtin), store.region, now);
      const judged = guide !== null && options.price !== null ? priceVerdict(options.price, guide) : null;
      const bounds = guide === null ? null : band(guide);
      if (judged !== null && bounds !== null && (judged.verdict === "below" || judged.verdict === "above")) {
        facts.push({
          kind: judged.verdict === "below" ? "price_below_band" : "price_above_band",
          price: options.price!.amount,
          ...bounds,
          deviation: judged.deviation,
        });
      }

      return {
        authentic: true,
        serial,
        product: { gtin: code.gtin, name: code.product },
        state: code.state,
        region,
        price: {
          guide: guide === null ? null : { amount: guide.amount, currency: guide.currency },
          band: bounds,
          verdict: judged?.verdict ?? null,
          deviation: judged === null || judged.verdict === "other_currency" ? null : judged.deviation,
        },
        warnings: [...warnings, ...facts].map((w) => storeWarning(w, options.lang)),
      };
    },
  };
}

export type StoreCheck = ReturnType<typeof createStoreCheck>;
