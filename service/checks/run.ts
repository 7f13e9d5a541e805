/**
 * Runs core/checks.ts on the bottles an ingest touched, inside the ingest's own transaction: the
 * alerts it raises and the sales regions it assigns commit (or roll back) with the events.
 */
import { checkBottle, type HistoryEvent, type PartyFact } from "../core/checks.ts";
import type { Tx } from "../db/pool.ts";
import { loadGuidePrices } from "./guide-prices.ts";

/** Checks the bottles `serials` (their rows locked by the caller) for the events `freshEventIds`. */
export async function runChecks(tx: Tx, brandId: number, serials: string[], freshEventIds: number[]): Promise<number> {
  if (serials.length === 0 || freshEventIds.length === 0) return 0;
  const { rows: codes } = await tx.query<{ serial: string; gtin: string; region: string | null }>(
    "SELECT serial, gtin, region FROM codes WHERE serial = ANY($1::text[])",
    [serials],
  );
  const { rows: history } = await tx.query<{ serial: string; id: number; type: string; party: string | null; to_party: string | null; occurred_at: Date; amount: string | null; currency: string | null }>(
    `SELECT l.serial, e.id, e.type, e.party, e.to_party, e.occurred_at, e.price_amount::text AS amount, e.price_currency AS currency
       FROM links l JOIN events e ON e.id = l.event_id
      WHERE l.serial = ANY($1::text[]) AND e.type <> 'consumer_scan'
      ORDER BY l.serial, l.n`,
    [serials],
  );
  const partyIds = [...new Set(history.flatMap((h) => [h.party, h.to_party]).filter((p): p is string => p !== null))];
  const { rows: partyRows } = await tx.query<PartyFact>(
    "SELECT id, name, kind, region, authorised FROM parties WHERE brand_id = $1 AND id = ANY($2::text[])",
    [brandId, partyIds],
  );
  const parties = new Map(partyRows.map((p) => [p.id, p]));
  const prices = await loadGuidePrices(tx, brandId, codes.map((c) => c.gtin));
  const { rows: diverted } = await tx.query<{ serial: string; party: string }>(
    "SELECT serial, party FROM alerts WHERE brand_id = $1 AND kind = 'diversion' AND serial = ANY($2::text[])",
    [brandId, serials],
  );

  const fresh = new Set(freshEventIds);
  // Grouped once: a delivery of 1,000 events may touch 1,000 bottles.
  const historyBySerial = Map.groupBy(history, (h) => h.serial);
  const divertedBySerial = Map.groupBy(diverted, (d) => d.serial);
  const alerts: ReturnType<typeof checkBottle>["alerts"] = [];
  const assigned: { serial: string; region: string }[] = [];
  for (const code of codes) {
    const events: HistoryEvent[] = (historyBySerial.get(code.serial) ?? []).map((h) => ({
      eventId: h.id, type: h.type, party: h.party, to: h.to_party, at: h.occurred_at,
      price: h.amount === null ? null : { amount: h.amount, currency: h.currency! },
    }));
    const result = checkBottle({
      serial: code.serial, region: code.region, history: events, fresh,
      divertedTo: new Set((divertedBySerial.get(code.serial) ?? []).map((d) => d.party)),
    }, parties, prices.get(code.gtin) ?? []);
    alerts.push(...result.alerts);
    if (code.region === null && result.assignedRegion !== null) assigned.push({ serial: code.serial, region: result.assignedRegion });
  }

  if (assigned.length > 0) {
    await tx.query(
      `UPDATE codes SET region = t.region, region_source = 'first_distributor'
         FROM unnest($1::text[], $2::text[]) AS t(serial, region) WHERE codes.serial = t.serial AND codes.region IS NULL`,
      [assigned.map((a) => a.serial), assigned.map((a) => a.region)],
    );
  }
  if (alerts.length > 0) {
    await tx.query(
      `INSERT INTO alerts (brand_id, kind, serial, event_id, party, details)
       SELECT $1, t.kind, t.serial, t.event_id, t.party, t.details
         FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[]) AS t(kind, serial, event_id, party, details)`,
      [brandId, alerts.map((a) => a.kind), alerts.map((a) => a.serial), alerts.map((a) => a.eventId), alerts.map((a) => a.party), alerts.map((a) => JSON.stringify(a.details))],
    );
  }
  return alerts.length;
}
