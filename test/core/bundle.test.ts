/**
 * core/bundle.ts: the `sealtrace-proof/2` verifier on histories built with the sealer's own code
 * (test/helpers/bottle.ts), in both forms a bundle takes: compact (as the service serves it: links
 * the head proof covers keep only their batch number) and full (`?proofs=all`: every anchored link
 * with its own Merkle proof). Valid, incomplete (pending links, no head proof), chains begun under
 * format 1, what a link without its own proof means, events in the order of the links, every
 * tampering rejected at the right path, the issue's six findings, the staleness of a truncated
 * bundle's older head proof, and the size of a realistic bundle (issue 14's 8 KB).
 * Format 1 is test/core/bundle-v1.test.ts.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { BUNDLE_FORMAT, buildBundle, verifyBundle, type BundleBatch, type ProofBundle } from "../../service/core/bundle.ts";
import { batchRoot, commitEvent, depthFor, genesis, headLeaf, headsRootOf, type BottleIdentity } from "../../service/core/commitments.ts";
import { fromHex, keccak256, toHex, ZERO_HASH, type Hash } from "../../service/core/hash.ts";
import { proofFromTiles, updateHeads } from "../../service/core/heads.ts";
import { tileId, TILE_BYTES, type TileKey } from "../../service/core/tiles.ts";
import { eventHash, leafOf, linkHash, nextLink, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { MerkleTree, processProof } from "../../service/core/merkle.ts";
import { checkOnChain, DEFAULT_MAX_AGE_SECONDS, type Rpc } from "../../service/core/onchain.ts";
import { deployRegistryFixture, ethers, networkHelpers } from "../contracts/fixtures.ts";
import { clone, compactBundle, GTIN, sealedHistoryV2, SERIAL } from "../helpers/bottle.ts";
import { rehashed } from "../helpers/forge.ts";

const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const flip = (hash: string): Hash => toHex(keccak256(fromHex(hash)));
const paths = (bundle: unknown): string[] => verifyBundle(bundle).problems.map((p) => p.path);
/** Bottle serials of the lot (MT2026A…) and of the other lot (MT2026B…) found anywhere in `bundle`'s JSON. */
const serialsIn = (bundle: unknown): string[] => [...new Set(JSON.stringify(bundle).match(/MT2026[AB]\d{7}/g) ?? [])];
/** The two forms of a bundle: compact (the service's default) and full (`?proofs=all`). */
const MODES = ["compact", "full"] as const;
type Mode = (typeof MODES)[number];
const proofsOf = (mode: Mode): "head" | "all" => (mode === "compact" ? "head" : "all");
/** Which links carry their own Merkle proof. */
const proven = (bundle: ProofBundle): number[] => bundle.links.filter((l) => l.anchor?.proof !== undefined).map((l) => l.link.n);
/** A forged history consistent in itself (test/helpers/forge.ts), which only the head proof can refute. */
const rewritten = rehashed;

