/**
 * Fan-out of the members' events (issue 20) into deliveries, inside the outbox's fan-out transaction
 * (repo.ts fanOut, under its lock): `member.joined` for each new member (source: members.id) and
 * `bottle.claimed` for each claim (source: the claimed event's events.id), to the enabled endpoints of
 * the member's brand that subscribe to them. Driven by the rows (members, member_claims and their
 * `claimed` events) and the endpoints' cursors (migration 0019): a rerun, a crash or a second worker
 * inserts nothing twice (the deliveries' unique key). Payloads carry no personal data: no phone
 * number, masked or not, and no birthday month; a member is named by its id only.
 */
import { BOTTLE_CLAIMED, MEMBER_JOINED } from "../core/vocabulary.ts";
import type { Tx } from "../db/pool.ts";

/**
 * Member and claim ids come from sequences, and a transaction can commit a lower id after a higher one
 * is visible: the cursors trail this far behind, and fan-out looks again inside the window (as for alerts).
 */
const LOOKBACK = "5 minutes";

/** A timestamptz as an ISO 8601 UTC string, like Date.toISOString(). */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** SQL for a new endpoint's cursors: it gets the members' events from its creation on. */
export const MEMBER_CURSORS_NOW = {
  lastMemberId: "(SELECT COALESCE(max(id), 0) FROM members)",
  lastClaimEventId: "(SELECT COALESCE(max(id), 0) FROM events WHERE type = 'claimed')",
};

/** Queues the members' events for the endpoints and moves their cursors on; returns how many deliveries it queued. */
export async function fanOutMembers(tx: Tx): Promise<number> {
  // Taken before the inserts, so nothing the cursors pass over can be missed by them.
  const {
    rows: [mark],
  } = await tx.query<{ member_id: number | null; claim_event_id: number | null }>(
    `SELECT (SELECT id FROM members WHERE joined_at < now() - interval '${LOOKBACK}' ORDER BY id DESC LIMIT 1) AS member_id,
            (SELECT id FROM events WHERE type = 'claimed' AND received_at < now() - interval '${LOOKBACK}' ORDER BY id DESC LIMIT 1) AS claim_event_id`,
  );
  const joined = await tx.query(
    `INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload)
     SELECT e.brand_id, e.id, $1::text, m.id, jsonb_build_object(
              'type', $1::text,
              'timestamp', ${iso("m.joined_at")},
              'data', jsonb_build_object('memberId', m.id::text, 'store', m.store_party, 'joinedAt', ${iso("m.joined_at")}))
       FROM endpoints e
       JOIN members m ON m.brand_id = e.brand_id AND m.id > e.last_member_id
      WHERE e.enabled AND $1::text = ANY (e.types)
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.brand_id = e.brand_id AND d.endpoint_id = e.id AND d.event_type = $1::text AND d.source_id = m.id)
      ORDER BY e.id, m.id
     ON CONFLICT (brand_id, endpoint_id, event_type, source_id) DO NOTHING`,
    [MEMBER_JOINED],
  );
  const claimed = await tx.query(
    `INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload)
     SELECT e.brand_id, e.id, $1::text, ev.id, jsonb_build_object(
              'type', $1::text,
              'timestamp', ${iso("c.claimed_at")},
              'data', jsonb_build_object(
                'memberId', c.member_id::text, 'serial', c.serial, 'gtin', k.gtin, 'store', c.store_party,
                'claimedAt', ${iso("c.claimed_at")}, 'points', c.points, 'eventId', ev.id::text))
       FROM endpoints e
       JOIN events ev ON ev.type = 'claimed' AND ev.id > e.last_claim_event_id AND ev.brand_id = e.brand_id
       JOIN member_claims c ON c.brand_id = ev.brand_id AND c.claim_event = ev.brand_event_id
       JOIN codes k ON k.brand_id = c.brand_id AND k.serial = c.serial
      WHERE e.enabled AND $1::text = ANY (e.types)
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.brand_id = e.brand_id AND d.endpoint_id = e.id AND d.event_type = $1::text AND d.source_id = ev.id)
      ORDER BY e.id, ev.id
     ON CONFLICT (brand_id, endpoint_id, event_type, source_id) DO NOTHING`,
    [BOTTLE_CLAIMED],
  );
  await tx.query(
    `UPDATE endpoints SET last_member_id = GREATEST(last_member_id, $1::bigint), last_claim_event_id = GREATEST(last_claim_event_id, $2::bigint)
      WHERE enabled AND (last_member_id < $1::bigint OR last_claim_event_id < $2::bigint)`,
    [mark!.member_id ?? 0, mark!.claim_event_id ?? 0],
  );
  return (joined.rowCount ?? 0) + (claimed.rowCount ?? 0);
}
