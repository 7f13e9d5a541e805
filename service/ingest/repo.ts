/**
 * Storing a webhook delivery: every event validated against the brand's parties and codes, then
 * events, per-bottle links and chain heads written in one transaction, or nothing at all.
 */
import { randomBytes } from "node:crypto";
import type { HistoryEvent } from "../core/checks.ts";
import { custodyRefusal, futureRefusal, storeTimeRefusal, type CustodyStep, type StoreActor } from "../core/custody.ts";
import { canonicalJson, toHex, type Hash, type Json } from "../core/hash.ts";
import type { CanonicalEvent } from "../core/links.ts";
import { productionFirst } from "../core/production.ts";
import type { EventType, StoreEventType } from "../core/vocabulary.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { conflict, conflictingEvents, invalidEvents, isUniqueViolation, type Problem } from "../http/errors.ts";
import { runChecks } from "../checks/run.ts";
import { appendEvents, lockHeads, STATELESS_TYPES, type Head, type NewEvent } from "../ledger/append.ts";
import { brandSettings } from "../setup/repo.ts";
import { eventProblems, STORE_ID_NAMESPACE, type WebhookEvent } from "./schema.ts";

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

/** An event already stored under one of the brand's ids: its server id, hash and what it says. */
interface Existing {
  eventId: string;
  eventHash: Hash;
  codes: string[];
  /** The attested fields the sender chose (canonical without brand, id, receivedAt, salt and codes). */
  content: Record<string, Json>;
}

async function existingEvents(tx: Tx, brandId: number, ids: string[]): Promise<Map<string, Existing>> {
  const { rows } = await tx.query<{ brand_event_id: string; id: number; event_hash: Buffer; codes: string[]; content: Record<string, Json> }>(
    // found through event_keys, the brand's ids (events itself is partitioned by id: migration 0016)
    `SELECT k.brand_event_id, e.id, e.event_hash, e.codes, e.canonical - ARRAY['brand', 'id', 'receivedAt', 'salt', 'codes'] AS content
       FROM event_keys k JOIN events e ON e.brand_id = k.brand_id AND e.id = k.event_id WHERE k.brand_id = $1 AND k.brand_event_id = ANY($2::text[])`,
    [brandId, ids],
  );
  return new Map(rows.map((r) => [r.brand_event_id, { eventId: String(r.id), eventHash: toHex(r.event_hash), codes: r.codes, content: r.content }]));
}

/**
 * Whether a stored event says what `event` says: the same type, time (as written), parties, price and
 * data, and the same codes in any order. Only then is a repeated id a duplicate; otherwise it is a conflict.
 */
function sameEvent(stored: Existing, event: WebhookEvent): boolean {
  const content: Record<string, Json> = { type: event.type, occurredAt: event.occurredAt, party: event.party };
  if (event.to !== undefined) content.to = event.to;
  if (event.price !== undefined) content.price = event.price;
  if (event.data !== undefined) content.data = event.data as Json;
  const codes = (list: string[]) => [...list].sort().join("\n");
  try {
    return codes(stored.codes) === codes(event.codes) && canonicalJson(stored.content) === canonicalJson(content);
  } catch {
    return false; // a value the ledger could never have stored (e.g. a non-finite number) is not what it stored
  }
}

/** A store key's delivery: the store it speaks for (its ids come namespaced by the store route). */
export interface IngestOptions {
  store?: StoreActor;
}

/** How often a delivery is tried again when another one stored one of its ids at the same moment. */
const UNIQUE_RACE_ATTEMPTS = 3;

