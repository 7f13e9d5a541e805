import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { Interface } from "ethers";
import { ANCHOR_REGISTRY_ABI } from "../../service/core/registry-abi.ts";
import { batchRoot, headLeaf, headNode, processHeadProof } from "../../service/core/commitments.ts";
import type { Hash } from "../../service/core/hash.ts";
import { hashPair, MerkleTree, processProof } from "../../service/core/merkle.ts";
import { deployRegistryFixture, ethers, networkHelpers, randomRoot } from "./fixtures.ts";
import { flipBit, HeadsTree, linkLeaf } from "./heads.ts";

const { loadFixture } = networkHelpers;
const ZERO = ethers.ZeroHash as Hash;
const randomHash = (): Hash => randomRoot() as Hash;

/** What `_batchRoot` hashes, for any depth (batchRoot in core refuses depths outside 1..40). */
const rawBatchRoot = (linksRoot: Hash, headsRoot: Hash, depth: number): Hash =>
  ethers.solidityPackedKeccak256(["string", "bytes32", "bytes32", "uint8"], ["sealtrace:batch:2", linksRoot, headsRoot, depth]) as Hash;

interface Head {
  index: number;
  n: number;
  linkHash: Hash;
}

/**
 * Batch 1 is a format-2 batch of 7 links whose heads map (depth 4) holds 4 chains, at both ends of
 * the tree and in the middle; batch 2 is another batch, so a proof of batch 1 is also tried against
 * a known seq.
 */
async function format2Fixture() {
  const base = await deployRegistryFixture();
  const links = Array.from({ length: 7 }, randomHash);
  const tree = new MerkleTree(links.map(linkLeaf));
  const depth = 4;
  const heads: Head[] = [
    { index: 0, n: 3, linkHash: links[0]! },
    { index: 5, n: 1, linkHash: links[2]! },
    { index: 6, n: 12, linkHash: links[4]! },
    { index: 15, n: 2, linkHash: links[6]! },
  ];
  const headsTree = new HeadsTree(new Map(heads.map((h) => [h.index, headLeaf(h.index, h.n, h.linkHash)])), depth);
  const root = batchRoot(tree.root, headsTree.root, depth);
  await base.registry.anchor(1, root, links.length);
  await base.registry.anchor(2, randomRoot(), 3);
  return { ...base, links, tree, depth, heads, headsTree, root };
}

const toHash = (bytes: Uint8Array): Hash => ethers.hexlify(bytes) as Hash;

