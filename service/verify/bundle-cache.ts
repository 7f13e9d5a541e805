/**
 * The proof bundle API's cache: what is anchored never changes, so a bottle's bundle is built (by
 * bundles.ts) once, serialised once, and served from memory while the bottle has not moved.
 *
 * A request costs one round trip whether the bundle is cached or not yet: one statement reads, for
 * the asked serial, what decides access (the code's secret hash and brand; the brand of the API key
 * if one is given), the bottle's `codes.last_n`, and the latest batch anchored on the bundle's
 * registry. Requests that arrive together share that statement (one `unnest` of their serials), so
 * under load the database answers many of them with one round trip. Access is checked on every
 * request, cached or not; a wrong secret gets the same "not found" as an unknown code.
 *
 * An entry is served when the bottle's last link is the one it was built with and either
 *  - the latest anchored batch is still the one seen when it was built (nothing can have changed:
 *    a pending link becomes anchored only with a newer batch), or
 *  - every link of the entry is anchored and its head proof covers the last link, and the entry is
 *    younger than `freshMs` (30 s by default). A newer batch anchored meanwhile changes nothing the
 *    entry says, only which heads map proves it; a verifier accepts a head proof whose batch has been
 *    superseded for less than its --max-age (1 h by default: docs/PROOF-FORMAT.md, staleness;
 *    core/onchain.ts), so with a batch every 2 s a served bundle's head is at most `freshMs` (plus a
 *    client's max-age, as long) behind. An entry with a pending link is never served past the first
 *    anchoring that could complete it.
 * Entries are evicted least recently used first, bounded by count and by bytes.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ChainRef, ProofBundle } from "../core/bundle.ts";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";
import type { ReadDb } from "../db/replica.ts";
import { latestAnchoredSql } from "../ledger/read-model.ts";
import type { BundleAccess, BundleRepo, LinkProofs } from "./bundles.ts";

/** Who asks, as the request says it: the bottle's QR secret, or a brand API key. */
export type BundleRequest = { secret: string } | { apiKey: string };

export interface ServedBundle {
  /** The bundle's JSON, serialised once (`JSON.stringify`, as Fastify would). */
  body: Buffer;
  /** A strong ETag of `body`. */
  etag: string;
  /** Every link anchored and proven by the head proof: it changes only when the bottle moves. */
  complete: boolean;
}

export interface BundleCacheOptions {
  /** Bounds of the cache (BUNDLE_CACHE_ENTRIES, BUNDLE_CACHE_MIB; 0 entries: every answer built). */
  maxEntries: number;
  maxBytes: number;
  /** How long a complete entry is served after newer batches are anchored (ms). */
  freshMs?: number;
  now?: () => number;
}

/** How long a complete entry is served by default after newer batches are anchored (and a client may keep it). */
export const FRESH_MS = 30_000;

/** What one request's statement reads (null columns: no such code, no such key, nothing anchored). */
interface CheckRow {
  i: number;
  brand_id: number | null;
  secret_hash: Buffer | null;
  last_n: number | null;
  key_brand: number | null;
  latest_seq: number | null;
  latest_at: Date | null;
}

/** A request's check, with the database it was read from (the bundle is built from the same one). */
interface Checked {
  row: CheckRow;
  chain: ChainRef;
  at: number;
  db: Db;
}

interface Entry extends ServedBundle {
  lastN: number;
  chain: string;
  latestSeq: number | null;
  latestAt: number | null;
  /** When the state it was built from was read (before building it). */
  readAt: number;
  bytes: number;
}

/**
 * `text` as UTF-8 in a buffer of its own, exactly its size. Buffer.from(string) slices strings over
 * 4 KB out of shared 64 KB chunks, so each kept 8 KB bundle held a whole chunk: 158 MB of the HTTP
 * process's memory for 5,000 cached bundles in the bench (a heap snapshot showed it), not 38.
 */
function exactBuffer(text: string): Buffer {
  const body = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  body.write(text);
  return body;
}

/** Per-entry bookkeeping (key, Map slot, entry object) counted against maxBytes beside the body. */
const ENTRY_OVERHEAD = 256;
/** Serials asked in one statement at most. */
const MAX_BATCH = 256;
/** Compared against when the code does not exist, so an unknown code costs the same hash as a wrong secret. */
const NO_SECRET = Buffer.alloc(32);

const chainKey = (chain: ChainRef): string => `${chain.chainId}:${chain.registry.toLowerCase()}`;

/** A complete bundle: every link anchored, and the head proof at the last link. */
function isComplete(bundle: ProofBundle): boolean {
  const last = bundle.links.at(-1);
  return last !== undefined && bundle.head !== null && bundle.head.n === last.link.n && bundle.links.every((l) => l.anchor !== null);
}

/** If-None-Match (RFC 9110 §13.1.2: weak comparison) against our strong ETag. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || (t.startsWith("W/") ? t.slice(2) : t) === etag;
  });
}

/**
 * `db`: the primary. `options.reads` (service/db/replica.ts): where requests by a bottle's secret read,
 * picked once per statement group; each bundle of the group is built from the database its check
 * read, so the access check, `last_n`, the latest batch and the bundle all come from one source (the
 * replica, or the primary once the replica lags or fails) and an entry never records a state newer
 * than its contents. Requests with a brand API key are checked, and built, on the primary: a key is a
 * credential, which must work as soon as it is issued (and stop as soon as it is revoked), not once
 * the replica has replayed it.
 */
