/**
 * Storing a webhook delivery: every event validated against the brand's parties and codes, then
 * events, per-bottle links and chain heads written in one transaction, or nothing at all.
 */
import { fromHex, toHex, type Hash, type Json } from "../core/hash.ts";
import { eventHash, leafOf, linkHash, nextLink, randomSalt, type CanonicalEvent } from "../core/links.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { invalidEvents, type Problem } from "../http/errors.ts";
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

interface Head {
  serial: string;
  n: number;
  linkHash: Hash | null;
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
        const fresh = valid.map((event, index) => ({ event, index })).filter(({ event }) => !existing.has(event.id));
        const heads = await this.checkAndLock(tx, brand.id, fresh, problems);
        if (problems.length > 0) throw invalidEvents(problems);

        const receivedAt = new Date().toISOString();
        const prepared = fresh.map(({ event }) => {
          const canonical = canonicalEvent(brand.slug, event, receivedAt, randomSalt());
          return { event, canonical, hash: eventHash(canonical) };
        });
        const ids = await this.insertEvents(tx, brand.id, webhookId, receivedAt, prepared);
        const linksAdded = await this.insertLinks(tx, heads, prepared.map((p, i) => ({ codes: p.event.codes, type: p.event.type, hash: p.hash, eventId: ids[i]! })));

        const byId = new Map(prepared.map((p, i) => [p.event.id, { eventId: String(ids[i]), eventHash: p.hash }]));
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
      const serials = [...new Set(fresh.flatMap(({ event }) => event.codes))].sort();
      const { rows: parties } = await tx.query<{ id: string }>("SELECT id FROM parties WHERE brand_id = $1 AND id = ANY($2::text[])", [brandId, partyIds]);
      const knownParties = new Set(parties.map((p) => p.id));
      // Locked in serial order, so concurrent deliveries touching the same bottles never deadlock.
      const { rows: codes } = await tx.query<{ serial: string; brand_id: number; last_n: number; last_link_hash: Buffer | null }>(
        "SELECT serial, brand_id, last_n, last_link_hash FROM codes WHERE serial = ANY($1::text[]) ORDER BY serial FOR UPDATE",
        [serials],
      );
      const heads = new Map<string, Head>();
      for (const c of codes) {
        if (c.brand_id === brandId) heads.set(c.serial, { serial: c.serial, n: c.last_n, linkHash: c.last_link_hash ? toHex(c.last_link_hash) : null });
      }
      const produced = new Set(codes.filter((c) => c.brand_id === brandId && c.last_n > 0).map((c) => c.serial));
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

    async insertEvents(
      tx: Tx, brandId: number, webhookId: string | null, receivedAt: string,
      prepared: { event: WebhookEvent; canonical: CanonicalEvent; hash: Hash }[],
    ): Promise<number[]> {
      if (prepared.length === 0) return [];
      const { rows } = await tx.query<{ id: number; brand_event_id: string }>(
        `INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, to_party,
                             price_amount, price_currency, data, salt, canonical, event_hash, webhook_id)
         SELECT $1, t.id, t.type, ARRAY(SELECT jsonb_array_elements_text(t.codes)), t.occurred_at, $2, t.party, t.to_party,
                t.amount, t.currency, t.data, t.salt, t.canonical, t.hash, $3
           FROM unnest($4::text[], $5::text[], $6::jsonb[], $7::timestamptz[], $8::text[], $9::text[],
                       $10::numeric[], $11::text[], $12::jsonb[], $13::text[], $14::jsonb[], $15::bytea[])
             AS t(id, type, codes, occurred_at, party, to_party, amount, currency, data, salt, canonical, hash)
         RETURNING id, brand_event_id`,
        [
          brandId, receivedAt, webhookId,
          prepared.map((p) => p.event.id),
          prepared.map((p) => p.event.type),
          prepared.map((p) => JSON.stringify(p.event.codes)),
          prepared.map((p) => p.event.occurredAt),
          prepared.map((p) => p.event.party),
          prepared.map((p) => p.event.to ?? null),
          prepared.map((p) => p.event.price?.amount ?? null),
          prepared.map((p) => p.event.price?.currency ?? null),
          prepared.map((p) => (p.event.data === undefined ? null : JSON.stringify(p.event.data))),
          prepared.map((p) => p.canonical.salt),
          prepared.map((p) => JSON.stringify(p.canonical)),
          prepared.map((p) => Buffer.from(fromHex(p.hash))),
        ],
      );
      const idOf = new Map(rows.map((r) => [r.brand_event_id, r.id]));
      return prepared.map((p) => idOf.get(p.event.id)!);
    },

    /** Appends one link per (event, bottle) to each bottle's chain, and moves the chain heads. */
    async insertLinks(tx: Tx, heads: Map<string, Head>, events: { codes: string[]; type: string; hash: Hash; eventId: number }[]): Promise<number> {
      const serials: string[] = [], ns: number[] = [], eventIds: number[] = [];
      const prevs: Buffer[] = [], linkHashes: Buffer[] = [], leaves: Buffer[] = [];
      const states = new Map<string, string>();
      for (const event of events) {
        for (const serial of event.codes) {
          const head = heads.get(serial)!;
          const link = nextLink(serial, event.hash, head.linkHash === null ? null : { n: head.n, linkHash: head.linkHash });
          const hash = linkHash(link);
          serials.push(serial); ns.push(link.n); eventIds.push(event.eventId);
          prevs.push(Buffer.from(fromHex(link.prev))); linkHashes.push(Buffer.from(fromHex(hash))); leaves.push(Buffer.from(fromHex(leafOf(hash))));
          heads.set(serial, { serial, n: link.n, linkHash: hash });
          states.set(serial, event.type);
        }
      }
      if (serials.length === 0) return 0;
      await tx.query(
        `INSERT INTO links (serial, n, event_id, prev, link_hash, leaf)
         SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[])`,
        [serials, ns, eventIds, prevs, linkHashes, leaves],
      );
      const touched = [...states.keys()];
      await tx.query(
        `UPDATE codes SET last_n = t.n, last_link_hash = t.h, state = t.state
           FROM unnest($1::text[], $2::int[], $3::bytea[], $4::text[]) AS t(serial, n, h, state)
          WHERE codes.serial = t.serial`,
        [touched, touched.map((s) => heads.get(s)!.n), touched.map((s) => Buffer.from(fromHex(heads.get(s)!.linkHash!))), touched.map((s) => states.get(s)!)],
      );
      return serials.length;
    },
  };
}

export type IngestStore = ReturnType<typeof createIngestStore>;
