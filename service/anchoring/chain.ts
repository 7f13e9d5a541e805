/**
 * The chain as the anchorer sees it: the registry's state, signing and sending `anchor`
 * transactions, receipts and confirmations. Every failed RPC call is counted.
 */
import { JsonRpcProvider, Transaction, Wallet, type TransactionReceipt } from "ethers";
import type { Hash } from "../core/hash.ts";
import type { Metrics } from "../metrics.ts";
import { registryAt } from "./registry.ts";

/** How often a sent transaction's receipt is looked for (as often as ethers polls for blocks here). */
const RECEIPT_POLL_MS = 250;
/** Attempts per call when the endpoint fails in a way that may pass (a 5xx, a dropped connection). */
const RPC_ATTEMPTS = 3;
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

export interface ChainClient {
  readonly rpcUrl: string;
  readonly registry: string;
  readonly address: string;
  chainId(): Promise<number>;
  nextSeq(): Promise<number>;
  rootOf(seq: number): Promise<Hash>;
  /** The transaction that anchored `seq`, from the registry's BatchAnchored log. */
  findAnchorTx(seq: number): Promise<string | null>;
  signAnchor(seq: number, root: Hash, leafCount: number): Promise<SignedAnchor>;
  /** Sends a signed transaction; sending one the node already has is not an error. */
  broadcast(rawTx: string): Promise<void>;
  receipt(txHash: string): Promise<TransactionReceipt | null>;
  /** True when the account has already used this signed transaction's nonce for another one (it can never be mined). */
  nonceTaken(rawTx: string): Promise<boolean>;
  waitForConfirmations(txHash: string, confirmations: number, timeoutMs: number): Promise<TransactionReceipt | null>;
  blockTime(blockNumber: number): Promise<Date>;
  blockNumber(): Promise<number>;
  close(): void;
}

export function createChainClient(options: { rpcUrl: string; privateKey: string; registry: string; metrics: Metrics }): ChainClient {
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
      return ((await rpc("rootOf", () => registry.getFunction("rootOf")(seq) as Promise<string>)).toLowerCase()) as Hash;
    },
    async findAnchorTx(seq) {
      const filter = registry.filters.BatchAnchored!(seq);
      const logs = await rpc("eth_getLogs", () => registry.queryFilter(filter, 0, "latest"));
      return logs.at(-1)?.transactionHash ?? null;
    },
    async signAnchor(seq, root, leafCount) {
      const request = await rpc("populate", async () =>
        wallet.populateTransaction({
          to: options.registry,
          data: registry.interface.encodeFunctionData("anchor", [seq, root, leafCount]),
          nonce: await provider.getTransactionCount(wallet.address, "pending"),
        }));
      const rawTx = await wallet.signTransaction(request);
      const tx = Transaction.from(rawTx);
      return { rawTx, txHash: tx.hash!, nonce: tx.nonce };
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
    async blockNumber() {
      return await rpc("eth_blockNumber", () => provider.getBlockNumber());
    },
    close() {
      provider.destroy();
    },
  };
}
