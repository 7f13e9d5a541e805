/**
 * Proof bundles from the database: one bottle's events, links and anchors, as `sealtrace-proof/1`.
 */
import { timingSafeEqual } from "node:crypto";
import { buildBundle, type Anchor, type ChainRef, type ProofBundle } from "../core/bundle.ts";
import { toHex, type Hash } from "../core/hash.ts";
import type { CanonicalEvent, Link } from "../core/links.ts";
import { proofFromBytes } from "../core/merkle.ts";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";

/** Who asks: the holder of the bottle's QR secret, or the brand (by its API key). */
export type BundleAccess = { secret: string } | { brandId: number };

interface LinkRow {
  n: number;
  prev: Buffer;
  event_hash: Buffer;
  canonical: CanonicalEvent;
  batch_seq: number | null;
  proof: Buffer | null;
  root: Buffer | null;
  state: string | null;
  chain_id: number | null;
  registry: string | null;
  tx_hash: string | null;
  block_number: number | null;
  block_time: Date | null;
}

export function createBundleStore(db: Db, chain: () => Promise<ChainRef>) {
  return {
    /** The bottle's bundle, or null if it does not exist or the caller may not see it (indistinguishable). */
    async bundleFor(serial: string, access: BundleAccess): Promise<ProofBundle | null> {
      // One round trip, a statement prepared once per connection: the code (to check access) with
      // its links, events and batches (no link: one row of nulls).
      const { rows: all } = await db.query<LinkRow & { brand_id: number; gtin: string; secret_hash: Buffer }>({
        name: "bundle-for",
        text: `SELECT c.brand_id, c.gtin, c.secret_hash, l.n, l.prev, e.event_hash, e.canonical, l.batch_seq, l.proof,
                      b.root, b.state, b.chain_id, b.registry, b.tx_hash, b.block_number, b.block_time
                 FROM codes c LEFT JOIN links l ON l.serial = c.serial LEFT JOIN events e ON e.id = l.event_id
                 LEFT JOIN batches b ON b.seq = l.batch_seq
                WHERE c.serial = $1 ORDER BY l.n`,
        values: [serial],
      });
      const code = all[0];
      const allowed = code !== undefined && ("brandId" in access
        ? access.brandId === code.brand_id
        : timingSafeEqual(tokenHash(access.secret), code.secret_hash));
      if (!allowed) return null;
      const rows = all.filter((row) => row.n !== null);
      const chainRef = await chain();
      const events = new Map<string, CanonicalEvent>();
      const links = rows.map((row) => {
        const eventHash = toHex(row.event_hash);
        events.set(eventHash, row.canonical);
        const link: Link = { serial, n: row.n, event: eventHash, prev: toHex(row.prev) };
        // Only anchors on the registry the bundle names count; others are pending until re-anchored.
        const anchoredHere = row.state === "anchored" && row.chain_id === chainRef.chainId && row.registry === chainRef.registry;
        const anchor: Anchor | null = anchoredHere && row.root && row.proof
          ? {
            seq: row.batch_seq!,
            root: toHex(row.root),
            proof: proofFromBytes(row.proof),
            txHash: row.tx_hash as Hash,
            blockNumber: row.block_number,
            blockTime: row.block_time?.toISOString() ?? null,
          }
          : null;
        return { link, anchor };
      });
      return buildBundle({ serial, gtin: code.gtin, chain: chainRef, events: [...events.values()], links });
    },
  };
}

export type BundleStore = ReturnType<typeof createBundleStore>;
