import { expect } from "chai";
import { batchRoot, depthFor, headLeaf, headsRootOf, processHeadProof } from "../../service/core/commitments.ts";
import { keccak256, toHex, type Hash } from "../../service/core/hash.ts";
import { MerkleTree, processProof } from "../../service/core/merkle.ts";
import { deployRegistryFixture, networkHelpers } from "../contracts/fixtures.ts";
import { flipBit, HeadsTree, linkLeaf } from "../contracts/heads.ts";

/** Deterministic test data: a failure names its size and depth and reproduces on every run. */
const hashOf = (label: string): Hash => toHex(keccak256(new TextEncoder().encode(`commitments.onchain:${label}`)));
const numberOf = (label: string, below: number): number => Number(BigInt(hashOf(label)) % BigInt(below));

/** Up to `size` chains at distinct positions of a depth-`depth` map, always including its last position. */
function headsMap(size: number, depth: number, links: readonly Hash[]): Map<number, { n: number; linkHash: Hash }> {
  const capacity = 2 ** depth;
  const heads = new Map<number, { n: number; linkHash: Hash }>();
  const count = Math.min(size, capacity);
  for (let k = 0; heads.size < count; k++) {
    const index = k === 0 ? capacity - 1 : numberOf(`${size}/${depth}/index/${k}`, capacity);
    if (!heads.has(index)) heads.set(index, { n: 1 + numberOf(`${size}/${depth}/n/${k}`, 1_000), linkHash: links[heads.size % links.length]! });
  }
  return heads;
}

describe("core/commitments against AnchorRegistry.verifyLink and verifyHead on chain", () => {
  it("every link and every head of batches of 1, 2, 3, 5 and 17 links, heads depths 1-6 and 40, verifies on chain as in core", async () => {
    const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
    let seq = 0;
    for (const size of [1, 2, 3, 5, 17]) {
      for (const depth of [1, 2, 3, 4, 5, 6, 40]) {
        const label = `${size} links, depth ${depth}`;
        const links = Array.from({ length: size }, (_, i) => hashOf(`${size}/${depth}/link/${i}`));
        const tree = new MerkleTree(links.map(linkLeaf));
        const heads = headsMap(size, depth, links);
        const leaves = new Map([...heads].map(([index, { n, linkHash }]) => [index, headLeaf(index, n, linkHash)]));
        const headsRoot = headsRootOf(leaves, depth);
        const headsTree = new HeadsTree(leaves, depth);
        expect(headsTree.root, label).to.equal(headsRoot);
        expect(depthFor(Math.max(...heads.keys())), label).to.equal(depth);

        const root = batchRoot(tree.root, headsRoot, depth);
        await registry.anchor(++seq, root, size);
        expect(await registry.rootOf(seq), label).to.equal(root);

        const linkResults = await Promise.all(
          links.map((link, i) => {
            expect(processProof(linkLeaf(link), tree.proof(i)), `${label}: link ${i} in core`).to.equal(tree.root);
            return registry.verifyLink(seq, link, tree.proof(i), headsRoot, depth);
          }),
        );
        expect(linkResults, label).to.deep.equal(links.map(() => true));

        const headResults = await Promise.all(
          [...heads].map(([index, { n, linkHash }]) => {
            const proof = headsTree.proof(index);
            expect(processHeadProof(index, leaves.get(index)!, proof), `${label}: head ${index} in core`).to.equal(headsRoot);
            return registry.verifyHead(seq, index, n, linkHash, proof, tree.root);
          }),
        );
        expect(headResults, label).to.deep.equal([...heads].map(() => true));

        // Where core's check fails, so does the chain's: a head with another n, a link with a sibling flipped, the previous batch.
        const [index, { n, linkHash }] = [...heads][0]!;
        const proof = headsTree.proof(index);
        expect(processHeadProof(index, headLeaf(index, n + 1, linkHash), proof), label).to.not.equal(headsRoot);
        expect(await registry.verifyHead(seq, index, n + 1, linkHash, proof, tree.root), label).to.equal(false);
        if (size > 1) {
          const tampered = [flipBit(tree.proof(0)[0]!), ...tree.proof(0).slice(1)];
          expect(processProof(linkLeaf(links[0]!), tampered), label).to.not.equal(tree.root);
          expect(await registry.verifyLink(seq, links[0]!, tampered, headsRoot, depth), label).to.equal(false);
        }
        if (seq > 1) expect(await registry.verifyLink(seq - 1, links[0]!, tree.proof(0), headsRoot, depth), label).to.equal(false);
      }
    }
  });
});
