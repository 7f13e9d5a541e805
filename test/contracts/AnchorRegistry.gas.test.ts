import { expect } from "chai";
import { deployRegistryFixture, networkHelpers, randomRoot } from "./fixtures.ts";

/** The ceiling for one anchor call, all costs included (21,000 base, calldata, storage, event). */
const MAX_ANCHOR_GAS = 55_000n;

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
});
