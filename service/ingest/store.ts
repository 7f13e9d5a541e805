/**
 * Storing a webhook delivery: every event validated against the brand's parties and codes, then
 * events, per-bottle links and chain heads written in one transaction, or nothing at all.
 */
import { randomBytes } from "node:crypto";
import type { HistoryEvent } from "../core/checks.ts";
import { toHex, type Hash, type Json } from "../core/hash.ts";
import type { CanonicalEvent } from "../core/links.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { invalidEvents, type Problem } from "../http/errors.ts";
import { runChecks } from "../checks/run.ts";
import { appendEvents, lockHeads, type Head, type NewEvent } from "../ledger/append.ts";
import { eventProblems, type WebhookEvent } from "./schema.ts";

export interface IngestResult {
  id: string;
  eventId: string;
  status: "accepted" | "duplicate";
  eventHash: Hash;
}

export interface IngestOutcome {
  events: IngestResult[];
  /** Links written by this delivery (0 for a replay). */
  linksAdded: number;
}

/** The object whose canonical JSON is hashed: what SealTrace attests the brand told it, and when. */
export function canonicalEvent(brand: string, event: WebhookEvent, receivedAt: string, salt: string): CanonicalEvent {
  const canonical: CanonicalEvent = {
    brand,
    id: event.id,
    type: event.type,
    codes: event.codes,
    occurredAt: event.occurredAt,
    receivedAt,
    party: event.party,
    salt,
  };
  if (event.to !== undefined) canonical.to = event.to;
  if (event.price !== undefined) canonical.price = event.price;
  if (event.data !== undefined) canonical.data = event.data as Json;
  return canonical;
}

async function existingEvents(tx: Tx, brandId: number, ids: string[]): Promise<Map<string, { eventId: string; eventHash: Hash }>> {
  const { rows } = await tx.query<{ brand_event_id: string; id: number; event_hash: Buffer }>(
    "SELECT brand_event_id, id, event_hash FROM events WHERE brand_id = $1 AND brand_event_id = ANY($2::text[])",
    [brandId, ids],
  );
  return new Map(rows.map((r) => [r.brand_event_id, { eventId: String(r.id), eventHash: toHex(r.event_hash) }]));
}

