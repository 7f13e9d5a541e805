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
      const { rows: [code] } = await db.query<{ brand_id: number; gtin: string; secret_hash: Buffer }>(
        "SELECT brand_id, gtin, secret_hash FROM codes WHERE serial = $1",
        [serial],
      );
      const allowed = code !== undefined && ("brandId" in access
        ? access.brandId === code.brand_id
        : timingSafeEqual(tokenHash(access.secret), code.secret_hash));
      if (!allowed) return null;

      const { rows } = await db.query<LinkRow>(
        `SELECT l.n, l.prev, e.event_hash, e.canonical, l.batch_seq, l.proof,
                b.root, b.state, b.chain_id, b.registry, b.tx_hash, b.block_number, b.block_time
           FROM links l JOIN events e ON e.id = l.event_id LEFT JOIN batches b ON b.seq = l.batch_seq
          WHERE l.serial = $1 ORDER BY l.n`,
        [serial],
      );
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
