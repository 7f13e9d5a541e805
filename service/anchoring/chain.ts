/**
 * The chain as the anchorer sees it: the registry's state, signing and sending `anchor`
 * transactions (and replacing a stuck one with a higher fee), receipts, blocks and the registry's
 * logs, looked for in bounded block ranges. Every failed RPC call is counted.
 */
import { JsonRpcProvider, Transaction, Wallet, type TransactionReceipt } from "ethers";
import { bumpedFees } from "../core/fees.ts";
import type { Hash } from "../core/hash.ts";
import type { Metrics } from "../metrics.ts";
import { registryAt } from "./registry.ts";

/** How often a sent transaction's receipt is looked for (as often as ethers polls for blocks here). */
const RECEIPT_POLL_MS = 250;
/** Attempts per call when the endpoint fails in a way that may pass (a 5xx, a dropped connection). */
const RPC_ATTEMPTS = 3;
/**
 * Blocks per eth_getLogs query: providers cap the range (commonly 2,000 to 10,000 blocks, some far
 * fewer), so the registry's logs are read in pages of at most this many, newest first; a page the
 * provider refuses is halved until it is accepted.
 */
export const LOG_PAGE_BLOCKS = 5_000;
const TRANSIENT = new Set(["SERVER_ERROR", "NETWORK_ERROR", "TIMEOUT", "UNKNOWN_ERROR", "ECONNRESET", "ECONNREFUSED", "EPIPE"]);

/** A failure another try may not meet: the endpoint answered badly, not the chain said no. */
function isTransient(error: unknown): boolean {
  const e = error as { code?: unknown; error?: { code?: unknown }; cause?: { code?: unknown } };
  if (typeof e.code === "string" && TRANSIENT.has(e.code)) {
    // A JSON-RPC error the node reports as "internal" (-32603) or "server" (-32000..-32099) may pass; others are answers.
    const rpcCode = e.error?.code;
    return typeof rpcCode !== "number" || rpcCode === -32603 || (rpcCode <= -32000 && rpcCode >= -32099);
  }
  return typeof e.cause?.code === "string" && TRANSIENT.has(e.cause.code);
}

export interface SignedAnchor {
  rawTx: string;
  txHash: string;
  nonce: number;
}

/** A block as far as the anchorer needs it: which one (its hash) and when. */
export interface BlockRef {
  hash: string;
  time: Date;
}

export interface ChainClient {
  readonly rpcUrl: string;
  readonly registry: string;
  readonly address: string;
  chainId(): Promise<number>;
  nextSeq(): Promise<number>;
  rootOf(seq: number): Promise<Hash>;
  /**
   * The transaction that anchored `seq`, from the registry's BatchAnchored log, looked for from the
   * head back to `fromBlock` (the previous batch's block, or the registry's deployment block) in
   * pages of at most LOG_PAGE_BLOCKS blocks.
   */
  findAnchorTx(seq: number, fromBlock?: number): Promise<string | null>;
  signAnchor(seq: number, root: Hash, leafCount: number): Promise<SignedAnchor>;
  /**
   * The same transaction (same nonce, same call) with fees raised by FEE_BUMP_PERCENT or to the
   * market's, whichever is more, within the MAX fee; null when the cap leaves no room to raise them.
   */
  signReplacement(rawTx: string): Promise<SignedAnchor | null>;
  /** Sends a signed transaction; sending one the node already has is not an error. */
  broadcast(rawTx: string): Promise<void>;
  receipt(txHash: string): Promise<TransactionReceipt | null>;
  /** True when the account has already used this signed transaction's nonce for another one (it can never be mined). */
  nonceTaken(rawTx: string): Promise<boolean>;
  /** True when this signed transaction's nonce is beyond the account's next one: it waits for a nonce nobody may ever use. */
  nonceGap(rawTx: string): Promise<boolean>;
  waitForConfirmations(txHash: string, confirmations: number, timeoutMs: number): Promise<TransactionReceipt | null>;
  blockTime(blockNumber: number): Promise<Date>;
  /** The canonical block at this height (its hash and time), or null when the chain is not that long. */
  block(blockNumber: number): Promise<BlockRef | null>;
  blockNumber(): Promise<number>;
  close(): void;
}