describe("AnchorRegistry", () => {
  describe("deployment and roles", () => {
    it("gives the admin DEFAULT_ADMIN_ROLE and ANCHORER_ROLE", async () => {
      const { registry, admin, stranger } = await loadFixture(deployRegistryFixture);
      const anchorerRole = await registry.ANCHORER_ROLE();
      expect(anchorerRole).to.equal(ethers.id("ANCHORER_ROLE"));
      expect(await registry.hasRole(await registry.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await registry.hasRole(anchorerRole, admin.address)).to.equal(true);
      expect(await registry.hasRole(anchorerRole, stranger.address)).to.equal(false);
    });

    it("starts at seq 1 with no roots", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      expect(await registry.nextSeq()).to.equal(1n);
      expect(await registry.rootOf(1)).to.equal(ZERO);
      expect(await registry.rootOf(0)).to.equal(ZERO);
    });

    it("refuses anchors from accounts without ANCHORER_ROLE", async () => {
      const { registry, stranger } = await loadFixture(deployRegistryFixture);
      const role = await registry.ANCHORER_ROLE();
      await expect(registry.connect(stranger).getFunction("anchor")(1, randomRoot(), 1))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, role);
    });

    it("lets the admin grant and revoke the anchorer role", async () => {
      const { registry, anchorer } = await loadFixture(deployRegistryFixture);
      const role = await registry.ANCHORER_ROLE();
      await registry.grantRole(role, anchorer.address);
      await expect(registry.connect(anchorer).getFunction("anchor")(1, randomRoot(), 3)).to.emit(registry, "BatchAnchored");
      await registry.revokeRole(role, anchorer.address);
      await expect(registry.connect(anchorer).getFunction("anchor")(2, randomRoot(), 3)).to.be.revertedWithCustomError(
        registry,
        "AccessControlUnauthorizedAccount",
      );
    });

    it("does not let an anchorer grant roles", async () => {
      const { registry, anchorer, stranger } = await loadFixture(deployRegistryFixture);
      const role = await registry.ANCHORER_ROLE();
      await registry.grantRole(role, anchorer.address);
      await expect(registry.connect(anchorer).grantRole(role, stranger.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(anchorer.address, await registry.DEFAULT_ADMIN_ROLE());
    });
  });

  describe("anchor", () => {
    it("stores the root, advances nextSeq and emits BatchAnchored", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const root = randomRoot();
      await expect(registry.anchor(1, root, 42))
        .to.emit(registry, "BatchAnchored")
        .withArgs(1n, root, 42n);
      expect(await registry.rootOf(1)).to.equal(root);
      expect(await registry.nextSeq()).to.equal(2n);
    });

    it("indexes BatchAnchored by seq so auditors can filter for one batch", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const roots = [randomRoot(), randomRoot(), randomRoot()];
      for (const [i, root] of roots.entries()) await registry.anchor(i + 1, root, i + 1);
      const events = await registry.queryFilter(registry.filters.BatchAnchored(2n));
      expect(events).to.have.length(1);
      const parsed = registry.interface.parseLog(events[0]!)!;
      expect(parsed.args.root).to.equal(roots[1]);
      expect(parsed.args.leafCount).to.equal(2n);
    });

    it("refuses a seq other than nextSeq: gaps, repeats and zero", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(0, randomRoot(), 1))
        .to.be.revertedWithCustomError(registry, "UnexpectedSeq")
        .withArgs(1n, 0n);
      await expect(registry.anchor(2, randomRoot(), 1))
        .to.be.revertedWithCustomError(registry, "UnexpectedSeq")
        .withArgs(1n, 2n);
      const first = randomRoot();
      await registry.anchor(1, first, 1);
      await expect(registry.anchor(1, randomRoot(), 1))
        .to.be.revertedWithCustomError(registry, "UnexpectedSeq")
        .withArgs(2n, 1n);
      await expect(registry.anchor(3, randomRoot(), 1))
        .to.be.revertedWithCustomError(registry, "UnexpectedSeq")
        .withArgs(2n, 3n);
      expect(await registry.rootOf(1)).to.equal(first);
      expect(await registry.nextSeq()).to.equal(2n);
    });

    it("refuses a zero root", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, ZERO, 5))
        .to.be.revertedWithCustomError(registry, "ZeroRoot")
        .withArgs(1n);
      expect(await registry.nextSeq()).to.equal(1n);
    });

    it("refuses an empty batch", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, randomRoot(), 0))
        .to.be.revertedWithCustomError(registry, "EmptyBatch")
        .withArgs(1n);
      expect(await registry.nextSeq()).to.equal(1n);
    });

    it("accepts the largest seq and leaf count the types allow", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, randomRoot(), 2 ** 32 - 1))
        .to.emit(registry, "BatchAnchored")
        .withArgs(1n, ethers.isHexString, 2n ** 32n - 1n);
    });
  });

  describe("verify", () => {
    it("accepts every proof built off chain and refuses wrong leaves, proofs and seqs", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const leaves = Array.from({ length: 13 }, () => ethers.keccak256(ethers.randomBytes(32)) as `0x${string}`);
      const tree = new MerkleTree(leaves);
      await registry.anchor(1, tree.root, leaves.length);
      for (const [i, leaf] of leaves.entries()) {
        expect(await registry.verify(1, leaf, tree.proof(i)), `leaf ${i}`).to.equal(true);
      }
      expect(await registry.verify(1, leaves[0]!, tree.proof(1))).to.equal(false);
      expect(await registry.verify(1, randomRoot(), tree.proof(0))).to.equal(false);
      expect(await registry.verify(2, leaves[0]!, tree.proof(0))).to.equal(false);
      expect(await registry.verify(0, leaves[0]!, tree.proof(0))).to.equal(false);
    });

    it("is false for an unknown seq even when the proof would fit a zero root", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      expect(await registry.verify(1, ZERO, [])).to.equal(false);
    });

    it("takes an inner node for a leaf (format 1's known weakness, which verifyLink closes)", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const leaves = Array.from({ length: 4 }, randomHash);
      const tree = new MerkleTree(leaves);
      await registry.anchor(1, tree.root, leaves.length);
      const inner = toHash(hashPair(ethers.getBytes(leaves[0]!), ethers.getBytes(leaves[1]!)));
      expect(await registry.verify(1, inner, tree.proof(0).slice(1))).to.equal(true);
    });

    it("on a format-2 batch, passes only the root itself with an empty proof", async () => {
      const { registry, links, tree, root } = await loadFixture(format2Fixture);
      expect(await registry.verify(1, root, [])).to.equal(true);
      expect(await registry.verify(1, linkLeaf(links[0]!), tree.proof(0))).to.equal(false);
      expect(await registry.verify(1, tree.root, [])).to.equal(false);
    });
  });

  describe("verifyLink (format 2)", () => {
    it("accepts every link of the batch with its links proof and the heads root and depth", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      for (const [i, link] of links.entries()) {
        expect(await registry.verifyLink(1, link, tree.proof(i), headsTree.root, depth), `link ${i}`).to.equal(true);
      }
    });

    it("refuses the wrong seq: another batch, an unknown one, zero", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      for (const seq of [0, 2, 3, 2n ** 64n - 1n]) {
        expect(await registry.verifyLink(seq, links[3]!, tree.proof(3), headsTree.root, depth), `seq ${seq}`).to.equal(false);
      }
    });

    it("refuses a wrong link hash: random, another link's, the leaf instead of the link", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      expect(await registry.verifyLink(1, randomHash(), tree.proof(3), headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[2]!, tree.proof(3), headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, flipBit(links[3]!), tree.proof(3), headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, linkLeaf(links[3]!), tree.proof(3), headsTree.root, depth)).to.equal(false);
    });

    it("refuses a proof with any sibling flipped", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      const proof = tree.proof(3);
      expect(proof).to.have.length(3);
      for (let k = 0; k < proof.length; k++) {
        const tampered = proof.map((sibling, j) => (j === k ? flipBit(sibling, k) : sibling));
        expect(await registry.verifyLink(1, links[3]!, tampered, headsTree.root, depth), `sibling ${k}`).to.equal(false);
      }
    });

    it("refuses an inner node of the links tree passed as a link hash", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      const inner = toHash(hashPair(ethers.getBytes(linkLeaf(links[0]!)), ethers.getBytes(linkLeaf(links[1]!))));
      const rest = tree.proof(0).slice(1);
      expect(processProof(inner, rest)).to.equal(tree.root); // it is an inner node: with this proof it reaches the root
      expect(await registry.verifyLink(1, inner, rest, headsTree.root, depth)).to.equal(false);
      // nor is the links root itself a link
      expect(await registry.verifyLink(1, tree.root, [], headsTree.root, depth)).to.equal(false);
    });

    it("refuses a proof one element short or long", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      const proof = tree.proof(3);
      expect(await registry.verifyLink(1, links[3]!, proof.slice(0, -1), headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[3]!, [...proof, randomHash()], headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[3]!, [...proof, ZERO], headsTree.root, depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[3]!, [], headsTree.root, depth)).to.equal(false);
    });

    it("refuses a wrong heads root or depth", async () => {
      const { registry, links, tree, headsTree, depth } = await loadFixture(format2Fixture);
      const proof = tree.proof(3);
      expect(await registry.verifyLink(1, links[3]!, proof, randomHash(), depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[3]!, proof, ZERO, depth)).to.equal(false);
      expect(await registry.verifyLink(1, links[3]!, proof, flipBit(headsTree.root), depth)).to.equal(false);
      for (const wrong of [0, depth - 1, depth + 1, 40, 41, 255]) {
        expect(await registry.verifyLink(1, links[3]!, proof, headsTree.root, wrong), `depth ${wrong}`).to.equal(false);
      }
    });

    it("refuses depths 0 and 41 even when the anchored root was hashed with them", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const link = randomHash(),
        headsRoot = randomHash();
      const leaf = linkLeaf(link);
      for (const [seq, depth] of [
        [1, 0],
        [2, 41],
        [3, 255],
        [4, 40],
      ] as const) {
        await registry.anchor(seq, rawBatchRoot(leaf, headsRoot, depth), 1);
        expect(await registry.verifyLink(seq, link, [], headsRoot, depth), `depth ${depth}`).to.equal(depth === 40);
      }
    });
  });

  describe("verifyHead (format 2)", () => {
    it("accepts every head of the map with its proof and the links root", async () => {
      const { registry, heads, headsTree, tree, depth } = await loadFixture(format2Fixture);
      for (const { index, n, linkHash } of heads) {
        const proof = headsTree.proof(index);
        expect(proof).to.have.length(depth);
        expect(await registry.verifyHead(1, index, n, linkHash, proof, tree.root), `head ${index}`).to.equal(true);
      }
    });

    it("refuses the wrong seq: another batch, an unknown one, zero", async () => {
      const { registry, heads, headsTree, tree } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[1]!;
      for (const seq of [0, 2, 3]) {
        expect(await registry.verifyHead(seq, index, n, linkHash, headsTree.proof(index), tree.root), `seq ${seq}`).to.equal(false);
      }
    });

    it("refuses a wrong index: a neighbour, another head's, one that does not fit the depth", async () => {
      const { registry, heads, headsTree, tree, depth } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[1]!; // index 5
      const proof = headsTree.proof(index);
      for (const wrong of [4, 7, 6, 0, 15]) {
        expect(await registry.verifyHead(1, wrong, n, linkHash, proof, tree.root), `index ${wrong}`).to.equal(false);
      }
      // same low bits, so the same path: refused because it does not fit a tree of this depth
      for (const wrong of [index + 2 ** depth, 2 ** depth, 2n ** 64n - 1n]) {
        expect(await registry.verifyHead(1, wrong, n, linkHash, proof, tree.root), `index ${wrong}`).to.equal(false);
      }
    });

    it("refuses an index that does not fit the depth even when the anchored root was hashed with it", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const linksRoot = randomHash(),
        linkHash = randomHash();
      const depth = 3,
        index = 2 ** depth + 5;
      const proof = Array.from({ length: depth }, randomHash);
      // processHeadProof refuses such an index, so fold the path by hand, as the contract would
      let node = headLeaf(index, 1, linkHash);
      for (const [level, sibling] of proof.entries()) node = Math.floor(index / 2 ** level) % 2 === 0 ? headNode(node, sibling) : headNode(sibling, node);
      await registry.anchor(1, batchRoot(linksRoot, node, depth), 1);
      expect(await registry.verifyHead(1, index, 1, linkHash, proof, linksRoot)).to.equal(false);
    });

    it("refuses a wrong n or link hash", async () => {
      const { registry, heads, headsTree, links, tree } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[2]!;
      const proof = headsTree.proof(index);
      for (const wrong of [0, n - 1, n + 1, 2 ** 53 - 1]) {
        expect(await registry.verifyHead(1, index, wrong, linkHash, proof, tree.root), `n ${wrong}`).to.equal(false);
      }
      for (const wrong of [randomHash(), flipBit(linkHash), links[0]!, linkLeaf(linkHash), ZERO]) {
        expect(await registry.verifyHead(1, index, n, wrong, proof, tree.root), `linkHash ${wrong}`).to.equal(false);
      }
    });

    it("refuses a proof with any sibling flipped, including a ZERO sibling made non-zero", async () => {
      const { registry, heads, headsTree, tree } = await loadFixture(format2Fixture);
      for (const { index, n, linkHash } of [heads[0]!, heads[3]!]) {
        const proof = headsTree.proof(index);
        expect(proof).to.include(ZERO); // the sparse map leaves empty subtrees beside these heads
        for (let k = 0; k < proof.length; k++) {
          const tampered = proof.map((sibling, j) => (j === k ? flipBit(sibling, k) : sibling));
          expect(await registry.verifyHead(1, index, n, linkHash, tampered, tree.root), `head ${index} sibling ${k}`).to.equal(false);
        }
      }
    });

    it("refuses a proof one element short or long", async () => {
      const { registry, heads, headsTree, tree } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[2]!;
      const proof = headsTree.proof(index);
      expect(await registry.verifyHead(1, index, n, linkHash, proof.slice(0, -1), tree.root)).to.equal(false);
      expect(await registry.verifyHead(1, index, n, linkHash, [...proof, ZERO], tree.root)).to.equal(false);
      expect(await registry.verifyHead(1, index, n, linkHash, [...proof, randomHash()], tree.root)).to.equal(false);
    });

    it("refuses an empty position, and a head proved from one level up", async () => {
      const { registry, heads, headsTree, tree } = await loadFixture(format2Fixture);
      expect(await registry.verifyHead(1, 4, 0, ZERO, headsTree.proof(4), tree.root)).to.equal(false);
      const { index, n, linkHash } = heads[1]!;
      expect(await registry.verifyHead(1, Math.floor(index / 2), n, linkHash, headsTree.proof(index).slice(1), tree.root)).to.equal(false);
    });

    it("refuses a wrong links root", async () => {
      const { registry, heads, headsTree, tree } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[0]!;
      const proof = headsTree.proof(index);
      for (const wrong of [randomHash(), flipBit(tree.root), ZERO, headsTree.root]) {
        expect(await registry.verifyHead(1, index, n, linkHash, proof, wrong)).to.equal(false);
      }
    });

    it("refuses depths 0 and 41 even when the anchored root was hashed with them", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      const linksRoot = randomHash(),
        linkHash = randomHash();
      const leaf = headLeaf(0, 1, linkHash);
      // depth 0: the heads root is the leaf itself
      await registry.anchor(1, rawBatchRoot(linksRoot, leaf, 0), 1);
      expect(await registry.verifyHead(1, 0, 1, linkHash, [], linksRoot)).to.equal(false);
      // depth 41 and 40, the last position of each
      for (const [seq, depth] of [
        [2, 41],
        [3, 40],
      ] as const) {
        const index = 2 ** depth - 1;
        const proof = Array.from({ length: depth }, randomHash);
        const headsRoot = processHeadProof(index, headLeaf(index, 7, linkHash), proof);
        await registry.anchor(seq, rawBatchRoot(linksRoot, headsRoot, depth), 1);
        expect(await registry.verifyHead(seq, index, 7, linkHash, proof, linksRoot), `depth ${depth}`).to.equal(depth === 40);
      }
    });

    it("refuses a proof whose length wraps around a uint8 to a valid depth", async () => {
      const { registry, heads, headsTree, tree, depth } = await loadFixture(format2Fixture);
      const { index, n, linkHash } = heads[1]!;
      const proof = [...headsTree.proof(index), ...Array.from({ length: 256 }, () => ZERO)];
      expect(proof.length % 256).to.equal(depth);
      expect(await registry.verifyHead(1, index, n, linkHash, proof, tree.root)).to.equal(false);
    });
  });

  describe("succession", () => {
    /** Another deployed registry, the only kind of address a successor may be. */
    const deployNext = async (admin: string): Promise<string> => (await ethers.deployContract("AnchorRegistry", [admin])).getAddress();

    it("has no successor at first", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      expect(await registry.successor()).to.equal(ethers.ZeroAddress);
    });

    it("lets the admin set a successor once, emitting SuccessorSet", async () => {
      const { registry, stranger } = await loadFixture(deployRegistryFixture);
      const next = await (await ethers.deployContract("AnchorRegistry", [stranger.address])).getAddress();
      await expect(registry.setSuccessor(next)).to.emit(registry, "SuccessorSet").withArgs(next);
      expect(await registry.successor()).to.equal(next);
      const events = await registry.queryFilter(registry.filters.SuccessorSet(next));
      expect(events).to.have.length(1);
    });

    it("refuses a second successor, even the same one", async () => {
      const { registry, admin } = await loadFixture(deployRegistryFixture);
      const [first, second] = [await deployNext(admin.address), await deployNext(admin.address)];
      await registry.setSuccessor(first);
      await expect(registry.setSuccessor(second)).to.be.revertedWithCustomError(registry, "SuccessorAlreadySet").withArgs(first);
      await expect(registry.setSuccessor(first)).to.be.revertedWithCustomError(registry, "SuccessorAlreadySet").withArgs(first);
      expect(await registry.successor()).to.equal(first);
    });

    it("refuses the zero address, the registry itself and an address with no contract (a typo, a wallet)", async () => {
      const { registry, stranger } = await loadFixture(deployRegistryFixture);
      const self = await registry.getAddress();
      for (const invalid of [ethers.ZeroAddress, self, stranger.address]) {
        await expect(registry.setSuccessor(invalid)).to.be.revertedWithCustomError(registry, "InvalidSuccessor").withArgs(invalid);
      }
      expect(await registry.successor()).to.equal(ethers.ZeroAddress);
    });

    it("is for DEFAULT_ADMIN_ROLE only: not an anchorer, not a stranger", async () => {
      const { registry, admin, anchorer, stranger } = await loadFixture(deployRegistryFixture);
      const next = await deployNext(admin.address);
      await registry.grantRole(await registry.ANCHORER_ROLE(), anchorer.address);
      const adminRole = await registry.DEFAULT_ADMIN_ROLE();
      for (const account of [anchorer, stranger]) {
        await expect(registry.connect(account).setSuccessor(next))
          .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
          .withArgs(account.address, adminRole);
      }
      expect(await registry.successor()).to.equal(ethers.ZeroAddress);
      // another admin may
      await registry.grantRole(adminRole, stranger.address);
      await expect(registry.connect(stranger).setSuccessor(next)).to.emit(registry, "SuccessorSet").withArgs(next);
    });

    it("retires the registry: anchor refused, every root kept and still verifying", async () => {
      const { registry, admin, anchorer, stranger } = await loadFixture(deployRegistryFixture);
      const leaves = Array.from({ length: 3 }, randomHash);
      const tree = new MerkleTree(leaves);
      await registry.anchor(1, tree.root, 3);
      await registry.grantRole(await registry.ANCHORER_ROLE(), anchorer.address);
      const next = await deployNext(stranger.address);
      await registry.setSuccessor(next);
      for (const account of [admin, anchorer]) {
        await expect(registry.connect(account).anchor(2, randomRoot(), 1))
          .to.be.revertedWithCustomError(registry, "RegistryRetired")
          .withArgs(next);
      }
      await expect(registry.anchor(1, randomRoot(), 1)).to.be.revertedWithCustomError(registry, "RegistryRetired");
      expect(await registry.nextSeq()).to.equal(2n);
      expect(await registry.rootOf(1)).to.equal(tree.root);
      expect(await registry.verify(1, leaves[2]!, tree.proof(2))).to.equal(true);
    });

    it("keeps the successor in the same storage slot as nextSeq", async () => {
      const { registry, admin } = await loadFixture(deployRegistryFixture);
      await registry.anchor(1, randomRoot(), 1);
      await registry.anchor(2, randomRoot(), 1);
      const next = await deployNext(admin.address);
      await registry.setSuccessor(next);
      const packed = ethers.toBeHex((BigInt(next) << 64n) | 3n, 32);
      const slots = await Promise.all(Array.from({ length: 8 }, (_, i) => ethers.provider.getStorage(registry, i)));
      expect(slots).to.include(packed);
    });
  });

  it("exposes exactly the ABI that service/core/registry-abi.ts declares", async () => {
    const artifact = JSON.parse(await readFile(new URL("../../artifacts/contracts/AnchorRegistry.sol/AnchorRegistry.json", import.meta.url), "utf8")) as {
      abi: unknown[];
    };
    const compiled = new Interface(artifact.abi as never);
    const declared = new Interface(ANCHOR_REGISTRY_ABI);
    declared.forEachFunction((fn) => expect(compiled.getFunction(fn.selector)?.format("full"), fn.name).to.equal(fn.format("full")));
    declared.forEachEvent((ev) => expect(compiled.getEvent(ev.topicHash)?.format("full")).to.equal(ev.format("full")));
    declared.forEachError((error) => expect(compiled.getError(error.selector)?.format("full"), error.name).to.equal(error.format("full")));
    // and every function, event and error of the interface itself is declared
    const own = JSON.parse(
      await readFile(new URL("../../artifacts/contracts/interfaces/IAnchorRegistry.sol/IAnchorRegistry.json", import.meta.url), "utf8"),
    ) as { abi: unknown[] };
    const iface = new Interface(own.abi as never);
    iface.forEachFunction((fn) => expect(declared.getFunction(fn.selector)?.format("full"), fn.name).to.equal(fn.format("full")));
    iface.forEachEvent((ev) => expect(declared.getEvent(ev.topicHash)?.format("full"), ev.name).to.equal(ev.format("full")));
    iface.forEachError((error) => expect(declared.getError(error.selector)?.format("full"), error.name).to.equal(error.format("full")));
  });
});
