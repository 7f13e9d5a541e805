/**
 * The outbox's tables: endpoints, deliveries and their attempts. Fan-out turns rows other features
 * wrote (alerts, anchored batches) into deliveries; senders claim due deliveries and record what
 * each attempt got. Everything is driven by these rows, so a rerun, a crash or two workers at once
 * are harmless.
 */
import { BATCH_ANCHORED, BATCH_REANCHORED } from "../core/vocabulary.ts";
import type { DeliveryError } from "../core/destinations.ts";
import { newWebhookSecret } from "../core/secrets.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { ADVISORY_LOCKS } from "../db/locks.ts";
import { fanOutMembers, MEMBER_CURSORS_NOW } from "./members.ts";

/** One fan-out at a time across all workers (transaction-scoped advisory lock). */
const FANOUT_LOCK = ADVISORY_LOCKS.fanOut;

/**
 * Alert ids come from a sequence, and a transaction can commit a lower id after a higher one is
 * already visible. So an endpoint's alert cursor trails this far behind the newest alerts, and fan-out
 * looks again at the alerts inside the window (the unique key keeps each delivery single). An alert
 * is missed only if the transaction writing it runs for more than about half of this.
 */
const ALERT_LOOKBACK = "5 minutes";

/** The highest seq below which every batch is anchored (batches are anchored in seq order). */
const ANCHORED_PREFIX = `COALESCE((SELECT min(seq) - 1 FROM batches WHERE state <> 'anchored'), (SELECT max(seq) FROM batches), 0)`;

/** A timestamptz as an ISO 8601 UTC string, like Date.toISOString(). */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export interface EndpointView {
  id: string;
  url: string;
  types: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
}

export interface CreatedEndpoint {
  id: string;
  url: string;
  types: string[];
  /** The signing secret (`whsec_…`): returned at creation only. */
  secret: string;
}

export interface AttemptView {
  at: string;
  status: number | null;
  error: DeliveryError | null;
  /** Only for an HTTP answer. */
  durationMs: number | null;
}

export interface DeliveryView {
  id: string;
  webhookId: string;
  type: string;
  state: "pending" | "delivered" | "failed";
  payload: unknown;
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: DeliveryError | null;
  attempts: AttemptView[];
}

/** A delivery a sender holds (claimed) and must now attempt. */
export interface DueDelivery {
  id: number;
  brandId: number;
  endpointId: number;
  webhookId: string;
  type: string;
  payload: unknown;
  /** Attempts made before this one. */
  attempts: number;
  createdAt: Date;
  url: string;
  secret: string;
}

export interface Attempt {
  at: Date;
  status: number | null;
  error: DeliveryError | null;
  /** Only for an HTTP answer. */
  durationMs: number | null;
}

/** What becomes of a delivery after an attempt. */
export type Outcome =
  | { state: "delivered" }
  | { state: "retry"; delayMs: number }
  | { state: "failed" }
  /** 410 Gone: this delivery fails and the endpoint is disabled. */
  | { state: "gone" };

interface EndpointRow {
  id: number;
  url: string;
  types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
}

const view = (row: EndpointRow): EndpointView => ({
  id: String(row.id),
  url: row.url,
  types: row.types,
  enabled: row.enabled,
  disabledReason: row.disabled_reason,
  createdAt: row.created_at.toISOString(),
});

