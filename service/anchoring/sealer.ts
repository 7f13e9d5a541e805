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
import { Worker } from "node:worker_threads";
import { ADVISORY_LOCKS } from "../db/locks.ts";

const SEAL_LOCK = ADVISORY_LOCKS.seal;
/** By default, batches from this many leaves up have their tree built in a worker thread, beside the heads map. */
const TREE_WORKER_LEAVES = 100_000;

/**
 * The links tree of `leaves` (one buffer, 32 bytes a leaf): built in a worker thread for a large
 * batch, so the caller can move the heads map meanwhile; here for a small one.
 */
function buildTree(leaves: Uint8Array, keccak: (bytes: Uint8Array) => Uint8Array, workerFrom: number): Promise<MerkleTree> {
  if (leaves.length / 32 < workerFrom) return Promise.resolve(new MerkleTree(leaves, keccak));
  // The worker gets a buffer of its own (a Buffer may share a pooled one).
  const own = new Uint8Array(leaves);
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./tree-worker.ts", import.meta.url));
    worker.once("message", (levels: Uint8Array[]) => {
      void worker.terminate();
      try {
        resolve(MerkleTree.fromLevels(levels));
      } catch (error) {
        reject(error as Error);
      }
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the tree worker exited (${code}) before answering`)));
    worker.postMessage(own, [own.buffer]);
  });
}

/** Link ids read per query: each window of ids comes back as one row of concatenated leaves and arrays. */
const READ_WINDOW = 50_000;

/** A window's links: leaves and link hashes concatenated, and per link its id, chain index (u64) and n (u32), big-endian. */
/** One window of the range to seal: up to $3 pending links with ids in ($1, $2], aggregated into one row (see sealOnce). */
export const SEAL_WINDOW_SQL = `SELECT count(*)::int AS n, max(id) AS last, count(chain_index)::int AS indexed, string_agg(leaf, ''::bytea ORDER BY id) AS leaves,
       string_agg(link_hash, ''::bytea ORDER BY id) AS hashes, string_agg(int8send(id) || int8send(chain_index) || int4send(n), ''::bytea ORDER BY id) AS numbers
  FROM (SELECT id, chain_index, leaf, link_hash, n FROM links WHERE id > $1 AND id <= $2 AND batch_seq IS NULL ORDER BY id LIMIT $3) w`;

interface Window {
  n: number;
  /** The window's last link id (null when empty). */
  last: number | null;
  indexed: number;
  leaves: Buffer | null;
  hashes: Buffer | null;
  numbers: Buffer | null;
}
const NUMBERS = 20;
const u64At = (bytes: Buffer, at: number): number => bytes.readUInt32BE(at) * 2 ** 32 + bytes.readUInt32BE(at + 4);

export interface SealedBatch {
  seq: number;
  root: Hash;
  leafCount: number;
  headsRoot: Hash;
  headsDepth: number;
  /** The link ids the batch covers: (firstLink, lastLink]. */
  firstLink: number;
  lastLink: number;
  /**
   * Where the time went, in milliseconds: the fence, reading the leaves, building the tree, the heads
   * map, storing. The tree and the heads map are built at the same time (wall clock: the larger).
   */
  ms: { fence: number; read: number; tree: number; heads: number; write: number };
}

/**
 * The batch's links as the heads map needs them, in flat arrays (row r: chain index, head leaf).
 * A chain may move several times in one batch; its links are read in the order they were written,
 * so its newest is its last row. Leaves are hashed as rows arrive (while the next window is read);
 * while every row names a greater index than the one before (a run of new bottles), no map from
 * chains to rows is needed at all.
 */
class BatchHeads {
  private indices = new Float64Array(1_024);
  private leaves = new Uint8Array(32 * 1_024);
  private rows = 0;
  private ascending = true;
  private readonly keccak: (bytes: Uint8Array) => Uint8Array;
  constructor(keccak: (bytes: Uint8Array) => Uint8Array) {
    this.keccak = keccak;
  }

  add(index: number, n: number, linkHash: Uint8Array): void {
    if (this.rows === this.indices.length) {
      const indices = new Float64Array(this.rows * 2),
        leaves = new Uint8Array(this.rows * 64);
      indices.set(this.indices);
      leaves.set(this.leaves);
      this.indices = indices;
      this.leaves = leaves;
    }
    if (this.rows > 0 && index <= this.indices[this.rows - 1]!) this.ascending = false;
    this.indices[this.rows] = index;
    headLeafInto(this.leaves, this.rows * 32, index, n, linkHash, this.keccak);
    this.rows++;
  }

  /** The moved chains' indexes, ascending, and their head leaves in the same order. */
  run(): { indices: ArrayLike<number>; leaves: Uint8Array } {
    if (this.ascending) return { indices: this.indices.subarray(0, this.rows), leaves: this.leaves.subarray(0, this.rows * 32) };
    const newest = new Map<number, number>();
    for (let r = 0; r < this.rows; r++) newest.set(this.indices[r]!, r);
    const indices = [...newest.keys()].sort((a, b) => a - b);
    const leaves = new Uint8Array(indices.length * 32);
    indices.forEach((index, i) => {
      const r = newest.get(index)!;
      leaves.set(this.leaves.subarray(r * 32, r * 32 + 32), i * 32);
    });
    return { indices, leaves };
  }
}

/**
 * The heads of every chain sealed before the first format-2 batch (batches of format 1 had no heads
 * map): read once, when the map has no tile yet, so the first format-2 batch commits to them all.
 */
async function addHeadsBeforeFormat2(tx: Tx, heads: BatchHeads): Promise<void> {
  const {
    rows: [started],
  } = await tx.query<{ tiles: boolean; batches: boolean }>("SELECT EXISTS (SELECT 1 FROM head_tiles) AS tiles, EXISTS (SELECT 1 FROM batches) AS batches");
  if (started!.tiles || !started!.batches) return;
  const { rows } = await tx.query<{ idx: number; n: number; link_hash: Buffer }>(
    `SELECT COALESCE(c.chain_index, g.chain_index) AS idx, l.n, l.link_hash
       FROM (SELECT DISTINCT ON (serial) serial, n, link_hash FROM links WHERE batch_seq IS NOT NULL ORDER BY serial, n DESC) l
       LEFT JOIN serials s ON s.serial = l.serial LEFT JOIN codes c ON c.brand_id = s.brand_id AND c.serial = l.serial
       LEFT JOIN ledger_logs g ON g.key = l.serial`,
  );
  for (const row of rows) heads.add(row.idx, row.n, row.link_hash);
}

export function createSealer(options: { db: Db; maxLinks: number; log: Logger; metrics: Metrics; treeWorkerLeaves?: number }) {
  const { db, maxLinks, log, metrics, treeWorkerLeaves = TREE_WORKER_LEAVES } = options;
  return {
    /** Seals one batch; null when there was nothing to seal or another sealer holds the lock. */
    async sealOnce(): Promise<SealedBatch | null> {
      const keccak = await wasmKeccak256();
      let t = performance.now();
      const through = await sealableThrough(db);
      const fence = performance.now() - t;
      const batch = await withTransaction(db, async (tx): Promise<SealedBatch | null> => {
        const {
          rows: [lock],
        } = await tx.query<{ got: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS got", [SEAL_LOCK]);
        if (!lock!.got) return null;

        t = performance.now();
        const {
          rows: [start],
        } = await tx.query<{ after: number }>("SELECT links_sealed_through() AS after");
        const after = start!.after;
        const ids: number[] = [];
        const pages: Buffer[] = [];
        const heads = new BatchHeads(keccak);
        await addHeadsBeforeFormat2(tx, heads);
        // The range's links a window of ids at a time, aggregated by the database into one row (a
        // million rows parsed one by one cost more than everything else), and the next window asked
        // for before this one is hashed, so PostgreSQL and this process work at the same time.
        // Links sealed before migration 0010 may sit inside the range with their own batch: skipped.
        // A window is READ_WINDOW links, not ids: ids jump at each month's start (migration 0016, the
        // id ranges of partitions), so a window of ids could be empty a trillion times in a row.
        // Bounded by the range, the read touches only the partitions the range covers (the newest).
        const readWindow = (from: number) => tx.query<Window>({ name: "seal-window", text: SEAL_WINDOW_SQL, values: [from, through, READ_WINDOW] });
        let from = after;
        let pending = from < through ? readWindow(from) : null;
        while (pending !== null) {
          const {
            rows: [window],
          } = await pending;
          // Every link written since migration 0009 has its chain's index; a null would shift the numbers.
          if (window!.indexed !== window!.n) throw new Error(`links after ${from} have no chain index: cannot seal them`);
          // a full window may have more after it; a short one read everything up to the fence
          from = window!.n === READ_WINDOW ? window!.last! : through;
          const take = Math.min(window!.n, maxLinks - ids.length);
          pending = from < through && ids.length + take < maxLinks ? readWindow(from) : null;
          if (take === 0) continue;
          const { leaves, hashes, numbers } = window as { [K in keyof Window]: NonNullable<Window[K]> };
          for (let i = 0; i < take; i++) {
            ids.push(u64At(numbers, i * NUMBERS));
            heads.add(u64At(numbers, i * NUMBERS + 8), numbers.readUInt32BE(i * NUMBERS + 16), hashes.subarray(i * 32, i * 32 + 32));
          }
          pages.push(leaves.subarray(0, take * 32));
        }
        if (ids.length === 0) return null;
        // A full batch ends at its last link; otherwise at the fence, past any ids rolled back.
        const lastLink = ids.length === maxLinks ? ids.at(-1)! : through;
        const leaves = pages.length === 1 ? pages[0]! : Buffer.concat(pages);
        pages.length = 0;
        const read = performance.now() - t;

        // The tree (in a worker thread when large) and the heads map at the same time.
        t = performance.now();
        const treeStarted = t;
        let treeMs = 0;
        const building = buildTree(leaves, keccak, treeWorkerLeaves).then((built) => {
          treeMs = performance.now() - treeStarted;
          return built;
        });
        building.catch(() => undefined); // awaited below; not unhandled if the heads map fails first
        const {
          rows: [next],
        } = await tx.query<{ seq: number; depth: number | null }>("SELECT COALESCE(MAX(seq), 0) + 1 AS seq, MAX(heads_depth) AS depth FROM batches");
        const seq = next!.seq;
        const moved = heads.run();
        const depth = Math.max(next!.depth ?? 1, depthFor(moved.indices[moved.indices.length - 1] ?? 0));
        const stored = await readTiles(tx, tilesUnder(moved.indices, depth), null);
        const map = updateHeads((key) => stored.get(tileId(key)), moved, depth, keccak);
        const headsMs = performance.now() - t;
        const tree = await building;
        const root = batchRoot(tree.root, map.root, depth);

        t = performance.now();
        await tx.query(
          `INSERT INTO batches (seq, root, leaf_count, format, links_root, heads_root, heads_depth, first_link, last_link)
           VALUES ($1, $2, $3, 2, $4, $5, $6, $7, $8)`,
          [seq, Buffer.from(fromHex(root)), ids.length, Buffer.from(fromHex(tree.root)), Buffer.from(fromHex(map.root)), depth, after, lastLink],
        );
        await writeLinkTiles(tx, seq, tree, ids);
        await writeTiles(tx, seq, [...map.tiles.values()]);
        return {
          seq,
          root,
          leafCount: ids.length,
          headsRoot: map.root,
          headsDepth: depth,
          firstLink: after,
          lastLink,
          ms: {
            fence: Math.round(fence),
            read: Math.round(read),
            tree: Math.round(treeMs),
            heads: Math.round(headsMs),
            write: Math.round(performance.now() - t),
          },
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
