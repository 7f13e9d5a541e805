/**
 * Hostile input, part 1: property tests (fast-check) of the pure core every proof rests on —
 * canonical JSON, links, Merkle trees and proof bundles of both formats. Each property runs on
 * hundreds of generated inputs, odd Unicode and lone surrogates included; fast-check shrinks any
 * failure to a minimal case.
 */
import { expect } from "chai";
import fc from "fast-check";
import { MerkleTree as ReferenceTree } from "merkletreejs";
import { buildBundleV1, type AnchorV1, type ProofBundleV1 } from "../../service/core/bundle-v1.ts";
import { verifyBundle, type ProofBundle, type Verdict } from "../../service/core/bundle.ts";
import { checkOnChain, DEFAULT_MAX_AGE_SECONDS, type Rpc } from "../../service/core/onchain.ts";
import { compactBundle, sealedHistoryV2, type HistoryV2Options } from "../helpers/bottle.ts";
import { canonicalJson, fromHex, hashCanonical, keccak256, toHex, ZERO_HASH, type Hash, type Json } from "../../service/core/hash.ts";
import { eventHash, leafOf, linkHash, nextLink, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { MerkleTree, processProof, proofFromBytes, verifyProof } from "../../service/core/merkle.ts";
import { faultSuite } from "./support/suite.ts";

/** An independent reading of RFC 8785: sorted keys (UTF-16 code units), ECMAScript number and string forms. */
function referenceJcs(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(referenceJcs).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${referenceJcs(value[key]!)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Rebuilds every object of `value` with its keys in another order. */
function shuffleKeys(value: Json, rotate: number): Json {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, rotate));
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    const turned = keys.map((_, i) => keys[(i + rotate) % keys.length]!).reverse();
    return Object.fromEntries(turned.map((key) => [key, shuffleKeys(value[key]!, rotate)]));
  }
  return value;
}

const unicodeJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 4, stringUnit: "grapheme" }),
  fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }),
) as fc.Arbitrary<Json>;
const hash: fc.Arbitrary<Hash> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => toHex(bytes));
const serial = fc.stringMatching(/^[0-9A-Z]{1,20}$/);

const event = (codes: string[]): fc.Arbitrary<CanonicalEvent> =>
  fc
    .record({
      type: fc.constantFrom("production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale", "opened"),
      salt: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => toHex(b).slice(2)),
      party: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }),
      occurredAt: fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString()),
      data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, { maxKeys: 4 }),
    })
    .map((fields) => ({ ...fields, codes }));

/** A bottle's format-1 history of 1–8 events, sealed into 1–3 batches among other bottles' leaves. */
const history = fc
  .record({
    serial,
    others: fc.array(serial, { maxLength: 3 }),
    count: fc.integer({ min: 1, max: 8 }),
    cuts: fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 2 }),
    fillers: fc.array(fc.array(hash, { maxLength: 9 }), { minLength: 3, maxLength: 3 }),
    firstSeq: fc.integer({ min: 1, max: 1_000_000 }),
    pendingTail: fc.integer({ min: 0, max: 2 }),
  })
  .chain((h) =>
    fc.array(event([h.serial, ...h.others.filter((o) => o !== h.serial)]), { minLength: h.count, maxLength: h.count }).map((events) => ({ ...h, events })),
  )
  .map((h): ProofBundleV1 => {
    const links: Link[] = [];
    for (const e of h.events) {
      const previous = links.at(-1);
      links.push(nextLink(h.serial, eventHash(e), previous ? { n: previous.n, linkHash: linkHash(previous) } : null));
    }
    const cuts = [...new Set(h.cuts.filter((c) => c < links.length))].sort((a, b) => a - b);
    const groups = [0, ...cuts].map((start, i) => links.slice(start, [...cuts, links.length][i]));
    const anchors: (AnchorV1 | null)[] = [];
    groups.forEach((group, g) => {
      const own = group.map((l) => leafOf(linkHash(l)));
      const filler = h.fillers[g] ?? [];
      const before = filler.slice(0, Math.floor(filler.length / 2));
      const tree = new MerkleTree([...before, ...own, ...filler.slice(before.length)]);
      group.forEach((_, i) =>
        anchors.push({ seq: h.firstSeq + g, root: tree.root, proof: tree.proof(before.length + i), txHash: null, blockNumber: null, blockTime: null }),
      );
    });
    const pendingFrom = links.length - Math.min(h.pendingTail, links.length - 1);
    return buildBundleV1({
      serial: h.serial,
      gtin: "06901234567892",
      chain: { chainId: 31337, registry: `0x${"5f".repeat(20)}` },
      events: h.events,
      links: links.map((link, i) => ({ link, anchor: link.n > pendingFrom ? null : (anchors[i] ?? null) })),
    });
  });

