/**
 * Proof bundles from the database: one bottle's events (each with only this bottle's membership
 * proof), links, the batches they were sealed in, and the proof that the heads map of the latest
 * anchored batch records the bottle's last link, as `sealtrace-proof/2` (core/bundle.ts).
 */
import { timingSafeEqual } from "node:crypto";
import { buildBundle, type BundleBatch, type BundleInput, type ChainRef, type HeadProof, type ProofBundle, type StoredEvent } from "../core/bundle.ts";
import { headLeaf, MAX_HEADS_DEPTH, MemberTree, processHeadProof, type Membership } from "../core/commitments.ts";
import { toHex, type Hash } from "../core/hash.ts";
import { proofFromTiles, tilesForProof } from "../core/heads.ts";
import { tileId } from "../core/tiles.ts";
import type { Link } from "../core/links.ts";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";
import { linkBatchSql, readLinkPlaces, storedProof } from "../anchoring/link-tiles.ts";
import { anchoredHere, latestAnchoredSql, type BatchPlace } from "../ledger/read-model.ts";

/** Who asks: the holder of the bottle's QR secret, or the brand (by its API key). */
export type BundleAccess = { secret: string } | { brandId: number };

/**
 * Which links carry their own Merkle proof: "head" (the default) only those the head proof does not
 * cover, so a bundle stays small; "all" every anchored link, proving when each was anchored.
 */
export type LinkProofs = "head" | "all";

interface BatchColumns extends BatchPlace {
  root: Buffer | null;
  format: 1 | 2 | null;
  links_root: Buffer | null;
  heads_root: Buffer | null;
  heads_depth: number | null;
  tx_hash: string | null;
  block_number: number | null;
  block_time: Date | null;
}

interface LinkRow extends BatchColumns {
  id: number;
  n: number;
  prev: Buffer;
  link_hash: Buffer;
  event_hash: Buffer;
  canonical: StoredEvent;
  codes: string[];
  codes_secret: Buffer | null;
  batch_seq: number | null;
  proof: Buffer | null;
}

interface CodeColumns {
  brand_id: number;
  slug: string;
  gtin: string;
  lot: string | null;
  chain_index: number | null;
  secret_hash: Buffer;
}

function bundleBatch(seq: number, row: BatchColumns): BundleBatch {
  const common = {
    seq,
    root: toHex(row.root!),
    txHash: row.tx_hash as Hash | null,
    blockNumber: row.block_number,
    blockTime: row.block_time?.toISOString() ?? null,
  };
  return row.format === 2
    ? { ...common, format: 2, linksRoot: toHex(row.links_root!), headsRoot: toHex(row.heads_root!), headsDepth: row.heads_depth! }
    : { ...common, format: 1 };
}

/** Events whose bottle trees are kept (each at most 1,000 bottles: about 100 KB). */
const MEMBER_TREES = 128;