export function createBundleCache(db: Db, store: BundleRepo, chain: () => Promise<ChainRef>, options: BundleCacheOptions & { reads?: ReadDb }) {
  const pick = (keyed: boolean): Db => (keyed || options.reads === undefined ? db : options.reads("proof-bundle"));
  const freshMs = options.freshMs ?? FRESH_MS;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  let bytes = 0;

  // Requests of one turn of the event loop, checked together by one statement.
  let queue: { serial: string; keyHash: Uint8Array | null; resolve: (r: Checked) => void; reject: (e: unknown) => void }[] = [];
  async function flush(batch: typeof queue): Promise<void> {
    try {
      const source = pick(batch[0]!.keyHash !== null);
      const chainRef = await chain();
      const at = now();
      const { rows } = await source.query<CheckRow>({
        name: "bundle-check-3",
        text: `WITH latest AS (${latestAnchoredSql("seq, anchored_at", "$3", "$4")})
               SELECT q.i::int AS i, c.brand_id, c.secret_hash, c.last_n, k.id AS key_brand, latest.seq AS latest_seq, latest.anchored_at AS latest_at
                 FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS q(serial, key_hash, i)
                 LEFT JOIN serials sr ON sr.serial = q.serial LEFT JOIN codes c ON c.brand_id = sr.brand_id AND c.serial = sr.serial
                 LEFT JOIN brands k ON k.api_key_hash = q.key_hash
                 LEFT JOIN latest ON true`,
        values: [batch.map((b) => b.serial), batch.map((b) => b.keyHash), chainRef.chainId, chainRef.registry],
      });
      for (const row of rows) batch[row.i - 1]!.resolve({ row, chain: chainRef, at, db: source });
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }
  function check(serial: string, keyHash: Uint8Array | null): Promise<Checked> {
    return new Promise((resolve, reject) => {
      if (queue.length === 0) {
        setImmediate(() => {
          // Requests by secret and requests by API key go in statements of their own (they may read different databases).
          const all = queue;
          queue = [];
          for (const batch of [all.filter((b) => b.keyHash === null), all.filter((b) => b.keyHash !== null)]) {
            for (let i = 0; i < batch.length; i += MAX_BATCH) void flush(batch.slice(i, i + MAX_BATCH));
          }
        });
      }
      queue.push({ serial, keyHash, resolve, reject });
    });
  }

  function remember(key: string, entry: Entry): void {
    const old = entries.get(key);
    if (old !== undefined) {
      entries.delete(key);
      bytes -= old.bytes;
    }
    if (entry.bytes > options.maxBytes || options.maxEntries === 0) return;
    entries.set(key, entry);
    bytes += entry.bytes;
    for (const [oldest, value] of entries) {
      if (entries.size <= options.maxEntries && bytes <= options.maxBytes) break;
      entries.delete(oldest);
      bytes -= value.bytes;
    }
  }

  return {
    /**
     * The bottle's bundle as served: "not-found" when there is no such code or the caller may not
     * see it (indistinguishable), "unknown-key" for an API key of no brand. `fresh` (the client sent
     * `Cache-Control: no-cache` or `max-age=0`): never an entry whose head proof is behind the latest
     * anchored batch.
     */
    async serve(serial: string, request: BundleRequest, proofs: LinkProofs = "head", fresh = false): Promise<ServedBundle | "not-found" | "unknown-key"> {
      const { row, chain: chainRef, at, db } = await check(serial, "apiKey" in request ? Buffer.from(tokenHash(request.apiKey)) : null);
      let access: BundleAccess;
      if ("apiKey" in request) {
        if (row.key_brand === null) return "unknown-key";
        if (row.brand_id !== row.key_brand) return "not-found";
        access = { brandId: row.key_brand };
      } else {
        // A wrong secret and an unknown code do the same work.
        const stored = row.secret_hash?.length === NO_SECRET.length ? row.secret_hash : NO_SECRET;
        if (!timingSafeEqual(tokenHash(request.secret), stored) || stored === NO_SECRET) return "not-found";
        access = { secret: request.secret };
      }

      const key = `${proofs}\u0000${serial}`;
      const cached = entries.get(key);
      const latestAt = row.latest_at?.getTime() ?? null;
      if (cached !== undefined && cached.lastN === row.last_n && cached.chain === chainKey(chainRef)) {
        const sameLatest = cached.latestSeq === row.latest_seq && cached.latestAt === latestAt;
        const newerLatest = row.latest_seq !== null && cached.latestSeq !== null && row.latest_seq > cached.latestSeq;
        if (sameLatest || (!fresh && cached.complete && newerLatest && at - cached.readAt < freshMs)) {
          // Most recently used last.
          entries.delete(key);
          entries.set(key, cached);
          return cached;
        }
      }

      const bundle = await store.bundleFor(serial, access, proofs, db);
      if (bundle === null) return "not-found";
      const body = exactBuffer(JSON.stringify(bundle));
      // What was read before building: a bundle newer than that is only ever rebuilt sooner.
      const entry: Entry = {
        body,
        etag: `"${createHash("sha256").update(body).digest("base64url")}"`,
        complete: isComplete(bundle),
        lastN: row.last_n!,
        chain: chainKey(chainRef),
        latestSeq: row.latest_seq,
        latestAt,
        readAt: at,
        bytes: body.length + key.length * 2 + ENTRY_OVERHEAD,
      };
      remember(key, entry);
      return entry;
    },
    /** Entries and bytes held now (for the tests and metrics). */
    size: () => ({ entries: entries.size, bytes }),
  };
}

export type BundleCache = ReturnType<typeof createBundleCache>;
