/**
 * The sealer: takes pending links (oldest first, at most SEAL_MAX_LINKS), builds their Merkle tree,
 * moves the heads map to each chain's newest link (tiles, core/heads.ts), and in one transaction
 * records the batch (format 2: root = node(linksRoot, headsRoot, depth)), the new tile versions, and
 * each link's leaf index and proof. One sealer at a time (a transaction-scoped advisory lock); a
 * crash before commit leaves the links pending and the tiles as they were.
 *
 * Memory stays bounded for million-link batches: leaves are read a page at a time into one flat
 * buffer, the tree is flat buffers (core/merkle.ts) hashed with WebAssembly keccak256, and proofs
 * are computed and written a slice at a time, each slice one UPDATE whose proofs travel as one
 * binary parameter (a million proofs as one hex-encoded array literal would not even fit a string).
 */
import { batchRoot, depthFor, headLeafInto } from "../core/commitments.ts";
import { tileId, tilesUnder, updateHeads } from "../core/heads.ts";
import { MerkleTree } from "../core/merkle.ts";
import { fromHex, type Hash } from "../core/hash.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.ts";
import { readTiles, writeTiles } from "./head-tiles.ts";
import { wasmKeccak256 } from "./keccak.ts";

const SEAL_LOCK = 0x5ea1_0001;
/** Pending links read per query. */
const READ_PAGE = 50_000;
/** Links whose proofs are computed and written per UPDATE. */
const WRITE_SLICE = 20_000;

export interface SealedBatch {
  seq: number;
  root: Hash;
  leafCount: number;
  headsRoot: Hash;
  headsDepth: number;
  /** Where the time went, in milliseconds: reading the leaves, building the tree, the heads map, storing. */
  ms: { read: number; tree: number; heads: number; write: number };
}

/**
 * Each chain's newest link in the batch, as flat arrays: row r's head leaf is at `leaves[32r …]`,
 * and `rowOf` maps a chain's index to the row of its newest link (a chain may move several times in
 * one batch; its links are read in the order they were written).
 */
class BatchHeads {
  leaves = new Uint8Array(32 * 1_024);
  rows = 0;
  readonly rowOf = new Map<number, number>();
  private readonly keccak: (bytes: Uint8Array) => Uint8Array;
  constructor(keccak: (bytes: Uint8Array) => Uint8Array) {
    this.keccak = keccak;
  }

  add(index: number, n: number, linkHash: Uint8Array): void {
    if ((this.rows + 1) * 32 > this.leaves.length) {
      const grown = new Uint8Array(this.leaves.length * 2);
      grown.set(this.leaves);
      this.leaves = grown;
    }
    headLeafInto(this.leaves, this.rows * 32, index, n, linkHash, this.keccak);
    this.rowOf.set(index, this.rows++);
  }

  /** The moved chains' indexes, ascending, and their head leaves in the same order. */
  run(): { indices: number[]; leaves: Uint8Array } {
    const indices = [...this.rowOf.keys()].sort((a, b) => a - b);
    const leaves = new Uint8Array(indices.length * 32);
    indices.forEach((index, i) => {
      const row = this.rowOf.get(index)!;
      leaves.set(this.leaves.subarray(row * 32, row * 32 + 32), i * 32);
    });
    return { indices, leaves };
  }
}

/**
 * The heads of every chain sealed before the first format-2 batch (batches of format 1 had no heads
 * map): read once, when the map has no tile yet, so the first format-2 batch commits to them all.
 */
async function addHeadsBeforeFormat2(tx: Tx, heads: BatchHeads): Promise<void> {
  const { rows: [started] } = await tx.query<{ tiles: boolean; batches: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM head_tiles) AS tiles, EXISTS (SELECT 1 FROM batches) AS batches",
  );
  if (started!.tiles || !started!.batches) return;
  const { rows } = await tx.query<{ idx: number; n: number; link_hash: Buffer }>(
    `SELECT COALESCE(c.chain_index, g.chain_index) AS idx, l.n, l.link_hash
       FROM (SELECT DISTINCT ON (serial) serial, n, link_hash FROM links WHERE batch_seq IS NOT NULL ORDER BY serial, n DESC) l
       LEFT JOIN codes c ON c.serial = l.serial LEFT JOIN ledger_logs g ON g.key = l.serial`,
  );
  for (const row of rows) heads.add(row.idx, row.n, row.link_hash);
}

