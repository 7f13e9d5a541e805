/**
 * Consumers' price reports from the verification page: the price a consumer saw or paid, judged
 * against the guide-price band in force now for the code's sales region (else the national one),
 * stored, and raised to the brand as a `consumer_price_report` alert when it is outside the band.
 * Only the holder of the bottle's QR secret can report; like scans, only a salted hash of the IP is kept.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { band, guideInForce, priceVerdict, type GuidePrice, type Money, type PriceVerdict } from "../core/price.ts";
import { tokenHash } from "../core/secrets.ts";
import { insertAlerts } from "../checks/alerts.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import { loadGuidePrices } from "../pricing/guide-prices.ts";

export interface PriceReportAnswer {
  verdict: PriceVerdict | null;
  guide: Money | null;
  band: { min: string; max: string } | null;
}

export interface PriceReportInput {
  serial: string;
  secret: string;
  price: Money;
  /** A party id of the brand, or a shop's name as the consumer wrote it. */
  store: string | null;
}

export function createPriceReports(db: Db) {
  async function guidePrices(brandId: number, gtin: string): Promise<GuidePrice[]> {
    return (await loadGuidePrices(db, brandId, [gtin])).get(gtin) ?? [];
  }

  return {
    /**
     * Judges and stores one report. Null when the serial is unknown or the secret does not match
     * (the caller answers both alike); otherwise the verdict, with the bottle's GTIN for a link back.
     */
    async report(input: PriceReportInput, ip: string, now = new Date()): Promise<(PriceReportAnswer & { gtin: string }) | null> {
      const {
        rows: [code],
      } = await db.query<{ brand_id: number; gtin: string; region: string | null; secret_hash: Buffer; scan_salt: Buffer }>(
        `SELECT c.brand_id, c.gtin, c.region, c.secret_hash, b.scan_salt
           FROM serials s JOIN codes c ON c.brand_id = s.brand_id AND c.serial = s.serial JOIN brands b ON b.id = c.brand_id WHERE s.serial = $1`,
        [input.serial],
      );
      if (code === undefined || !timingSafeEqual(tokenHash(input.secret), code.secret_hash)) return null;

      const guide = guideInForce(await guidePrices(code.brand_id, code.gtin), code.region, now);
      const judged = guide === null ? null : priceVerdict(input.price, guide);
      const answer: PriceReportAnswer = {
        verdict: judged?.verdict ?? null,
        guide: guide === null ? null : { amount: guide.amount, currency: guide.currency },
        band: guide === null ? null : band(guide),
      };
      const ipHash = createHash("sha256").update(code.scan_salt).update(ip).digest();

      await withTransaction(db, async (tx) => {
        const {
          rows: [party],
        } =
          input.store === null
            ? { rows: [] }
            : await tx.query<{ id: string }>("SELECT id FROM parties WHERE brand_id = $1 AND id = $2", [code.brand_id, input.store]);
        const {
          rows: [stored],
        } = await tx.query<{ id: number }>(
          `INSERT INTO price_reports (brand_id, serial, amount, currency, store, store_party, verdict, guide_amount, guide_currency, reported_at, ip_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
          [
            code.brand_id,
            input.serial,
            input.price.amount,
            input.price.currency,
            input.store,
            party?.id ?? null,
            answer.verdict,
            guide?.amount ?? null,
            guide?.currency ?? null,
            now,
            ipHash,
          ],
        );
        if (judged !== null && (judged.verdict === "below" || judged.verdict === "above")) {
          await insertAlerts(tx, code.brand_id, [
            {
              kind: "consumer_price_report",
              serial: input.serial,
              eventId: null,
              party: party?.id ?? null,
              details: {
                price: input.price,
                guide: answer.guide,
                band: answer.band,
                verdict: judged.verdict,
                deviation: judged.deviation,
                store: input.store,
                region: guide!.region,
                report: String(stored!.id),
              },
            },
          ]);
        }
      });
      return { ...answer, gtin: code.gtin };
    },
  };
}

export type PriceReports = ReturnType<typeof createPriceReports>;
