/**
 * The append-only ledger every writer shares (webhooks, store keys, EPCIS capture, consumer scans,
 * cap-code openings): events with their canonical hash, and one link per (event, bottle) at the head of that
 * bottle's hash chain. Callers hold a transaction and lock the heads first, so chains never fork: links
 * are unique by (serial, n) only within a month's partition (migration 0016), and it is this lock, each
 * link's n drawn from the locked head, that keeps two appends to one chain from both taking the same n.
 */
import { randomBytes } from "node:crypto";
import { codesRoot, committedEvent, genesis, type LogIdentity } from "../core/commitments.ts";
import { canonicalJson, fromHex, keccak256, toHex, type Hash } from "../core/hash.ts";
import { leafOf, linkHash, nextLink, type CanonicalEvent } from "../core/links.ts";
import { SEALTRACE_EVENT_TYPES } from "../core/vocabulary.ts";
import { ADVISORY_LOCKS } from "../db/locks.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";

const encoder = new TextEncoder();

/** Event types that are recorded in a bottle's chain without changing its state: SealTrace's own (consumer scans, bare EPCIS events). */
export const STATELESS_TYPES: ReadonlySet<string> = new Set(SEALTRACE_EVENT_TYPES);

/** A bottle code's chain head and what checks need to know about it. */
export interface Head {
  serial: string;
  brandId: number;
  brandSlug: string;
  gtin: string;
  lot: string | null;
  /** The chain's place in the heads map; null until its first link is written. */
  index: number | null;
  n: number;
  linkHash: Hash | null;
  state: string;
  region: string | null;
  openedAt: Date | null;
}

/** An event as appended: its server id and hash, and its time and price as the ledger stores them (for the checks). */
export interface AppendedEvent {
  id: number;
  hash: Hash;
  occurredAt: Date;
  amount: string | null;
}

export interface NewEvent {
  canonical: CanonicalEvent;
  /** The brand's own id (or one SealTrace gives its own events), unique per brand. */
  brandEventId: string;
  occurredAt: string;
  party: string | null;
  to: string | null;
  price: { amount: string; currency: string } | null;
  data: unknown;
}

/** A bottle by its key: codes are keyed (brand_id, serial), like every brand-owned table (migration 0016). */
export interface BottleKey {
  brandId: number;
  serial: string;
}

/**
 * Locks the brand's codes' rows (in serial order, so concurrent writers never deadlock) and returns
 * their heads. Another brand's serials are not found: they are left out, as if they did not exist.
 */
export async function lockHeads(tx: Tx, brandId: number, serials: string[]): Promise<Map<string, Head>> {
  return (await readHeads(tx, "c.brand_id = $2 AND c.serial = ANY($1::text[])", [[...new Set(serials)].sort(), brandId])).heads;
}

/** lockHeads for bottles of any brands, with the database's clock (the transaction's `now()`; the caller's when no head was found). */
export async function lockHeadsAt(tx: Tx, bottles: readonly BottleKey[]): Promise<{ heads: Map<string, Head>; now: Date }> {
  return await readHeads(tx, "(c.brand_id, c.serial) IN (SELECT * FROM unnest($2::bigint[], $1::text[]))", [
    bottles.map((b) => b.serial),
    bottles.map((b) => b.brandId),
  ]);
}

async function readHeads(tx: Tx, where: string, values: unknown[]): Promise<{ heads: Map<string, Head>; now: Date }> {
  const { rows } = await tx.query<{
    serial: string;
    brand_id: number;
    slug: string;
    gtin: string;
    lot: string | null;
    chain_index: number | null;
    last_n: number;
    last_link_hash: Buffer | null;
    state: string;
    region: string | null;
    opened_at: Date | null;
    now: Date;
  }>(
    `SELECT c.serial, c.brand_id, b.slug, c.gtin, c.lot, c.chain_index, c.last_n, c.last_link_hash, c.state, c.region, c.opened_at, now() AS now
       FROM codes c JOIN brands b ON b.id = c.brand_id WHERE ${where} ORDER BY c.serial FOR UPDATE OF c`,
    values,
  );
  const heads = new Map(
    rows.map((r) => [
      r.serial,
      {
        serial: r.serial,
        brandId: r.brand_id,
        brandSlug: r.slug,
        gtin: r.gtin,
        lot: r.lot,
        index: r.chain_index,
        n: r.last_n,
        linkHash: r.last_link_hash ? toHex(r.last_link_hash) : null,
        state: r.state,
        region: r.region,
        openedAt: r.opened_at,
      },
    ]),
  );
  return { heads, now: rows[0]?.now ?? new Date() };
}

