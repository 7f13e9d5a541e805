/**
 * core/bundle.ts: the `sealtrace-proof/2` verifier on histories built with the sealer's own code
 * (test/helpers/bottle.ts): valid, incomplete (pending links, no head proof), chains begun under
 * format 1, every tampering rejected at the right path, the six findings, the staleness of a
 * truncated bundle's older head proof, and the size of a realistic bundle.
 * Format 1 is test/core/bundle-v1.test.ts.
 */
import { expect } from "chai";
import { BUNDLE_FORMAT, buildBundle, verifyBundle, type BundleBatch, type ProofBundle } from "../../service/core/bundle.ts";
import { batchRoot, commitEvent, depthFor, genesis, headLeaf, headsRootOf, type BottleIdentity } from "../../service/core/commitments.ts";
import { fromHex, keccak256, toHex, ZERO_HASH, type Hash } from "../../service/core/hash.ts";
import { proofFromTiles, tileId, TILE_BYTES, updateHeads, type TileKey } from "../../service/core/heads.ts";
import { eventHash, leafOf, linkHash, nextLink, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { MerkleTree, processProof } from "../../service/core/merkle.ts";
import { BATCH_ANCHORED, checkOnChain, DEFAULT_MAX_AGE_SECONDS, NEXT_SEQ, ROOT_OF, type Rpc } from "../../service/core/onchain.ts";
import { clone, GTIN, sealedHistoryV2, SERIAL } from "../helpers/bottle.ts";

const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const flip = (hash: string): Hash => toHex(keccak256(fromHex(hash)));
const paths = (bundle: unknown): string[] => verifyBundle(bundle).problems.map((p) => p.path);
/** Bottle serials of the lot (MT2026A…) and of the other lot (MT2026B…) found anywhere in `bundle`'s JSON. */
const serialsIn = (bundle: unknown): string[] => [...new Set(JSON.stringify(bundle).match(/MT2026[AB]\d{7}/g) ?? [])];

describe("core/bundle: sealtrace-proof/2", () => {
  describe("a bottle's whole history", () => {
    it("verifies as valid: identity bound, complete as of the latest batch, only this bottle's serial in it", () => {
      const history = sealedHistoryV2(CHAIN);
      const { bundle } = history;
      expect(bundle.format).to.equal(BUNDLE_FORMAT);
      expect(bundle.links.map((l) => l.link.n)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(bundle.batches.map((b) => b.seq)).to.deep.equal([1, 2]);
      const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({ format: 2, status: "valid", valid: true, identityBound: true, linkCount: 5, pending: [], notes: [] });
      expect(verdict.completeAsOf).to.deep.equal({ seq: 2, blockNumber: 11, blockTime: "2026-11-21T00:00:05.000Z" });
      expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal(history.batches.map((b) => [b.seq, b.root]));
      expect(serialsIn(bundle)).to.deep.equal([SERIAL]);
      // The batches' heads maps are the ones the whole map hashes to.
      for (const batch of history.batches) expect(batch.headsRoot).to.equal(headsRootOf(batch.headLeaves, batch.headsDepth!));
    });

    it("every bottle of the lot and of the other lot has its own valid bundle, showing only its own serial", () => {
      const history = sealedHistoryV2(CHAIN, { lotSize: 6, otherChains: 3 });
      for (const key of history.chains.keys()) {
        if (key.includes(":")) continue;
        const bundle = history.bundleFor(key);
        const verdict = verifyBundle(bundle);
        expect(verdict.status, `${key}: ${JSON.stringify(verdict.problems)}`).to.equal("valid");
        expect(serialsIn(bundle), key).to.deep.equal([key]);
      }
    });

    it("is valid for histories over many batches, at every place in the map, across tile groups", () => {
      for (const options of [{ cuts: [2, 3, 4, 5] }, { cuts: [] }, { index: 0, otherChains: 0 }, { index: 255, lotSize: 3 }, { index: 65_534, lotSize: 4, otherChains: 2 }, { firstSeq: 41 }]) {
        const verdict = verifyBundle(sealedHistoryV2(CHAIN, options).bundle);
        expect(verdict.status, `${JSON.stringify(options)}: ${JSON.stringify(verdict.problems)}`).to.equal("valid");
        expect(verdict.completeAsOf).to.not.equal(null);
      }
    });
  });

  describe("incomplete: nothing wrong, something not proven yet", () => {
    it("links pending after the latest batch: incomplete, complete as of that batch up to the last sealed link", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { pendingFrom: 4 });
      expect(bundle.head!.n).to.equal(3);
      const verdict = verifyBundle(bundle);
      expect(verdict).to.deep.include({ status: "incomplete", valid: false, problems: [], pending: [4, 5] });
      expect(verdict.notes[0]).to.equal("2 links pending (n = 4, 5)");
    });

    it("no link sealed yet: incomplete, no head", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { pendingFrom: 1 });
      expect(bundle.head).to.equal(null);
      const verdict = verifyBundle(bundle);
      expect(verdict).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null });
      expect(verdict.pending).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it("no head proof: incomplete, saying completeness is not proven", () => {
      const { bundle } = sealedHistoryV2(CHAIN);
      bundle.head = null;
      bundle.batches = bundle.batches.filter((b) => bundle.links.some((l) => l.anchor?.seq === b.seq));
      const verdict = verifyBundle(bundle);
      expect(verdict).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null, identityBound: true });
      expect(verdict.notes.join("; ")).to.match(/completeness not proven/);
    });

    it("a head proof from before the last links were sealed: incomplete, complete only up to its link", () => {
      const history = sealedHistoryV2(CHAIN);
      const { bundle } = history;
      bundle.head = { seq: 1, n: 3, linkHash: bundle.links[2]!.linkHash, proof: history.headProofIn(1, history.identity.index) };
      const verdict = verifyBundle(bundle);
      expect(verdict).to.deep.include({ status: "incomplete", problems: [], completeAsOf: null });
      expect(verdict.notes).to.deep.equal(["completeness proven only up to link 3: links 4, 5 were anchored after batch 1"]);
    });
  });

  describe("chains begun under format 1", () => {
    it("first prev zero, first batch format 1, old events listing their codes: valid, with notes that identity and completeness are not proven", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { formatOneStart: true });
      expect(bundle.links[0]!.link.prev).to.equal(ZERO_HASH);
      expect(bundle.batches[0]!.format).to.equal(1);
      expect(Array.isArray(bundle.events[0]!.event.codes)).to.equal(true);
      expect(bundle.head).to.not.equal(null);
      const verdict = verifyBundle(bundle);
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({ status: "valid", identityBound: false, completeAsOf: null });
      expect(verdict.notes).to.have.length(2);
      expect(verdict.notes[0]).to.match(/^identity not bound/);
      expect(verdict.notes[1]).to.match(/^completeness not proven/);
    });

    it("its header is in no hash (that is what the note says), but its serial is", () => {
      const { bundle } = sealedHistoryV2(CHAIN, { formatOneStart: true });
      const edited = clone(bundle);
      edited.gtin = "06901234567899";
      expect(verifyBundle(edited).status).to.equal("valid");
      edited.serial = "MT2026A0000002";
      expect(verifyBundle(edited).status).to.equal("invalid");
    });

    it("a format-2 chain cannot pass as one begun under format 1: zeroing its first prev breaks its anchored hash", () => {
      const { bundle } = sealedHistoryV2(CHAIN);
      bundle.links[0]!.link.prev = ZERO_HASH;
      bundle.links[0]!.linkHash = linkHash(bundle.links[0]!.link);
      expect(paths(bundle)).to.include.members(["links[0].anchor.proof", "links[1].link.prev"]);
    });
  });

  describe("rejects every tampering, saying where", () => {
    let history: ReturnType<typeof sealedHistoryV2>;
    let bundle: ProofBundle;
    beforeEach(() => {
      history = sealedHistoryV2(CHAIN);
      bundle = clone(history.bundle);
    });

    const cases: [string, (b: ProofBundle) => void, string][] = [
      ["an edited event field", (b) => { b.events[4]!.event.price = { amount: "99.00", currency: "CNY" }; }, "events[4].eventHash"],
      ["an edited event hash", (b) => { b.events[1]!.eventHash = flip(b.events[1]!.eventHash); }, "events[1].eventHash"],
      ["an edited codes root", (b) => { (b.events[0]!.event.codes as { root: Hash }).root = flip((b.events[0]!.event.codes as { root: Hash }).root); }, "events[0].eventHash"],
      ["an edited codes count", (b) => { (b.events[0]!.event.codes as { count: number }).count = 1; }, "events[0].eventHash"],
      ["another salt", (b) => { b.events[0]!.member!.salt = "00".repeat(16); }, "events[0].member"],
      ["a membership proof with one sibling changed", (b) => { b.events[0]!.member!.proof[0] = flip(b.events[0]!.member!.proof[0]!); }, "events[0].member"],
      ["a membership proof cut short", (b) => { b.events[0]!.member!.proof.pop(); }, "events[0].member"],
      ["no membership proof", (b) => { delete b.events[2]!.member; }, "events[2].member"],
      ["another bottle's membership proof", (b) => { b.events[0]!.member = clone(history.bundleFor("MT2026A0000002").events[0]!.member!); }, "events[0].member"],
      ["an event listing serials instead of its commitment", (b) => { b.events[1]!.event.codes = [SERIAL]; }, "events[1].eventHash"],
      ["a link's n", (b) => { b.links[2]!.link.n = 4; }, "links[2].link.n"],
      ["a link's prev", (b) => { b.links[3]!.link.prev = flip(b.links[3]!.link.prev); }, "links[3].link.prev"],
      ["a link's hash", (b) => { b.links[1]!.linkHash = b.links[2]!.linkHash; }, "links[1].linkHash"],
      ["a link's event", (b) => { b.links[1]!.link.event = b.links[2]!.link.event; }, "links[2].link.event"],
      ["a link's anchor proof", (b) => { b.links[0]!.anchor!.proof[0] = flip(b.links[0]!.anchor!.proof[0]!); }, "links[0].anchor.proof"],
      ["a link's anchor moved to the other batch", (b) => { b.links[4]!.anchor!.seq = 1; }, "links[4].anchor.proof"],
      ["an anchor in a batch the bundle does not list", (b) => { b.links[4]!.anchor!.seq = 9; }, "links[4].anchor.seq"],
      ["a batch root", (b) => { b.batches[0]!.root = flip(b.batches[0]!.root); }, "batches[0].root"],
      ["a batch's links root", (b) => { (b.batches[0] as { linksRoot: Hash }).linksRoot = flip((b.batches[0] as { linksRoot: Hash }).linksRoot); }, "batches[0].root"],
      ["a batch's heads root", (b) => { (b.batches[1] as { headsRoot: Hash }).headsRoot = flip((b.batches[1] as { headsRoot: Hash }).headsRoot); }, "batches[1].root"],
      ["a batch's heads depth", (b) => { (b.batches[1] as { headsDepth: number }).headsDepth += 1; }, "batches[1].root"],
      ["a batch claimed as format 1", (b) => { b.batches[1] = { seq: 2, format: 1, root: b.batches[1]!.root, txHash: null, blockNumber: null, blockTime: null }; }, "head.seq"],
      ["a batch listed twice", (b) => { b.batches.push(clone(b.batches[0]!)); }, "batches[2].seq"],
      ["a batch no link uses", (b) => { b.batches.push({ ...clone(b.batches[1]!), seq: 3 }); }, "batches[2]"],
      ["a head proof sibling", (b) => { b.head!.proof[0] = flip(b.head!.proof[0]!); }, "head.proof"],
      ["a head proof cut short", (b) => { b.head!.proof.pop(); }, "head.proof"],
      ["the head's n", (b) => { b.head!.n = 4; }, "head.proof"],
      ["the head's link", (b) => { b.head!.linkHash = b.links[3]!.linkHash; }, "head.proof"],
      ["the head's batch", (b) => { b.head!.seq = 1; }, "head.proof"],
      ["another bottle's head", (b) => { b.head = clone(history.bundleFor("MT2026A0000002").head); }, "head.proof"],
      ["the brand", (b) => { b.brand = "moutai"; }, "links[0].link.prev"],
      ["the GTIN", (b) => { b.gtin = "06901234567899"; }, "links[0].link.prev"],
      ["the lot", (b) => { b.lot = "2026-11-B"; }, "links[0].link.prev"],
      ["no lot", (b) => { b.lot = null; }, "links[0].link.prev"],
      ["the index", (b) => { b.index += 1; }, "links[0].link.prev"],
      ["the serial", (b) => { b.serial = "MT2026A0000002"; }, "links[0].link.serial"],
      ["the format", (b) => { (b as { format: string }).format = "sealtrace-proof/3"; }, "format"],
      ["an event of another bottle added", (b) => { b.events.push(clone(history.bundleFor("MT2026A0000002").events[0]!)); }, "events[5]"],
      ["an event listed twice", (b) => { b.events.push(clone(b.events[3]!)); }, "events[5]"],
      ["a link listed twice", (b) => { b.links.splice(2, 0, clone(b.links[2]!)); }, "links[3].link.n"],
      ["two links swapped", (b) => { [b.links[1], b.links[2]] = [b.links[2]!, b.links[1]!]; }, "links[1].link.n"],
      ["a link in the middle dropped, with its event", (b) => { b.links.splice(2, 1); b.events.splice(2, 1); }, "links[2].link.n"],
      ["the last two links dropped, with their events (issue 14, finding 1)", (b) => { b.links.splice(3); b.events.splice(3); }, "links"],
    ];
    for (const [what, edit, path] of cases) {
      it(what, () => {
        edit(bundle);
        const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
        expect(verdict.status, JSON.stringify(verdict.problems)).to.equal("invalid");
        expect(verdict.problems.map((p) => p.path), JSON.stringify(verdict.problems)).to.include(path);
        expect(verdict.problems.every((p) => p.path !== "$"), "no check threw").to.equal(true);
      });
    }

    it("a heads map that ends the history before a link anchored in the same batch contradicts it", () => {
      // An operator's own batch 2, consistent offline: its heads map says the bottle has 3 links.
      const b2 = bundle.batches[1] as Extract<BundleBatch, { format: 2 }>;
      const leaves = new Map([[bundle.index, headLeaf(bundle.index, 3, bundle.links[2]!.linkHash)]]);
      b2.headsRoot = headsRootOf(leaves, b2.headsDepth);
      b2.root = batchRoot(b2.linksRoot, b2.headsRoot, b2.headsDepth);
      bundle.head = { seq: 2, n: 3, linkHash: bundle.links[2]!.linkHash, proof: Array.from({ length: b2.headsDepth }, () => ZERO_HASH) };
      expect(paths(bundle)).to.deep.equal(["links[3].anchor"]);
    });

    it("an anchored link after a pending one, and anchors going back in time", () => {
      const pending = clone(bundle);
      pending.links[1]!.anchor = null;
      expect(paths(pending)).to.include("links[2].anchor");
      const backwards = sealedHistoryV2(CHAIN, { cuts: [2, 4] }).bundle;
      [backwards.links[2]!.anchor, backwards.links[3]!.anchor] = [backwards.links[3]!.anchor, backwards.links[2]!.anchor];
      expect(paths(backwards)).to.include("links[3].anchor.seq");
    });

    it("anything that is not a bundle, or a part of one that is junk, is a problem, never a throw", () => {
      expect(paths(null)).to.deep.equal(["$"]);
      expect(paths([])).to.deep.equal(["$"]);
      expect(paths({ format: BUNDLE_FORMAT })).to.include.members(["serial", "brand", "gtin", "index", "chain", "batches", "events", "links"]);
      expect(paths({ ...bundle, index: 2 ** 40 })).to.include("index");
      expect(paths({ ...bundle, links: [] })).to.include("links");
      for (const junk of [null, 1, "x", [], {}, { seq: 2 }, { seq: 2, n: 5, linkHash: "0x12", proof: [] }]) {
        const copy = clone(bundle) as unknown as Record<string, unknown>;
        copy.head = junk;
        const verdict = verifyBundle(copy);
        expect(verdict.status, JSON.stringify(junk)).to.not.equal("valid");
        expect(verdict.problems.every((p) => p.path !== "$"), JSON.stringify(junk)).to.equal(true);
      }
      for (const key of ["batches", "events", "links"] as const) {
        for (const junk of [null, 0, "x", [], {}, { event: 1 }, { link: {} }, { seq: "1" }]) {
          const copy = clone(bundle) as unknown as Record<string, unknown[]>;
          copy[key]![0] = junk;
          const verdict = verifyBundle(copy);
          expect(verdict.status, `${key}[0] = ${JSON.stringify(junk)}`).to.equal("invalid");
          expect(verdict.problems.every((p) => p.path !== "$"), `${key}[0] = ${JSON.stringify(junk)}: ${JSON.stringify(verdict.problems)}`).to.equal(true);
        }
      }
    });
  });

  describe("against the chain (checkOnChain, on a JSON-RPC stand-in)", () => {
    /** A registry on a chain of one block a batch, serving what core/onchain.ts asks. */
    function chainOf(roots: Hash[], times: number[]): Rpc {
      const word = (value: number | bigint): string => BigInt(value).toString(16).padStart(64, "0");
      return async (method, params) => {
        const [first] = params as [Record<string, string>];
        switch (method) {
          case "eth_chainId": return "0x7a69";
          case "eth_getCode": return "0x6080";
          case "eth_blockNumber": return `0x${roots.length.toString(16)}`;
          case "eth_getBlockByNumber": return { timestamp: `0x${times[Number(params[0]) - 1]!.toString(16)}` };
          case "eth_call": {
            if (first!.data!.startsWith(NEXT_SEQ)) return `0x${word(roots.length + 1)}`;
            if (first!.data!.startsWith(ROOT_OF)) return roots[Number(BigInt(`0x${first!.data!.slice(10)}`)) - 1] ?? ZERO_HASH;
            throw new Error("unexpected call");
          }
          case "eth_getLogs": {
            const filter = params[0] as { topics: string[]; fromBlock: string; toBlock: string };
            expect(filter.topics[0]).to.equal(BATCH_ANCHORED);
            const seq = Number(BigInt(filter.topics[1]!));
            if (seq < 1 || seq > roots.length || seq < Number(filter.fromBlock) || seq > Number(filter.toBlock)) return [];
            return [{ blockNumber: `0x${seq.toString(16)}`, data: `${roots[seq - 1]}${word(1)}`, transactionHash: `0x${"ab".repeat(32)}` }];
          }
        }
        throw new Error(`unexpected ${method}`);
      };
    }
    const now = 1_800_000_000;

    it("a whole bundle matches the chain and is complete as of its batch, at the chain's time", async () => {
      const history = sealedHistoryV2(CHAIN);
      const verdict = verifyBundle(history.bundle);
      const check = await checkOnChain(chainOf(history.batches.map((b) => b.root), [now - 7200, now - 60]), { ...CHAIN, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now }, history.bundle.chain, verdict);
      expect(check.problems).to.deep.equal([]);
      expect(check.rootsChecked).to.equal(2);
      expect(check.completeAsOf).to.deep.equal({ seq: 2, blockTime: now - 60, blockNumber: 2 });
    });

    it("truncated to an older head proof: valid offline, stale once the next batch has been on chain longer than the window", async () => {
      const history = sealedHistoryV2(CHAIN);
      const truncated = clone(history.bundle);
      truncated.links.splice(3);
      truncated.events.splice(3);
      truncated.batches.splice(1);
      truncated.head = { seq: 1, n: 3, linkHash: truncated.links[2]!.linkHash, proof: history.headProofIn(1, history.identity.index) };
      const verdict = verifyBundle(truncated);
      expect(verdict.status, "offline, a truncated history with an older head proof looks complete").to.equal("valid");
      const roots = history.batches.map((b) => b.root);
      const trust = { ...CHAIN, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now };
      const fresh = await checkOnChain(chainOf(roots, [now - 7200, now - 600]), trust, truncated.chain, verdict);
      expect(fresh.problems, "batch 2 anchored 10 minutes ago: within the window").to.deep.equal([]);
      const stale = await checkOnChain(chainOf(roots, [now - 7200, now - DEFAULT_MAX_AGE_SECONDS - 1]), trust, truncated.chain, verdict);
      expect(stale.problems.map((p) => p.path)).to.deep.equal(["head.seq"]);
      expect(stale.problems[0]!.message).to.match(/^stale: /);
    });

    it("a bundle naming another registry or chain than the verifier trusts fails before any call", async () => {
      const { bundle } = sealedHistoryV2(CHAIN);
      const verdict = verifyBundle(bundle);
      const never: Rpc = () => Promise.reject(new Error("no call expected"));
      const trust = { chainId: CHAIN.chainId, registry: `0x${"11".repeat(20)}`, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now };
      expect((await checkOnChain(never, trust, bundle.chain, verdict)).problems.map((p) => p.path)).to.deep.equal(["chain.registry"]);
      expect((await checkOnChain(never, { ...trust, ...CHAIN, chainId: 1 }, bundle.chain, verdict)).problems.map((p) => p.path)).to.deep.equal(["chain.chainId"]);
      // The registry's address is compared without regard to case.
      const upper = await checkOnChain(chainOf(sealedHistoryV2(CHAIN).batches.map((b) => b.root), [now, now]), { ...CHAIN, registry: CHAIN.registry.toLowerCase(), maxAgeSeconds: 60, now }, bundle.chain, verdict);
      expect(upper.problems).to.deep.equal([]);
    });
  });

  describe("size: a bottle of a 1,000-bottle production event plus five one-bottle events", () => {
    /**
     * The bundle at realistic scale without building whole trees: each link's proof is a real path
     * (as many siblings as its place in a `leaves`-leaf links tree gives, each another hash) and the
     * batch's links root is where that path leads; the heads map of `chains` chains is stood in for by
     * the three tiles a proof reads, filled with other hashes, moved by `updateHeads`, the proof cut
     * by `proofFromTiles`. Every hash verifies; only the other leaves are not real links.
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
          brand: "moutai-demo", id: i === 5 ? `opened-${hashOf("uuid").slice(2, 38)}` : `mt-2026-11-C-${type}-0001`, type, codes: i === 0 ? lot : [identity.serial],
          occurredAt: `2026-11-2${i}T09:30:00+08:00`, receivedAt: `2026-11-2${i}T01:30:00.412Z`, salt: hashOf(`salt${i}`).slice(2, 34), ...(party ? { party } : {}), ...extra,
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
        links.forEach((link, i) => { all[Math.floor((leaves * i) / 6)] = leafOf(linkHash(link)); });
        const tree = new MerkleTree(all);
        links.forEach((_, i) => { anchors[i] = { seq: 100, proof: tree.proof(Math.floor((leaves * i) / 6)), linksRoot: tree.root }; });
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
          seq, format: 2, root: batchRoot(linksRoot, headsRoot, depth), linksRoot, headsRoot, headsDepth: depth,
          txHash: hashOf(`tx ${seq}`), blockNumber: 18_000_000 + seq, blockTime: "2026-11-25T01:30:07.000Z",
        };
      });
      const bundle = buildBundle({
        identity, chain: { chainId: 137, registry: CHAIN.registry }, batches,
        events: committed.map(({ event, members }) => ({ event: event as never, member: members.get(identity.serial)! })),
        links: links.map((link, i) => ({ link, anchor: { seq: anchors[i]!.seq, proof: anchors[i]!.proof } })),
        head: { seq: seqs.at(-1)!, n: last.n, linkHash: linkHash(last), proof: proofFromTiles(identity.index, depth, tiles) },
      });
      return { bundle, serials: lot };
    }

    const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
    /** The same bundle without what completeness adds: no head, format-1 style batches, a zero genesis. */
    const completenessBytes = (bundle: ProofBundle): number =>
      bytes(bundle.head) + bundle.batches.reduce((sum, b) => sum + bytes(b) - bytes({ seq: b.seq, format: 1, root: b.root, txHash: b.txHash, blockNumber: b.blockNumber, blockTime: b.blockTime }), 0);

    const configurations: { leaves: number; chains: number; batches: "one" | "each" }[] = [
      { leaves: 100_000, chains: 1_000_000, batches: "each" },
      { leaves: 100_000, chains: 1_000_000, batches: "one" },
      { leaves: 1_000, chains: 1_000_000, batches: "each" },
      { leaves: 16, chains: 10_000, batches: "one" },
    ];
    const built = new Map<string, ProofBundle>();
    before(function () {
      this.timeout(120_000);
      const rows: string[] = [];
      for (const c of configurations) {
        const { bundle, serials } = realistic(c.leaves, c.chains, c.batches);
        built.set(JSON.stringify(c), bundle);
        const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
        expect(verdict.status, JSON.stringify(verdict.problems)).to.equal("valid");
        expect(serials.filter((s) => JSON.stringify(bundle).includes(s))).to.deep.equal([bundle.serial]);
        rows.push(`      ${c.leaves.toLocaleString("en-US").padStart(7)}-leaf links trees, ${c.chains.toLocaleString("en-US").padStart(9)} chains, six links in ${c.batches === "one" ? "one batch " : "six batches"}: `
          + `${bytes(bundle).toLocaleString("en-US")} bytes (events ${bytes(bundle.events).toLocaleString("en-US")}, links ${bytes(bundle.links).toLocaleString("en-US")}, batches ${bytes(bundle.batches).toLocaleString("en-US")}, `
          + `head ${bytes(bundle.head).toLocaleString("en-US")}; completeness adds ${completenessBytes(bundle).toLocaleString("en-US")})`);
      }
      process.stdout.write(`      bundle sizes, JSON without whitespace:\n${rows.join("\n")}\n`);
    });

    it("verifies, and names no other bottle of the event, at every size measured", () => {
      expect(built.size).to.equal(configurations.length);
      for (const [label, bundle] of built) {
        expect(verifyBundle(bundle).status, label).to.equal("valid");
        expect(JSON.stringify(bundle).match(/MT2026C\d{7}/g)!.every((s) => s === bundle.serial), label).to.equal(true);
      }
    });

    it("the head proof and what completeness adds stay within issue 14's 2 KB in one batch of a million-chain map", () => {
      const bundle = built.get(JSON.stringify(configurations[1]))!;
      expect(bundle.head!.proof).to.have.length(20);
      expect(completenessBytes(bundle)).to.be.at.most(2_048);
    });

    it("is at most 8 KB of JSON (issue 14) with 100,000-leaf links trees and a heads map of 10^6 chains", () => {
      // Six links each in its own batch: the history of a bottle that moves over days.
      const bundle = built.get(JSON.stringify(configurations[0]))!;
      expect(bytes(bundle), "bytes of JSON").to.be.at.most(8 * 1_024);
    });
  });
});
