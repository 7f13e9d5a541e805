import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { Interface } from "ethers";
import { ANCHOR_REGISTRY_ABI } from "../../service/core/registry-abi.ts";
import { MerkleTree } from "../../service/core/merkle.ts";
import { deployRegistryFixture, ethers, networkHelpers, randomRoot } from "./fixtures.ts";

const { loadFixture } = networkHelpers;
const ZERO = ethers.ZeroHash;

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
      await expect(registry.connect(anchorer).getFunction("anchor")(2, randomRoot(), 3))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount");
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
      await expect(registry.anchor(1, root, 42)).to.emit(registry, "BatchAnchored").withArgs(1n, root, 42n);
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
      await expect(registry.anchor(0, randomRoot(), 1)).to.be.revertedWithCustomError(registry, "UnexpectedSeq").withArgs(1n, 0n);
      await expect(registry.anchor(2, randomRoot(), 1)).to.be.revertedWithCustomError(registry, "UnexpectedSeq").withArgs(1n, 2n);
      const first = randomRoot();
      await registry.anchor(1, first, 1);
      await expect(registry.anchor(1, randomRoot(), 1)).to.be.revertedWithCustomError(registry, "UnexpectedSeq").withArgs(2n, 1n);
      await expect(registry.anchor(3, randomRoot(), 1)).to.be.revertedWithCustomError(registry, "UnexpectedSeq").withArgs(2n, 3n);
      expect(await registry.rootOf(1)).to.equal(first);
      expect(await registry.nextSeq()).to.equal(2n);
    });

    it("refuses a zero root", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, ZERO, 5)).to.be.revertedWithCustomError(registry, "ZeroRoot").withArgs(1n);
      expect(await registry.nextSeq()).to.equal(1n);
    });

    it("refuses an empty batch", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, randomRoot(), 0)).to.be.revertedWithCustomError(registry, "EmptyBatch").withArgs(1n);
      expect(await registry.nextSeq()).to.equal(1n);
    });

    it("accepts the largest seq and leaf count the types allow", async () => {
      const { registry } = await loadFixture(deployRegistryFixture);
      await expect(registry.anchor(1, randomRoot(), 2 ** 32 - 1)).to.emit(registry, "BatchAnchored").withArgs(1n, ethers.isHexString, 2n ** 32n - 1n);
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
  });

  it("exposes exactly the ABI that service/core/registry-abi.ts declares", async () => {
    const artifact = JSON.parse(await readFile(new URL("../../artifacts/contracts/AnchorRegistry.sol/AnchorRegistry.json", import.meta.url), "utf8")) as { abi: unknown[] };
    const compiled = new Interface(artifact.abi as never);
    const declared = new Interface(ANCHOR_REGISTRY_ABI);
    declared.forEachFunction((fn) => expect(compiled.getFunction(fn.selector)?.format("full"), fn.name).to.equal(fn.format("full")));
    declared.forEachEvent((ev) => expect(compiled.getEvent(ev.topicHash)?.format("full")).to.equal(ev.format("full")));
    for (const name of ["UnexpectedSeq", "ZeroRoot", "EmptyBatch"]) {
      expect(compiled.getError(name)?.format("full")).to.equal(declared.getError(name)?.format("full"));
    }
  });
});
