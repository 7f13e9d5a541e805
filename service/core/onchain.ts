/**
 * What every verifier asks the chain, over plain JSON-RPC: the chain id, the registry's code, the
 * root of every batch a bundle names, the registry's latest batch, and when batches were anchored
 * (their `BatchAnchored` logs). Pure apart from the `rpc` function the caller passes (ethers in the
 * CLIs, fetch in the browser), so `verify-proof`, the audit, the page's check and the standalone
 * verifier all decide the same way.
 */
import type { Problem } from "./bundle-v1.ts";
import { keccak256, toHex, type Hash } from "./hash.ts";

/** One JSON-RPC call: resolves to the `result`, rejects on a transport or JSON-RPC error. */
export type Rpc = (method: string, params: unknown[]) => Promise<unknown>;

/** The chain and registry a verifier trusts, and how old a completeness proof may be. */
export interface Trust {
  chainId: number;
  registry: string;
  /** A proof's batch is stale once the registry has held a newer batch for longer than this. */
  maxAgeSeconds: number;
  /** Now, in seconds since 1970 (the verifier's clock). */
  now: number;
}

/** A verifier's default: a bundle is fetched to be checked, not kept for a day before it. */
export const DEFAULT_MAX_AGE_SECONDS = 3600;

/** Blocks asked for per eth_getLogs call: public providers cap the range (often 10,000 or less). */
export const LOG_RANGE = 5_000;

const encoder = new TextEncoder();
const selector = (signature: string): string => toHex(keccak256(encoder.encode(signature))).slice(0, 10);
const word = (value: number | bigint): string => BigInt(value).toString(16).padStart(64, "0");

export const ROOT_OF = selector("rootOf(uint64)");
export const NEXT_SEQ = selector("nextSeq()");
export const SUCCESSOR = selector("successor()");
/** topic0 of `BatchAnchored(uint64 indexed seq, bytes32 root, uint32 leafCount)`. */
export const BATCH_ANCHORED = toHex(keccak256(encoder.encode("BatchAnchored(uint64,bytes32,uint32)")));

const HEX = /^0x[0-9a-fA-F]*$/;

function hexResult(value: unknown, what: string): string {
  if (typeof value !== "string" || !HEX.test(value)) throw new Error(`the node's answer to ${what} was not understood`);
  return value;
}

export async function chainIdOf(rpc: Rpc): Promise<number> {
  return Number(BigInt(hexResult(await rpc("eth_chainId", []), "eth_chainId")));
}

export async function hasCode(rpc: Rpc, address: string): Promise<boolean> {
  return hexResult(await rpc("eth_getCode", [address, "latest"]), "eth_getCode") !== "0x";
}

async function call(rpc: Rpc, registry: string, data: string, what: string): Promise<string> {
  const result = hexResult(await rpc("eth_call", [{ to: registry, data }, "latest"]), what);
  if (result.length < 66) throw new Error(`the registry's answer to ${what} was not understood`);
  return result.slice(0, 66).toLowerCase();
}

export async function rootOf(rpc: Rpc, registry: string, seq: number): Promise<Hash> {
  return (await call(rpc, registry, ROOT_OF + word(seq), `rootOf(${seq})`)) as Hash;
}

/** The registry's latest batch (0 before any). */
export async function latestSeq(rpc: Rpc, registry: string): Promise<number> {
  return Number(BigInt(await call(rpc, registry, NEXT_SEQ, "nextSeq()"))) - 1;
}

/** The registry the operator moved to (recorded once on chain by the old one), or null. */
export async function successorOf(rpc: Rpc, registry: string): Promise<string | null> {
  let result: string;
  try {
    result = await call(rpc, registry, SUCCESSOR, "successor()");
  } catch {
    return null; // a registry deployed before successors existed
  }
  const address = `0x${result.slice(26)}`;
  return /^0x0{40}$/.test(address) ? null : address;
}

export interface Anchoring {
  seq: number;
  root: Hash;
  blockNumber: number;
  blockTime: number;
  txHash: string;
}

interface RpcLog {
  blockNumber?: unknown;
  data?: unknown;
  transactionHash?: unknown;
  removed?: unknown;
}

async function blockTime(rpc: Rpc, blockNumber: number): Promise<number> {
  const block = await rpc("eth_getBlockByNumber", [`0x${blockNumber.toString(16)}`, false]);
  if (typeof block !== "object" || block === null || typeof (block as { timestamp?: unknown }).timestamp !== "string") {
    throw new Error(`block ${blockNumber} was not found`);
  }
  return Number(BigInt((block as { timestamp: string }).timestamp));
}

/**
 * Where and when batch `seq` was anchored on `registry`: its BatchAnchored log, looked for at
 * `hint` (the block the bundle names) first, then from block `from` on, LOG_RANGE blocks a call.
 * Null if the registry never anchored it.
 */
