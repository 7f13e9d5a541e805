/**
 * The anchorer: puts sealed batches on chain in seq order with AnchorRegistry.anchor(seq, root, n)
 * and records transaction, block and time once CONFIRMATIONS blocks deep.
 *
 * Crash safety: the signed transaction is stored (state 'sent') before it is broadcast, so after a
 * crash the very same transaction is sent again, never a second one. Before signing, the registry is
 * asked for rootOf(seq): a root already there (a crash after sending) is adopted, never re-sent.
 * Batches the chain does not hold although we recorded them (a reorg, a fresh development chain, a
 * new registry) go back to 'sealed' and are anchored again.
 */
import type { Logger } from "pino";
import { toHex, type Hash } from "../core/hash.ts";
import type { Db, Tx } from "../db/pool.ts";
import type { Metrics } from "../metrics.ts";
import type { ChainClient } from "./chain.ts";
import { ADVISORY_LOCKS } from "../db/locks.ts";

const ANCHOR_LOCK = ADVISORY_LOCKS.anchor;
const ZERO: Hash = `0x${"00".repeat(32)}`;

/** The registry holds another root for a seq: only an operator can sort that out. */
export class AnchorConflictError extends Error {
  constructor(seq: number, ours: Hash, theirs: Hash) {
    super(`registry already holds a different root for batch ${seq} (ours ${ours}, chain ${theirs})`);
    this.name = "AnchorConflictError";
  }
}

interface BatchRow {
  seq: number;
  root: Buffer;
  leaf_count: number;
  state: "sealed" | "sent" | "anchored";
  chain_id: number | null;
  registry: string | null;
  raw_tx: string | null;
  tx_hash: string | null;
  sealed_at: Date;
}

export interface AnchorerOptions {
  db: Db;
  chain: ChainClient;
  confirmations: number;
  log: Logger;
  metrics: Metrics;
  /** How long to wait for a receipt before trying again on the next run. */
  receiptTimeoutMs?: number;
}