describe("core/bundle: sealtrace-proof/2", () => {
  describe("a bottle's whole history", () => {
    it("compact, as the service serves it: valid, identity bound, complete as of the latest batch, every batch number a claim, only this bottle's serial in it", () => {
      const history = sealedHistoryV2(CHAIN);
      const { bundle } = history;
      expect(bundle.format).to.equal(BUNDLE_FORMAT);
      expect(bundle.links.map((l) => l.link.n)).to.deep.equal([1, 2, 3, 4, 5]);
      // The head proof (batch 2, link 5) covers every link: none keeps its own proof, and only batch 2 is listed.
      expect(bundle.links.map((l) => l.anchor)).to.deep.equal([{ seq: 1 }, { seq: 1 }, { seq: 1 }, { seq: 2 }, { seq: 2 }]);
      expect(bundle.batches.map((b) => b.seq)).to.deep.equal([2]);
      expect(bundle.head).to.deep.include({ seq: 2, n: 5 });
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({
        format: 2,
        status: "valid",
        valid: true,
        identityBound: true,
        linkCount: 5,
        pending: [],
        timesClaimed: [1, 2, 3, 4, 5],
        notes: [],
      });
      expect(verdict.completeAsOf).to.deep.equal({ seq: 2, blockNumber: 11, blockTime: "2026-11-21T00:00:05.000Z" });
      // Only the head's batch is a root to compare with the chain.
      expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal([[2, history.batches[1]!.root]]);
      expect(serialsIn(bundle)).to.deep.equal([SERIAL]);
      // The batches' heads maps are the ones the whole map hashes to.
      for (const batch of history.batches) expect(batch.headsRoot).to.equal(headsRootOf(batch.headLeaves, batch.headsDepth!));
    });

    it("full (?proofs=all): every link with its own proof, every batch listed; the same verdict, no batch number claimed", () => {
      const history = sealedHistoryV2(CHAIN, { proofs: "all" });
      const { bundle } = history;
      expect(proven(bundle)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(bundle.batches.map((b) => b.seq)).to.deep.equal([1, 2]);
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({ status: "valid", identityBound: true, linkCount: 5, pending: [], timesClaimed: [], notes: [] });
      expect(verdict.completeAsOf).to.deep.equal(verifyBundle(history.bundleFor(SERIAL, "head")).completeAsOf);
      expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal(history.batches.map((b) => [b.seq, b.root]));
      // The compact bundle is the full one without the covered links' proofs and batch 1.
      expect(history.bundleFor(SERIAL, "head")).to.deep.equal(compactBundle(bundle));
      expect(serialsIn(bundle)).to.deep.equal([SERIAL]);
    });

    it("every bottle of the lot and of the other lot has its own valid bundle, compact and full, showing only its own serial", () => {
      const history = sealedHistoryV2(CHAIN, { lotSize: 6, otherChains: 3 });
      for (const key of history.chains.keys()) {
        if (key.includes(":")) continue;
        for (const mode of MODES) {
          const bundle = history.bundleFor(key, proofsOf(mode));
          const verdict = verifyBundle(bundle);
          expect(verdict.status, `${key}, ${mode}: ${JSON.stringify(verdict.problems)}`).to.equal("valid");
          expect(verdict.timesClaimed, `${key}, ${mode}`).to.deep.equal(mode === "compact" ? bundle.links.map((l) => l.link.n) : []);
          expect(serialsIn(bundle), key).to.deep.equal([key]);
        }
      }
    });

    it("is valid for histories over many batches, at every place in the map, across tile groups, compact and full", () => {
      for (const options of [
        { cuts: [2, 3, 4, 5] },
        { cuts: [] },
        { index: 0, otherChains: 0 },
        { index: 255, lotSize: 3 },
        { index: 65_534, lotSize: 4, otherChains: 2 },
        { firstSeq: 41 },
      ]) {
        for (const mode of MODES) {
          const { bundle } = sealedHistoryV2(CHAIN, { ...options, proofs: proofsOf(mode) });
          const verdict = verifyBundle(bundle);
          expect(verdict.status, `${JSON.stringify(options)}, ${mode}: ${JSON.stringify(verdict.problems)}`).to.equal("valid");
          expect(verdict.completeAsOf).to.not.equal(null);
          expect(bundle.batches.length, `${JSON.stringify(options)}, ${mode}`).to.equal(
            mode === "compact" ? 1 : new Set(bundle.links.map((l) => l.anchor!.seq)).size,
          );
        }
      }
    });
  });

  describe("incomplete: nothing wrong, something not proven yet", () => {
    it("links pending after the latest batch: incomplete, complete as of that batch up to the last sealed link", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { pendingFrom: 4, proofs: proofsOf(mode) });
        expect(bundle.head!.n).to.equal(3);
        expect(bundle.links.map((l) => l.anchor === null)).to.deep.equal([false, false, false, true, true]);
        const verdict = verifyBundle(bundle);
        expect(verdict, mode).to.deep.include({
          status: "incomplete",
          valid: false,
          problems: [],
          pending: [4, 5],
          timesClaimed: mode === "compact" ? [1, 2, 3] : [],
        });
        expect(verdict.notes[0]).to.equal("2 links pending (n = 4, 5)");
      }
    });

    it("no link sealed yet: incomplete, no head, nothing claimed", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { pendingFrom: 1, proofs: proofsOf(mode) });
        expect(bundle.head).to.equal(null);
        expect(bundle.batches).to.deep.equal([]);
        const verdict = verifyBundle(bundle);
        expect(verdict, mode).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null, timesClaimed: [] });
        expect(verdict.pending).to.deep.equal([1, 2, 3, 4, 5]);
      }
    });

    it("a full bundle without its head proof: incomplete, saying completeness is not proven", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { proofs: "all" });
      bundle.head = null;
      const verdict = verifyBundle(bundle);
      expect(verdict).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null, identityBound: true, timesClaimed: [] });
      expect(verdict.notes.join("; ")).to.match(/completeness not proven/);
    });

    it("a head proof from before the last links were sealed, those links with their own proofs: incomplete, complete only up to the head's link", () => {
      const history = sealedHistoryV2(CHAIN, { proofs: "all" });
      const full = clone(history.bundle);
      full.head = { seq: 1, n: 3, linkHash: full.links[2]!.linkHash, proof: history.headProofIn(1, history.identity.index) };
      // As the service would make it: links 1–3 covered (no proof), 4 and 5 not (their proofs, and batch 2, stay).
      const compact = compactBundle(full);
      expect(proven(compact)).to.deep.equal([4, 5]);
      expect(compact.batches.map((b) => b.seq)).to.deep.equal([1, 2]);
      for (const [bundle, claimed] of [
        [full, []],
        [compact, [1, 2, 3]],
      ] as const) {
        const verdict = verifyBundle(bundle);
        expect(verdict).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null, timesClaimed: claimed });
        expect(verdict.notes).to.deep.equal(["completeness proven only up to link 3: links 4, 5 were anchored after batch 1"]);
      }
    });
  });

  describe("compact bundles: a link without its own proof", () => {
    it("is proven by the head proof alone: a history rewritten consistently under the same head fails at the head", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        // The production moved to another factory, every event and link hash recomputed after it.
        const forged = rewritten(bundle, (b) => {
          b.events[1]!.event.party = "factory-elsewhere";
        });
        expect(paths(forged), mode).to.include("head.linkHash");
        // The head made to name the forged last link: no longer in the anchored heads map.
        forged.head!.linkHash = forged.links[4]!.linkHash;
        expect(paths(forged), mode).to.include("head.proof");
        // In a full bundle each link's own proof refutes it too.
        if (mode === "full") expect(paths(forged)).to.include.members(["links[1].anchor.proof", "links[4].anchor.proof"]);
        else expect(paths(forged)).to.deep.equal(["head.proof"]);
      }
    });

    it("with the head proof removed: invalid, naming the first such link", () => {
      const { bundle } = sealedHistoryV2(CHAIN);
      bundle.head = null;
      const verdict = verifyBundle(bundle);
      expect(verdict.status).to.equal("invalid");
      // Batch 2 stays used: links 4 and 5 name it.
      expect(verdict.problems).to.deep.equal([
        { path: "links[0].anchor", message: "a link without a Merkle proof of its own needs the head proof, and the bundle has none" },
      ]);
      // Also with only one link left without its proof.
      const full = sealedHistoryV2(CHAIN, { proofs: "all" }).bundle;
      full.head = null;
      full.links[3]!.anchor = { seq: full.links[3]!.anchor!.seq };
      expect(paths(full)).to.deep.equal(["links[3].anchor"]);
    });

    it("a claimed batch below 1, or after the head's batch (whose map already records the link), is invalid", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        const below = structuredClone(bundle);
        below.links[0]!.anchor = { seq: -7 };
        expect(paths(below), mode).to.include("links[0].anchor");
        const zero = structuredClone(bundle);
        for (const link of zero.links) link.anchor = { seq: 0 };
        expect(verifyBundle(zero).status, mode).to.equal("invalid");
        const after = structuredClone(bundle);
        after.links[4]!.anchor = { seq: after.head!.seq + 7 };
        expect(paths(after), mode).to.include("links[4].anchor.seq");
      }
    });

    it("after the head's link: invalid, the head proof does not cover it", () => {
      const history = sealedHistoryV2(CHAIN);
      const bundle = compactBundle(history.bundleFor(SERIAL, "all"));
      bundle.head = { seq: 1, n: 3, linkHash: bundle.links[2]!.linkHash, proof: history.headProofIn(1, history.identity.index) };
      bundle.batches = [history.batches[0]!.entry, history.batches[1]!.entry];
      // Links 4 and 5 keep only their batch number, as if batch 1's head proof covered them.
      for (const l of bundle.links) l.anchor = { seq: l.anchor!.seq };
      const verdict = verifyBundle(bundle);
      expect(verdict.status).to.equal("invalid");
      expect(verdict.problems.map((p) => [p.path, p.message])).to.deep.equal([
        ["links[3].anchor", "link 4 claims batch 2 without a proof, and the head proof (batch 1) does not cover it"],
      ]);
    });

    it("lists exactly the anchored links without a proof in timesClaimed, whatever the mix", () => {
      const history = sealedHistoryV2(CHAIN, { proofs: "all", cuts: [2, 3, 4, 5] });
      for (let mask = 0; mask < 32; mask++) {
        const bundle = clone(history.bundle);
        bundle.links.forEach((l, i) => {
          if (mask & (1 << i)) l.anchor = { seq: l.anchor!.seq };
        });
        const verdict = verifyBundle(bundle);
        expect(verdict.status, `mask ${mask}: ${JSON.stringify(verdict.problems)}`).to.equal("valid");
        expect(verdict.timesClaimed).to.deep.equal([1, 2, 3, 4, 5].filter((n) => mask & (1 << (n - 1))));
        // A batch only a claim names stays listed (and compared on chain) when the bundle lists it.
        expect(verdict.roots.map((r) => r.seq)).to.deep.equal(history.batches.map((b) => b.seq));
      }
    });

    it("has a batch number that is the bundle's claim: another one in the links' order verifies the same (what ?proofs=all is for)", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { cuts: [2, 3, 4, 5] });
      expect(bundle.links.map((l) => l.anchor!.seq)).to.deep.equal([1, 2, 3, 4, 5]);
      const claimed = clone(bundle);
      // Every link "sealed in batch 1": no proof says otherwise, and none is expected to.
      for (const l of claimed.links.slice(0, 4)) l.anchor = { seq: 1 };
      const [honest, moved] = [verifyBundle(bundle), verifyBundle(claimed)];
      expect(moved.status).to.equal("valid");
      expect(moved.timesClaimed).to.deep.equal(honest.timesClaimed);
      expect(moved.roots).to.deep.equal(honest.roots);
      // Out of the links' order, a claim is refuted.
      const backwards = clone(bundle);
      backwards.links[2]!.anchor = { seq: 1 };
      expect(paths(backwards)).to.deep.equal(["links[2].anchor.seq"]);
      // With its own proof, a link's batch is proven: the full bundle cannot be moved so.
      const full = sealedHistoryV2(CHAIN, { cuts: [2, 3, 4, 5], proofs: "all" }).bundle;
      full.links[3]!.anchor!.seq = 3;
      expect(paths(full)).to.include("links[3].anchor.proof");
    });
  });

  describe("events in the order of the links", () => {
    it("any other order is invalid, at each misplaced event, in compact and full bundles", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        const swapped = clone(bundle);
        [swapped.events[1], swapped.events[2]] = [swapped.events[2]!, swapped.events[1]!];
        const verdict = verifyBundle(swapped);
        expect(verdict.status, mode).to.equal("invalid");
        expect(verdict.problems.map((p) => [p.path, p.message])).to.deep.equal([
          ["events[1]", "events must be in the order of the links: link 2's event is events[2]"],
          ["events[2]", "events must be in the order of the links: link 3's event is events[1]"],
        ]);
        const reversed = clone(bundle);
        reversed.events.reverse();
        expect(paths(reversed), mode).to.deep.equal(["events[0]", "events[1]", "events[3]", "events[4]"]);
        // Moving the last event to the front shifts every one.
        const rotated = clone(bundle);
        rotated.events.unshift(rotated.events.pop()!);
        expect(paths(rotated), mode).to.deep.equal(["events[0]", "events[1]", "events[2]", "events[3]", "events[4]"]);
      }
    });

    it("one event per link: an event too many or too few is a problem at events", () => {
      const { bundle } = sealedHistoryV2(CHAIN);
      const dropped = clone(bundle);
      dropped.events.pop();
      expect(verifyBundle(dropped).problems.find((p) => p.path === "events")).to.deep.include({ expected: "5", found: "4" });
      const extra = clone(bundle);
      extra.events.push(clone(sealedHistoryV2(CHAIN).bundleFor("MT2026A0000002").events[1]!));
      expect(paths(extra)).to.include.members(["events[5]", "events"]);
    });
  });

  describe("chains begun under format 1", () => {
    it("first prev zero, first batch format 1, old events listing their codes: valid, with notes that identity and completeness are not proven", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { formatOneStart: true, proofs: proofsOf(mode) });
        expect(bundle.links[0]!.link.prev).to.equal(ZERO_HASH);
        expect(Array.isArray(bundle.events[0]!.event.codes)).to.equal(true);
        expect(bundle.head).to.not.equal(null);
        // Full, it lists the format-1 batch of links 1–3; compact, only the head's (format-2) batch.
        expect(
          bundle.batches.map((b) => [b.seq, b.format]),
          mode,
        ).to.deep.equal(
          mode === "full"
            ? [
                [1, 1],
                [2, 2],
              ]
            : [[2, 2]],
        );
        const verdict = verifyBundle(bundle);
        expect(verdict.problems).to.deep.equal([]);
        expect(verdict, mode).to.deep.include({
          status: "valid",
          identityBound: false,
          completeAsOf: null,
          timesClaimed: mode === "full" ? [] : [1, 2, 3, 4, 5],
        });
        expect(verdict.notes).to.have.length(2);
        expect(verdict.notes[0]).to.match(/^identity not bound/);
        expect(verdict.notes[1]).to.match(/^completeness not proven/);
      }
    });

    it("with only format-1 batches there is no head proof: every link keeps its proof, compact or not", () => {
      const history = sealedHistoryV2(CHAIN, { formatOneStart: true, cuts: [] });
      expect(history.bundle.head).to.equal(null);
      expect(history.bundle).to.deep.equal(history.bundleFor(SERIAL, "all"));
      expect(proven(history.bundle)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(verifyBundle(history.bundle)).to.deep.include({ status: "valid", problems: [], timesClaimed: [] });
    });

    it("its header is in no hash (that is what the note says), but its serial is", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { formatOneStart: true });
      const edited = clone(bundle);
      edited.gtin = "06901234567899";
      expect(verifyBundle(edited).status).to.equal("valid");
      edited.serial = "MT2026A0000002";
      expect(verifyBundle(edited).status).to.equal("invalid");
    });

    it("a format-2 chain cannot pass as one begun under format 1: zeroing its first prev breaks its hash, and the chain after it", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        bundle.links[0]!.link.prev = ZERO_HASH;
        bundle.links[0]!.linkHash = linkHash(bundle.links[0]!.link);
        expect(paths(bundle), mode).to.include.members(mode === "full" ? ["links[0].anchor.proof", "links[1].link.prev"] : ["links[1].link.prev"]);
        // The whole chain recomputed from a zero prev: the head proof no longer holds it.
        expect(paths(rewritten(bundle, () => undefined)), mode).to.include("head.linkHash");
      }
    });
  });

  describe("rejects every tampering, saying where", () => {
    type Case = [what: string, edit: (b: ProofBundle) => void, path: string | ((original: ProofBundle, mode: Mode) => string), modes?: readonly Mode[]];
    const lastBatch = (b: ProofBundle): number => b.batches.length - 1;
    const other = (mode: Mode): ProofBundle => sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) }).bundleFor("MT2026A0000002");
    const cases = (mode: Mode): Case[] => [
      [
        "an edited event field",
        (b) => {
          b.events[4]!.event.price = { amount: "99.00", currency: "CNY" };
        },
        "events[4].eventHash",
      ],
      [
        "an edited event hash",
        (b) => {
          b.events[1]!.eventHash = flip(b.events[1]!.eventHash);
        },
        "events[1].eventHash",
      ],
      [
        "an edited codes root",
        (b) => {
          (b.events[0]!.event.codes as { root: Hash }).root = flip((b.events[0]!.event.codes as { root: Hash }).root);
        },
        "events[0].eventHash",
      ],
      [
        "an edited codes count",
        (b) => {
          (b.events[0]!.event.codes as { count: number }).count = 1;
        },
        "events[0].eventHash",
      ],
      [
        "another salt",
        (b) => {
          b.events[0]!.member!.salt = "00".repeat(16);
        },
        "events[0].member",
      ],
      [
        "a membership proof with one sibling changed",
        (b) => {
          b.events[0]!.member!.proof[0] = flip(b.events[0]!.member!.proof[0]!);
        },
        "events[0].member",
      ],
      [
        "a membership proof cut short",
        (b) => {
          b.events[0]!.member!.proof.pop();
        },
        "events[0].member",
      ],
      [
        "no membership proof",
        (b) => {
          delete b.events[2]!.member;
        },
        "events[2].member",
      ],
      [
        "another bottle's membership proof",
        (b) => {
          b.events[0]!.member = clone(other(mode).events[0]!.member!);
        },
        "events[0].member",
      ],
      [
        "an event listing serials instead of its commitment",
        (b) => {
          b.events[1]!.event.codes = [SERIAL];
        },
        "events[1].eventHash",
      ],
      [
        "two events swapped",
        (b) => {
          [b.events[3], b.events[4]] = [b.events[4]!, b.events[3]!];
        },
        "events[3]",
      ],
      [
        "an event dropped, its link kept",
        (b) => {
          b.events.splice(2, 1);
        },
        "events",
      ],
      [
        "a link's n",
        (b) => {
          b.links[2]!.link.n = 4;
        },
        "links[2].link.n",
      ],
      [
        "a link's prev",
        (b) => {
          b.links[3]!.link.prev = flip(b.links[3]!.link.prev);
        },
        "links[3].link.prev",
      ],
      [
        "a link's hash",
        (b) => {
          b.links[1]!.linkHash = b.links[2]!.linkHash;
        },
        "links[1].linkHash",
      ],
      [
        "a link's event",
        (b) => {
          b.links[1]!.link.event = b.links[2]!.link.event;
        },
        "links[2].link.event",
      ],
      [
        "a link's anchor proof",
        (b) => {
          b.links[0]!.anchor!.proof![0] = flip(b.links[0]!.anchor!.proof![0]!);
        },
        "links[0].anchor.proof",
        ["full"],
      ],
      [
        "a link's anchor moved to the other batch",
        (b) => {
          b.links[4]!.anchor!.seq = 1;
        },
        (_, m) => (m === "full" ? "links[4].anchor.proof" : "links[4].anchor.seq"),
      ],
      [
        "an anchor in a batch the bundle does not list",
        (b) => {
          b.links[4]!.anchor!.seq = 9;
        },
        "links[4].anchor.seq",
        ["full"],
      ],
      [
        "an anchor that is not { seq, proof? }",
        (b) => {
          (b.links[2]!.anchor as unknown as { proof: null }).proof = null;
        },
        "links[2].anchor",
      ],
      [
        "a batch root",
        (b) => {
          b.batches[0]!.root = flip(b.batches[0]!.root);
        },
        "batches[0].root",
      ],
      [
        "a batch's links root",
        (b) => {
          (b.batches[0] as { linksRoot: Hash }).linksRoot = flip((b.batches[0] as { linksRoot: Hash }).linksRoot);
        },
        "batches[0].root",
      ],
      [
        "the head batch's heads root",
        (b) => {
          (b.batches.at(-1) as { headsRoot: Hash }).headsRoot = flip((b.batches.at(-1) as { headsRoot: Hash }).headsRoot);
        },
        (o) => `batches[${lastBatch(o)}].root`,
      ],
      [
        "the head batch's heads depth",
        (b) => {
          (b.batches.at(-1) as { headsDepth: number }).headsDepth += 1;
        },
        (o) => `batches[${lastBatch(o)}].root`,
      ],
      [
        "the head batch claimed as format 1",
        (b) => {
          b.batches[lastBatch(b)] = { seq: 2, format: 1, root: b.batches.at(-1)!.root, txHash: null, blockNumber: null, blockTime: null };
        },
        "head.seq",
      ],
      [
        "a batch listed twice",
        (b) => {
          b.batches.push(clone(b.batches[0]!));
        },
        (o) => `batches[${o.batches.length}].seq`,
      ],
      [
        "a batch nothing uses",
        (b) => {
          b.batches.push({ ...clone(b.batches.at(-1)!), seq: 3 });
        },
        (o) => `batches[${o.batches.length}]`,
      ],
      [
        "the batch of links 1–3 left out",
        (b) => {
          b.batches.splice(0, 1);
        },
        "links[0].anchor.seq",
        ["full"],
      ],
      [
        "the head's batch left out",
        (b) => {
          b.batches.pop();
        },
        "head.seq",
      ],
      [
        "a head proof sibling",
        (b) => {
          b.head!.proof[0] = flip(b.head!.proof[0]!);
        },
        "head.proof",
      ],
      [
        "a head proof cut short",
        (b) => {
          b.head!.proof.pop();
        },
        "head.proof",
      ],
      [
        "the head's n",
        (b) => {
          b.head!.n = 4;
        },
        "head.proof",
      ],
      [
        "the head's link",
        (b) => {
          b.head!.linkHash = b.links[3]!.linkHash;
        },
        "head.proof",
      ],
      [
        "the head's batch",
        (b) => {
          b.head!.seq = 1;
        },
        (_, m) => (m === "full" ? "head.proof" : "head.seq"),
      ],
      [
        "another bottle's head",
        (b) => {
          b.head = clone(other(mode).head);
        },
        "head.proof",
      ],
      [
        "the head proof removed from links without their own",
        (b) => {
          b.head = null;
          b.links[2]!.anchor = { seq: b.links[2]!.anchor!.seq };
        },
        (_, m) => (m === "full" ? "links[2].anchor" : "links[0].anchor"),
      ],
      [
        "the brand",
        (b) => {
          b.brand = "moutai";
        },
        "links[0].link.prev",
      ],
      [
        "the GTIN",
        (b) => {
          b.gtin = "06901234567899";
        },
        "links[0].link.prev",
      ],
      [
        "the lot",
        (b) => {
          b.lot = "2026-11-B";
        },
        "links[0].link.prev",
      ],
      [
        "no lot",
        (b) => {
          b.lot = null;
        },
        "links[0].link.prev",
      ],
      [
        "the index",
        (b) => {
          b.index += 1;
        },
        "links[0].link.prev",
      ],
      [
        "the serial",
        (b) => {
          b.serial = "MT2026A0000002";
        },
        "links[0].link.serial",
      ],
      [
        "the format",
        (b) => {
          (b as { format: string }).format = "sealtrace-proof/3";
        },
        "format",
      ],
      [
        "an event of another bottle added",
        (b) => {
          b.events.push(clone(other(mode).events[0]!));
        },
        "events[5]",
      ],
      [
        "an event listed twice",
        (b) => {
          b.events.push(clone(b.events[3]!));
        },
        "events[5]",
      ],
      [
        "a link listed twice",
        (b) => {
          b.links.splice(2, 0, clone(b.links[2]!));
        },
        "links[3].link.n",
      ],
      [
        "two links swapped",
        (b) => {
          [b.links[1], b.links[2]] = [b.links[2]!, b.links[1]!];
        },
        "links[1].link.n",
      ],
      [
        "a link in the middle dropped, with its event",
        (b) => {
          b.links.splice(2, 1);
          b.events.splice(2, 1);
        },
        "links[2].link.n",
      ],
      [
        "the last two links dropped, with their events (issue 14, finding 1)",
        (b) => {
          b.links.splice(3);
          b.events.splice(3);
        },
        "links",
      ],
    ];
    for (const mode of MODES) {
      describe(mode, () => {
        let bundle: ProofBundle;
        beforeEach(() => {
          bundle = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) }).bundle;
        });
        for (const [what, edit, path, modes] of cases(mode)) {
          if (modes !== undefined && !modes.includes(mode)) continue;
          it(what, () => {
            const expected = typeof path === "string" ? path : path(bundle, mode);
            edit(bundle);
            const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
            expect(verdict.status, JSON.stringify(verdict.problems)).to.equal("invalid");
            expect(
              verdict.problems.map((p) => p.path),
              JSON.stringify(verdict.problems),
            ).to.include(expected);
            expect(
              verdict.problems.every((p) => p.path !== "$"),
              "no check threw",
            ).to.equal(true);
          });
        }
      });
    }

    it("a heads map that ends the history before a link anchored in the same batch contradicts it (compact and full)", () => {
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        // An operator's own batch 2, consistent offline: its heads map says the bottle has 3 links.
        const b2 = bundle.batches.find((b) => b.seq === 2) as Extract<BundleBatch, { format: 2 }>;
        const leaves = new Map([[bundle.index, headLeaf(bundle.index, 3, bundle.links[2]!.linkHash)]]);
        b2.headsRoot = headsRootOf(leaves, b2.headsDepth);
        b2.root = batchRoot(b2.linksRoot, b2.headsRoot, b2.headsDepth);
        bundle.head = { seq: 2, n: 3, linkHash: bundle.links[2]!.linkHash, proof: Array.from({ length: b2.headsDepth }, () => ZERO_HASH) };
        const verdict = verifyBundle(bundle);
        expect(
          verdict.problems.map((p) => p.path),
          mode,
        ).to.deep.equal(["links[3].anchor"]);
        expect(verdict.problems[0]!.message, mode).to.equal(
          mode === "full"
            ? "link 4 is in batch 2, but batch 2's heads map ends this bottle's history at link 3"
            : "link 4 claims batch 2 without a proof, and the head proof (batch 2) does not cover it",
        );
      }
    });

    it("an anchored link after a pending one, and anchors going back in time (compact and full)", () => {
      for (const mode of MODES) {
        const pending = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) }).bundle;
        pending.links[1]!.anchor = null;
        expect(paths(pending), mode).to.include("links[2].anchor");
        const backwards = sealedHistoryV2(CHAIN, { cuts: [2, 4], proofs: proofsOf(mode) }).bundle;
        [backwards.links[2]!.anchor, backwards.links[3]!.anchor] = [backwards.links[3]!.anchor, backwards.links[2]!.anchor];
        expect(paths(backwards), mode).to.include("links[3].anchor.seq");
      }
    });

    it("anything that is not a bundle, or a part of one that is junk, is a problem, never a throw", () => {
      expect(paths(null)).to.deep.equal(["$"]);
      expect(paths([])).to.deep.equal(["$"]);
      expect(paths({ format: BUNDLE_FORMAT })).to.include.members(["serial", "brand", "gtin", "index", "chain", "batches", "events", "links"]);
      for (const mode of MODES) {
        const { bundle } = sealedHistoryV2(CHAIN, { proofs: proofsOf(mode) });
        expect(paths({ ...bundle, index: 2 ** 40 })).to.include("index");
        expect(paths({ ...bundle, links: [] })).to.include("links");
        for (const junk of [null, 1, "x", [], {}, { seq: 2 }, { seq: 2, n: 5, linkHash: "0x12", proof: [] }]) {
          const copy = clone(bundle) as unknown as Record<string, unknown>;
          copy.head = junk;
          const verdict = verifyBundle(copy);
          expect(verdict.status, `${mode}: ${JSON.stringify(junk)}`).to.not.equal("valid");
          expect(
            verdict.problems.every((p) => p.path !== "$"),
            JSON.stringify(junk),
          ).to.equal(true);
        }
        for (const key of ["batches", "events", "links"] as const) {
          for (const junk of [null, 0, "x", [], {}, { event: 1 }, { link: {} }, { seq: "1" }]) {
            const copy = clone(bundle) as unknown as Record<string, unknown[]>;
            copy[key]![0] = junk;
            const verdict = verifyBundle(copy);
            expect(verdict.status, `${mode}: ${key}[0] = ${JSON.stringify(junk)}`).to.equal("invalid");
            expect(
              verdict.problems.every((p) => p.path !== "$"),
              `${key}[0] = ${JSON.stringify(junk)}: ${JSON.stringify(verdict.problems)}`,
            ).to.equal(true);
          }
        }
        for (const junk of [null, 0, "x", [], {}, { seq: "1" }, { seq: 1, proof: "x" }, { seq: 1, proof: [1] }, { seq: 1.5 }]) {
          const copy = clone(bundle) as unknown as { links: { anchor: unknown }[] };
          copy.links[2]!.anchor = junk;
          const verdict = verifyBundle(copy);
          expect(verdict.status, `${mode}: anchor = ${JSON.stringify(junk)}`).to.not.equal("valid");
          expect(verdict.problems.every((p) => p.path !== "$")).to.equal(true);
        }
      }
    });
  });

  describe("against the chain (checkOnChain, on the in-process Hardhat chain and a real AnchorRegistry)", () => {
    const rpc: Rpc = (method, params) => ethers.provider.send(method, params);
    /** A fresh registry with the history's batch roots anchored in order; the block time of each. */
    async function anchoredOnChain(roots: Hash[]): Promise<{ chain: { chainId: number; registry: string }; times: number[]; blocks: number[] }> {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const times: number[] = [],
        blocks: number[] = [];
      for (const [i, root] of roots.entries()) {
        await networkHelpers.time.increase(600);
        const receipt = (await (await registry.anchor(i + 1, root, 1)).wait())!;
        blocks.push(receipt.blockNumber);
        times.push((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
      }
      return { chain: { chainId: Number((await ethers.provider.getNetwork()).chainId), registry: await registry.getAddress() }, times, blocks };
    }
    /** The same history as `sealedHistoryV2(CHAIN, options)`, naming the registry `chain`. */
    const historyOn = (chain: { chainId: number; registry: string }, options: Parameters<typeof sealedHistoryV2>[1] = {}) => sealedHistoryV2(chain, options);

    it("a whole bundle matches the chain and is complete as of its batch, at the chain's time: compact, its head's root; full, every root", async () => {
      const roots = historyOn(CHAIN).batches.map((b) => b.root);
      const { chain, times, blocks } = await anchoredOnChain(roots);
      const history = historyOn(chain);
      for (const mode of MODES) {
        const bundle = history.bundleFor(SERIAL, proofsOf(mode));
        const verdict = verifyBundle(bundle);
        const check = await checkOnChain(rpc, { ...chain, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now: times[1]! + 60 }, bundle.chain, verdict);
        expect(check.problems).to.deep.equal([]);
        expect(check.rootsChecked, mode).to.equal(mode === "compact" ? 1 : 2);
        expect(check.completeAsOf).to.deep.equal({ seq: 2, blockTime: times[1], blockNumber: blocks[1] });
      }
    });

    it("truncated to an older head proof: valid offline, stale once the next batch has been on chain longer than the window (compact and full)", async () => {
      const roots = historyOn(CHAIN, { proofs: "all" }).batches.map((b) => b.root);
      const { chain, times } = await anchoredOnChain(roots);
      const history = historyOn(chain, { proofs: "all" });
      const full = clone(history.bundle);
      full.links.splice(3);
      full.events.splice(3);
      full.batches.splice(1);
      full.head = { seq: 1, n: 3, linkHash: full.links[2]!.linkHash, proof: history.headProofIn(1, history.identity.index) };
      const compact = compactBundle(full);
      expect(compact.batches.map((b) => b.seq)).to.deep.equal([1]);
      for (const truncated of [full, compact]) {
        const verdict = verifyBundle(truncated);
        expect(verdict.status, "offline, a truncated history with an older head proof looks complete").to.equal("valid");
        const trust = { ...chain, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS };
        const fresh = await checkOnChain(rpc, { ...trust, now: times[1]! + 600 }, truncated.chain, verdict);
        expect(fresh.problems, "batch 2 anchored 10 minutes ago: within the window").to.deep.equal([]);
        const stale = await checkOnChain(rpc, { ...trust, now: times[1]! + DEFAULT_MAX_AGE_SECONDS + 1 }, truncated.chain, verdict);
        expect(stale.problems.map((p) => p.path)).to.deep.equal(["head.seq"]);
        expect(stale.problems[0]!.message).to.match(/^stale: /);
      }
    });

    it("a bundle naming another registry or chain than the verifier trusts fails before any call", async () => {
      const roots = historyOn(CHAIN).batches.map((b) => b.root);
      const { chain, times } = await anchoredOnChain(roots);
      const { bundle } = historyOn(chain);
      const verdict = verifyBundle(bundle);
      const never: Rpc = () => Promise.reject(new Error("no call expected"));
      const trust = { chainId: chain.chainId, registry: `0x${"11".repeat(20)}`, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now: times[1]! };
      expect((await checkOnChain(never, trust, bundle.chain, verdict)).problems.map((p) => p.path)).to.deep.equal(["chain.registry"]);
      expect((await checkOnChain(never, { ...trust, ...chain, chainId: 1 }, bundle.chain, verdict)).problems.map((p) => p.path)).to.deep.equal([
        "chain.chainId",
      ]);
      // The registry's address is compared without regard to case.
      const upper = await checkOnChain(rpc, { ...chain, registry: chain.registry.toLowerCase(), maxAgeSeconds: 60, now: times[1]! }, bundle.chain, verdict);
      expect(upper.problems).to.deep.equal([]);
    });
  });

  describe("size: a bottle of a 1,000-bottle production event plus five one-bottle events", () => {
    /**
     * The bundle at realistic scale without building whole trees: each link's proof is a real path
     * (as many siblings as its place in a `leaves`-leaf links tree gives, each another hash) and the
     * batch's links root is where that path leads; the heads map of `chains` chains is stood in for by
     * the three tiles a proof reads, filled with other hashes, moved by `updateHeads`, the proof cut
     * by `proofFromTiles`. Every hash verifies; only the other leaves are not real links. The bundle is
     * the full one (every link with its proof); `compactBundle` gives the one the service serves.
     */
    function realistic(leaves: number, chains: number, batchesUsed: "one" | "each"): { bundle: ProofBundle; serials: string[] } {
      const hashOf = (label: string): Hash => toHex(keccak256(new TextEncoder().encode(`size:${label}`)));
      const lot = Array.from({ length: 1_000 }, (_, i) => `MT2026C${String(i + 1).padStart(7, "0")}`);
      const mine = 499;
      const identity: BottleIdentity = { brand: "moutai-demo", gtin: GTIN, lot: "2026-11-C", serial: lot[mine]!, index: chains - 1_000 + mine };
      const steps: [string, string, Record<string, unknown>][] = [
        ["production", "factory-zunyi", { data: { lot: "2026-11-C", line: "3" } }],
        ["warehouse_in", "wh-guiyang", {}],
        ["warehouse_out", "wh-guiyang", { to: "dist-shanghai" }],
        ["store_receiving", "store-pudong-01", {}],
        ["retail_sale", "store-pudong-01", { price: { amount: "1499.00", currency: "CNY" } }],
        ["opened", "", { by: "consumer", place: "上海市浦东新区" }],
      ];
      const committed = steps.map(([type, party, extra], i) => {
        const draft = {
          brand: "moutai-demo",
          id: i === 5 ? `opened-${hashOf("uuid").slice(2, 38)}` : `mt-2026-11-C-${type}-0001`,
          type,
          codes: i === 0 ? lot : [identity.serial],
          occurredAt: `2026-11-2${i}T09:30:00+08:00`,
          receivedAt: `2026-11-2${i}T01:30:00.412Z`,
          salt: hashOf(`salt${i}`).slice(2, 34),
          ...(party ? { party } : {}),
          ...extra,
        } as CanonicalEvent;
        return commitEvent(draft, fromHex(hashOf(`secret${i}`)).slice(0, 16));
      });
      const links: Link[] = [];
      for (const { event } of committed) {
        const previous = links.at(-1);
        links.push(nextLink(identity.serial, eventHash(event), previous ? { n: previous.n, linkHash: linkHash(previous) } : null, genesis(identity)));
      }
      const depth = depthFor(chains - 1);
      const siblings = (position: number): number => {
        let count = 0;
        for (let width = leaves, i = position; width > 1; width = Math.ceil(width / 2), i = Math.floor(i / 2)) if ((i ^ 1) < width) count++;
        return count;
      };
      const anchors = links.map((link, i) => {
        const position = (i * 15_485_863 + 7) % leaves;
        const proof = Array.from({ length: siblings(position) }, (_, k) => hashOf(`sibling ${i}/${k}`));
        return { seq: batchesUsed === "each" ? 100 + 3 * i : 100, proof, linksRoot: processProof(leafOf(linkHash(link)), proof) };
      });
      if (batchesUsed === "one") {
        // One batch: a real tree of `leaves` leaves holding the six links.
        const all = Array.from({ length: leaves }, (_, i) => hashOf(`leaf ${i}`));
        links.forEach((link, i) => {
          all[Math.floor((leaves * i) / 6)] = leafOf(linkHash(link));
        });
        const tree = new MerkleTree(all);
        links.forEach((_, i) => {
          anchors[i] = { seq: 100, proof: tree.proof(Math.floor((leaves * i) / 6)), linksRoot: tree.root };
        });
      }
      const other = (key: TileKey): Uint8Array => {
        const bytes = new Uint8Array(TILE_BYTES);
        for (let i = 0; i < 256; i++) bytes.set(fromHex(hashOf(`tile ${tileId(key)}/${i}`)), i * 32);
        return bytes;
      };
      const last = links.at(-1)!;
      const update = updateHeads(other, new Map([[identity.index, headLeaf(identity.index, last.n, linkHash(last))]]), depth);
      const tiles = new Map<string, Uint8Array>();
      for (let g = 0; g * 8 < depth; g++) {
        const key = { group: g, index: Math.floor(identity.index / 256 ** (g + 1)) };
        tiles.set(tileId(key), update.tiles.get(tileId(key))?.bytes ?? other(key));
      }
      const seqs = [...new Set(anchors.map((a) => a.seq))];
      const batches: BundleBatch[] = seqs.map((seq) => {
        const linksRoot = anchors.find((a) => a.seq === seq)!.linksRoot;
        const headsRoot = seq === seqs.at(-1) ? update.root : hashOf(`heads ${seq}`);
        return {
          seq,
          format: 2,
          root: batchRoot(linksRoot, headsRoot, depth),
          linksRoot,
          headsRoot,
          headsDepth: depth,
          txHash: hashOf(`tx ${seq}`),
          blockNumber: 18_000_000 + seq,
          blockTime: "2026-11-25T01:30:07.000Z",
        };
      });
      const bundle = buildBundle({
        identity,
        chain: { chainId: 137, registry: CHAIN.registry },
        batches,
        events: committed.map(({ event, members }) => ({ event: event as never, member: members.get(identity.serial)! })),
        links: links.map((link, i) => ({ link, anchor: { seq: anchors[i]!.seq, proof: anchors[i]!.proof } })),
        head: { seq: seqs.at(-1)!, n: last.n, linkHash: linkHash(last), proof: proofFromTiles(identity.index, depth, tiles) },
      });
      return { bundle, serials: lot };
    }

    const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
    const count = (n: number): string => n.toLocaleString("en-US");
    /** The same bundle without what completeness adds: no head, format-1 style batches, a zero genesis. */
    const completenessBytes = (bundle: ProofBundle): number =>
      bytes(bundle.head) +
      bundle.batches.reduce(
        (sum, b) => sum + bytes(b) - bytes({ seq: b.seq, format: 1, root: b.root, txHash: b.txHash, blockNumber: b.blockNumber, blockTime: b.blockTime }),
        0,
      );

    const configurations: { leaves: number; chains: number; batches: "one" | "each" }[] = [
      { leaves: 100_000, chains: 1_000_000, batches: "each" },
      { leaves: 100_000, chains: 1_000_000, batches: "one" },
      { leaves: 1_000, chains: 1_000_000, batches: "each" },
      { leaves: 16, chains: 10_000, batches: "one" },
    ];
    /** Each configuration's bundles: full (`?proofs=all`) and compact (as the service serves it). */
    const built = new Map<string, { full: ProofBundle; compact: ProofBundle; serials: string[] }>();
    /** A row of docs/PROOF-FORMAT.md's size table ("| links tree | heads map | …"). */
    const rowOf = (c: (typeof configurations)[number], full: ProofBundle, compact: ProofBundle): string[] => [
      `${count(c.leaves)} leaves`,
      `${count(c.chains)} chains`,
      c.batches === "one" ? "one batch" : "six batches",
      count(bytes(compact)),
      [compact.events, compact.links, compact.batches, compact.head].map((part) => count(bytes(part))).join(" · "),
      count(bytes(full)),
      [full.links, full.batches].map((part) => count(bytes(part))).join(" · "),
      count(completenessBytes(full)),
    ];
    before(function () {
      this.timeout(120_000);
      const rows: string[] = [];
      for (const c of configurations) {
        const { bundle: full, serials } = realistic(c.leaves, c.chains, c.batches);
        const compact = compactBundle(full);
        built.set(JSON.stringify(c), { full, compact, serials });
        const [, , , compactBytes, compactParts, fullBytes, fullParts, adds] = rowOf(c, full, compact);
        rows.push(
          `      ${c.leaves.toLocaleString("en-US").padStart(7)}-leaf links trees, ${c.chains.toLocaleString("en-US").padStart(9)} chains, six links in ${c.batches === "one" ? "one batch " : "six batches"}: ` +
            `compact ${compactBytes!} bytes (events · links · batches · head: ${compactParts!}); full ${fullBytes!} bytes (links · batches: ${fullParts!}; completeness adds ${adds!})`,
        );
      }
      process.stdout.write(`      bundle sizes, JSON without whitespace:\n${rows.join("\n")}\n`);
    });

    it("both forms verify, the compact one with every batch number claimed, and neither names another bottle of the event", () => {
      expect(built.size).to.equal(configurations.length);
      for (const [label, { full, compact, serials }] of built) {
        expect(verifyBundle(JSON.parse(JSON.stringify(full))), label).to.deep.include({ status: "valid", problems: [], timesClaimed: [] });
        expect(verifyBundle(JSON.parse(JSON.stringify(compact))), label).to.deep.include({ status: "valid", problems: [], timesClaimed: [1, 2, 3, 4, 5, 6] });
        expect(proven(compact), label).to.deep.equal([]);
        expect(
          compact.batches.map((b) => b.seq),
          label,
        ).to.deep.equal([compact.head!.seq]);
        for (const bundle of [full, compact]) {
          expect(
            serials.filter((s) => JSON.stringify(bundle).includes(s)),
            label,
          ).to.deep.equal([bundle.serial]);
          expect(
            JSON.stringify(bundle)
              .match(/MT2026C\d{7}/g)!
              .every((s) => s === bundle.serial),
            label,
          ).to.equal(true);
        }
      }
    });

    it("the compact bundle is at most 8 KB of JSON (issue 14) with 100,000-leaf links trees, a heads map of 10^6 chains and six batches, and names no other serial", () => {
      // Six links each in its own batch: the history of a bottle that moves over days.
      const { compact, serials } = built.get(JSON.stringify(configurations[0]))!;
      expect(compact.head!.proof).to.have.length(20);
      expect(new Set(compact.links.map((l) => l.anchor!.seq)).size, "six batches").to.equal(6);
      expect(bytes(compact), "bytes of JSON").to.be.at.most(8 * 1_024);
      const json = JSON.stringify(compact);
      expect(serials.filter((s) => s !== compact.serial && json.includes(s))).to.deep.equal([]);
    });

    it("the head proof and what completeness adds to a full bundle stay within issue 14's 2 KB in one batch of a million-chain map", () => {
      const { full } = built.get(JSON.stringify(configurations[1]))!;
      expect(full.head!.proof).to.have.length(20);
      expect(completenessBytes(full)).to.be.at.most(2_048);
    });

    it("the compact bundle is smaller, at every size, than the full one would be without completeness", () => {
      for (const [label, { full, compact }] of built) expect(bytes(compact), label).to.be.lessThan(bytes(full) - completenessBytes(full));
    });

    it("docs/PROOF-FORMAT.md's size table is these measurements", () => {
      const doc = readFileSync(new URL("../../docs/PROOF-FORMAT.md", import.meta.url), "utf8");
      const header = "| links tree | heads map | six links in |";
      const at = doc.indexOf(header);
      expect(at, `a table headed "${header}"`).to.be.greaterThan(0);
      const rows = doc
        .slice(at)
        .split("\n")
        .slice(2)
        .filter((line, i, all) => line.startsWith("|") && all.slice(0, i).every((l) => l.startsWith("|")))
        .map((line) =>
          line
            .split("|")
            .slice(1, -1)
            .map((cell) => cell.trim()),
        );
      expect(rows).to.deep.equal(
        configurations.map((c) => {
          const { full, compact } = built.get(JSON.stringify(c))!;
          return rowOf(c, full, compact);
        }),
      );
    });
  });
});
