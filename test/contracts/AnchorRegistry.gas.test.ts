import { expect } from "chai";
import { batchRoot, headLeaf, processHeadProof } from "../../service/core/commitments.ts";
import type { Hash } from "../../service/core/hash.ts";
import { processProof } from "../../service/core/merkle.ts";
import { deployRegistryFixture, ethers, networkHelpers, randomRoot } from "./fixtures.ts";
import { linkLeaf } from "./heads.ts";

/** The ceiling for one anchor call, all costs included (21,000 base, calldata, storage, event). */
const MAX_ANCHOR_GAS = 55_000n;

/** Proof lengths for the view calls' figures: a 20-level links tree (~1M links), a 27-level heads map (~134M chains). */
const LINKS_LEVELS = 20;
const HEADS_LEVELS = 27;

/** The gas a call spends executing (no base cost, no calldata), from the trace of its opcodes. */
async function executionGas(to: string, data: string): Promise<number> {
  const trace = (await ethers.provider.send("debug_traceCall", [
    { to, data },
    "latest",
    { disableStack: true, disableMemory: true, disableStorage: true },
  ])) as { failed: boolean; structLogs: { gas: number; gasCost: number }[] };
  expect(trace.failed).to.equal(false);
  const first = trace.structLogs[0]!,
    last = trace.structLogs.at(-1)!;
  return first.gas - last.gas + last.gasCost;
}

describe("AnchorRegistry gas", () => {
  it(`anchors a batch for at most ${MAX_ANCHOR_GAS} gas`, async () => {
    const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
    const used: bigint[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      const receipt = await (await registry.anchor(seq, randomRoot(), 100_000)).wait();
      used.push(receipt!.gasUsed);
    }
    const worst = used.reduce((a, b) => (a > b ? a : b));
    console.log(`      gas per anchor, batches 1-5: ${used.join(", ")} (ceiling ${MAX_ANCHOR_GAS})`);
    expect(worst).to.be.at.most(MAX_ANCHOR_GAS);
  });

  it(`reports the gas of verifyLink (${LINKS_LEVELS}-level proof) and verifyHead (${HEADS_LEVELS}-level proof)`, async () => {
    const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
    // Random siblings: the calls hash the same whether or not a real tree stands behind them.
    const linkHash = randomRoot() as Hash,
      headLinkHash = randomRoot() as Hash;
    const linksProof = Array.from({ length: LINKS_LEVELS }, () => randomRoot() as Hash);
    const headsProof = Array.from({ length: HEADS_LEVELS }, () => randomRoot() as Hash);
    const index = 0b101_1010_0110_1001_0110_1100_1011; // mixed bits: both branches of the loop
    const n = 1_234;
    const linksRoot = processProof(linkLeaf(linkHash), linksProof);
    const headsRoot = processHeadProof(index, headLeaf(index, n, headLinkHash), headsProof);
    await registry.anchor(1, batchRoot(linksRoot, headsRoot, HEADS_LEVELS), 1_000_000);

    expect(await registry.verifyLink(1, linkHash, linksProof, headsRoot, HEADS_LEVELS)).to.equal(true);
    expect(await registry.verifyHead(1, index, n, headLinkHash, headsProof, linksRoot)).to.equal(true);
    const linkArgs: [number, Hash, Hash[], Hash, number] = [1, linkHash, linksProof, headsRoot, HEADS_LEVELS];
    const headArgs: [number, number, number, Hash, Hash[], Hash] = [1, index, n, headLinkHash, headsProof, linksRoot];
    const linkGas = await registry.verifyLink.estimateGas(...linkArgs);
    const headGas = await registry.verifyHead.estimateGas(...headArgs);
    const linkExecution = await executionGas(await registry.getAddress(), registry.interface.encodeFunctionData("verifyLink", linkArgs));
    const headExecution = await executionGas(await registry.getAddress(), registry.interface.encodeFunctionData("verifyHead", headArgs));
    console.log(`      gas of verifyLink, ${LINKS_LEVELS}-level links proof: ${linkGas} as a transaction, ${linkExecution} of it executing`);
    console.log(`      gas of verifyHead, ${HEADS_LEVELS}-level heads proof: ${headGas} as a transaction, ${headExecution} of it executing`);
    // A transaction's figure is mostly calldata (EIP-7623's floor); the execution is what a contract calling in pays.
    expect(linkExecution).to.be.below(linkGas);
    expect(headExecution).to.be.below(headGas);
  });
});
