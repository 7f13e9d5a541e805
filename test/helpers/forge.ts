/**
 * What an operator who rewrites a bottle's history can make: a `sealtrace-proof/2` bundle that is
 * consistent in every hash (events, links, Merkle proofs, heads map, batch root), so that every
 * offline check passes, and that only the chain can refute. `anchorElsewhere` goes one step
 * further: it deploys a registry of the forger's own on the same chain and anchors the forged
 * root there, so that only the verifier's choice of registry can refute it.
 */
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { deployRegistry, registryAt } from "../../service/anchoring/registry.ts";
import type { BundleBatch, ProofBundle } from "../../service/core/bundle.ts";
import { batchRoot, headLeaf, headsRootOf } from "../../service/core/commitments.ts";
import { ZERO_HASH, type Hash } from "../../service/core/hash.ts";
import { eventHash, leafOf, linkHash } from "../../service/core/links.ts";
import { MerkleTree } from "../../service/core/merkle.ts";

/**
 * `honest` with `edit` applied to a copy, then the events' hashes and the links recomputed from the
 * first changed one on; anchors, batches and the head proof are kept as they were. A history
 * consistent in itself, which only the head proof (and each link's own proof) can refute.
 */
export function rehashed(honest: ProofBundle, edit: (bundle: ProofBundle) => void): ProofBundle {
  const bundle = structuredClone(honest);
  edit(bundle);
  const renamed = new Map<string, Hash>();
  for (const entry of bundle.events) {
    const hash = eventHash(entry.event as never);
    renamed.set(entry.eventHash, hash);
    entry.eventHash = hash;
  }
  let previous: Hash | null = null;
  for (const entry of bundle.links) {
    entry.link.event = renamed.get(entry.link.event) ?? entry.link.event;
    if (previous !== null) entry.link.prev = previous;
    entry.linkHash = linkHash(entry.link);
    previous = entry.linkHash;
  }
  return bundle;
}

/**
 * `honest` with `edit` applied to a copy, then every derived hash recomputed: the events' hashes,
 * the links from the first changed one on, one batch (the head proof's) holding all the links in a
 * tree of their own, a heads map holding this bottle alone, and that batch's root.
 */
export function forgeBundle(honest: ProofBundle, edit: (bundle: ProofBundle) => void): ProofBundle {
  const bundle = rehashed(honest, edit);
  const head = honest.head!;
  const template = honest.batches.find((b) => b.seq === head.seq)!;
  if (template.format !== 2) throw new Error("forgeBundle needs a format-2 head batch");
  const tree = new MerkleTree(bundle.links.map((l) => leafOf(l.linkHash)));
  bundle.links.forEach((entry, i) => {
    entry.anchor = { seq: head.seq, proof: tree.proof(i) };
  });
  const last = bundle.links.at(-1)!;
  const depth = template.headsDepth;
  const headsRoot = headsRootOf(new Map([[bundle.index, headLeaf(bundle.index, last.link.n, last.linkHash)]]), depth);
  const batch: BundleBatch = { ...template, linksRoot: tree.root, headsRoot, headsDepth: depth, root: batchRoot(tree.root, headsRoot, depth) };
  bundle.batches = [batch];
  bundle.head = { seq: head.seq, n: last.link.n, linkHash: last.linkHash, proof: Array.from({ length: depth }, () => ZERO_HASH) };
  return bundle;
}

/**
 * Deploys a registry of the forger's own (signed by `key`) and anchors the forged bundle's batch
 * there at the same seq (filler roots before it); the bundle then names that registry.
 */
export async function anchorElsewhere(rpcUrl: string, key: string, forged: ProofBundle): Promise<ProofBundle> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  try {
    const signer = new NonceManager(new Wallet(key, provider));
    const { address } = await deployRegistry(signer);
    const registry = registryAt(address, signer);
    const batch = forged.batches[0]!;
    for (let seq = 1; seq <= batch.seq; seq++) {
      const root = seq === batch.seq ? batch.root : `0x${seq.toString(16).padStart(64, "0")}`;
      const tx = await registry.getFunction("anchor")(seq, root, forged.links.length);
      const receipt = await tx.wait();
      if (seq === batch.seq) {
        const block = await provider.getBlock(receipt.blockNumber);
        Object.assign(batch, { txHash: receipt.hash, blockNumber: receipt.blockNumber, blockTime: new Date(block!.timestamp * 1000).toISOString() });
      }
    }
    return { ...forged, chain: { chainId: forged.chain.chainId, registry: address } };
  } finally {
    provider.destroy();
  }
}
