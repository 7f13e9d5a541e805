/**
 * The sealer: takes pending links (oldest first, at most SEAL_MAX_LINKS), builds their Merkle tree,
 * and in one transaction records the batch and each link's leaf index and proof. One sealer at a
 * time (a transaction-scoped advisory lock); a crash before commit leaves the links pending.
 */
import { MerkleTree } from "../core/merkle.ts";
import { fromHex, type Hash } from "../core/hash.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.ts";

const SEAL_LOCK = 0x5ea1_0001;

export interface SealedBatch {
  seq: number;
  root: Hash;
  leafCount: number;
}

export function createSealer(options: { db: Db; maxLinks: number; log: Logger; metrics: Metrics }) {
  const { db, maxLinks, log, metrics } = options;
  return {
    /** Seals one batch; null when there was nothing to seal or another sealer holds the lock. */
    async sealOnce(): Promise<SealedBatch | null> {
      const batch = await withTransaction(db, async (tx): Promise<SealedBatch | null> => {
        const { rows: [lock] } = await tx.query<{ got: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS got", [SEAL_LOCK]);
        if (!lock!.got) return null;
        const { rows } = await tx.query<{ id: number; leaf: Buffer }>(
          "SELECT id, leaf FROM links WHERE batch_seq IS NULL ORDER BY id LIMIT $1",
          [maxLinks],
        );
        if (rows.length === 0) return null;
        const tree = new MerkleTree(rows.map((r) => new Uint8Array(r.leaf.buffer, r.leaf.byteOffset, r.leaf.byteLength)));
        const { rows: [next] } = await tx.query<{ seq: number }>("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM batches");
        const seq = next!.seq;
        await tx.query("INSERT INTO batches (seq, root, leaf_count) VALUES ($1, $2, $3)", [seq, Buffer.from(fromHex(tree.root)), rows.length]);
        await tx.query(
          `UPDATE links SET batch_seq = $1, leaf_index = t.i - 1, proof = t.proof
             FROM unnest($2::bigint[], $3::bytea[]) WITH ORDINALITY AS t(id, proof, i)
            WHERE links.id = t.id`,
          [seq, rows.map((r) => r.id), rows.map((_, i) => Buffer.from(tree.proofBytes(i)))],
        );
        return { seq, root: tree.root, leafCount: rows.length };
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
