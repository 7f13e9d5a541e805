/**
 * Runs core/checks.ts on the bottles an ingest touched, inside the ingest's own transaction: the
 * alerts it raises and the sales regions it assigns commit (or roll back) with the events.
 */
import { checkBottle, type HistoryEvent, type PartyFact } from "../core/checks.ts";
import type { GuidePrice } from "../core/price.ts";
import type { EventType } from "../core/vocabulary.ts";
import type { Tx } from "../db/pool.ts";
import { historySql } from "../ledger/read-model.ts";
import { loadGuidePrices } from "../pricing/guide-prices.ts";
import { insertAlerts } from "./alerts.ts";

/**
 * What the caller already knows about the bottles, so that no statement reads it again: each bottle's
 * code facts as locked, and, for bottles whose chain had no link before this transaction, their whole
 * history (the events just appended, in chain order). Bottles with older links are read from the ledger.
 */
export interface KnownBottles {
  codes: Map<string, { gtin: string; region: string | null }>;
  newChains: Map<string, HistoryEvent[]>;
}

/**
 * Checks the bottles `serials` (their rows locked by the caller) for the events `freshEventIds`.
 * With `known`, only what the caller does not know is read: nothing at all for a delivery of new chains
 * whose events name no price.
 */
export async function runChecks(tx: Tx, brandId: number, serials: string[], freshEventIds: number[], known?: KnownBottles): Promise<number> {
  if (serials.length === 0 || freshEventIds.length === 0) return 0;
  const codes = known
    ? serials.flatMap((serial) => {
        const code = known.codes.get(serial);
        return code ? [{ serial, ...code }] : [];
      })
    : (
        await tx.query<{ serial: string; gtin: string; region: string | null }>(
          "SELECT serial, gtin, region FROM codes WHERE brand_id = $2 AND serial = ANY($1::text[])",
          [serials, brandId],
        )
      ).rows;
  // Bottles with links from before this transaction: their history, and the stores already named in their diversions.
  const older = known ? serials.filter((serial) => !known.newChains.has(serial)) : serials;
  const historyBySerial = new Map<string, HistoryEvent[]>(known?.newChains);
  const divertedBySerial = new Map<string, string[]>();
  if (older.length > 0) {
    const { rows: history } = await tx.query<{
      serial: string;
      id: number;
      type: EventType;
      party: string | null;
      to_party: string | null;
      occurred_at: Date;
      amount: string | null;
      currency: string | null;
    }>(
      `SELECT l.serial, e.id, e.type, e.party, e.to_party, e.occurred_at, e.price_amount::text AS amount, e.price_currency AS currency
         ${historySql("ANY($1::text[])")}
        ORDER BY l.serial, l.n`,
      [older],
    );
    for (const h of history) {
      const events = historyBySerial.get(h.serial) ?? [];
      if (events.length === 0) historyBySerial.set(h.serial, events);
      events.push({
        eventId: h.id,
        type: h.type,
        party: h.party,
        to: h.to_party,
        at: h.occurred_at,
        price: h.amount === null ? null : { amount: h.amount, currency: h.currency! },
      });
    }
    const { rows: diverted } = await tx.query<{ serial: string; party: string }>(
      "SELECT serial, party FROM alerts WHERE brand_id = $1 AND kind = 'diversion' AND serial = ANY($2::text[])",
      [brandId, older],
    );
    for (const d of diverted) divertedBySerial.set(d.serial, [...(divertedBySerial.get(d.serial) ?? []), d.party]);
  }
  const histories = [...historyBySerial.values()].flat();
  const partyIds = [...new Set(histories.flatMap((h) => [h.party, h.to]).filter((p): p is string => p !== null))];
  const { rows: partyRows } = await tx.query<PartyFact>("SELECT id, name, kind, region, authorised FROM parties WHERE brand_id = $1 AND id = ANY($2::text[])", [
    brandId,
    partyIds,
  ]);
  const parties = new Map(partyRows.map((p) => [p.id, p]));
  // Guide prices only judge priced sales.
  const prices = histories.some((h) => h.type === "retail_sale" && h.price !== null)
    ? await loadGuidePrices(
        tx,
        brandId,
        codes.map((c) => c.gtin),
      )
    : new Map<string, GuidePrice[]>();

  const fresh = new Set(freshEventIds);
  const alerts: ReturnType<typeof checkBottle>["alerts"] = [];
  const assigned: { serial: string; region: string }[] = [];
  for (const code of codes) {
    const result = checkBottle(
      {
        serial: code.serial,
        region: code.region,
        history: historyBySerial.get(code.serial) ?? [],
        fresh,
        divertedTo: new Set(divertedBySerial.get(code.serial)),
      },
      parties,
      prices.get(code.gtin) ?? [],
    );
    alerts.push(...result.alerts);
    if (code.region === null && result.assignedRegion !== null) assigned.push({ serial: code.serial, region: result.assignedRegion });
  }

  if (assigned.length > 0) {
    await tx.query(
      `UPDATE codes SET region = t.region, region_source = 'first_distributor'
         FROM unnest($1::text[], $2::text[]) AS t(serial, region) WHERE codes.brand_id = $3 AND codes.serial = t.serial AND codes.region IS NULL`,
      [assigned.map((a) => a.serial), assigned.map((a) => a.region), brandId],
    );
  }
  await insertAlerts(tx, brandId, alerts);
  return alerts.length;
}
