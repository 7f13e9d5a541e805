import { expect } from "chai";
import { keccak256, toHex, type Hash } from "../../service/core/hash.ts";
import { MerkleTree } from "../../service/core/merkle.ts";
import { deployRegistryFixture, networkHelpers } from "../contracts/fixtures.ts";

describe("core/merkle against AnchorRegistry.verify on chain", () => {
  it("every proof of trees of 1, 2, 3, 2^k and 2^k+1 leaves verifies on chain", async () => {
    const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
    let seq = 0;
    for (const size of [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65]) {
      const leaves: Hash[] = Array.from({ length: size }, (_, i) => toHex(keccak256(new TextEncoder().encode(`${size}:${i}`))));
      const tree = new MerkleTree(leaves);
      await registry.anchor(++seq, tree.root, size);
      const results = await Promise.all(leaves.map((leaf, i) => registry.verify(seq, leaf, tree.proof(i))));
      expect(results.every(Boolean), `tree of ${size}`).to.equal(true);
      // and a proof for one batch does not verify against another
      if (seq > 1) expect(await registry.verify(seq - 1, leaves[0]!, tree.proof(0))).to.equal(false);
    }
  });
});