/**
 * The fence between link writers and the sealer (an advisory lock): every transaction takes it
 * shared before it writes links and keeps it until it ends; the sealer takes it exclusively for a
 * moment to learn how far links may be sealed. A batch covers a range of link ids (migration 0010),
 * so no link may commit below a range's end after the range is sealed.
 */
const LINK_FENCE = ADVISORY_LOCKS.linkFence;

async function enterLinkFence(tx: Tx): Promise<void> {
  await tx.query({ name: "link-fence", text: "SELECT pg_advisory_xact_lock_shared($1)", values: [LINK_FENCE] });
}

/**
 * The highest link id that may be sealed: waits until every transaction that was writing links has
 * ended, so each link at or below the answer is committed or rolled back for good, and every link
 * written afterwards gets a greater id (its id is drawn after it enters the fence). Writers queue
 * behind the sealer for that moment only, never for the sealing itself.
 */
export async function sealableThrough(db: Db): Promise<number> {
  return withTransaction(db, async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [LINK_FENCE]);
    const {
      rows: [row],
    } = await tx.query<{ id: number }>("SELECT COALESCE(max(id), 0) AS id FROM links");
    return row!.id;
  });
}

/** `count` fresh places in the heads map, in ascending order. */
async function allocateIndexes(tx: Tx, count: number): Promise<number[]> {
  if (count === 0) return [];
  const { rows } = await tx.query<{ i: number }>("SELECT nextval('chain_index_seq') AS i FROM generate_series(1, $1)", [count]);
  return rows.map((r) => r.i).sort((a, b) => a - b);
}

/**
 * Inserts the events (in their format-2 commitment form, with the secret their bottles' salts come
 * from) and their links, advancing `heads` (which must hold every code the events name, locked). A
 * bottle's first link gets the bottle a place in the heads map and commits to its identity.
 * Returns each event's server id, hash, time and price as stored, in order, and how many links were written.
 */