export function createIngestRepo(db: Db) {
  /** Locks the heads of the bottles the events name; another brand's codes are left out, as if they did not exist. */
  async function lockBrandHeads(tx: Tx, brandId: number, events: WebhookEvent[]): Promise<Map<string, Head>> {
    return await lockHeads(
      tx,
      brandId,
      events.flatMap((event) => event.codes),
    );
  }

  /** Checks parties and codes of the new events against the locked heads, collecting problems. */
  async function checkFresh(
    tx: Tx,
    brandId: number,
    fresh: { event: WebhookEvent; index: number }[],
    heads: Map<string, Head>,
    problems: Problem[],
  ): Promise<void> {
    const partyIds = [...new Set(fresh.flatMap(({ event }) => (event.to ? [event.party, event.to] : [event.party])))];
    const { rows: parties } = await tx.query<{ id: string }>("SELECT id FROM parties WHERE brand_id = $1 AND id = ANY($2::text[])", [brandId, partyIds]);
    const knownParties = new Set(parties.map((p) => p.id));
    const production = productionFirst(heads.values());
    for (const { event, index } of fresh) {
      const problem = (field: string, message: string) => problems.push({ index, id: event.id, field, message });
      if (!knownParties.has(event.party)) problem("party", `unknown party "${event.party}"`);
      if (event.to !== undefined && !knownParties.has(event.to)) problem("to", `unknown party "${event.to}"`);
      const waiting = new Set(production.waiting(event.type, event.codes));
      event.codes.forEach((serial, i) => {
        // Another brand's code is reported exactly like a code that does not exist.
        if (!heads.has(serial)) problem(`codes[${i}]`, `unknown code "${serial}"`);
        else if (waiting.has(serial)) problem(`codes[${i}]`, `code "${serial}" has no production event yet`);
      });
      production.accept(event.type, event.codes);
    }
  }

  /**
   * A store's events against what it may write (core/custody.ts): per bottle, its latest custody step
   * (read under the head locks the caller holds, then advanced by the delivery's own earlier events)
   * and the time window of the brand's policy.
   */
  async function checkStoreEvents(
    tx: Tx,
    brandId: number,
    store: StoreActor,
    fresh: { event: WebhookEvent; index: number }[],
    receivedAt: Date,
    problems: Problem[],
  ): Promise<void> {
    if (fresh.length === 0) return;
    const policy = await brandSettings(tx, brandId);
    const serials = [...new Set(fresh.flatMap(({ event }) => event.codes))];
    const { rows } = await tx.query<{
      serial: string;
      type: EventType;
      party: string | null;
      to_party: string | null;
      to_kind: string | null;
      to_region: string | null;
      occurred_at: Date;
    }>(
      `SELECT s.serial, last.type, last.party, last.to_party, p.kind AS to_kind, p.region AS to_region, last.occurred_at
         FROM unnest($2::text[]) AS s(serial)
         CROSS JOIN LATERAL (
           SELECT e.type, e.party, e.to_party, e.occurred_at FROM links l JOIN events e ON e.id = l.event_id AND e.brand_id = l.brand_id
            WHERE l.serial = s.serial AND e.type <> ALL($3::text[]) ORDER BY l.n DESC LIMIT 1) AS last
         LEFT JOIN parties p ON p.brand_id = $1 AND p.id = last.to_party`,
      [brandId, serials, [...STATELESS_TYPES]],
    );
    const last = new Map<string, CustodyStep>(
      rows.map((r) => [
        r.serial,
        {
          type: r.type,
          party: r.party,
          to: r.to_party,
          toKind: r.to_kind,
          toRegion: r.to_region,
          at: r.occurred_at,
        },
      ]),
    );
    for (const { event, index } of fresh) {
      const type = event.type as StoreEventType; // the store route lets only these through
      const occurredAt = new Date(event.occurredAt);
      const problem = (field: string, message: string) => problems.push({ index, id: event.id, field, message });
      const refusals = event.codes.map((serial) => custodyRefusal(type, last.get(serial) ?? null, store, policy));
      refusals.forEach((refusal, i) => {
        if (refusal !== null) problem(`codes[${i}]`, `bottle ${event.codes[i]} ${refusal}`);
      });
      if (refusals.every((refusal) => refusal === null)) {
        // the window is the same for every bottle; the previous step is each bottle's own (the latest one is named)
        const previous = event.codes
          .map((serial) => last.get(serial) ?? null)
          .reduce<CustodyStep | null>((latest, step) => (step !== null && (latest === null || step.at > latest.at) ? step : latest), null);
        const time = storeTimeRefusal(occurredAt, receivedAt, policy, previous);
        if (time !== null) problem("occurredAt", time);
      }
      // later events of the delivery follow this one (refused or not: its own problems are the ones to name)
      for (const serial of event.codes) last.set(serial, { type, party: event.party, to: null, toKind: null, toRegion: null, at: occurredAt });
    }
  }

  async function ingestIn(
    tx: Tx,
    brand: { id: number; slug: string },
    webhookId: string | null,
    valid: WebhookEvent[],
    options: IngestOptions,
  ): Promise<IngestOutcome> {
    const problems: Problem[] = [];
    const conflicts = (existing: Map<string, Existing>): Problem[] =>
      valid.flatMap((event, index) => {
        const stored = existing.get(event.id);
        return stored === undefined || sameEvent(stored, event)
          ? []
          : [{ index, id: event.id, field: "id", message: `already names a different event (event ${stored.eventId}); send a new id for a new event` }];
      });

    if (webhookId !== null) {
      const claimed = await tx.query("INSERT INTO webhook_messages (brand_id, webhook_id, response) VALUES ($1, $2, '[]') ON CONFLICT DO NOTHING", [
        brand.id,
        webhookId,
      ]);
      if (claimed.rowCount === 0) {
        const { rows } = await tx.query<{ response: IngestResult[] }>("SELECT response FROM webhook_messages WHERE brand_id = $1 AND webhook_id = $2", [
          brand.id,
          webhookId,
        ]);
        const response = rows[0]!.response;
        // A replay is the same delivery: the same events, saying the same. Another under its webhook-id is a conflict.
        if (response.map((r) => r.id).join("\n") !== valid.map((e) => e.id).join("\n")) {
          throw conflict(`webhook-id "${webhookId}" was already used for a delivery of other events; nothing was stored`, "webhook-id");
        }
        const different = conflicts(
          await existingEvents(
            tx,
            brand.id,
            valid.map((e) => e.id),
          ),
        );
        if (different.length > 0) throw conflictingEvents(different);
        return { events: response.map((r) => ({ ...r, status: "duplicate" as const })), linksAdded: 0 };
      }
    }

    // The bottles are locked first, so a delivery of the same events that was holding them has
    // committed by the time this one looks for its ids: it is then a duplicate, not a second writer.
    const locked = await lockBrandHeads(tx, brand.id, valid);
    const existing = await existingEvents(
      tx,
      brand.id,
      valid.map((e) => e.id),
    );
    const different = conflicts(existing);
    if (different.length > 0) throw conflictingEvents(different);
    const indexed = valid.map((event, index) => ({ event, index })).filter(({ event }) => !existing.has(event.id));
    const freshCodes = new Set(indexed.flatMap(({ event }) => event.codes));
    const heads = new Map([...locked].filter(([serial]) => freshCodes.has(serial)));
    await checkFresh(tx, brand.id, indexed, heads, problems);
    const received = new Date();
    if (options.store !== undefined && problems.length === 0) await checkStoreEvents(tx, brand.id, options.store, indexed, received, problems);
    if (problems.length > 0) throw invalidEvents(problems);

    const receivedAt = received.toISOString();
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
      const entry: HistoryEvent = {
        eventId: id,
        type: event.type,
        party: event.party,
        to: event.to ?? null,
        at: occurredAt,
        price: amount === null ? null : { amount, currency: event.price!.currency },
      };
      for (const serial of event.codes) newChains.get(serial)?.push(entry);
    });
    await runChecks(
      tx,
      brand.id,
      [...new Set(fresh.flatMap((e) => e.codes))],
      appended.events.map((e) => e.id),
      { codes, newChains },
    );
    const linksAdded = appended.links;

    const byId = new Map(fresh.map((event, i) => [event.id, { eventId: String(appended.events[i]!.id), eventHash: appended.events[i]!.hash }]));
    const results: IngestResult[] = valid.map((event) => {
      const stored = byId.get(event.id);
      if (stored) return { id: event.id, ...stored, status: "accepted" };
      const { eventId, eventHash } = existing.get(event.id)!;
      return { id: event.id, eventId, eventHash, status: "duplicate" };
    });
    if (webhookId !== null) {
      await tx.query("UPDATE webhook_messages SET response = $3 WHERE brand_id = $1 AND webhook_id = $2", [brand.id, webhookId, JSON.stringify(results)]);
    }
    return { events: results, linksAdded };
  }

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
     * duplicate; an event id the brand already sent is a duplicate and is not stored again when the
     * event says the same, and a conflict (409, nothing stored) when it says something else. Events
     * dated in the future are refused for everyone; a store's (options.store) must also respect what
     * the store holds and the brand's time window (core/custody.ts).
     */
    async ingest(brand: { id: number; slug: string }, webhookId: string | null, events: unknown[], options: IngestOptions = {}): Promise<IngestOutcome> {
      const problems = events.flatMap((event, index) => eventProblems(event, index));
      if (problems.length > 0) throw invalidEvents(problems);
      const valid = events as WebhookEvent[];
      const seenIds = new Map<string, number>();
      const now = new Date();
      valid.forEach((event, index) => {
        const first = seenIds.get(event.id);
        if (first !== undefined) problems.push({ index, id: event.id, field: "id", message: `the same id as event ${first} of this request` });
        else seenIds.set(event.id, index);
        if (options.store === undefined && event.id.startsWith(STORE_ID_NAMESPACE)) {
          problems.push({
            index,
            id: event.id,
            field: "id",
            message: `ids starting with "${STORE_ID_NAMESPACE}" are reserved for the events stores post with their keys`,
          });
        }
        const future = futureRefusal(new Date(event.occurredAt), now);
        if (future !== null) problems.push({ index, id: event.id, field: "occurredAt", message: future });
      });
      if (problems.length > 0) throw invalidEvents(problems);

      // Two deliveries storing one id at the same moment: the later one's insert waits for the first
      // to commit, then violates the unique index; tried again, it sees the stored event (a
      // duplicate, or a conflict if it says something else).
      for (let attempt = 1; ; attempt++) {
        try {
          return await withTransaction(db, (tx) => ingestIn(tx, brand, webhookId, valid, options));
        } catch (error) {
          if (!isUniqueViolation(error) || attempt >= UNIQUE_RACE_ATTEMPTS) throw error;
        }
      }
    },
  };
}

export type IngestRepo = ReturnType<typeof createIngestRepo>;