export function createOutboxRepo(db: Db) {
  /** Disables an endpoint; its pending deliveries fail with the same reason. */
  async function disable(conn: Db | Tx, brandId: number, endpointId: number, reason: string): Promise<void> {
    await conn.query("UPDATE endpoints SET enabled = false, disabled_reason = $3, disabled_at = now() WHERE brand_id = $1 AND id = $2 AND enabled", [
      brandId,
      endpointId,
      reason,
    ]);
    await conn.query("UPDATE deliveries SET state = 'failed', last_error = $3 WHERE brand_id = $1 AND endpoint_id = $2 AND state = 'pending'", [
      brandId,
      endpointId,
      "endpoint_disabled" satisfies DeliveryError,
    ]);
  }

  return {
    async createEndpoint(brandId: number, url: string, types: string[]): Promise<CreatedEndpoint> {
      const secret = newWebhookSecret();
      const {
        rows: [row],
      } = await db.query<{ id: number }>(
        `INSERT INTO endpoints (brand_id, url, types, secret, last_alert_id, last_batch_seq, last_member_id, last_claim_event_id)
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(max(id), 0) FROM alerts), ${ANCHORED_PREFIX}, ${MEMBER_CURSORS_NOW.lastMemberId},
                 ${MEMBER_CURSORS_NOW.lastClaimEventId})
         RETURNING id`,
        [brandId, url, types, secret],
      );
      return { id: String(row!.id), url, types, secret };
    },

    async listEndpoints(brandId: number): Promise<EndpointView[]> {
      const { rows } = await db.query<EndpointRow>(
        "SELECT id, url, types, enabled, disabled_reason, created_at FROM endpoints WHERE brand_id = $1 ORDER BY id",
        [brandId],
      );
      return rows.map(view);
    },

    /** The brand's endpoint, or null (unknown, or another brand's). */
    async endpoint(brandId: number, endpointId: number): Promise<EndpointView | null> {
      const {
        rows: [row],
      } = await db.query<EndpointRow>("SELECT id, url, types, enabled, disabled_reason, created_at FROM endpoints WHERE id = $1 AND brand_id = $2", [
        endpointId,
        brandId,
      ]);
      return row === undefined ? null : view(row);
    },

    /** Disables the brand's endpoint (again is fine); false when it has no such endpoint. */
    async disableEndpoint(brandId: number, endpointId: number): Promise<boolean> {
      return await withTransaction(db, async (tx) => {
        const { rowCount } = await tx.query("SELECT 1 FROM endpoints WHERE id = $1 AND brand_id = $2 FOR UPDATE", [endpointId, brandId]);
        if (!rowCount) return false;
        await disable(tx, brandId, endpointId, "disabled by the brand");
        return true;
      });
    },

    /** An endpoint's deliveries, newest first, each with its attempts (oldest first). */
    async listDeliveries(
      brandId: number,
      endpointId: number,
      beforeId: number | null,
      limit: number,
    ): Promise<{ deliveries: DeliveryView[]; more: boolean; lastId: number | null }> {
      const { rows } = await db.query<{
        id: number;
        webhook_id: string;
        event_type: string;
        state: DeliveryView["state"];
        payload: unknown;
        created_at: Date;
        delivered_at: Date | null;
        next_attempt_at: Date;
        last_status: number | null;
        last_error: DeliveryError | null;
      }>(
        `SELECT id, webhook_id, event_type, state, payload, created_at, delivered_at, next_attempt_at, last_status, last_error
           FROM deliveries WHERE brand_id = $4 AND endpoint_id = $1 AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3`,
        [endpointId, beforeId, limit + 1, brandId],
      );
      const page = rows.slice(0, limit);
      const { rows: attempts } = await db.query<{
        delivery_id: number;
        attempted_at: Date;
        status: number | null;
        error: DeliveryError | null;
        duration_ms: number | null;
      }>(
        `SELECT delivery_id, attempted_at, status, error, duration_ms FROM delivery_attempts
          WHERE brand_id = $2 AND delivery_id = ANY($1::bigint[]) ORDER BY id`,
        [page.map((d) => d.id), brandId],
      );
      const byDelivery = new Map<number, AttemptView[]>();
      for (const a of attempts) {
        const list = byDelivery.get(a.delivery_id) ?? [];
        list.push({ at: a.attempted_at.toISOString(), status: a.status, error: a.error, durationMs: a.duration_ms });
        byDelivery.set(a.delivery_id, list);
      }
      return {
        deliveries: page.map((d) => ({
          id: String(d.id),
          webhookId: d.webhook_id,
          type: d.event_type,
          state: d.state,
          payload: d.payload,
          createdAt: d.created_at.toISOString(),
          deliveredAt: d.delivered_at?.toISOString() ?? null,
          nextAttemptAt: d.state === "pending" ? d.next_attempt_at.toISOString() : null,
          lastStatus: d.last_status,
          lastError: d.last_error,
          attempts: byDelivery.get(d.id) ?? [],
        })),
        more: rows.length > limit,
        lastId: page.at(-1)?.id ?? null,
      };
    },

    /**
     * Turns new alerts, newly anchored batches and the members' events (members.ts) into deliveries for every enabled endpoint that
     * subscribes to them, and moves the endpoints' cursors on, in one transaction. Returns how many
     * deliveries it queued (0 when another worker is fanning out right now).
     */
    async fanOut(): Promise<number> {
      return await withTransaction(db, async (tx) => {
        const {
          rows: [lock],
        } = await tx.query<{ got: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS got", [FANOUT_LOCK]);
        if (!lock!.got) return 0;
        // Taken before the inserts, so nothing these cursors pass over can be missed by them.
        const {
          rows: [mark],
        } = await tx.query<{ alert_id: number | null; batch_seq: number }>(
          `SELECT (SELECT id FROM alerts WHERE created_at < now() - interval '${ALERT_LOOKBACK}' ORDER BY id DESC LIMIT 1) AS alert_id,
                  ${ANCHORED_PREFIX} AS batch_seq`,
        );
        const alerts = await tx.query(
          `INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload)
           SELECT e.brand_id, e.id, a.kind, a.id, jsonb_build_object(
                    'type', a.kind,
                    'timestamp', ${iso("a.created_at")},
                    'data', jsonb_build_object(
                      'id', a.id::text, 'kind', a.kind, 'serial', a.serial, 'party', a.party,
                      'eventId', a.event_id::text, 'details', a.details, 'createdAt', ${iso("a.created_at")}))
             FROM endpoints e
             JOIN alerts a ON a.brand_id = e.brand_id AND a.id > e.last_alert_id AND a.kind = ANY (e.types)
            WHERE e.enabled
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.brand_id = e.brand_id AND d.endpoint_id = e.id AND d.event_type = a.kind AND d.source_id = a.id)
            ORDER BY e.id, a.id
           ON CONFLICT (brand_id, endpoint_id, event_type, source_id) DO NOTHING`,
        );
        // Corrections first: a batch made final again (anchoring/anchorer.ts, batch_anchors) is
        // corrected for every endpoint that was sent its batch.anchored, pending or not. Claimed here
        // (fanned_out_at) in the same transaction, so each goes out once.
        const corrections = await tx.query(
          `WITH claimed AS (
             UPDATE batch_anchors SET fanned_out_at = now() WHERE supersedes IS NOT NULL AND fanned_out_at IS NULL RETURNING *)
           INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload)
           SELECT d.brand_id, d.endpoint_id, $1::text, c.id, jsonb_build_object(
                    'type', $1::text,
                    'timestamp', ${iso("c.final_at")},
                    'data', jsonb_build_object(
                      'seq', c.seq, 'root', '0x' || encode(b.root, 'hex'), 'leafCount', b.leaf_count,
                      'txHash', c.tx_hash, 'blockNumber', c.block_number, 'blockTime', ${iso("c.block_time")},
                      'chainId', c.chain_id, 'registry', c.registry,
                      'supersedes', jsonb_build_object(
                        'txHash', p.tx_hash, 'blockNumber', p.block_number, 'blockTime', ${iso("p.block_time")},
                        'chainId', p.chain_id, 'registry', p.registry)))
             FROM claimed c
             JOIN batch_anchors p ON p.id = c.supersedes
             JOIN batches b ON b.seq = c.seq
             JOIN endpoints e ON e.enabled AND $2::text = ANY (e.types)
             JOIN deliveries d ON d.brand_id = e.brand_id AND d.endpoint_id = e.id AND d.event_type = $2::text AND d.source_id = c.seq
            ORDER BY d.endpoint_id, c.id
           ON CONFLICT (brand_id, endpoint_id, event_type, source_id) DO NOTHING`,
          [BATCH_REANCHORED, BATCH_ANCHORED],
        );
        // A brand hears of the batches that hold links of its own bottles, once final.
        const batches = await tx.query(
          `INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload)
           SELECT e.brand_id, e.id, $1::text, b.seq, jsonb_build_object(
                    'type', $1::text,
                    'timestamp', ${iso("COALESCE(b.anchored_at, now())")},
                    'data', jsonb_build_object(
                      'seq', b.seq, 'root', '0x' || encode(b.root, 'hex'), 'leafCount', b.leaf_count,
                      'txHash', b.tx_hash, 'blockNumber', b.block_number, 'blockTime', ${iso("b.block_time")},
                      'chainId', b.chain_id, 'registry', b.registry))
             FROM endpoints e
             JOIN batches b ON b.seq > e.last_batch_seq AND b.seq <= $2::bigint AND b.state = 'anchored'
            WHERE e.enabled AND $1::text = ANY (e.types)
              AND (EXISTS (SELECT 1 FROM links l WHERE l.id > b.first_link AND l.id <= b.last_link AND l.batch_seq IS NULL AND l.brand_id = e.brand_id)
                   OR EXISTS (SELECT 1 FROM links l WHERE l.batch_seq = b.seq AND l.brand_id = e.brand_id))
            ORDER BY e.id, b.seq
           ON CONFLICT (brand_id, endpoint_id, event_type, source_id) DO NOTHING`,
          [BATCH_ANCHORED, mark!.batch_seq],
        );
        await tx.query(
          `UPDATE endpoints SET last_alert_id = GREATEST(last_alert_id, $1::bigint), last_batch_seq = GREATEST(last_batch_seq, $2::bigint)
            WHERE enabled AND (last_alert_id < $1::bigint OR last_batch_seq < $2::bigint)`,
          [mark!.alert_id ?? 0, mark!.batch_seq],
        );
        const members = await fanOutMembers(tx);
        return (alerts.rowCount ?? 0) + (corrections.rowCount ?? 0) + (batches.rowCount ?? 0) + members;
      });
    },

    /**
     * Claims up to `limit` due deliveries of enabled endpoints, oldest due first: each one's next
     * attempt moves `leaseMs` ahead, so no other sender takes it meanwhile, and a sender that dies
     * holding it only delays it by the lease.
     */
    async claimDue(limit: number, leaseMs: number): Promise<DueDelivery[]> {
      const { rows } = await db.query<{
        id: number;
        brand_id: number;
        endpoint_id: number;
        webhook_id: string;
        event_type: string;
        payload: unknown;
        attempts: number;
        created_at: Date;
        url: string;
        secret: string;
      }>(
        `UPDATE deliveries d SET next_attempt_at = now() + $2::float8 * interval '1 millisecond'
           FROM endpoints e
          WHERE e.brand_id = d.brand_id AND e.id = d.endpoint_id
            AND (d.brand_id, d.id) IN (SELECT p.brand_id, p.id FROM deliveries p JOIN endpoints pe ON pe.brand_id = p.brand_id AND pe.id = p.endpoint_id
                          WHERE p.state = 'pending' AND p.next_attempt_at <= now() AND pe.enabled
                          ORDER BY p.next_attempt_at, p.id LIMIT $1
                          FOR UPDATE OF p SKIP LOCKED)
          RETURNING d.id, d.brand_id, d.endpoint_id, d.webhook_id, d.event_type, d.payload, d.attempts, d.created_at, e.url, e.secret`,
        [limit, leaseMs],
      );
      return rows.map((r) => ({
        id: r.id,
        brandId: r.brand_id,
        endpointId: r.endpoint_id,
        webhookId: r.webhook_id,
        type: r.event_type,
        payload: r.payload,
        attempts: r.attempts,
        createdAt: r.created_at,
        url: r.url,
        secret: r.secret,
      }));
    },

    /** Records an attempt and its outcome (a delivery no longer pending, e.g. disabled meanwhile, keeps its state). */
    async record(delivery: DueDelivery, attempt: Attempt, outcome: Outcome): Promise<void> {
      await withTransaction(db, async (tx) => {
        await tx.query("INSERT INTO delivery_attempts (brand_id, delivery_id, attempted_at, status, error, duration_ms) VALUES ($6, $1, $2, $3, $4, $5)", [
          delivery.id,
          attempt.at,
          attempt.status,
          attempt.error,
          attempt.durationMs,
          delivery.brandId,
        ]);
        const state = outcome.state === "gone" ? "failed" : outcome.state === "retry" ? "pending" : outcome.state;
        await tx.query(
          `UPDATE deliveries SET state = $2::text, attempts = attempts + 1, last_status = $3, last_error = $4,
                  next_attempt_at = CASE WHEN $2::text = 'pending' THEN now() + $5::float8 * interval '1 millisecond' ELSE next_attempt_at END,
                  delivered_at = CASE WHEN $2::text = 'delivered' THEN now() ELSE NULL END
            WHERE brand_id = $6 AND id = $1 AND state = 'pending'`,
          [delivery.id, state, attempt.status, attempt.error, outcome.state === "retry" ? outcome.delayMs : 0, delivery.brandId],
        );
        if (outcome.state === "gone") await disable(tx, delivery.brandId, delivery.endpointId, "the endpoint answered 410 Gone");
      });
    },

    /** Gives a claimed delivery back unattempted (a sender shutting down), due at once. */
    async release(delivery: { brandId: number; id: number }): Promise<void> {
      await db.query("UPDATE deliveries SET next_attempt_at = now() WHERE brand_id = $1 AND id = $2 AND state = 'pending'", [delivery.brandId, delivery.id]);
    },
  };
}

export type OutboxRepo = ReturnType<typeof createOutboxRepo>;