export async function appendEvents(
  tx: Tx,
  brandId: number,
  webhookId: string | null,
  receivedAt: string,
  events: NewEvent[],
  heads: Map<string, Head>,
): Promise<{ events: AppendedEvent[]; links: number }> {
  if (events.length === 0) return { events: [], links: 0 };
  // One draw for every event's 16-byte secret; the buffer itself is the column's binary parameter.
  const secrets = randomBytes(16 * events.length);
  const hashes = Buffer.alloc(32 * events.length);
  const canonical = events.map((e, i) => {
    const json = canonicalJson(committedEvent(e.canonical, codesRoot(secrets.subarray(16 * i, 16 * i + 16), e.canonical.codes)));
    // the event hash (core/links.ts eventHash) over the very text that is stored
    hashes.set(keccak256(encoder.encode(json)), 32 * i);
    return json;
  });
  // Hashes and secrets travel as one binary parameter each (32 and 16 bytes a row), the JSON columns as
  // one JSON array each (row i is element i - 1): no array of hex or of escaped JSON text to build and parse.
  // The brand's ids are claimed in event_keys by the same statement (events is partitioned by id and
  // cannot hold that unique key itself, migration 0016): an id already taken fails it with 23505, as
  // the events table's own key did, and costs no extra round trip.
  const { rows } = await tx.query<{ id: number; brand_event_id: string; occurred_at: Date; amount: string | null }>(
    `WITH e AS (
       INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, to_party,
                           price_amount, price_currency, data, salt, canonical, event_hash, webhook_id, codes_secret)
       SELECT $1, t.id, t.type, ARRAY(SELECT jsonb_array_elements_text($6::jsonb -> (t.i::int - 1))), t.occurred_at, $2, t.party, t.to_party,
              t.amount, t.currency, NULLIF($12::jsonb -> (t.i::int - 1), 'null'), t.salt, $14::jsonb -> (t.i::int - 1),
              substring($15::bytea FROM t.i::int * 32 - 31 FOR 32), $3, substring($16::bytea FROM t.i::int * 16 - 15 FOR 16)
         FROM unnest($4::text[], $5::text[], $7::timestamptz[], $8::text[], $9::text[], $10::numeric[], $11::text[], $13::text[]) WITH ORDINALITY
           AS t(id, type, occurred_at, party, to_party, amount, currency, salt, i)
       RETURNING id, brand_event_id, occurred_at, price_amount::text AS amount),
     k AS (INSERT INTO event_keys (brand_id, brand_event_id, event_id) SELECT $1, brand_event_id, id FROM e)
     SELECT id, brand_event_id, occurred_at, amount FROM e`,
    [
      brandId,
      receivedAt,
      webhookId,
      events.map((e) => e.brandEventId),
      events.map((e) => e.canonical.type),
      JSON.stringify(events.map((e) => e.canonical.codes)),
      events.map((e) => e.occurredAt),
      events.map((e) => e.party),
      events.map((e) => e.to),
      events.map((e) => e.price?.amount ?? null),
      events.map((e) => e.price?.currency ?? null),
      `[${events.map((e) => (e.data === undefined || e.data === null ? "null" : JSON.stringify(e.data))).join(",")}]`,
      events.map((e) => e.canonical.salt),
      `[${canonical.join(",")}]`,
      hashes,
      secrets,
    ],
  );
  const byId = new Map(rows.map((r) => [r.brand_event_id, r]));
  const written = events.map((e, i): AppendedEvent => {
    const row = byId.get(e.brandEventId)!;
    return { id: row.id, hash: toHex(hashes.subarray(32 * i, 32 * i + 32)), occurredAt: row.occurred_at, amount: row.amount };
  });

  // Bottles starting their chain get the next places in the heads map, in serial order.
  const starting = [...new Set(events.flatMap((e) => e.canonical.codes))].filter((s) => heads.get(s)?.index === null).sort();
  const fresh = await allocateIndexes(tx, starting.length);
  starting.forEach((serial, i) => {
    heads.get(serial)!.index = fresh[i]!;
  });

  const serials: string[] = [],
    ns: number[] = [],
    eventIds: number[] = [],
    indexes: number[] = [];
  const count = events.reduce((sum, e) => sum + e.canonical.codes.length, 0);
  // prev, link hash and leaf of each link, 32 bytes each, as three binary parameters
  const prevs = Buffer.alloc(32 * count),
    linkHashes = Buffer.alloc(32 * count),
    leaves = Buffer.alloc(32 * count);
  const states = new Map<string, string>();
  const openedAt = new Map<string, string>();
  events.forEach((event, i) => {
    for (const serial of event.canonical.codes) {
      const head = heads.get(serial);
      if (head === undefined) throw new Error(`code ${serial} was not locked before appending`);
      const link =
        head.linkHash === null
          ? nextLink(serial, written[i]!.hash, null, genesis({ brand: head.brandSlug, gtin: head.gtin, lot: head.lot, serial, index: head.index! }))
          : nextLink(serial, written[i]!.hash, { n: head.n, linkHash: head.linkHash });
      const hash = linkHash(link);
      const at = 32 * serials.length;
      const hashBytes = fromHex(hash);
      prevs.set(fromHex(link.prev), at);
      linkHashes.set(hashBytes, at);
      leaves.set(keccak256(hashBytes), at); // leafOf(hash)
      serials.push(serial);
      ns.push(link.n);
      eventIds.push(written[i]!.id);
      indexes.push(head.index!);
      head.n = link.n;
      head.linkHash = hash;
      // A consumer's scan, or an EPCIS step SealTrace has no lifecycle meaning for (packing, storing…),
      // is not a step in the bottle's life: it leaves the state as it was.
      if (!STATELESS_TYPES.has(event.canonical.type)) states.set(serial, event.canonical.type);
      if (event.canonical.type === "opened" && !openedAt.has(serial)) openedAt.set(serial, event.occurredAt);
    }
  });
  await enterLinkFence(tx);
  await tx.query(
    `INSERT INTO links (brand_id, serial, n, event_id, prev, link_hash, leaf, chain_index)
     SELECT $8, t.serial, t.n, t.event_id, substring($4::bytea FROM t.i::int * 32 - 31 FOR 32), substring($5::bytea FROM t.i::int * 32 - 31 FOR 32),
            substring($6::bytea FROM t.i::int * 32 - 31 FOR 32), t.idx
       FROM unnest($1::text[], $2::int[], $3::bigint[], $7::bigint[]) WITH ORDINALITY AS t(serial, n, event_id, idx, i)`,
    [serials, ns, eventIds, prevs, linkHashes, leaves, indexes, brandId],
  );
  const touched = [...new Set(serials)];
  const heads32 = Buffer.alloc(32 * touched.length);
  touched.forEach((serial, i) => heads32.set(fromHex(heads.get(serial)!.linkHash!), 32 * i));
  await tx.query(
    `UPDATE codes SET last_n = t.n, last_link_hash = substring($3::bytea FROM t.i::int * 32 - 31 FOR 32), state = COALESCE(t.state, codes.state),
                      opened_at = COALESCE(codes.opened_at, t.opened_at), chain_index = t.idx
       FROM unnest($1::text[], $2::int[], $4::text[], $5::timestamptz[], $6::bigint[], $7::bigint[]) WITH ORDINALITY AS t(serial, n, state, opened_at, idx, brand_id, i)
      WHERE codes.brand_id = t.brand_id AND codes.serial = t.serial`,
    [
      touched,
      touched.map((s) => heads.get(s)!.n),
      heads32,
      touched.map((s) => states.get(s) ?? null),
      touched.map((s) => openedAt.get(s) ?? null),
      touched.map((s) => heads.get(s)!.index),
      touched.map((s) => heads.get(s)!.brandId),
    ],
  );
  for (const serial of touched) {
    const head = heads.get(serial)!;
    head.state = states.get(serial) ?? head.state;
    const opened = openedAt.get(serial);
    if (opened !== undefined && head.openedAt === null) head.openedAt = new Date(opened);
  }
  return { events: written, links: serials.length };
}

