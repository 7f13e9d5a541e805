import { expect } from "chai";
import { keccak256, toHex, type Hash } from "../../service/core/hash.ts";
import { linkTilesForProof, MerkleTree, proofFromLinkTiles } from "../../service/core/merkle.ts";
import { tileId } from "../../service/core/tiles.ts";
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

  it("proofs cut from a batch's stored tiles verify on chain (OpenZeppelin MerkleProof), across tile edges", async () => {
    const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
    const size = 65_537; // three tile groups, a one-node last tile in each
    const leaves: Hash[] = Array.from({ length: size }, (_, i) => toHex(keccak256(new TextEncoder().encode(`tiles:${i}`))));
    const tree = new MerkleTree(leaves);
    await registry.anchor(1, tree.root, size);
    for (const index of [0, 255, 256, 65_535, 65_536]) {
      const tiles = new Map(linkTilesForProof(index, size).map((key) => [tileId(key), tree.tile(key.group, key.index).slice()]));
      const proof = proofFromLinkTiles(index, size, tiles);
      expect(await registry.verify(1, leaves[index]!, proof), `leaf ${index}`).to.equal(true);
    }
  });
});