export function createBundleRepo(primary: Db, chain: () => Promise<ChainRef>) {
  // The bottle trees of recently asked events, least recently used first: a production event's
  // 1,000 bottles are asked for one after another, and its tree costs ~2,000 keccak256 to build.
  const trees = new Map<string, MemberTree>();
  function membership(secret: Buffer, serials: string[], serial: string): Membership | undefined {
    if (serials.length === 0) return undefined;
    const key = secret.toString("hex");
    let tree = trees.get(key);
    if (tree === undefined) {
      tree = new MemberTree(secret, serials);
      if (trees.size >= MEMBER_TREES) trees.delete(trees.keys().next().value!);
    } else {
      trees.delete(key);
    }
    trees.set(key, tree);
    return tree.member(serial);
  }

  /**
   * The bottle's head in the heads map of the latest batch anchored on `chainRef`, with that batch:
   * the batch and the tiles under the bottle's leaf read in one statement (one snapshot, so the
   * sealer pruning tile versions meanwhile cannot mix two maps). Null when the bottle has no link
   * sealed by then, or when the stored tiles do not give the batch's heads root (versions pruned
   * while batches are anchored again on a new registry): the bundle is then incomplete, never wrong.
   */
  async function headProof(db: Db, chainRef: ChainRef, index: number, rows: LinkRow[]): Promise<{ head: HeadProof; batch: BundleBatch } | null> {
    const keys = tilesForProof(index, MAX_HEADS_DEPTH);
    const { rows: found } = await db.query<BatchColumns & { seq: number; grp: number | null; idx: number | null; hashes: Buffer | null }>({
      name: "bundle-head-2",
      text: `WITH latest AS (
               ${latestAnchoredSql("seq, root, format, links_root, heads_root, heads_depth, state, chain_id, registry, tx_hash, block_number, block_time", "$1", "$2", { format2: true })})
             SELECT latest.*, t.grp, t.idx, t.hashes FROM latest LEFT JOIN LATERAL (
               SELECT DISTINCT ON (grp, idx) grp, idx, hashes FROM head_tiles
                WHERE (grp, idx) IN (SELECT * FROM unnest($3::smallint[], $4::bigint[])) AND seq <= latest.seq
                ORDER BY grp, idx, seq DESC) t ON true`,
      values: [chainRef.chainId, chainRef.registry, keys.map((k) => k.group), keys.map((k) => k.index)],
    });
    const latest = found[0];
    if (latest === undefined) return null;
    const last = rows.filter((row) => row.batch_seq !== null && row.batch_seq <= latest.seq).at(-1);
    if (last === undefined) return null;
    const depth = latest.heads_depth!;
    const tiles = new Map(found.filter((t) => t.hashes !== null).map((t) => [tileId({ group: t.grp!, index: t.idx! }), t.hashes!]));
    const proof = proofFromTiles(index, depth, tiles);
    const linkHash = toHex(last.link_hash);
    if (processHeadProof(index, headLeaf(index, last.n, linkHash), proof) !== toHex(latest.heads_root!)) return null;
    return { head: { seq: latest.seq, n: last.n, linkHash, proof }, batch: bundleBatch(latest.seq, latest) };
  }

  return {
    /**
     * The bottle's bundle, or null if it does not exist or the caller may not see it (indistinguishable).
     * Every statement reads `db` (the replica, or the primary: service/db/replica.ts), so the links and
     * the head proof come from one source, never a replica's links beside the primary's latest batch.
     */
    async bundleFor(serial: string, access: BundleAccess, proofs: LinkProofs = "head", db: Db = primary): Promise<ProofBundle | null> {
      // One round trip, a statement prepared once per connection: the code with its links, events and
      // batches (no link: one row of nulls), only if the caller may see it. Access is decided on the
      // code's row before any link is read, so a wrong secret reads no more than an unknown serial
      // (no row either way: the time taken does not tell that a serial exists, nor how long its chain is).
      const given = "secret" in access ? Buffer.from(tokenHash(access.secret)) : null;
      const { rows: all } = await db.query<LinkRow & CodeColumns>({
        name: "bundle-for-6",
        text: `SELECT c.brand_id, br.slug, c.gtin, c.lot, c.chain_index, c.secret_hash,
                      l.id, l.n, l.prev, l.link_hash, e.event_hash, e.canonical, e.codes, e.codes_secret, b.seq AS batch_seq, l.proof,
                      b.root, b.format, b.links_root, b.heads_root, b.heads_depth, b.state, b.chain_id, b.registry, b.tx_hash, b.block_number, b.block_time
                 FROM serials sr JOIN codes c ON c.brand_id = sr.brand_id AND c.serial = sr.serial JOIN brands br ON br.id = c.brand_id
                 LEFT JOIN links l ON l.brand_id = c.brand_id AND l.serial = c.serial LEFT JOIN events e ON e.id = l.event_id AND e.brand_id = l.brand_id
                 LEFT JOIN batches b ON b.seq = ${linkBatchSql("l")}
                WHERE sr.serial = $1 AND (c.secret_hash = $2 OR c.brand_id = $3) ORDER BY l.n`,
        values: [serial, given, "brandId" in access ? access.brandId : null],
      });
      const code = all[0];
      // The database only told whether the hashes are equal; the answer rests on a constant-time comparison.
      const allowed =
        code !== undefined && (given === null ? "brandId" in access && access.brandId === code.brand_id : timingSafeEqual(given, code.secret_hash));
      if (!allowed) return null;
      const rows = all.filter((row) => row.n !== null);
      const chainRef = await chain();
      const batches = new Map<number, BundleBatch>();
      const events: BundleInput["events"] = [];
      const proven = code.chain_index === null || rows.length === 0 ? null : await headProof(db, chainRef, code.chain_index, rows);
      if (proven !== null) batches.set(proven.batch.seq, proven.batch);
      // Only anchors on the registry the bundle names count; others are pending until re-anchored.
      // A batch at or before the head's is anchored there too (the registry takes batches in order),
      // even if the first statement read it a moment before its anchoring was recorded.
      const anchoredNow = (row: LinkRow): boolean =>
        row.batch_seq !== null && (anchoredHere(row, chainRef) || (proven !== null && row.batch_seq <= proven.batch.seq));
      const covered = (row: LinkRow): boolean => proven !== null && row.n <= proven.head.n;
      const proving = rows.filter((row) => anchoredNow(row) && !(covered(row) && proofs === "head"));
      const places = await readLinkPlaces(
        db,
        proving.filter((row) => row.proof === null).map((row) => row.id),
      );
      const links = rows.map((row) => {
        const eventHash = toHex(row.event_hash);
        // A format-2 event shows only this bottle's membership; an older one lists its codes.
        const member = row.codes_secret === null ? undefined : membership(row.codes_secret, row.codes, serial);
        events.push(member === undefined ? { event: row.canonical } : { event: row.canonical, member });
        const link: Link = { serial, n: row.n, event: eventHash, prev: toHex(row.prev) };
        if (!anchoredNow(row)) return { link, anchor: null };
        if (covered(row) && proofs === "head") return { link, anchor: { seq: row.batch_seq! } };
        const proof = storedProof(row.proof, places.get(row.id));
        if (proof === null) return { link, anchor: null };
        batches.set(row.batch_seq!, bundleBatch(row.batch_seq!, row));
        return { link, anchor: { seq: row.batch_seq!, proof } };
      });
      return buildBundle({
        identity: { brand: code.slug, gtin: code.gtin, lot: code.lot, serial, index: code.chain_index ?? 0 },
        chain: chainRef,
        batches: [...batches.values()].sort((a, b) => a.seq - b.seq),
        events,
        links,
        head: proven?.head ?? null,
      });
    },
  };
}

export type BundleRepo = ReturnType<typeof createBundleRepo>;
