/**
 * Store API keys (`sts_` + 192 random bits): the brand creates one per store party; a key lets that
 * store check bottles and post its own receiving and sale events. Only the SHA-256 is stored, so a
 * key is shown once, at creation.
 */
import { randomBytes } from "node:crypto";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";
import { invalid, notFound } from "../http/errors.ts";

export const STORE_KEY_PREFIX = "sts_";

/** The store a request speaks for (request.store, on routes with `auth: "store"`). */
export interface StoreRef {
  keyId: number;
  brandId: number;
  brandSlug: string;
  party: string;
  name: string;
  region: string;
}

export interface StoreKeyInfo {
  id: string;
  party: string;
  createdAt: string;
  revokedAt: string | null;
}

export function newStoreKey(): string {
  return `${STORE_KEY_PREFIX}${randomBytes(24).toString("base64url")}`;
}

/** The live store a key belongs to: not revoked, and its party still a store of the brand. */
export async function storeForKey(db: Db, key: string): Promise<StoreRef | null> {
  if (!key.startsWith(STORE_KEY_PREFIX)) return null;
  const {
    rows: [row],
  } = await db.query<{ id: number; brand_id: number; slug: string; party: string; name: string; region: string }>(
    `SELECT k.id, k.brand_id, b.slug, k.party, p.name, p.region
       FROM store_keys k JOIN brands b ON b.id = k.brand_id
       JOIN parties p ON p.brand_id = k.brand_id AND p.id = k.party
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND p.kind = 'store'`,
    [tokenHash(key)],
  );
  return row ? { keyId: row.id, brandId: row.brand_id, brandSlug: row.slug, party: row.party, name: row.name, region: row.region } : null;
}

/**
 * A SQL condition, true when `keyHash` (an SQL expression: a key's SHA-256) is an unrevoked store key
 * of the brand `brandId` (an SQL expression), for a query that must answer in its own round trip: the
 * consumer page's one read (service/verify/bottles.ts), where a store's own look is not a consumer's scan.
 */
export function storeKeySql(keyHash: string, brandId: string): string {
  return `EXISTS (SELECT 1 FROM store_keys k WHERE k.key_hash = ${keyHash} AND k.revoked_at IS NULL AND k.brand_id = ${brandId})`;
}

const info = (row: { id: number; party: string; created_at: Date; revoked_at: Date | null }): StoreKeyInfo => ({
  id: String(row.id),
  party: row.party,
  createdAt: row.created_at.toISOString(),
  revokedAt: row.revoked_at?.toISOString() ?? null,
});

export function createStoreKeys(db: Db) {
  async function storeParty(brandId: number, party: string): Promise<void> {
    const {
      rows: [row],
    } = await db.query<{ kind: string }>("SELECT kind FROM parties WHERE brand_id = $1 AND id = $2", [brandId, party]);
    if (row === undefined) throw notFound(`no party "${party}"`);
    if (row.kind !== "store") throw invalid("id", `party "${party}" is a ${row.kind}: store keys are for stores only`);
  }

  return {
    /** A new key for one of the brand's stores; the key itself is returned only here. */
    async create(brandId: number, party: string): Promise<StoreKeyInfo & { storeKey: string }> {
      await storeParty(brandId, party);
      const storeKey = newStoreKey();
      const {
        rows: [row],
      } = await db.query<{ id: number; party: string; created_at: Date; revoked_at: Date | null }>(
        "INSERT INTO store_keys (brand_id, party, key_hash) VALUES ($1, $2, $3) RETURNING id, party, created_at, revoked_at",
        [brandId, party, tokenHash(storeKey)],
      );
      return { ...info(row!), storeKey };
    },

    /** The store's keys, newest first (never the keys themselves). */
    async list(brandId: number, party: string): Promise<StoreKeyInfo[]> {
      await storeParty(brandId, party);
      const { rows } = await db.query<{ id: number; party: string; created_at: Date; revoked_at: Date | null }>(
        "SELECT id, party, created_at, revoked_at FROM store_keys WHERE brand_id = $1 AND party = $2 ORDER BY id DESC",
        [brandId, party],
      );
      return rows.map(info);
    },

    /** Revokes one of the brand's keys (again: a no-op keeping the first time); 404 for another brand's. */
    async revoke(brandId: number, id: string): Promise<StoreKeyInfo> {
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw notFound("no such store key");
      const {
        rows: [row],
      } = await db.query<{ id: number; party: string; created_at: Date; revoked_at: Date | null }>(
        `UPDATE store_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND brand_id = $2
         RETURNING id, party, created_at, revoked_at`,
        [id, brandId],
      );
      if (row === undefined) throw notFound("no such store key");
      return info(row);
    },
  };
}

export type StoreKeys = ReturnType<typeof createStoreKeys>;
