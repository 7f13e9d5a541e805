/**
 * Gas of AnchorRegistry.anchor on a registry of its own: per anchor of 10,000-leaf batches, and the
 * ceiling of anchoring every event in a transaction of its own (100 one-leaf anchors).
 */
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, NonceManager, Wallet, type TransactionResponse } from "ethers";
import { deployRegistry, registryAt } from "../../service/anchoring/registry.ts";

async function anchorAll(send: (seq: number) => Promise<TransactionResponse>, seqs: number[]): Promise<number[]> {
  const sent: TransactionResponse[] = [];
  for (const seq of seqs) sent.push(await send(seq));
  const receipts = await Promise.all(sent.map((tx) => tx.wait()));
  return receipts.map((r) => Number(r!.gasUsed));
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export async function measureGas(rpcUrl: string, key: string): Promise<{ perAnchor: number; perEventAt10k: number; perEventOneTxEach: number }> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100 });
  try {
    const signer = new NonceManager(new Wallet(key, provider));
    const registry = registryAt((await deployRegistry(signer)).address, signer);
    const anchor = (leafCount: number) => (seq: number) =>
      registry.getFunction("anchor")(seq, `0x${randomBytes(32).toString("hex")}`, leafCount, { gasLimit: 200_000 }) as Promise<TransactionResponse>;
    const oneEach = await anchorAll(
      anchor(1),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const batched = await anchorAll(anchor(10_000), [101, 102, 103, 104, 105]);
    const perAnchor = mean(batched);
    return { perAnchor, perEventAt10k: perAnchor / 10_000, perEventOneTxEach: mean(oneEach) };
  } finally {
    provider.destroy();
  }
}