export interface ChainClientOptions {
  rpcUrl: string;
  privateKey: string;
  registry: string;
  metrics: Metrics;
  /** The highest maxFeePerGas an anchor transaction may offer, in wei (ANCHOR_MAX_FEE_GWEI). */
  maxFeePerGas?: bigint;
  /** The lowest block the registry's logs can be in (REGISTRY_DEPLOY_BLOCK). */
  deployBlock?: number;
  /** Blocks per eth_getLogs query (LOG_PAGE_BLOCKS unless a test says otherwise). */
  logPageBlocks?: number;
}

/** The default ANCHOR_MAX_FEE_GWEI. */
export const DEFAULT_MAX_FEE_GWEI = 500;

export function createChainClient(options: ChainClientOptions): ChainClient {
  const maxFee = options.maxFeePerGas ?? BigInt(DEFAULT_MAX_FEE_GWEI) * 10n ** 9n;
  const deployBlock = options.deployBlock ?? 0;
  const logPageBlocks = options.logPageBlocks ?? LOG_PAGE_BLOCKS;
  // Receipts are polled by waitForConfirmations itself (every RECEIPT_POLL_MS), not by ethers.
  const provider = new JsonRpcProvider(options.rpcUrl, undefined, { batchMaxCount: 1, cacheTimeout: -1 });
  const wallet = new Wallet(options.privateKey, provider);
  const registry = registryAt(options.registry, wallet);
  let chainId: number | null = null;

  /** One RPC call, counted when it fails; a transient failure is tried again (every call here is idempotent). */
  async function rpc<T>(method: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        options.metrics.rpcErrors.inc({ method });
        if (attempt >= RPC_ATTEMPTS || !isTransient(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  return {
    rpcUrl: options.rpcUrl,
    registry: options.registry,
    address: wallet.address,
    async chainId() {
      chainId ??= Number((await rpc("eth_chainId", () => provider.getNetwork())).chainId);
      return chainId;
    },
    async nextSeq() {
      return Number(await rpc("nextSeq", () => registry.getFunction("nextSeq")() as Promise<bigint>));
    },
    async rootOf(seq) {
      return (await rpc("rootOf", () => registry.getFunction("rootOf")(seq) as Promise<string>)).toLowerCase() as Hash;
    },
    async findAnchorTx(seq, fromBlock = deployBlock) {
      const filter = registry.filters.BatchAnchored!(seq);
      const floor = Math.max(0, fromBlock, deployBlock);
      let to = await rpc("eth_blockNumber", () => provider.getBlockNumber());
      let span = logPageBlocks;
      while (to >= floor) {
        const from = Math.max(floor, to - span + 1);
        let logs;
        try {
          logs = await rpc("eth_getLogs", () => registry.queryFilter(filter, from, to));
        } catch (error) {
          // Refused (a range or result cap: every provider words it differently): a smaller page.
          if (span === 1) throw error;
          span = Math.max(1, Math.floor(span / 2));
          continue;
        }
        const found = logs.at(-1)?.transactionHash;
        if (found !== undefined) return found;
        to = from - 1;
      }
      return null;
    },
    async signAnchor(seq, root, leafCount) {
      const request = await rpc("populate", async () =>
        wallet.populateTransaction({
          to: options.registry,
          data: registry.interface.encodeFunctionData("anchor", [seq, root, leafCount]),
          nonce: await provider.getTransactionCount(wallet.address, "pending"),
        }),
      );
      // Never offer more than the MAX fee, whatever the market asks.
      if (request.maxFeePerGas != null && BigInt(request.maxFeePerGas) > maxFee) {
        request.maxFeePerGas = maxFee;
        if (request.maxPriorityFeePerGas != null && BigInt(request.maxPriorityFeePerGas) > maxFee) request.maxPriorityFeePerGas = maxFee;
      }
      const rawTx = await wallet.signTransaction(request);
      const tx = Transaction.from(rawTx);
      return { rawTx, txHash: tx.hash!, nonce: tx.nonce };
    },
    async signReplacement(rawTx) {
      const old = Transaction.from(rawTx);
      if (old.maxFeePerGas === null || old.maxPriorityFeePerGas === null) return null;
      const feeData = await rpc("fee_data", () => provider.getFeeData());
      const fees = bumpedFees(
        { maxFeePerGas: old.maxFeePerGas, maxPriorityFeePerGas: old.maxPriorityFeePerGas },
        { maxFeePerGas: feeData.maxFeePerGas ?? 0n, maxPriorityFeePerGas: feeData.maxPriorityFeePerGas ?? 0n },
        maxFee,
      );
      if (fees === null) return null;
      const signed = await wallet.signTransaction({
        type: 2,
        chainId: old.chainId,
        nonce: old.nonce,
        to: old.to,
        data: old.data,
        value: old.value,
        gasLimit: old.gasLimit,
        accessList: old.accessList ?? [],
        ...fees,
      });
      const tx = Transaction.from(signed);
      return { rawTx: signed, txHash: tx.hash!, nonce: tx.nonce };
    },
    async broadcast(rawTx) {
      try {
        await rpc("eth_sendRawTransaction", () => provider.broadcastTransaction(rawTx));
      } catch (error) {
        const message = String((error as Error).message ?? error);
        // Already known or already mined: what matters is the receipt, which the caller waits for.
        if (/already known|known transaction|nonce too low|nonce has already been used|already imported/i.test(message)) return;
        throw error;
      }
    },
    async receipt(txHash) {
      return await rpc("eth_getTransactionReceipt", () => provider.getTransactionReceipt(txHash));
    },
    async nonceTaken(rawTx) {
      const tx = Transaction.from(rawTx);
      const mined = await rpc("eth_getTransactionCount", () => provider.getTransactionCount(wallet.address, "latest"));
      return tx.nonce < mined && (await rpc("eth_getTransactionReceipt", () => provider.getTransactionReceipt(tx.hash!))) === null;
    },
    async nonceGap(rawTx) {
      const tx = Transaction.from(rawTx);
      return tx.nonce > (await rpc("eth_getTransactionCount", () => provider.getTransactionCount(wallet.address, "latest")));
    },
    async waitForConfirmations(txHash, confirmations, timeoutMs) {
      // Polled here rather than with ethers' waitForTransaction: that one checks again only when a
      // new block arrives, so one failed receipt call (a flaky RPC) stalls it until the timeout on a
      // quiet chain, and a failed first block-number call leaves its promise unsettled.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const receipt = await rpc("eth_getTransactionReceipt", () => provider.getTransactionReceipt(txHash));
          if (receipt !== null && (await rpc("eth_blockNumber", () => provider.getBlockNumber())) - receipt.blockNumber + 1 >= confirmations) return receipt;
        } catch {
          // counted by rpc(); a transient failure is tried again at the next poll
        }
        if (Date.now() >= deadline) return null;
        await new Promise((resolve) => setTimeout(resolve, Math.min(RECEIPT_POLL_MS, Math.max(0, deadline - Date.now()))));
      }
    },
    async blockTime(blockNumber) {
      const block = await rpc("eth_getBlockByNumber", () => provider.getBlock(blockNumber));
      if (block === null) throw new Error(`block ${blockNumber} not found`);
      return new Date(block.timestamp * 1000);
    },
    async block(blockNumber) {
      const block = await rpc("eth_getBlockByNumber", () => provider.getBlock(blockNumber));
      return block === null || block.hash === null ? null : { hash: block.hash.toLowerCase(), time: new Date(block.timestamp * 1000) };
    },
    async blockNumber() {
      return await rpc("eth_blockNumber", () => provider.getBlockNumber());
    },
    close() {
      provider.destroy();
    },
  };
}