export function createAnchorer(options: AnchorerOptions) {
  const { db, chain, log, metrics } = options;
  const receiptTimeoutMs = options.receiptTimeoutMs ?? 120_000;

  async function markSent(conn: Tx, seq: number, chainId: number, signed: { rawTx: string; txHash: string }): Promise<void> {
    await conn.query(
      `UPDATE batches SET state = 'sent', chain_id = $2, registry = $3, raw_tx = $4, tx_hash = $5, sent_at = now(),
              block_number = NULL, block_time = NULL, anchored_at = NULL
        WHERE seq = $1`,
      [seq, chainId, chain.registry, signed.rawTx, signed.txHash],
    );
  }

  async function confirm(conn: Tx, batch: BatchRow, chainId: number, txHash: string): Promise<boolean> {
    const receipt = await chain.waitForConfirmations(txHash, options.confirmations, receiptTimeoutMs);
    if (receipt === null) {
      log.warn({ seq: batch.seq, txHash }, "anchor transaction not confirmed yet; will check again");
      return false;
    }
    if (receipt.status !== 1) {
      log.warn({ seq: batch.seq, txHash }, "anchor transaction reverted; the batch will be anchored again");
      await conn.query("UPDATE batches SET state = 'sealed', raw_tx = NULL, tx_hash = NULL WHERE seq = $1", [batch.seq]);
      return false;
    }
    const blockTime = await chain.blockTime(receipt.blockNumber);
    await conn.query(
      `UPDATE batches SET state = 'anchored', chain_id = $2, registry = $3, tx_hash = $4, block_number = $5, block_time = $6,
              anchored_at = now(), raw_tx = NULL
        WHERE seq = $1`,
      [batch.seq, chainId, chain.registry, txHash, receipt.blockNumber, blockTime],
    );
    metrics.batchesAnchored.inc();
    metrics.anchorLatency.observe((Date.now() - batch.sealed_at.getTime()) / 1000);
    log.info({ seq: batch.seq, txHash, blockNumber: receipt.blockNumber, leafCount: batch.leaf_count }, "batch anchored");
    return true;
  }

  /** Puts our records back in line with the chain before anything is sent. */
  async function reconcile(conn: Tx | Db, chainId: number): Promise<void> {
    const onChainNext = await chain.nextSeq();
    const { rowCount } = await conn.query(
      `UPDATE batches SET state = 'sealed', raw_tx = NULL, tx_hash = NULL, block_number = NULL, block_time = NULL, anchored_at = NULL
        WHERE (state = 'anchored' AND (seq >= $1 OR chain_id <> $2 OR registry <> $3))
           OR (state = 'sent' AND (chain_id <> $2 OR registry <> $3))`,
      [onChainNext, chainId, chain.registry],
    );
    if (rowCount) log.warn({ batches: rowCount, registry: chain.registry, onChainNext }, "batches not on this chain's registry will be anchored again");
  }

  /** Anchors one batch; true when it is anchored and confirmed. */
  async function anchorBatch(conn: Tx, batch: BatchRow, chainId: number): Promise<boolean> {
    const root = toHex(batch.root);
    const onChain = await chain.rootOf(batch.seq);
    if (onChain === root) {
      // Sent before a crash (or by another worker): adopt it.
      const txHash = batch.state === "sent" && batch.tx_hash ? batch.tx_hash : await chain.findAnchorTx(batch.seq);
      if (txHash === null) throw new Error(`batch ${batch.seq} is on chain but its transaction was not found`);
      return await confirm(conn, batch, chainId, txHash);
    }
    if (onChain !== ZERO) throw new AnchorConflictError(batch.seq, root, onChain);

    const next = await chain.nextSeq();
    if (next < batch.seq) {
      // An earlier batch is missing on chain (reorg or reset): go back and anchor it first.
      await reconcile(conn, chainId);
      return false;
    }
    if (batch.state === "sent" && batch.raw_tx !== null && batch.tx_hash !== null) {
      const receipt = await chain.receipt(batch.tx_hash);
      if (receipt === null && (await chain.nonceTaken(batch.raw_tx))) {
        // Dropped (a reorganisation, or a reset node) and its nonce since used by another anchor:
        // it can never be mined, so sign this batch again instead of waiting out the receipt timeout.
        log.warn({ seq: batch.seq, txHash: batch.tx_hash }, "stored anchor transaction can no longer be mined; signing it again");
        await conn.query("UPDATE batches SET state = 'sealed', raw_tx = NULL, tx_hash = NULL WHERE seq = $1", [batch.seq]);
        return false;
      }
      if (receipt === null) {
        log.info({ seq: batch.seq, txHash: batch.tx_hash }, "sending the stored anchor transaction again");
        await chain.broadcast(batch.raw_tx);
        if (await confirm(conn, batch, chainId, batch.tx_hash)) return true;
        // Not mined in time: if its nonce was taken by another transaction it can never be mined.
        const fresh = await chain.receipt(batch.tx_hash);
        if (fresh === null && (await chain.rootOf(batch.seq)) === ZERO) {
          await conn.query("UPDATE batches SET state = 'sealed', raw_tx = NULL, tx_hash = NULL WHERE seq = $1", [batch.seq]);
        }
        return false;
      }
      return await confirm(conn, batch, chainId, batch.tx_hash);
    }

    const signed = await chain.signAnchor(batch.seq, root, batch.leaf_count);
    await markSent(conn, batch.seq, chainId, signed);
    await chain.broadcast(signed.rawTx);
    log.info({ seq: batch.seq, txHash: signed.txHash, nonce: signed.nonce }, "anchor transaction sent");
    return await confirm(conn, batch, chainId, signed.txHash);
  }

  return {
    /** Marks batches the chain does not hold (or that another registry holds) for anchoring again. */
    async reconcile(): Promise<void> {
      await reconcile(db, await chain.chainId());
    },

    /**
     * Anchors every unanchored batch in seq order; returns how many were anchored in this run.
     * The whole run uses the one connection that holds the anchor lock (the embedded database
     * serves one connection at a time).
     */
    async anchorPending(): Promise<number> {
      const client = await db.connect();
      let locked = false;
      try {
        const { rows: [lock] } = await client.query<{ got: boolean }>("SELECT pg_try_advisory_lock($1) AS got", [ANCHOR_LOCK]);
        locked = lock!.got;
        if (!locked) return 0;
        const chainId = await chain.chainId();
        await reconcile(client, chainId);
        let anchored = 0;
        for (;;) {
          const { rows } = await client.query<BatchRow>(
            `SELECT seq, root, leaf_count, state, chain_id, registry, raw_tx, tx_hash, sealed_at
               FROM batches WHERE state <> 'anchored' ORDER BY seq LIMIT 1`,
          );
          const batch = rows[0];
          if (batch === undefined) return anchored;
          if (!(await anchorBatch(client, batch, chainId))) {
            // Not done yet (waiting, reverted): leave it to the next run, unless reconciling sent us
            // back to an earlier batch, which comes first.
            const { rows: again } = await client.query<{ seq: number }>("SELECT MIN(seq) AS seq FROM batches WHERE state <> 'anchored'");
            if (again[0]?.seq != null && again[0].seq < batch.seq) continue;
            return anchored;
          }
          anchored++;
        }
      } finally {
        if (locked) await client.query("SELECT pg_advisory_unlock($1)", [ANCHOR_LOCK]).catch(() => undefined);
        client.release();
      }
    },
  };
}

export type Anchorer = ReturnType<typeof createAnchorer>;
