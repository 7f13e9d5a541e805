/**
 * The sealer: takes pending links (oldest first, at most SEAL_MAX_LINKS), builds their Merkle tree,
 * and in one transaction records the batch and each link's leaf index and proof. One sealer at a
 * time (a transaction-scoped advisory lock); a crash before commit leaves the links pending.
 *
 * Memory stays bounded for million-link batches: leaves are read a page at a time into one flat
 * buffer, the tree is flat buffers (core/merkle.ts) hashed with WebAssembly keccak256, and proofs
 * are computed and written a slice at a time, each slice one UPDATE whose proofs travel as one
 * binary parameter (a million proofs as one hex-encoded array literal would not even fit a string).
 */
import { MerkleTree } from "../core/merkle.ts";
import { fromHex, type Hash } from "../core/hash.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.ts";
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
  /** Where the time went, in milliseconds: reading the leaves, building the tree, storing the proofs. */
  ms: { read: number; tree: number; write: number };
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
        while (ids.length < maxLinks) {
          const { rows } = await tx.query<[number, Buffer]>({
            name: "seal-read",
            text: "SELECT id, leaf FROM links WHERE batch_seq IS NULL AND id > $1 ORDER BY id LIMIT $2",
            values: [ids.at(-1) ?? 0, Math.min(READ_PAGE, maxLinks - ids.length)],
            rowMode: "array",
          });
          if (rows.length === 0) break;
          const page = Buffer.allocUnsafe(rows.length * 32);
          rows.forEach(([id, leaf], i) => { ids.push(id); leaf.copy(page, i * 32); });
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
        const { rows: [next] } = await tx.query<{ seq: number }>("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM batches");
        const seq = next!.seq;
        await tx.query("INSERT INTO batches (seq, root, leaf_count) VALUES ($1, $2, $3)", [seq, Buffer.from(fromHex(tree.root)), ids.length]);
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
        return { seq, root: tree.root, leafCount: ids.length, ms: { read: Math.round(read), tree: Math.round(treeMs), write: Math.round(performance.now() - t) } };
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