export async function findAnchoring(rpc: Rpc, registry: string, seq: number, options: { hint?: number | null; from?: number } = {}): Promise<Anchoring | null> {
  const latest = Number(BigInt(hexResult(await rpc("eth_blockNumber", []), "eth_blockNumber")));
  const ask = async (fromBlock: number, toBlock: number): Promise<Anchoring | null> => {
    const logs = await rpc("eth_getLogs", [
      {
        address: registry,
        topics: [BATCH_ANCHORED, `0x${word(seq)}`],
        fromBlock: `0x${fromBlock.toString(16)}`,
        toBlock: `0x${toBlock.toString(16)}`,
      },
    ]);
    if (!Array.isArray(logs)) throw new Error("the node's answer to eth_getLogs was not understood");
    const log = (logs as RpcLog[]).find((l) => l.removed !== true);
    if (log === undefined) return null;
    const blockNumber = Number(BigInt(hexResult(log.blockNumber, "eth_getLogs")));
    const data = hexResult(log.data, "eth_getLogs");
    return {
      seq,
      root: `0x${data.slice(2, 66).toLowerCase()}` as Hash,
      blockNumber,
      blockTime: await blockTime(rpc, blockNumber),
      txHash: typeof log.transactionHash === "string" ? log.transactionHash : "",
    };
  };
  const hint = options.hint;
  if (hint !== undefined && hint !== null && Number.isSafeInteger(hint) && hint >= 0 && hint <= latest) {
    const found = await ask(hint, hint);
    if (found !== null) return found;
  }
  for (let from = Math.max(0, options.from ?? 0); from <= latest; from += LOG_RANGE) {
    const found = await ask(from, Math.min(latest, from + LOG_RANGE - 1));
    if (found !== null) return found;
  }
  return null;
}

/** What the chain says about a bundle's claims. */
export interface ChainCheck {
  problems: Problem[];
  /** How many roots were compared with the registry's. */
  rootsChecked: number;
  /** The registry's latest batch. */
  latestSeq: number;
  /** When the head proof's batch was anchored, from the chain (null without one). */
  completeAsOf: { seq: number; blockTime: number; blockNumber: number } | null;
}

/**
 * Compares a verified bundle's roots with the trusted registry, and checks its completeness proof is
 * not stale. `claims` come from `verifyBundle`: `roots` and `completeAsOf` (with the block the bundle
 * says its batch is in). The bundle's own chain and registry must be the trusted ones (checked here).
 */
export async function checkOnChain(
  rpc: Rpc,
  trust: Trust,
  bundleChain: { chainId: number; registry: string },
  claims: { roots: { seq: number; root: Hash; paths: string[] }[]; completeAsOf: { seq: number; blockNumber: number | null } | null },
): Promise<ChainCheck> {
  const problems: Problem[] = [];
  const result: ChainCheck = { problems, rootsChecked: 0, latestSeq: 0, completeAsOf: null };
  if (bundleChain.chainId !== trust.chainId) {
    problems.push({
      path: "chain.chainId",
      message: "the bundle names another chain than the one trusted",
      expected: String(trust.chainId),
      found: String(bundleChain.chainId),
    });
  }
  if (bundleChain.registry.toLowerCase() !== trust.registry.toLowerCase()) {
    problems.push({
      path: "chain.registry",
      message: "the bundle names another registry than the one trusted",
      expected: trust.registry,
      found: bundleChain.registry,
    });
  }
  if (problems.length > 0) return result;
  const chainId = await chainIdOf(rpc);
  if (chainId !== trust.chainId) {
    problems.push({
      path: "chain.chainId",
      message: "the RPC serves another chain than the one trusted",
      expected: String(trust.chainId),
      found: String(chainId),
    });
    return result;
  }
  if (!(await hasCode(rpc, trust.registry))) {
    problems.push({ path: "chain.registry", message: `no contract is deployed at ${trust.registry} on chain ${chainId}` });
    return result;
  }
  for (const { seq, root, paths } of claims.roots) {
    const onChain = await rootOf(rpc, trust.registry, seq);
    result.rootsChecked++;
    if (onChain !== root.toLowerCase()) {
      problems.push({
        path: paths.join(", "),
        message: /^0x0{64}$/.test(onChain) ? `the registry holds no root for batch ${seq}` : `the registry holds a different root for batch ${seq}`,
        expected: root,
        found: onChain,
      });
    }
  }
  result.latestSeq = await latestSeq(rpc, trust.registry);
  const head = claims.completeAsOf;
  if (head !== null && problems.length === 0) {
    const anchored = await findAnchoring(rpc, trust.registry, head.seq, { hint: head.blockNumber });
    if (anchored === null) {
      problems.push({ path: "head.seq", message: `the registry has no BatchAnchored event for batch ${head.seq}` });
      return result;
    }
    result.completeAsOf = { seq: head.seq, blockTime: anchored.blockTime, blockNumber: anchored.blockNumber };
    if (result.latestSeq > head.seq) {
      const newer = await findAnchoring(rpc, trust.registry, head.seq + 1, { from: anchored.blockNumber });
      if (newer === null) {
        // The registry says a newer batch exists but its log cannot be found (a node that prunes
        // logs, a provider's range limits): its age is unknown, so the proof cannot be called fresh.
        problems.push({
          path: "head.seq",
          message: `stale or unknown: the registry holds batch ${head.seq + 1}, newer than the head proof's batch ${head.seq}, but its BatchAnchored event could not be found to tell when; fetch a fresh bundle or use a node that keeps logs`,
        });
        return result;
      }
      if (trust.now - newer.blockTime > trust.maxAgeSeconds) {
        problems.push({
          path: "head.seq",
          message: `stale: the registry has held batch ${head.seq + 1} (newer than the head proof's batch ${head.seq}) since ${new Date(newer.blockTime * 1000).toISOString()}, longer than ${trust.maxAgeSeconds} s: links may have been added since; fetch a fresh bundle`,
        });
      }
    }
  }
  return result;
}