/** The head of a log that is not a bottle: where its chain stands, and what it is about. */
export interface LogHead {
  n: number;
  linkHash: Hash | null;
  identity: Omit<LogIdentity, "index"> & { index: number | null };
}

/** Locks the head of the log `key` (created empty on first use) for the rest of the transaction. */
export async function lockLog(tx: Tx, key: string, brandId: number): Promise<LogHead> {
  await tx.query("INSERT INTO ledger_logs (key, brand_id) VALUES ($1, $2) ON CONFLICT (brand_id, key) DO NOTHING", [key, brandId]);
  const {
    rows: [row],
  } = await tx.query<{ last_n: number; last_link_hash: Buffer | null; chain_index: number | null; slug: string }>(
    "SELECT l.last_n, l.last_link_hash, l.chain_index, b.slug FROM ledger_logs l JOIN brands b ON b.id = l.brand_id WHERE l.brand_id = $2 AND l.key = $1 FOR UPDATE OF l",
    [key, brandId],
  );
  return {
    n: row!.last_n,
    linkHash: row!.last_link_hash === null ? null : toHex(row!.last_link_hash),
    identity: { brand: row!.slug, log: key, index: row!.chain_index },
  };
}

/**
 * Appends one link per event to a chain that is not a bottle (a brand's EPCIS log, `key`), in the
 * events' order: the chain proves every event was sealed, and in which order, even when it names
 * no bottle. Locks the chain's head for the rest of the transaction.
 */
export async function appendToLog(tx: Tx, key: string, brandId: number, events: { id: number; hash: Hash }[]): Promise<number> {
  if (events.length === 0) return 0;
  const log = await lockLog(tx, key, brandId);
  const index = log.identity.index ?? (await allocateIndexes(tx, 1))[0]!;
  let head = log.linkHash === null ? null : { n: log.n, linkHash: log.linkHash };
  const ns: number[] = [],
    eventIds: number[] = [],
    prevs: Buffer[] = [],
    linkHashes: Buffer[] = [],
    leaves: Buffer[] = [];
  for (const event of events) {
    const link = nextLink(key, event.hash, head, head === null ? genesis({ ...log.identity, index }) : undefined);
    const hash = linkHash(link);
    ns.push(link.n);
    eventIds.push(event.id);
    prevs.push(Buffer.from(fromHex(link.prev)));
    linkHashes.push(Buffer.from(fromHex(hash)));
    leaves.push(Buffer.from(fromHex(leafOf(hash))));
    head = { n: link.n, linkHash: hash };
  }
  await enterLinkFence(tx);
  await tx.query(
    `INSERT INTO links (brand_id, serial, n, event_id, prev, link_hash, leaf, chain_index)
     SELECT $8, $1, t.n, t.event_id, t.prev, t.link_hash, t.leaf, $7 FROM unnest($2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[]) AS t(n, event_id, prev, link_hash, leaf)`,
    [key, ns, eventIds, prevs, linkHashes, leaves, index, brandId],
  );
  await tx.query("UPDATE ledger_logs SET last_n = $2, last_link_hash = $3, chain_index = $4 WHERE brand_id = $5 AND key = $1", [
    key,
    head!.n,
    Buffer.from(fromHex(head!.linkHash)),
    index,
    brandId,
  ]);
  return events.length;
}
