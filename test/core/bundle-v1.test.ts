/**
 * Format 1 (core/bundle-v1.ts): bundles saved before format 2 keep verifying, through the same
 * `verifyBundle` every verifier calls, and are reported as format 1, whose completeness is not proven.
 */
import { expect } from "chai";
import { BUNDLE_FORMAT_1, verifyBundleV1, type ProofBundleV1 } from "../../service/core/bundle-v1.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { keccak256, fromHex, toHex } from "../../service/core/hash.ts";
import { clone, sealedHistory, SERIAL } from "../helpers/bottle.ts";

const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };

function paths(bundle: unknown): string[] {
  return verifyBundle(bundle).problems.map((p) => p.path);
}

describe("core/bundle-v1: sealtrace-proof/1, as old bundles are", () => {
  it("builds a sealtrace-proof/1 bundle that verifies, reported as format 1 whose completeness is not proven", () => {
    const { bundle, batches } = sealedHistory(CHAIN);
    expect(bundle.format).to.equal(BUNDLE_FORMAT_1);
    expect(bundle.links.map((l) => l.link.n)).to.deep.equal([1, 2, 3, 4, 5]);
    const verdict = verifyBundle(bundle);
    expect(verdict.problems).to.deep.equal([]);
    expect(verdict).to.deep.include({ format: 1, status: "valid", valid: true, completeAsOf: null, identityBound: false, linkCount: 5 });
    expect(verdict.notes).to.deep.equal(["format 1: completeness not proven (nothing shows that no link was left out)"]);
    expect(verdict.pending).to.deep.equal([]);
    expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal(batches.map((b) => [b.seq, b.tree.root]));
    expect(verifyBundleV1(bundle).valid).to.equal(true);
  });

  it("survives a JSON round trip unchanged", () => {
    const { bundle } = sealedHistory(CHAIN);
    expect(verifyBundle(JSON.parse(JSON.stringify(bundle))).valid).to.equal(true);
  });

  it("reports unanchored links as pending: incomplete, not valid, and not a failure", () => {
    const { bundle } = sealedHistory(CHAIN, { pendingFrom: 4 });
    const verdict = verifyBundle(bundle);
    expect(verdict).to.deep.include({ status: "incomplete", valid: false, problems: [], pending: [4, 5] });
    expect(verdict.notes[0]).to.equal("2 links pending (n = 4, 5)");
    expect(verdict.roots.map((r) => r.seq)).to.deep.equal([1]);
    expect(verifyBundleV1(bundle).valid, "format 1's own verdict counts pending as no problem").to.equal(true);
  });

  it("every link set to pending is still not valid (issue 14: every anchor set to null)", () => {
    const { bundle } = sealedHistory(CHAIN);
    for (const link of bundle.links) link.anchor = null;
    const verdict = verifyBundle(bundle);
    expect(verdict.status).to.equal("incomplete");
    expect(verdict.roots).to.deep.equal([]);
  });

  describe("rejects, saying where and what", () => {
    let bundle: ProofBundleV1;
    beforeEach(() => {
      bundle = clone(sealedHistory(CHAIN).bundle);
    });

    it("an edited event field", () => {
      bundle.events[4]!.event.price = "99.00 CNY";
      const [problem, ...rest] = verifyBundle(bundle).problems;
      expect(problem!.path).to.equal("events[4].eventHash");
      expect(problem!.message).to.match(/event field was changed/);
      // the link still points at the original hash, which no event in the bundle has any more
      expect(rest.map((p) => p.path)).to.include("links[4].link.event");
    });

    it("an edited event hash", () => {
      bundle.events[1]!.eventHash = toHex(keccak256(fromHex(bundle.events[1]!.eventHash)));
      expect(paths(bundle)).to.deep.equal(["events[1].eventHash"]);
    });

    it("an edited proof element", () => {
      const proof = bundle.links[1]!.anchor!.proof;
      proof[0] = toHex(keccak256(fromHex(proof[0]!)));
      const verdict = verifyBundle(bundle);
      expect(verdict.problems).to.have.length(1);
      expect(verdict.problems[0]!.path).to.equal("links[1].anchor.proof");
      expect(verdict.problems[0]!.expected).to.equal(bundle.links[1]!.anchor!.root);
    });

    it("an edited root", () => {
      bundle.links[0]!.anchor!.root = toHex(keccak256(fromHex(bundle.links[0]!.anchor!.root)));
      // the other links of batch 1 now disagree with it about the batch's root
      expect(paths(bundle)).to.deep.equal(["links[0].anchor.proof", "links[1].anchor.root", "links[2].anchor.root"]);
    });

    it("links out of order", () => {
      [bundle.links[1], bundle.links[2]] = [bundle.links[2]!, bundle.links[1]!];
      const found = paths(bundle);
      expect(found).to.include("links[1].link.n");
      expect(found).to.include("links[1].link.prev");
      expect(verifyBundle(bundle).problems.find((p) => p.path === "links[1].link.n")).to.include({ expected: "2", found: "3" });
    });

    it("a gap in the links", () => {
      bundle.links.splice(2, 1);
      const problems = verifyBundle(bundle).problems;
      expect(problems.find((p) => p.path === "links[2].link.n")?.message).to.match(/out of order or have a gap/);
      expect(problems.map((p) => p.path)).to.include("links[2].link.prev");
      expect(problems.map((p) => p.path)).to.include("events[2]"); // its event is now orphaned
    });

    it("a link whose event does not list the serial", () => {
      // Every hash and proof is consistent: only the membership check can catch it.
      const forged = sealedHistory(CHAIN, {
        editEvents: (events) => {
          events[3]!.codes = ["MT2026A0009999"];
        },
      }).bundle;
      const problems = verifyBundle(forged).problems;
      expect(problems).to.have.length(1);
      expect(problems[0]!.path).to.equal("links[3].link.event");
      expect(problems[0]!.message).to.equal(`the linked event (events[3]) does not list serial ${SERIAL}`);
    });

    it("a link for another bottle", () => {
      bundle.serial = "MT2026A0000002";
      expect(paths(bundle).filter((p) => p.endsWith("link.serial"))).to.have.length(5);
    });

    it("an edited link hash or leaf", () => {
      bundle.links[0]!.linkHash = bundle.links[1]!.linkHash;
      bundle.links[2]!.leaf = bundle.links[1]!.leaf;
      expect(paths(bundle)).to.deep.equal(["links[0].linkHash", "links[2].leaf"]);
    });

    it("two roots claimed for one batch", () => {
      bundle.links[4]!.anchor!.seq = 1;
      expect(paths(bundle)).to.include("links[4].anchor.root");
    });

    it("anything that is not a bundle", () => {
      expect(paths(null)).to.deep.equal(["$"]);
      expect(paths([])).to.deep.equal(["$"]);
      expect(verifyBundleV1({ format: "other/1" }).problems.map((p) => p.path)).to.include.members(["format", "serial", "chain", "events", "links"]);
      const broken = clone(bundle) as unknown as { links: unknown[] };
      broken.links[0] = "nope";
      expect(paths(broken)).to.include("links[0]");
      bundle.links[1]!.anchor = { seq: -1 } as never;
      expect(paths(bundle)).to.include("links[1].anchor");
    });
  });

  it("names the serial in the chain check even for the first link", () => {
    const { bundle } = sealedHistory(CHAIN);
    expect(bundle.links[0]!.link.serial).to.equal(SERIAL);
    expect(bundle.links[0]!.link.prev).to.equal(`0x${"00".repeat(32)}`);
  });
});