/** Changes a bundle in a way any verifier must catch. */
const tampering = fc.record({
  kind: fc.constantFrom(
    "event-field",
    "event-hash",
    "link-n",
    "link-prev",
    "link-serial",
    "link-hash",
    "drop-link",
    "swap-links",
    "proof",
    "root",
    "leaf",
    "foreign-event",
  ),
  pick: fc.nat(),
  value: hash,
});

function tamper(bundle: ProofBundleV1, t: { kind: string; pick: number; value: Hash }): boolean {
  const links = bundle.links;
  const i = t.pick % links.length;
  const anchored = links.map((l, j) => (l.anchor !== null && l.anchor.proof.length > 0 ? j : -1)).filter((j) => j >= 0);
  switch (t.kind) {
    case "event-field":
      bundle.events[t.pick % bundle.events.length]!.event.party = `${String(bundle.events[t.pick % bundle.events.length]!.event.party)}x`;
      return true;
    case "event-hash":
      bundle.events[t.pick % bundle.events.length]!.eventHash = t.value;
      return true;
    case "link-n":
      links[i]!.link.n += 1;
      return true;
    case "link-prev":
      links[i]!.link.prev = t.value;
      return true;
    case "link-serial":
      links[i]!.link.serial = `${links[i]!.link.serial}0`;
      return true;
    case "link-hash":
      links[i]!.linkHash = t.value;
      return true;
    case "leaf":
      links[i]!.leaf = t.value;
      return true;
    case "drop-link":
      if (links.length < 2) return false;
      links.splice(i === links.length - 1 ? 0 : i, 1);
      return true;
    case "swap-links": {
      if (links.length < 2) return false;
      const j = (i + 1) % links.length;
      [links[i], links[j]] = [links[j]!, links[i]!];
      return true;
    }
    case "proof": {
      if (anchored.length === 0) return false;
      const a = links[anchored[t.pick % anchored.length]!]!.anchor!;
      a.proof[t.pick % a.proof.length] = t.value;
      return true;
    }
    case "root": {
      const a = links.find((l) => l.anchor !== null)?.anchor;
      if (!a) return false;
      a.root = t.value;
      return true;
    }
    case "foreign-event": {
      bundle.events.push({
        event: { type: "opened", codes: ["ELSEWHERE"], salt: "00" },
        eventHash: eventHash({ type: "opened", codes: ["ELSEWHERE"], salt: "00" }),
      });
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Format 2: histories sealed with the sealer's own code (test/helpers/bottle.ts), and what may be done to them.

const CHAIN = { chainId: 31337, registry: `0x${"5f".repeat(20)}` };

/**
 * The options of a format-2 history: lots of 1–12 bottles anywhere in the map, 0–4 other chains,
 * 1–5 batches; its bundles compact (as the service serves them) or full (`?proofs=all`).
 */
const historyV2 = fc.record({
  seed: fc.string({ minLength: 1, maxLength: 8 }),
  index: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 65_000, max: 70_000 })),
  lotSize: fc.integer({ min: 1, max: 12 }),
  otherChains: fc.integer({ min: 0, max: 4 }),
  cuts: fc.subarray([2, 3, 4, 5]),
  firstSeq: fc.integer({ min: 1, max: 1_000_000 }),
  proofs: fc.constantFrom("head", "all"),
}) as fc.Arbitrary<HistoryV2Options>;

