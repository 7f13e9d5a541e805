/**
 * The anchorer: puts sealed batches on chain in seq order with AnchorRegistry.anchor(seq, root, n)
 * and records transaction, block and time; a batch is final ('anchored') once its transaction is
 * CONFIRMATIONS blocks deep and its block is still the chain's block at that height.
 *
 * States: 'sealed' → 'sent' (signed transaction stored; once mined, its block is recorded too: the
 * batch is confirming) → 'anchored' (final). Every final anchoring is also kept in batch_anchors; a
 * batch made final again with another transaction or block (a reorganisation) supersedes the previous
 * row there, which the outbox turns into a `batch.reanchored` correction.
 *
 * Crash safety: the signed transaction is stored (state 'sent') before it is broadcast, so after a
 * crash the very same transaction is sent again, never a second one. One not mined after
 * ANCHOR_REPLACE_AFTER_MS is replaced by the same call with the same nonce and fees raised by 20 %
 * (within ANCHOR_MAX_FEE_GWEI), stored before it is broadcast; only one of them can be mined, and the
 * registry takes one anchor per seq. Before signing, the registry is asked for rootOf(seq): a root
 * already there (a crash after sending, or the replaced transaction mined after all) is adopted, never
 * re-sent. Batches the chain does not hold although we recorded them (a reorg, a fresh development
 * chain, a new registry) go back to 'sealed' and are anchored again; so do final batches whose block
 * is no longer the chain's (a reorganisation deeper than CONFIRMATIONS), adopted again where the
 * registry still holds their root.
 */
import type { Logger } from "pino";
import { toHex, type Hash } from "../core/hash.ts";
import type { Db, Tx } from "../db/pool.ts";
import type { Metrics } from "../metrics.ts";
import type { BlockRef, ChainClient } from "./chain.ts";
import { ADVISORY_LOCKS } from "../db/locks.ts";

const ANCHOR_LOCK = ADVISORY_LOCKS.anchor;
const ZERO: Hash = `0x${"00".repeat(32)}`;
/** Final batches looked at, newest first, when the newest one's block is no longer the chain's. */
const REORG_WALK = 64;
/** The default ANCHOR_REPLACE_AFTER_MS: about fifteen Ethereum blocks. */
export const DEFAULT_REPLACE_AFTER_MS = 180_000;

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
  /** How long ago the stored transaction was sent, by the database's clock (null before it is). */
  sent_ms_ago: number | null;
}

export interface AnchorerOptions {
  db: Db;
  chain: ChainClient;
  confirmations: number;
  log: Logger;
  metrics: Metrics;
  /** A transaction not mined this long after it was sent is replaced with a higher fee (ANCHOR_REPLACE_AFTER_MS). */
  replaceAfterMs?: number;
  /** How long to wait for a receipt before trying again on the next run (at most replaceAfterMs). */
  receiptTimeoutMs?: number;
}

