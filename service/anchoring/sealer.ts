/**
 * The sealer: takes the links written since the last batch (in id order, at most SEAL_MAX_LINKS),
 * builds their Merkle tree, moves the heads map to each chain's newest link (tiles, core/heads.ts),
 * and in one transaction records the batch (format 2: root = node(linksRoot, headsRoot, depth)) with
 * the range of link ids it covers, its tree as immutable tiles (link-tiles.ts) and the heads map's new
 * tile versions. No link row is written: a link's batch is the range that holds its id, its proof is
 * cut from the tiles when asked. One sealer at a time (a transaction-scoped advisory lock); a crash
 * before commit leaves the links pending and the tiles as they were.
 *
 * Which links a batch may take is fenced (ledger/append.ts `sealableThrough`): ids are drawn when
 * links are written, and transactions commit out of order, so the sealer first waits for every link
 * writer in flight to end; nothing can then commit at or below the id it read.
 *
 * Memory stays bounded for million-link batches: leaves are read a page at a time into one flat
 * buffer, the tree is flat buffers (core/merkle.ts) hashed with WebAssembly keccak256, and the tiles
 * are views of the tree's levels, sent as one binary parameter.
 */
import { batchRoot, depthFor, headLeafInto } from "../core/commitments.ts";
import { tilesUnder, updateHeads } from "../core/heads.ts";
import { tileId } from "../core/tiles.ts";
import { MerkleTree } from "../core/merkle.ts";
import { fromHex, type Hash } from "../core/hash.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.ts";
import { sealableThrough } from "../ledger/append.ts";
import { readTiles, writeTiles } from "./head-tiles.ts";
import { writeLinkTiles } from "./link-tiles.ts";
import { wasmKeccak256 } from "./keccak.ts";

const SEAL_LOCK = 0x5ea1_0001;
/** Pending links read per query. */
const READ_PAGE = 50_000;

export interface SealedBatch {
  seq: number;
  root: Hash;
  leafCount: number;
  headsRoot: Hash;
  headsDepth: number;
  /** The link ids the batch covers: (firstLink, lastLink]. */
  firstLink: number;
  lastLink: number;
  /** Where the time went, in milliseconds: the fence, reading the leaves, building the tree, the heads map, storing. */
  ms: { fence: number; read: number; tree: number; heads: number; write: number };
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
      let t = performance.now();
      const through = await sealableThrough(db);
      const fence = performance.now() - t;
      const batch = await withTransaction(db, async (tx): Promise<SealedBatch | null> => {
        const { rows: [lock] } = await tx.query<{ got: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS got", [SEAL_LOCK]);
        if (!lock!.got) return null;

        t = performance.now();
        const { rows: [start] } = await tx.query<{ after: number }>("SELECT links_sealed_through() AS after");
        const after = start!.after;
        const ids: number[] = [];
        const pages: Buffer[] = [];
        const heads = new BatchHeads(keccak);
        await addHeadsBeforeFormat2(tx, heads);
        while (ids.length < maxLinks) {
          // Links sealed before migration 0010 may sit inside the range with their own batch: skipped.
          const { rows } = await tx.query<[number, Buffer, number, number, Buffer]>({
            name: "seal-read-3",
            text: "SELECT id, leaf, chain_index, n, link_hash FROM links WHERE id > $1 AND id <= $2 AND batch_seq IS NULL ORDER BY id LIMIT $3",
            values: [ids.at(-1) ?? after, through, Math.min(READ_PAGE, maxLinks - ids.length)],
            rowMode: "array",
          });
          if (rows.length === 0) break;
          const page = Buffer.allocUnsafe(rows.length * 32);
          rows.forEach(([id, leaf, index, n, hash], i) => { ids.push(id); leaf.copy(page, i * 32); heads.add(index, n, hash); });
          pages.push(page);
          if (rows.length < READ_PAGE) break;
        }
        if (ids.length === 0) return null;
        // A full batch ends at its last link; otherwise at the fence, past any ids rolled back.
        const lastLink = ids.length === maxLinks ? ids.at(-1)! : through;
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
          `INSERT INTO batches (seq, root, leaf_count, format, links_root, heads_root, heads_depth, first_link, last_link)
           VALUES ($1, $2, $3, 2, $4, $5, $6, $7, $8)`,
          [seq, Buffer.from(fromHex(root)), ids.length, Buffer.from(fromHex(tree.root)), Buffer.from(fromHex(map.root)), depth, after, lastLink],
        );
        await writeLinkTiles(tx, seq, tree, ids);
        await writeTiles(tx, seq, [...map.tiles.values()]);
        return {
          seq, root, leafCount: ids.length, headsRoot: map.root, headsDepth: depth, firstLink: after, lastLink,
          ms: { fence: Math.round(fence), read: Math.round(read), tree: Math.round(treeMs), heads: Math.round(headsMs), write: Math.round(performance.now() - t) },
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