/** A valid v2 bundle, and another valid bundle of the same batches (another bottle's, of the same form) to take parts from. */
function pairV2(options: HistoryV2Options): { bundle: ProofBundle; donor: ProofBundle | null } {
  const history = sealedHistoryV2(CHAIN, options);
  const others = [...history.chains.keys()].filter((k) => !k.includes(":") && k !== history.identity.serial);
  return { bundle: history.bundle, donor: others.length > 0 ? history.bundleFor(others[0]!) : null };
}

/** The n of each link that carries its own Merkle proof. */
const withProof = (bundle: ProofBundle): number[] => bundle.links.filter((l) => l.anchor?.proof !== undefined).map((l) => l.link.n);

type Part = "link" | "event" | "member" | "anchor" | "head" | "header" | "batch";
const HEADER = ["format", "serial", "brand", "gtin", "lot", "index", "chain"] as const;

/**
 * Removes, reorders, duplicates or substitutes one part of `bundle` (substitutes come from `donor`,
 * another bottle's bundle, or are junk). False when the change is not possible or changes nothing.
 * Reordering events is one such change: `events[i]` must be link `i + 1`'s event.
 */
function mutate(bundle: ProofBundle, donor: ProofBundle | null, part: Part, op: string, pick: number, junk: unknown): boolean {
  const before = JSON.stringify(bundle);
  const at = <T>(list: T[], k = pick): number => k % list.length;
  const b = bundle as unknown as Record<string, unknown>;
  switch (`${part}/${op}`) {
    case "link/remove":
      bundle.links.splice(at(bundle.links), 1);
      break;
    case "link/reorder": {
      if (bundle.links.length < 2) return false;
      const i = at(bundle.links),
        j = (i + 1) % bundle.links.length;
      [bundle.links[i], bundle.links[j]] = [bundle.links[j]!, bundle.links[i]!];
      break;
    }
    case "link/duplicate": {
      const i = at(bundle.links);
      bundle.links.splice(i, 0, structuredClone(bundle.links[i]!));
      break;
    }
    case "link/substitute": {
      if (!donor) return false;
      bundle.links[at(bundle.links)] = structuredClone(donor.links[at(donor.links)]!);
      break;
    }
    case "event/remove":
      bundle.events.splice(at(bundle.events), 1);
      break;
    case "event/reorder": {
      if (bundle.events.length < 2) return false;
      const i = at(bundle.events),
        j = (i + 1) % bundle.events.length;
      [bundle.events[i], bundle.events[j]] = [bundle.events[j]!, bundle.events[i]!];
      break;
    }
    case "event/duplicate": {
      const i = at(bundle.events);
      bundle.events.splice(i + 1, 0, structuredClone(bundle.events[i]!));
      break;
    }
    case "event/substitute": {
      if (!donor) return false;
      bundle.events[at(bundle.events)] = structuredClone(donor.events[at(donor.events)]!);
      break;
    }
    case "member/remove": {
      const e = bundle.events[at(bundle.events)]!;
      if (!e.member) return false;
      delete e.member;
      break;
    }
    case "member/reorder": {
      const m = bundle.events[at(bundle.events)]!.member;
      if (!m || m.proof.length < 2) return false;
      m.proof.reverse();
      break;
    }
    case "member/duplicate": {
      if (bundle.events.length < 2) return false;
      const i = at(bundle.events),
        j = (i + 1) % bundle.events.length;
      if (!bundle.events[i]!.member) return false;
      bundle.events[j]!.member = structuredClone(bundle.events[i]!.member);
      break;
    }
    case "member/substitute": {
      const i = at(bundle.events);
      const other = donor?.events.find((e) => e.eventHash === bundle.events[i]!.eventHash)?.member ?? donor?.events[0]?.member;
      bundle.events[i]!.member = other ? structuredClone(other) : (junk as never);
      break;
    }
    // A link's anchor: set to pending, or its own proof reordered, copied from the link before, or another bottle's.
    // (Leaving a proof out, or changing a claimed batch number, is no error: see the properties of compact bundles.)
    case "anchor/remove": {
      const l = bundle.links[at(bundle.links)]!;
      if (l.anchor === null) return false;
      l.anchor = null;
      break;
    }
    case "anchor/reorder": {
      const proven = withProof(bundle);
      if (proven.length === 0) return false;
      bundle.links[proven[pick % proven.length]! - 1]!.anchor!.proof!.reverse();
      break;
    }
    case "anchor/duplicate": {
      const proven = withProof(bundle).filter((n) => n > 1 && bundle.links[n - 2]!.anchor?.proof !== undefined);
      if (proven.length === 0) return false;
      const n = proven[pick % proven.length]!;
      bundle.links[n - 1]!.anchor = structuredClone(bundle.links[n - 2]!.anchor);
      break;
    }
    case "anchor/substitute": {
      const proven = withProof(bundle);
      if (proven.length === 0) return false;
      const donated = donor?.links.find((l) => l.anchor?.proof !== undefined)?.anchor;
      const proof = donated?.proof && pick % 2 === 0 ? donated.proof : [junk as Hash];
      bundle.links[proven[pick % proven.length]! - 1]!.anchor!.proof = structuredClone(proof);
      break;
    }
    case "head/remove":
      bundle.head = null;
      break;
    case "head/reorder": {
      if (!bundle.head || bundle.head.proof.length < 2) return false;
      const p = bundle.head.proof;
      const i = at(p),
        j = (i + 1) % p.length;
      [p[i], p[j]] = [p[j]!, p[i]!];
      break;
    }
    case "head/duplicate": {
      if (!bundle.head || bundle.head.proof.length < 2) return false;
      const p = bundle.head.proof;
      p[at(p)] = p[at(p, pick + 1)]!;
      break;
    }
    case "head/substitute": {
      if (!bundle.head) return false;
      if (donor?.head && pick % 2 === 0) bundle.head = structuredClone(donor.head);
      else if (donor?.head) bundle.head.proof = structuredClone(donor.head.proof);
      else bundle.head = junk as never;
      break;
    }
    case "header/remove":
      delete b[HEADER[pick % HEADER.length]!];
      break;
    case "header/substitute": {
      const key = HEADER[pick % HEADER.length]!;
      b[key] =
        donor && pick % 3 !== 0
          ? structuredClone((donor as unknown as Record<string, unknown>)[key])
          : key === "chain"
            ? { chainId: CHAIN.chainId, registry: `0x${"66".repeat(20)}` }
            : junk;
      break;
    }
    case "header/duplicate": {
      const key = HEADER[pick % HEADER.length]!;
      const other = HEADER[(pick + 1) % HEADER.length]!;
      b[key] = structuredClone(b[other]);
      break;
    }
    case "batch/remove":
      bundle.batches.splice(at(bundle.batches), 1);
      break;
    case "batch/duplicate": {
      const i = at(bundle.batches);
      bundle.batches.splice(i, 0, structuredClone(bundle.batches[i]!));
      break;
    }
    case "batch/substitute": {
      if (bundle.batches.length < 2) return false;
      bundle.batches[at(bundle.batches)] = structuredClone(bundle.batches[at(bundle.batches, pick + 1)]!);
      break;
    }
    default:
      return false;
  }
  return JSON.stringify(bundle) !== before;
}