export function createAnchorer(options: AnchorerOptions) {
  const { db, chain, log, metrics } = options;
  const replaceAfterMs = options.replaceAfterMs ?? DEFAULT_REPLACE_AFTER_MS;
  const receiptTimeoutMs = options.receiptTimeoutMs ?? Math.min(120_000, replaceAfterMs);
  const RESET = "state = 'sealed', raw_tx = NULL, tx_hash = NULL, block_number = NULL, block_hash = NULL, block_time = NULL, anchored_at = NULL";

  async function markSent(conn: Tx, seq: number, chainId: number, signed: { rawTx: string; txHash: string }): Promise<void> {
    await conn.query(
      `UPDATE batches SET state = 'sent', chain_id = $2, registry = $3, raw_tx = $4, tx_hash = $5, sent_at = now(),
              block_number = NULL, block_hash = NULL, block_time = NULL, anchored_at = NULL
        WHERE seq = $1`,
      [seq, chainId, chain.registry, signed.rawTx, signed.txHash],
    );
  }

  /** The block the batch before `seq` is final in: the anchor of `seq` cannot be in an earlier one. */
  async function floorFor(conn: Tx, seq: number, chainId: number): Promise<number | undefined> {
    const {
      rows: [row],
    } = await conn.query<{ block_number: number | null }>(
      "SELECT block_number FROM batches WHERE seq = $1 AND state = 'anchored' AND chain_id = $2 AND registry = $3",
      [seq - 1, chainId, chain.registry],
    );
    return row?.block_number ?? undefined;
  }

  /**
   * Makes the batch final, in one transaction with its row in batch_anchors. A previous final
   * anchoring of the same batch with another transaction, block or registry is superseded: the
   * outbox sends the correction.
   */
  async function finalize(conn: Tx, batch: BatchRow, chainId: number, txHash: string, blockNumber: number, block: BlockRef): Promise<void> {
    await conn.query("BEGIN");
    try {
      await conn.query(
        `UPDATE batches SET state = 'anchored', chain_id = $2, registry = $3, tx_hash = $4, block_number = $5, block_hash = $6,
                block_time = $7, anchored_at = now(), raw_tx = NULL
          WHERE seq = $1`,
        [batch.seq, chainId, chain.registry, txHash, blockNumber, block.hash, block.time],
      );
      const {
        rows: [previous],
      } = await conn.query<{ id: number; chain_id: number; registry: string; tx_hash: string; block_number: number; block_hash: string | null }>(
        "SELECT id, chain_id, registry, tx_hash, block_number, block_hash FROM batch_anchors WHERE seq = $1 ORDER BY id DESC LIMIT 1",
        [batch.seq],
      );
      const same =
        previous !== undefined &&
        previous.chain_id === chainId &&
        previous.registry === chain.registry &&
        previous.tx_hash === txHash &&
        previous.block_number === blockNumber &&
        (previous.block_hash ?? block.hash) === block.hash;
      if (same) {
        if (previous.block_hash === null) await conn.query("UPDATE batch_anchors SET block_hash = $2 WHERE id = $1", [previous.id, block.hash]);
      } else {
        await conn.query(
          `INSERT INTO batch_anchors (seq, chain_id, registry, tx_hash, block_number, block_hash, block_time, supersedes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [batch.seq, chainId, chain.registry, txHash, blockNumber, block.hash, block.time, previous?.id ?? null],
        );
        if (previous !== undefined) {
          log.warn(
            { seq: batch.seq, txHash, blockNumber, was: { txHash: previous.tx_hash, blockNumber: previous.block_number } },
            "batch anchored again after a reorganisation: a correction will be sent",
          );
        }
      }
      await conn.query("COMMIT");
    } catch (error) {
      await conn.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /**
   * Waits for the transaction to be mined; records where, and makes the batch final once it is
   * CONFIRMATIONS deep and its block is the chain's block at that height. True when final.
   */
  async function confirm(conn: Tx, batch: BatchRow, chainId: number, txHash: string): Promise<boolean> {
    const receipt = await chain.waitForConfirmations(txHash, 1, receiptTimeoutMs);
    if (receipt === null) {
      // A block recorded while it was confirming is no longer where it is (a reorganisation dropped it).
      await conn.query(
        "UPDATE batches SET block_number = NULL, block_hash = NULL, block_time = NULL WHERE seq = $1 AND state = 'sent' AND block_number IS NOT NULL",
        [batch.seq],
      );
      log.warn({ seq: batch.seq, txHash }, "anchor transaction not mined yet; will check again");
      return false;
    }
    if (receipt.status !== 1) {
      log.warn({ seq: batch.seq, txHash }, "anchor transaction reverted; the batch will be anchored again");
      await conn.query(`UPDATE batches SET ${RESET} WHERE seq = $1`, [batch.seq]);
      return false;
    }
    const head = await chain.blockNumber();
    const block = await chain.block(receipt.blockNumber);
    if (block === null || block.hash !== receipt.blockHash.toLowerCase()) {
      // The node's receipt and its chain disagree: a reorganisation under way (or a load balancer's nodes apart).
      log.warn({ seq: batch.seq, txHash, blockNumber: receipt.blockNumber }, "the receipt's block is not the chain's block at that height; will check again");
      return false;
    }
    if (head - receipt.blockNumber + 1 < options.confirmations) {
      await conn.query(
        `UPDATE batches SET state = 'sent', chain_id = $2, registry = $3, tx_hash = $4, block_number = $5, block_hash = $6, block_time = $7
          WHERE seq = $1`,
        [batch.seq, chainId, chain.registry, txHash, receipt.blockNumber, block.hash, block.time],
      );
      log.info(
        { seq: batch.seq, txHash, blockNumber: receipt.blockNumber, confirmations: head - receipt.blockNumber + 1 },
        "anchor transaction mined; waiting for confirmations",
      );
      return false;
    }
    await finalize(conn, batch, chainId, txHash, receipt.blockNumber, block);
    metrics.batchesAnchored.inc();
    metrics.anchorLatency.observe((Date.now() - batch.sealed_at.getTime()) / 1000);
    log.info({ seq: batch.seq, txHash, blockNumber: receipt.blockNumber, leafCount: batch.leaf_count }, "batch anchored");
    return true;
  }

  /**
   * A reorganisation deeper than CONFIRMATIONS moves or drops final anchors. If the newest final
   * batch's block is still the chain's, so is every earlier one (one call a run); otherwise earlier
   * ones are looked at back to one that holds, and the batches after it are anchored again (adopted
   * where the registry still holds their root, in their new block).
   */
  async function recheckFinal(conn: Tx | Db, chainId: number): Promise<void> {
    const { rows } = await conn.query<{ seq: number; block_number: number; block_hash: string }>(
      `SELECT seq, block_number, block_hash FROM batches
        WHERE state = 'anchored' AND chain_id = $1 AND registry = $2 AND block_hash IS NOT NULL
        ORDER BY seq DESC LIMIT $3`,
      [chainId, chain.registry, REORG_WALK],
    );
    let moved: number | null = null;
    for (const row of rows) {
      const block = await chain.block(row.block_number);
      if (block !== null && block.hash === row.block_hash) break;
      moved = row.seq;
    }
    if (moved === null) return;
    const { rowCount } = await conn.query(`UPDATE batches SET ${RESET} WHERE seq >= $1 AND state = 'anchored'`, [moved]);
    log.warn({ from: moved, batches: rowCount }, "final anchors are no longer in the chain's blocks (a reorganisation): anchoring them again");
  }

  /** Puts our records back in line with the chain before anything is sent. */
  async function reconcile(conn: Tx | Db, chainId: number): Promise<void> {
    const onChainNext = await chain.nextSeq();
    const { rowCount } = await conn.query(
      `UPDATE batches SET ${RESET}
        WHERE (state = 'anchored' AND (seq >= $1 OR chain_id <> $2 OR registry <> $3))
           OR (state = 'sent' AND (chain_id <> $2 OR registry <> $3))`,
      [onChainNext, chainId, chain.registry],
    );
    if (rowCount) log.warn({ batches: rowCount, registry: chain.registry, onChainNext }, "batches not on this chain's registry will be anchored again");
  }

  /** Anchors one batch; true when it is anchored and final. */
  async function anchorBatch(conn: Tx, batch: BatchRow, chainId: number): Promise<boolean> {
    const root = toHex(batch.root);
    const onChain = await chain.rootOf(batch.seq);
    if (onChain === root) {
      // Sent before a crash (or by another worker, or the transaction a replacement was meant to replace): adopt it.
      let txHash = batch.state === "sent" && batch.tx_hash !== null && (await chain.receipt(batch.tx_hash)) !== null ? batch.tx_hash : null;
      txHash ??= await chain.findAnchorTx(batch.seq, await floorFor(conn, batch.seq, chainId));
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
      if (receipt === null && ((await chain.nonceTaken(batch.raw_tx)) || (await chain.nonceGap(batch.raw_tx)))) {
        // Dropped (a reorganisation, or a reset node) and its nonce since used by another anchor, or
        // its nonce beyond the account's next one (every earlier batch is mined, so no transaction of
        // ours will fill the gap): it can never be mined as it is, so sign this batch again (the
        // registry takes one anchor per seq, whichever comes first).
        log.warn({ seq: batch.seq, txHash: batch.tx_hash }, "stored anchor transaction can no longer be mined; signing it again");
        await conn.query(`UPDATE batches SET ${RESET} WHERE seq = $1`, [batch.seq]);
        return false;
      }
      if (receipt === null) {
        const waited = batch.sent_ms_ago ?? Number.POSITIVE_INFINITY;
        if (waited >= replaceAfterMs) {
          // Stuck (too low a fee for the network now): the same call, same nonce, higher fees.
          const replacement = await chain.signReplacement(batch.raw_tx);
          if (replacement !== null) {
            // Stored before it is sent: a restarted worker sends this one, not the one it replaces.
            await conn.query(
              "UPDATE batches SET raw_tx = $2, tx_hash = $3, sent_at = now(), block_number = NULL, block_hash = NULL, block_time = NULL WHERE seq = $1",
              [batch.seq, replacement.rawTx, replacement.txHash],
            );
            log.warn(
              { seq: batch.seq, replaced: batch.tx_hash, txHash: replacement.txHash, nonce: replacement.nonce, waitedMs: waited },
              "anchor transaction not mined in time: replaced with a higher fee",
            );
            await chain.broadcast(replacement.rawTx);
            return await confirm(conn, batch, chainId, replacement.txHash);
          }
          log.warn(
            { seq: batch.seq, txHash: batch.tx_hash },
            "anchor transaction not mined in time, and cannot be replaced with a higher fee (ANCHOR_MAX_FEE_GWEI reached, or not an EIP-1559 transaction): sending it again as it is",
          );
        } else {
          log.info({ seq: batch.seq, txHash: batch.tx_hash }, "sending the stored anchor transaction again");
        }
        await chain.broadcast(batch.raw_tx);
        if (await confirm(conn, batch, chainId, batch.tx_hash)) return true;
        // Not mined in time: if its nonce was taken by another transaction it can never be mined;
        // otherwise it stays stored, and is replaced with a higher fee once it has waited long enough.
        const fresh = await chain.receipt(batch.tx_hash);
        if (fresh === null && (await chain.rootOf(batch.seq)) === ZERO && (await chain.nonceTaken(batch.raw_tx))) {
          await conn.query(`UPDATE batches SET ${RESET} WHERE seq = $1`, [batch.seq]);
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
        const {
          rows: [lock],
        } = await client.query<{ got: boolean }>("SELECT pg_try_advisory_lock($1) AS got", [ANCHOR_LOCK]);
        locked = lock!.got;
        if (!locked) return 0;
        const chainId = await chain.chainId();
        await reconcile(client, chainId);
        await recheckFinal(client, chainId);
        let anchored = 0;
        for (;;) {
          const { rows } = await client.query<BatchRow>(
            `SELECT seq, root, leaf_count, state, chain_id, registry, raw_tx, tx_hash, sealed_at,
                    (extract(epoch FROM now() - sent_at) * 1000)::float8 AS sent_ms_ago
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
