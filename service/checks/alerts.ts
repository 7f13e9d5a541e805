/**
 * The `alerts` table's writer: every alert SealTrace raises (the ingest checks' and consumers' price
 * reports) is stored here, inside the caller's transaction, so it commits or rolls back with what
 * raised it. The brand reads them with GET /api/v1/alerts (./routes.ts) and the outbox sends them.
 */
import type pg from "pg";
import type { AlertDraft } from "../core/checks.ts";

/** An alert to store: a check's draft, or one raised outside the ingest checks (no event behind it). */
export interface NewAlert {
  kind: AlertDraft["kind"];
  serial: string | null;
  eventId: number | null;
  party: string | null;
  details: Record<string, unknown>;
}

/** Stores the brand's `alerts` in one statement; nothing when there are none. */
export async function insertAlerts(db: Pick<pg.ClientBase, "query">, brandId: number, alerts: readonly NewAlert[]): Promise<void> {
  if (alerts.length === 0) return;
  await db.query(
    `INSERT INTO alerts (brand_id, kind, serial, event_id, party, details)
     SELECT $1, t.kind, t.serial, t.event_id, t.party, t.details
       FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[]) AS t(kind, serial, event_id, party, details)`,
    [
      brandId,
      alerts.map((a) => a.kind),
      alerts.map((a) => a.serial),
      alerts.map((a) => a.eventId),
      alerts.map((a) => a.party),
      alerts.map((a) => JSON.stringify(a.details)),
    ],
  );
}