/** The verdict, with the chain and registry compared with the ones trusted (the bundle's own before the change). */
async function verdictOf(bundle: unknown, trusted: { chainId: number; registry: string }): Promise<Verdict> {
  const verdict = verifyBundle(bundle);
  if (verdict.status !== "valid") return verdict;
  // The chain is in no hash: the verifier's own choice refutes it, before any call to the chain.
  const never: Rpc = () => Promise.reject(new Error("not reached: the pin is compared first"));
  const check = await checkOnChain(never, { ...trusted, maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS, now: 0 }, (bundle as ProofBundle).chain, {
    roots: [],
    completeAsOf: null,
  }).catch((error: unknown) => ({ problems: [{ path: "rpc", message: (error as Error).message }] }));
  return check.problems.some((p) => p.path.startsWith("chain")) ? { ...verdict, status: "invalid", valid: false, problems: check.problems } : verdict;
}

faultSuite("faults: properties of the core (fast-check)", () => {
  describe("canonical JSON (RFC 8785)", () => {
    it("agrees with an independent reading of the RFC, for any JSON, odd Unicode included", () => {
      fc.assert(
        fc.property(unicodeJson, (value) => canonicalJson(value) === referenceJcs(value)),
        { numRuns: 500 },
      );
    });
    it("does not depend on key order, and is a fixed point", () => {
      fc.assert(
        fc.property(unicodeJson, fc.nat(7), (value, rotate) => {
          const canonical = canonicalJson(value);
          expect(canonicalJson(shuffleKeys(value, rotate))).to.equal(canonical);
          expect(canonicalJson(JSON.parse(canonical) as Json)).to.equal(canonical);
          expect(hashCanonical(shuffleKeys(value, rotate))).to.equal(hashCanonical(value));
        }),
        { numRuns: 500 },
      );
    });
    it("keeps every value: parsing the canonical form gives the same data back", () => {
      fc.assert(
        fc.property(unicodeJson, (value) => {
          expect(JSON.parse(canonicalJson(value))).to.deep.equal(JSON.parse(JSON.stringify(value)));
        }),
        { numRuns: 300 },
      );
    });
    it("a __proto__ key is data like any other, never a prototype", () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, (inner) => {
          const value = JSON.parse(`{"__proto__": ${JSON.stringify(inner)}, "a": 1}`) as Json;
          const canonical = canonicalJson(value);
          expect(canonical.startsWith('{"__proto__":')).to.equal(true);
          expect(hashCanonical(value)).to.not.equal(hashCanonical({ a: 1 }));
        }),
      );
    });
  });

  describe("links", () => {
    it("chain n = 1, 2, 3 … each pointing at the previous link's hash, from the zero hash", () => {
      fc.assert(
        fc.property(serial, fc.array(hash, { minLength: 1, maxLength: 20 }), (s, events) => {
          let previous: Link | null = null;
          events.forEach((e, i) => {
            const link: Link = nextLink(s, e, previous ? { n: previous.n, linkHash: linkHash(previous) } : null);
            expect(link.n).to.equal(i + 1);
            expect(link.prev).to.equal(previous ? linkHash(previous) : ZERO_HASH);
            expect(leafOf(linkHash(link))).to.equal(toHex(keccak256(fromHex(linkHash(link)))));
            previous = link;
          });
        }),
      );
    });
    it("a link's hash changes with any of its four fields, and only with them", () => {
      fc.assert(
        fc.property(serial, fc.integer({ min: 1, max: 1e9 }), hash, hash, hash, (s, n, e, prev, other) => {
          const link: Link = { serial: s, n, event: e, prev };
          const h = linkHash(link);
          expect(linkHash({ ...link, serial: `${s}X` })).to.not.equal(h);
          expect(linkHash({ ...link, n: n + 1 })).to.not.equal(h);
          if (other !== e) expect(linkHash({ ...link, event: other })).to.not.equal(h);
          if (other !== prev) expect(linkHash({ ...link, prev: other })).to.not.equal(h);
          expect(linkHash({ ...link, extra: "ignored" } as Link)).to.equal(h);
        }),
      );
    });
  });

  describe("Merkle trees", () => {
    const keccak = (data: Buffer): Buffer => Buffer.from(keccak256(data));
    it("every proof leads its leaf to the root, and the root is merkletreejs's (sortPairs)", () => {
      fc.assert(
        fc.property(fc.array(hash, { minLength: 1, maxLength: 300, size: "max" }), (leaves) => {
          const tree = new MerkleTree(leaves);
          expect(tree.root).to.equal(
            new ReferenceTree(
              leaves.map((l) => Buffer.from(fromHex(l))),
              keccak,
              { sortPairs: true },
            ).getHexRoot(),
          );
          leaves.forEach((leaf, i) => {
            const proof = tree.proof(i);
            expect(proof.length).to.be.at.most(Math.ceil(Math.log2(leaves.length)));
            expect(processProof(leaf, proof)).to.equal(tree.root);
            expect(proofFromBytes(tree.proofBytes(i))).to.deep.equal(proof);
          });
        }),
        { numRuns: 100 },
      );
    });
    it("a proof proves nothing for another leaf, nor against another root", () => {
      fc.assert(
        fc.property(fc.array(hash, { minLength: 2, maxLength: 100, size: "max" }), fc.nat(), hash, (leaves, pick, stranger) => {
          fc.pre(!leaves.includes(stranger));
          const tree = new MerkleTree(leaves);
          const i = pick % leaves.length;
          expect(verifyProof(stranger, tree.proof(i), tree.root)).to.equal(false);
          expect(verifyProof(leaves[i]!, tree.proof(i), stranger)).to.equal(false);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe("proof bundles, format 1 (old bundles)", () => {
    it("a bundle built from any history verifies as format 1, also after a JSON round trip", () => {
      fc.assert(
        fc.property(history, (bundle) => {
          const verdict = verifyBundle(JSON.parse(JSON.stringify(bundle)));
          expect(verdict.problems).to.deep.equal([]);
          expect(verdict.format).to.equal(1);
          expect(verdict.status).to.equal(verdict.pending.length > 0 ? "incomplete" : "valid");
          expect(verdict.linkCount).to.equal(bundle.links.length);
        }),
        { numRuns: 300 },
      );
    });
    it("any tampering with events, links, leaves, proofs or roots is caught", () => {
      fc.assert(
        fc.property(history, tampering, (bundle, t) => {
          const copy = structuredClone(bundle);
          fc.pre(tamper(copy, t));
          const verdict = verifyBundle(copy);
          expect(verdict.valid, t.kind).to.equal(false);
          expect(verdict.status, t.kind).to.equal("invalid");
        }),
        { numRuns: 600 },
      );
    });
    it("never throws, whatever it is given: it answers with problems", () => {
      const anything = fc.oneof(fc.anything({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 4, stringUnit: "binary" }));
      fc.assert(
        fc.property(anything, (value) => {
          const verdict = verifyBundle(value);
          expect(verdict.valid).to.equal(false);
          expect(verdict.problems.length).to.be.greaterThan(0);
        }),
        { numRuns: 500 },
      );
      // A valid bundle with one part replaced by arbitrary data: never a throw.
      fc.assert(
        fc.property(
          history,
          fc.constantFrom("events", "links", "chain", "serial", "format"),
          fc.nat(),
          fc.anything({ maxDepth: 2 }),
          (bundle, key, pick, junk) => {
            const copy = structuredClone(bundle) as unknown as Record<string, unknown>;
            const target = copy[key];
            if (Array.isArray(target) && target.length > 0) target[pick % target.length] = junk;
            else copy[key] = junk;
            expect(() => verifyBundle(copy)).to.not.throw();
          },
        ),
        { numRuns: 500 },
      );
    });
  });
  describe("proof bundles, format 2", () => {
    it("a bundle of any history, compact or full, verifies as valid (complete, identity bound), also after a JSON round trip", () => {
      fc.assert(
        fc.property(historyV2, (options) => {
          const { bundle, donor } = pairV2(options);
          for (const b of donor ? [bundle, donor] : [bundle]) {
            const verdict = verifyBundle(JSON.parse(JSON.stringify(b)));
            expect(verdict.problems).to.deep.equal([]);
            expect(verdict).to.deep.include({ status: "valid", identityBound: true, linkCount: b.links.length });
            expect(verdict.completeAsOf?.seq).to.equal(b.head!.seq);
            // Compact: no link carries a proof, every batch number is claimed, only the head's batch is listed.
            const compact = options.proofs !== "all";
            expect(withProof(b)).to.deep.equal(compact ? [] : b.links.map((l) => l.link.n));
            expect(verdict.timesClaimed).to.deep.equal(compact ? b.links.map((l) => l.link.n) : []);
            if (compact) expect(b.batches.map((x) => x.seq)).to.deep.equal([b.head!.seq]);
          }
        }),
        { numRuns: 150 },
      );
    });

    it("the compact and the full bundle of any history, pending links or not, get the same verdict but for the batch numbers claimed", () => {
      fc.assert(
        fc.property(historyV2, fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), (options, pendingFrom) => {
          const history = sealedHistoryV2(CHAIN, { ...options, pendingFrom });
          const full = history.bundleFor(history.identity.serial, "all");
          const compact = history.bundleFor(history.identity.serial, "head");
          expect(compact).to.deep.equal(compactBundle(full));
          const [f, c] = [verifyBundle(full), verifyBundle(compact)];
          for (const key of ["status", "problems", "pending", "linkCount", "completeAsOf", "identityBound", "notes"] as const)
            expect(c[key], key).to.deep.equal(f[key]);
          expect(f.timesClaimed).to.deep.equal([]);
          // Claimed: every anchored link the head covers, which is every anchored link.
          expect(c.timesClaimed).to.deep.equal(compact.head === null ? [] : full.links.filter((l) => l.anchor !== null).map((l) => l.link.n));
          expect(c.roots.every((r) => f.roots.some((x) => x.seq === r.seq && x.root === r.root))).to.equal(true);
        }),
        { numRuns: 150 },
      );
    });

    it("leaving out any links' own proofs under a head proof that covers them changes nothing but timesClaimed; without the head proof, it is invalid", () => {
      fc.assert(
        fc.property(historyV2, fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), (options, strip) => {
          const history = sealedHistoryV2(CHAIN, { ...options, proofs: "all" });
          const mixed = structuredClone(history.bundle);
          mixed.links.forEach((l, i) => {
            if (strip[i]) l.anchor = { seq: l.anchor!.seq };
          });
          const verdict = verifyBundle(mixed);
          expect(verdict.problems).to.deep.equal([]);
          expect(verdict.status).to.equal("valid");
          expect(verdict.timesClaimed).to.deep.equal(mixed.links.filter((_, i) => strip[i]).map((l) => l.link.n));
          const headless = verifyBundle({ ...mixed, head: null });
          if (strip.some(Boolean)) {
            expect(headless.status).to.equal("invalid");
            expect(headless.problems.map((p) => p.path)).to.include(`links[${strip.indexOf(true)}].anchor`);
          } else {
            expect(headless.status).to.equal("incomplete");
          }
        }),
        { numRuns: 150 },
      );
    });

    it("a claimed batch number out of the links' order is invalid, compact or full", () => {
      fc.assert(
        fc.property(historyV2, fc.nat(), fc.integer({ min: 1, max: 1_000 }), (options, pick, back) => {
          const { bundle } = pairV2(options);
          const later = bundle.links.filter((l) => l.link.n > 1).map((l) => l.link.n);
          fc.pre(later.length > 0);
          const n = later[pick % later.length]!;
          const copy = structuredClone(bundle);
          copy.links[n - 1]!.anchor = { seq: copy.links[n - 2]!.anchor!.seq - back };
          // Below the previous link's batch (anchor.seq), or below 1 (the anchor itself is malformed).
          expect(verifyBundle(copy).problems.some((p) => p.path.startsWith(`links[${n - 1}].anchor`))).to.equal(true);
        }),
        { numRuns: 100 },
      );
    });

    it("removing, reordering, duplicating or substituting any link, event, membership proof, link proof, head proof, header field or batch makes it fail, never throw (compact and full)", async () => {
      const change = fc.record({
        part: fc.constantFrom<Part>("link", "event", "member", "anchor", "head", "header", "batch"),
        op: fc.constantFrom("remove", "reorder", "duplicate", "substitute"),
        pick: fc.nat(),
        junk: fc.oneof(fc.constant(null), fc.string(), fc.integer(), fc.jsonValue({ maxDepth: 2 })),
      });
      await fc.assert(
        fc.asyncProperty(historyV2, change, async (options, c) => {
          const { bundle, donor } = pairV2(options);
          const copy = structuredClone(bundle);
          fc.pre(mutate(copy, donor, c.part, c.op, c.pick, c.junk));
          const label = `${c.part}/${c.op}`;
          let verdict: Verdict;
          try {
            verdict = await verdictOf(JSON.parse(JSON.stringify(copy)), bundle.chain);
          } catch (error) {
            throw new Error(`${label}: the verifier threw: ${(error as Error).message}`, { cause: error });
          }
          expect(verdict.status, `${label}: ${JSON.stringify(verdict.problems)} ${JSON.stringify(verdict.notes)}`).to.not.equal("valid");
          expect(
            verdict.problems.filter((p) => p.path === "$"),
            `${label}: a check threw`,
          ).to.deep.equal([]);
        }),
        { numRuns: 800 },
      );
    });

    it("reordering the events in any way is never valid: each misplaced event is a problem, and nothing else is", () => {
      // A bottle's life is five events: any permutation of them but the identity.
      const order = fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 });
      fc.assert(
        fc.property(historyV2, order, (options, order) => {
          fc.pre(order.some((k, i) => k !== i));
          const { bundle } = pairV2(options);
          expect(bundle.events).to.have.length(order.length);
          const copy = structuredClone(bundle);
          copy.events = order.map((k) => structuredClone(bundle.events[k]!));
          const verdict = verifyBundle(JSON.parse(JSON.stringify(copy)));
          expect(verdict.status).to.equal("invalid");
          expect(verdict.problems.map((p) => p.path)).to.deep.equal(order.map((k, i) => (k === i ? null : `events[${i}]`)).filter((p) => p !== null));
          expect(verdict.problems.every((p) => p.message.startsWith("events must be in the order of the links"))).to.equal(true);
        }),
        { numRuns: 200 },
      );
    });

    it("pending links and a missing head proof are never valid: incomplete, or (a compact bundle without its head) invalid", () => {
      fc.assert(
        fc.property(historyV2, fc.integer({ min: 1, max: 5 }), (options, pendingFrom) => {
          const { bundle } = sealedHistoryV2(CHAIN, { ...options, pendingFrom });
          expect(verifyBundle(bundle).status).to.equal("incomplete");
          const headless = { ...structuredClone(bundle), head: null };
          headless.batches = headless.batches.filter((b) => headless.links.some((l) => l.anchor?.seq === b.seq));
          const claimed = headless.links.some((l) => l.anchor !== null && l.anchor.proof === undefined);
          expect(verifyBundle(headless).status).to.equal(claimed ? "invalid" : "incomplete");
        }),
        { numRuns: 60 },
      );
    });

    it("any value anywhere in a valid bundle replaced by junk: problems, never a throw, never a check that crashed", () => {
      /** Every path of a JSON value, as lists of keys. */
      const pathsOf = (value: unknown, path: (string | number)[] = []): (string | number)[][] => {
        const here = [path];
        if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => pathsOf(v, [...path, i]))];
        if (value !== null && typeof value === "object") return [...here, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...path, k]))];
        return here;
      };
      fc.assert(
        fc.property(historyV2, fc.nat(), fc.anything({ maxDepth: 2 }), (options, pick, junk) => {
          const { bundle } = pairV2(options);
          const copy = structuredClone(bundle) as unknown as Record<string, unknown>;
          const all = pathsOf(copy).filter((p) => p.length > 0);
          const path = all[pick % all.length]!;
          let parent: Record<string | number, unknown> = copy;
          for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
          parent[path.at(-1)!] = junk;
          let verdict: Verdict;
          expect(() => {
            verdict = verifyBundle(copy);
          }, path.join(".")).to.not.throw();
          expect(
            verdict!.problems.filter((p) => p.path === "$"),
            `${path.join(".")} = ${fc.stringify(junk)}`,
          ).to.deep.equal([]);
        }),
        { numRuns: 500 },
      );
    });
  });
});