export function createSealer(options: { db: Db; maxLinks: number; log: Logger; metrics: Metrics }) {
  const { db, maxLinks, log, metrics } = options;
  return {
    /** Seals one batch; null when there was nothing to seal or another sealer holds the lock. */
    async sealOnce(): Promise<SealedBatch | null> {
      const keccak = await wasmKeccak256();
      const batch = await withTransaction(db, async (tx): Promise<SealedBatch | null> => {
        const { rows: [lock] } = await tx.query<{ got: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS got", [SEAL_LOCK]);
        if (!lock!.got) return null;

        let t = performance.now();
        const ids: number[] = [];
        const pages: Buffer[] = [];
        const heads = new BatchHeads(keccak);
        await addHeadsBeforeFormat2(tx, heads);
        while (ids.length < maxLinks) {
          const { rows } = await tx.query<[number, Buffer, number, number, Buffer]>({
            name: "seal-read-2",
            text: "SELECT id, leaf, chain_index, n, link_hash FROM links WHERE batch_seq IS NULL AND id > $1 ORDER BY id LIMIT $2",
            values: [ids.at(-1) ?? 0, Math.min(READ_PAGE, maxLinks - ids.length)],
            rowMode: "array",
          });
          if (rows.length === 0) break;
          const page = Buffer.allocUnsafe(rows.length * 32);
          rows.forEach(([id, leaf, index, n, hash], i) => { ids.push(id); leaf.copy(page, i * 32); heads.add(index, n, hash); });
          pages.push(page);
          if (rows.length < READ_PAGE) break;
        }
        if (ids.length === 0) return null;
        const leaves = pages.length === 1 ? pages[0]! : Buffer.concat(pages);
        pages.length = 0;
        const read = performance.now() - t;

        t = performance.now();
        const tree = new MerkleTree(leaves, keccak);
        const treeMs = performance.now() - t;

        t = performance.now();
        const { rows: [next] } = await tx.query<{ seq: number; depth: number | null }>(
          "SELECT COALESCE(MAX(seq), 0) + 1 AS seq, MAX(heads_depth) AS depth FROM batches",
        );
        const seq = next!.seq;
        const moved = heads.run();
        const depth = Math.max(next!.depth ?? 1, depthFor(moved.indices.at(-1) ?? 0));
        const stored = await readTiles(tx, tilesUnder(moved.indices, depth), null);
        const map = updateHeads((key) => stored.get(tileId(key)), moved, depth, keccak);
        const root = batchRoot(tree.root, map.root, depth);
        const headsMs = performance.now() - t;

        t = performance.now();
        await tx.query(
          "INSERT INTO batches (seq, root, leaf_count, format, links_root, heads_root, heads_depth) VALUES ($1, $2, $3, 2, $4, $5, $6)",
          [seq, Buffer.from(fromHex(root)), ids.length, Buffer.from(fromHex(tree.root)), Buffer.from(fromHex(map.root)), depth],
        );
        await writeTiles(tx, seq, [...map.tiles.values()]);
        for (let from = 0; from < ids.length; from += WRITE_SLICE) {
          const to = Math.min(from + WRITE_SLICE, ids.length);
          const { bytes, offsets } = tree.proofRange(from, to);
          await tx.query({
            name: "seal-write",
            text: `UPDATE links SET batch_seq = $1, leaf_index = $2 + t.k - 1, proof = substring($3::bytea FROM t.off + 1 FOR t.len)
                     FROM unnest($4::bigint[], $5::int[], $6::int[]) WITH ORDINALITY AS t(id, off, len, k)
                    WHERE links.id = t.id`,
            values: [
              seq, from, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), ids.slice(from, to),
              Array.from(offsets.subarray(0, -1)), Array.from(offsets.subarray(0, -1), (offset, k) => offsets[k + 1]! - offset),
            ],
          });
        }
        return {
          seq, root, leafCount: ids.length, headsRoot: map.root, headsDepth: depth,
          ms: { read: Math.round(read), tree: Math.round(treeMs), heads: Math.round(headsMs), write: Math.round(performance.now() - t) },
        };
      });
      if (batch !== null) {
        metrics.batchesSealed.inc();
        log.info({ batch }, "batch sealed");
      }
      return batch;
    },

    /** Seals until fewer than a full batch is left; returns the batches sealed. */
    async sealAll(): Promise<SealedBatch[]> {
      const sealed: SealedBatch[] = [];
      for (;;) {
        const batch = await this.sealOnce();
        if (batch === null) return sealed;
        sealed.push(batch);
        if (batch.leafCount < maxLinks) return sealed;
      }
    },
  };
}

export type Sealer = ReturnType<typeof createSealer>;