export function createIngestStore(db: Db) {
  return {
    async activeSecrets(brandSlug: string): Promise<{ brandId: number; secrets: string[] } | null> {
      const { rows } = await db.query<{ id: number; secrets: string[] | null }>(
        `SELECT b.id, array_agg(s.secret ORDER BY s.expires_at NULLS FIRST) FILTER (WHERE s.id IS NOT NULL) AS secrets
           FROM brands b LEFT JOIN webhook_secrets s ON s.brand_id = b.id AND (s.expires_at IS NULL OR s.expires_at > now())
          WHERE b.slug = $1 GROUP BY b.id`,
        [brandSlug],
      );
      const row = rows[0];
      return row ? { brandId: row.id, secrets: row.secrets ?? [] } : null;
    },

    /**
     * Stores one delivery. A replayed webhook-id gets the first answer back, with every event marked
     * duplicate; an event id the brand already sent is a duplicate and is not stored again.
     */
    async ingest(brand: { id: number; slug: string }, webhookId: string | null, events: unknown[]): Promise<IngestOutcome> {
      const problems = events.flatMap((event, index) => eventProblems(event, index));
      if (problems.length > 0) throw invalidEvents(problems);
      const valid = events as WebhookEvent[];
      const seenIds = new Map<string, number>();
      valid.forEach((event, index) => {
        const first = seenIds.get(event.id);
        if (first !== undefined) problems.push({ index, id: event.id, field: "id", message: `the same id as event ${first} of this request` });
        else seenIds.set(event.id, index);
      });
      if (problems.length > 0) throw invalidEvents(problems);

      return await withTransaction(db, async (tx) => {
        if (webhookId !== null) {
          const claimed = await tx.query(
            "INSERT INTO webhook_messages (brand_id, webhook_id, response) VALUES ($1, $2, '[]') ON CONFLICT DO NOTHING",
            [brand.id, webhookId],
          );
          if (claimed.rowCount === 0) {
            const { rows } = await tx.query<{ response: IngestResult[] }>(
              "SELECT response FROM webhook_messages WHERE brand_id = $1 AND webhook_id = $2",
              [brand.id, webhookId],
            );
            return { events: rows[0]!.response.map((r) => ({ ...r, status: "duplicate" as const })), linksAdded: 0 };
          }
        }

        const existing = await existingEvents(tx, brand.id, valid.map((e) => e.id));
        const indexed = valid.map((event, index) => ({ event, index })).filter(({ event }) => !existing.has(event.id));
        const heads = await this.checkAndLock(tx, brand.id, indexed, problems);
        if (problems.length > 0) throw invalidEvents(problems);

        const receivedAt = new Date().toISOString();
        const fresh = indexed.map(({ event }) => event);
        // One draw for every event's salt (16 random bytes as 32 hex digits, as randomSalt gives them).
        const salts = randomBytes(16 * fresh.length).toString("hex");
        const newEvents: NewEvent[] = fresh.map((event, i) => ({
          canonical: canonicalEvent(brand.slug, event, receivedAt, salts.slice(32 * i, 32 * i + 32)),
          brandEventId: event.id,
          occurredAt: event.occurredAt,
          party: event.party,
          to: event.to ?? null,
          price: event.price ?? null,
          data: event.data ?? null,
        }));
        // Chains with no link before this delivery: their whole history is what it appends.
        const newChains = new Map([...heads.values()].filter((head) => head.n === 0).map((head) => [head.serial, [] as HistoryEvent[]]));
        const codes = new Map([...heads.values()].map((head) => [head.serial, { gtin: head.gtin, region: head.region }]));
        const appended = await appendEvents(tx, brand.id, webhookId, receivedAt, newEvents, heads);
        fresh.forEach((event, i) => {
          const { id, occurredAt, amount } = appended.events[i]!;
          const entry: HistoryEvent = { eventId: id, type: event.type, party: event.party, to: event.to ?? null, at: occurredAt, price: amount === null ? null : { amount, currency: event.price!.currency } };
          for (const serial of event.codes) newChains.get(serial)?.push(entry);
        });
        await runChecks(tx, brand.id, [...new Set(fresh.flatMap((e) => e.codes))], appended.events.map((e) => e.id), { codes, newChains });
        const linksAdded = appended.links;

        const byId = new Map(fresh.map((event, i) => [event.id, { eventId: String(appended.events[i]!.id), eventHash: appended.events[i]!.hash }]));
        const results: IngestResult[] = valid.map((event) => {
          const stored = byId.get(event.id);
          if (stored) return { id: event.id, ...stored, status: "accepted" };
          return { id: event.id, ...existing.get(event.id)!, status: "duplicate" };
        });
        if (webhookId !== null) {
          await tx.query("UPDATE webhook_messages SET response = $3 WHERE brand_id = $1 AND webhook_id = $2", [brand.id, webhookId, JSON.stringify(results)]);
        }
        return { events: results, linksAdded };
      });
    },

    /** Checks parties and codes of the new events, collecting problems; locks and returns bottle heads. */
    async checkAndLock(tx: Tx, brandId: number, fresh: { event: WebhookEvent; index: number }[], problems: Problem[]): Promise<Map<string, Head>> {
      const partyIds = [...new Set(fresh.flatMap(({ event }) => (event.to ? [event.party, event.to] : [event.party])))];
      const serials = fresh.flatMap(({ event }) => event.codes);
      const { rows: parties } = await tx.query<{ id: string }>("SELECT id FROM parties WHERE brand_id = $1 AND id = ANY($2::text[])", [brandId, partyIds]);
      const knownParties = new Set(parties.map((p) => p.id));
      // Another brand's codes are left out, as if they did not exist.
      const heads = new Map([...(await lockHeads(tx, serials))].filter(([, head]) => head.brandId === brandId));
      const produced = new Set([...heads.values()].filter((h) => h.state !== "minted").map((h) => h.serial));
      for (const { event, index } of fresh) {
        const problem = (field: string, message: string) => problems.push({ index, id: event.id, field, message });
        if (!knownParties.has(event.party)) problem("party", `unknown party "${event.party}"`);
        if (event.to !== undefined && !knownParties.has(event.to)) problem("to", `unknown party "${event.to}"`);
        event.codes.forEach((serial, i) => {
          // Another brand's code is reported exactly like a code that does not exist.
          if (!heads.has(serial)) problem(`codes[${i}]`, `unknown code "${serial}"`);
          else if (event.type !== "production" && !produced.has(serial)) problem(`codes[${i}]`, `code "${serial}" has no production event yet`);
        });
        if (event.type === "production") event.codes.forEach((serial) => produced.add(serial));
      }
      return heads;
    },
  };
}

export type IngestStore = ReturnType<typeof createIngestStore>;
