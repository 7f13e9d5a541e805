/**
 * docs/PROOF-FORMAT.md's test vectors, three ways:
 *  1. the vector file (test/core/vectors/proof-format-2.json) is what service/core computes from its
 *     inputs, so no change to the core can change the format unnoticed;
 *  2. every value is recomputed here without the core: tags and JCS strings written out by hand,
 *     integers encoded by hand, a from-scratch keccak256 (vectors/keccak-reference.ts), Merkle and
 *     heads trees hashed pair by pair; then both bundles (full, and compact as the service serves it)
 *     verify, and the registry on a local chain accepts the links and the head;
 *  3. the numbers printed in the doc are the file's (parsed out of the markdown), so the doc cannot
 *     drift from the code.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { TAGS } from "../../service/core/commitments.ts";
import { keccak256 } from "../../service/core/hash.ts";
import { deployRegistryFixture, networkHelpers } from "../contracts/fixtures.ts";
import { keccak256Reference } from "./vectors/keccak-reference.ts";
import { buildVectors, BUNDLE_TITLES, CHAINS, E1_DRAFT, E2_DRAFT, SECRETS, type ChainName, type Vectors } from "./vectors/proof-format-2.ts";

const FILE = new URL("./vectors/proof-format-2.json", import.meta.url);
const DOC = new URL("../../docs/PROOF-FORMAT.md", import.meta.url);
const vectors = JSON.parse(readFileSync(FILE, "utf8")) as Vectors;
const v = (name: string): string => {
  const value = vectors.values[name];
  if (value === undefined) throw new Error(`no vector named ${name}`);
  return value;
};

// ---------------------------------------------------------------------------------------------
// Independent primitives: bytes, integers and hashes by hand.

const ZERO = `0x${"00".repeat(32)}`;
const bytesOf = (hex: string): Buffer => Buffer.from(hex.replace(/^0x/, ""), "hex");
const utf8Hex = (text: string): string => Buffer.from(text, "utf8").toString("hex");
/** A big-endian u64 as 16 hex digits, from its decimal digits, without DataView or BigInt encoders. */
const u64Hex = (value: number): string => {
  let hex = "";
  for (let rest = value, i = 0; i < 16; i++, rest = Math.floor(rest / 16)) hex = "0123456789abcdef"[rest % 16] + hex;
  return hex;
};
const K = (...hexParts: string[]): string =>
  `0x${Buffer.from(keccak256Reference(bytesOf(hexParts.map((h) => h.replace(/^0x/, "")).join("")))).toString("hex")}`;
/** The sorted-pair parent of the links and codes trees (OpenZeppelin). */
const pair = (a: string, b: string): string => (Buffer.compare(bytesOf(a), bytesOf(b)) <= 0 ? K(a, b) : K(b, a));
/** A heads-tree node: ZERO over two ZEROs, else keccak("sealtrace:node:2" ‖ left ‖ right). */
const headNodeRef = (left: string, right: string): string => (left === ZERO && right === ZERO ? ZERO : K(utf8Hex("sealtrace:node:2"), left, right));

/** RFC 8785 for the values the vectors hold (strings, safe integers, arrays, objects): keys sorted by UTF-16 code units. */
function jcs(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error("only whole numbers here");
  return JSON.stringify(value);
}

const serialOf = (name: ChainName): string => {
  const identity = CHAINS[name];
  return "log" in identity ? identity.log : identity.serial;
};

describe("docs/PROOF-FORMAT.md test vectors", () => {
  it("the vector file is what service/core computes from the inputs", () => {
    expect(JSON.parse(JSON.stringify(buildVectors()))).to.deep.equal(vectors);
  });

  it("the reference keccak256 is Keccak-256 with Ethereum's padding, and agrees with the core's", () => {
    expect(K("")).to.equal("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    expect(K(utf8Hex("abc"))).to.equal("0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    // Lengths around the 136-byte rate, where padding goes wrong first.
    for (const length of [1, 31, 32, 64, 135, 136, 137, 271, 272, 273]) {
      const data = Buffer.from(Array.from({ length }, (_, i) => (i * 31 + length) & 0xff));
      expect(K(data.toString("hex")), `${length} bytes`).to.equal(`0x${Buffer.from(keccak256(data)).toString("hex")}`);
    }
  });

  describe("recomputed without service/core", () => {
    it("tags: their ASCII bytes, lengths, and no tag is a prefix of another", () => {
      const written = {
        genesis: "sealtrace:genesis:2",
        code: "sealtrace:code:2",
        salt: "sealtrace:salt:2",
        epcis: "sealtrace:epcis:2",
        head: "sealtrace:head:2",
        node: "sealtrace:node:2",
        batch: "sealtrace:batch:2",
      };
      expect(TAGS).to.deep.equal(written);
      for (const [kind, tag] of Object.entries(written)) {
        const codes = [...tag].map((c) => c.charCodeAt(0));
        expect(
          codes.every((c) => c >= 0x20 && c < 0x7f),
          kind,
        ).to.equal(true);
        expect(v(`tag.${kind}`)).to.equal(`0x${codes.map((c) => c.toString(16).padStart(2, "0")).join("")}`);
        expect(v(`tag.${kind}.length`)).to.equal(String(codes.length));
        for (const other of Object.values(written)) if (other !== tag) expect(other.startsWith(tag), `${tag} prefixes ${other}`).to.equal(false);
      }
      // A JCS object starts with "{": no tagged input can be read as an event's or a link's.
      expect(Object.values(written).every((t) => t[0] === "s")).to.equal(true);
    });

    it("identities: JCS written out by hand, genesis = keccak256(tag ‖ JCS)", () => {
      for (const name of ["A", "B", "C"] as const) {
        const id = CHAINS[name] as { serial: string; index: number };
        const text = `{"brand":"moutai-demo","gtin":"06901234567892","index":${id.index},"lot":"2026-11-A","serial":"${id.serial}"}`;
        expect(v(`${name}.identity.jcs`)).to.equal(text);
        expect(v(`${name}.genesis.input`)).to.equal(`0x${utf8Hex("sealtrace:genesis:2")}${utf8Hex(text)}`);
        expect(v(`${name}.genesis`)).to.equal(K(utf8Hex("sealtrace:genesis:2"), utf8Hex(text)));
      }
      const log = `{"brand":"moutai-demo","index":3,"log":"epcis:moutai-demo"}`;
      expect(v("L.identity.jcs")).to.equal(log);
      expect(v("L.genesis")).to.equal(K(utf8Hex("sealtrace:genesis:2"), utf8Hex(log)));
    });

    it("events: salts, bottle leaves, the codes tree, the EPCIS digest, the stored form and its hash", () => {
      for (const [event, draft, names] of [
        ["E1", E1_DRAFT, ["A", "B", "C"]],
        ["E2", E2_DRAFT, ["A"]],
      ] as const) {
        const secret = SECRETS[event];
        const leaves: string[] = [];
        for (const name of names) {
          const serial = serialOf(name);
          const saltInput = `${utf8Hex("sealtrace:salt:2")}${secret}${utf8Hex(serial)}`;
          expect(v(`${event}.${name}.salt.input`)).to.equal(`0x${saltInput}`);
          const salt = K(saltInput).slice(2, 34); // the first 16 bytes
          expect(v(`${event}.${name}.salt`)).to.equal(salt);
          expect(v(`${event}.${name}.leaf.input`)).to.equal(`0x${utf8Hex("sealtrace:code:2")}${salt}${utf8Hex(serial)}`);
          const leaf = K(utf8Hex("sealtrace:code:2"), salt, utf8Hex(serial));
          expect(v(`${event}.${name}.leaf`)).to.equal(leaf);
          leaves.push(leaf);
        }
        // Three leaves: the first two are paired, the third is carried up; one leaf is the root.
        const root = leaves.length === 3 ? pair(pair(leaves[0]!, leaves[1]!), leaves[2]!) : leaves[0]!;
        if (leaves.length === 3) {
          expect(v(`${event}.codes.node.1.0`)).to.equal(pair(leaves[0]!, leaves[1]!));
          expect(JSON.parse(v(`${event}.A.membership.proof`))).to.deep.equal([leaves[1], leaves[2]]);
          expect(JSON.parse(v(`${event}.B.membership.proof`))).to.deep.equal([leaves[0], leaves[2]]);
          expect(JSON.parse(v(`${event}.C.membership.proof`))).to.deep.equal([pair(leaves[0]!, leaves[1]!)]);
        } else {
          expect(JSON.parse(v(`${event}.A.membership.proof`))).to.deep.equal([]);
        }
        expect(v(`${event}.codes.root`)).to.equal(root);
        expect(v(`${event}.codes.count`)).to.equal(String(names.length));

        const { epcis, context } = draft;
        const rest: Record<string, unknown> = { ...draft };
        for (const key of ["codes", "epcis", "context"]) delete rest[key];
        const stored: Record<string, unknown> = { ...rest, codes: { root, count: names.length } };
        if (epcis !== undefined) {
          const text = jcs({ context, event: epcis });
          expect(v(`${event}.epcis.jcs`)).to.equal(text);
          stored.epcis = K(utf8Hex("sealtrace:epcis:2"), utf8Hex(text));
          expect(v(`${event}.epcis`)).to.equal(stored.epcis);
        }
        expect(v(`${event}.stored.jcs`)).to.equal(jcs(stored));
        expect(v(`${event}.hash`)).to.equal(K(utf8Hex(jcs(stored))));
      }
      // E1 by hand, to the byte: the stored form names no serial.
      expect(v("E1.stored.jcs")).to.equal(
        `{"brand":"moutai-demo","codes":{"count":3,"root":"${v("E1.codes.root")}"},"data":{"lot":"2026-11-A"},"id":"prod-2026-11-A-001",` +
          `"occurredAt":"2026-11-20T08:00:00+08:00","party":"factory-zunyi","receivedAt":"2026-11-20T00:00:01.000Z","salt":"000102030405060708090a0b0c0d0e0f","type":"production"}`,
      );
      expect(v("E1.stored.jcs")).to.not.match(/MT2026A/);
      expect(v("E2.stored.jcs")).to.not.match(/MT2026A/);
    });

    it("links: JCS written out by hand, linkHash = keccak256(JCS), leaf = keccak256(linkHash)", () => {
      const chainOf: [string, ChainName, "E1" | "E2", string][] = [
        ["A.1", "A", "E1", v("A.genesis")],
        ["B.1", "B", "E1", v("B.genesis")],
        ["C.1", "C", "E1", v("C.genesis")],
        ["A.2", "A", "E2", v("A.1.linkHash")],
        ["L.1", "L", "E2", v("L.genesis")],
      ];
      for (const [id, name, event, prev] of chainOf) {
        const n = Number(id.split(".")[1]);
        const text = `{"event":"${v(`${event}.hash`)}","n":${n},"prev":"${prev}","serial":"${serialOf(name)}"}`;
        expect(v(`${id}.jcs`), id).to.equal(text);
        expect(v(`${id}.linkHash`), id).to.equal(K(utf8Hex(text)));
        expect(v(`${id}.leaf`), id).to.equal(K(v(`${id}.linkHash`)));
      }
    });

    it("batches: links trees, head leaves and nodes (ZERO for an empty leaf), heads roots, tiles, batch roots", () => {
      const head = (index: number, n: number, link: string): string => K(utf8Hex("sealtrace:head:2"), u64Hex(index), u64Hex(n), link);
      // Batch 1: A.1, B.1, C.1; the heads map holds chains 0, 1, 2 and leaf 3 is empty.
      const l1 = [v("A.1.leaf"), v("B.1.leaf"), v("C.1.leaf")];
      expect(v("batch1.links.node.1.0")).to.equal(pair(l1[0]!, l1[1]!));
      expect(v("batch1.linksRoot")).to.equal(pair(pair(l1[0]!, l1[1]!), l1[2]!));
      expect(JSON.parse(v("batch1.A.1.proof"))).to.deep.equal([l1[1], l1[2]]);
      expect(JSON.parse(v("batch1.B.1.proof"))).to.deep.equal([l1[0], l1[2]]);
      expect(JSON.parse(v("batch1.C.1.proof"))).to.deep.equal([pair(l1[0]!, l1[1]!)]);
      expect(v("batch1.leafCount")).to.equal("3");
      const h1 = [head(0, 1, v("A.1.linkHash")), head(1, 1, v("B.1.linkHash")), head(2, 1, v("C.1.linkHash")), ZERO];
      expect(v("batch1.head.1.input")).to.equal(`0x${utf8Hex("sealtrace:head:2")}00000000000000010000000000000001${v("B.1.linkHash").slice(2)}`);
      h1.slice(0, 3).forEach((leaf, i) => expect(v(`batch1.head.${i}`)).to.equal(leaf));
      expect(v("batch1.heads.node.1.0")).to.equal(headNodeRef(h1[0]!, h1[1]!));
      expect(v("batch1.heads.node.1.1")).to.equal(headNodeRef(h1[2]!, ZERO));
      expect(v("batch1.heads.node.1.1")).to.not.equal(ZERO);
      const heads1 = headNodeRef(headNodeRef(h1[0]!, h1[1]!), headNodeRef(h1[2]!, ZERO));
      expect(v("batch1.headsRoot")).to.equal(heads1);
      expect(JSON.parse(v("batch1.tile.0/0.entries"))).to.deep.equal(h1);
      expect(v("batch1.root.input")).to.equal(`0x${utf8Hex("sealtrace:batch:2")}${v("batch1.linksRoot").slice(2)}${heads1.slice(2)}02`);
      expect(v("batch1.root")).to.equal(K(utf8Hex("sealtrace:batch:2"), v("batch1.linksRoot"), heads1, "02"));

      // Batch 2: A.2 and L.1; chains 0 and 3 move, 1 and 2 keep their leaves.
      expect(v("batch2.linksRoot")).to.equal(pair(v("A.2.leaf"), v("L.1.leaf")));
      expect(JSON.parse(v("batch2.A.2.proof"))).to.deep.equal([v("L.1.leaf")]);
      expect(JSON.parse(v("batch2.L.1.proof"))).to.deep.equal([v("A.2.leaf")]);
      const h2 = [head(0, 2, v("A.2.linkHash")), h1[1]!, h1[2]!, head(3, 1, v("L.1.linkHash"))];
      expect(v("batch2.head.0.input")).to.equal(`0x${utf8Hex("sealtrace:head:2")}00000000000000000000000000000002${v("A.2.linkHash").slice(2)}`);
      expect(v("batch2.head.0")).to.equal(h2[0]);
      expect(v("batch2.head.3")).to.equal(h2[3]);
      expect(v("batch2.heads.node.1.0")).to.equal(headNodeRef(h2[0]!, h2[1]!));
      expect(v("batch2.heads.node.1.1")).to.equal(headNodeRef(h2[2]!, h2[3]!));
      const heads2 = headNodeRef(headNodeRef(h2[0]!, h2[1]!), headNodeRef(h2[2]!, h2[3]!));
      expect(v("batch2.headsRoot")).to.equal(heads2);
      expect(JSON.parse(v("batch2.tile.0/0.entries"))).to.deep.equal(h2);
      expect(v("batch2.root")).to.equal(K(utf8Hex("sealtrace:batch:2"), v("batch2.linksRoot"), heads2, "02"));
      // A's head proof: its sibling leaf (chain 1), then the node over chains 2 and 3.
      expect(JSON.parse(v("batch2.A.headProof"))).to.deep.equal([h2[1], headNodeRef(h2[2]!, h2[3]!)]);
    });

    it("the full bundle is made of exactly these values, and verifies as complete as of batch 2", () => {
      const b = vectors.bundles.full;
      expect(b.batches.map((x) => [x.seq, x.root, x.format === 2 && x.linksRoot, x.format === 2 && x.headsRoot, x.format === 2 && x.headsDepth])).to.deep.equal(
        [
          [1, v("batch1.root"), v("batch1.linksRoot"), v("batch1.headsRoot"), 2],
          [2, v("batch2.root"), v("batch2.linksRoot"), v("batch2.headsRoot"), 2],
        ],
      );
      expect(b.events.map((e) => [e.eventHash, (e.event.codes as { root: string }).root, e.member?.salt, e.member?.proof])).to.deep.equal([
        [v("E1.hash"), v("E1.codes.root"), v("E1.A.salt"), JSON.parse(v("E1.A.membership.proof"))],
        [v("E2.hash"), v("E2.codes.root"), v("E2.A.salt"), []],
      ]);
      expect(jcs(b.events[0]!.event)).to.equal(v("E1.stored.jcs"));
      expect(jcs(b.events[1]!.event)).to.equal(v("E2.stored.jcs"));
      expect(b.links.map((l) => [jcs(l.link), l.linkHash, l.anchor])).to.deep.equal([
        [v("A.1.jcs"), v("A.1.linkHash"), { seq: 1, proof: JSON.parse(v("batch1.A.1.proof")) }],
        [v("A.2.jcs"), v("A.2.linkHash"), { seq: 2, proof: JSON.parse(v("batch2.A.2.proof")) }],
      ]);
      expect(b.head).to.deep.equal({ seq: 2, n: 2, linkHash: v("A.2.linkHash"), proof: JSON.parse(v("batch2.A.headProof")) });
      // No serial but A's, anywhere in the bundle.
      expect(
        JSON.stringify(b)
          .match(/MT2026A\d{7}/g)
          ?.every((s) => s === "MT2026A0000001"),
      ).to.equal(true);

      const verdict = verifyBundle(structuredClone(b));
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({ status: "valid", identityBound: true, linkCount: 2, pending: [], timesClaimed: [], notes: [] });
      expect(verdict.completeAsOf).to.deep.equal({ seq: 2, blockNumber: 202, blockTime: "2026-11-21T01:30:10.000Z" });
      expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal([
        [1, v("batch1.root")],
        [2, v("batch2.root")],
      ]);
      expect(vectors.verdicts.full).to.deep.equal(
        JSON.parse(JSON.stringify({ ...verdict, format: undefined, valid: undefined, problems: undefined, notes: undefined })),
      );
      expect([
        v("bundle.full.status"),
        v("bundle.full.completeAsOf"),
        v("bundle.full.timesClaimed"),
        v("bundle.full.batches"),
        v("bundle.full.roots"),
      ]).to.deep.equal(["valid", "2", "[]", "[1,2]", "[1,2]"]);
      expect(v("bundle.full.bytes")).to.equal(String(Buffer.byteLength(JSON.stringify(b))));
    });

    it("the compact bundle is the full one with the covered links' proofs and batch 1 left out, and verifies the same, its batch numbers claimed", () => {
      const full = vectors.bundles.full,
        compact = vectors.bundles.compact;
      // Built by hand from the full bundle: the head (batch 2, n = 2) covers links 1 and 2.
      const expected = structuredClone(full);
      expected.links.forEach((l) => {
        l.anchor = { seq: l.anchor!.seq };
      });
      expected.batches = expected.batches.filter((b) => b.seq === 2);
      expect(compact).to.deep.equal(expected);
      expect(compact.links.map((l) => l.anchor)).to.deep.equal([{ seq: 1 }, { seq: 2 }]);

      const verdict = verifyBundle(structuredClone(compact));
      expect(verdict.problems).to.deep.equal([]);
      expect(verdict).to.deep.include({ status: "valid", identityBound: true, linkCount: 2, pending: [], timesClaimed: [1, 2], notes: [] });
      expect(verdict.completeAsOf).to.deep.equal({ seq: 2, blockNumber: 202, blockTime: "2026-11-21T01:30:10.000Z" });
      // Only batch 2's root is a claim to compare with the chain: batch 1 is named by link 1 only, as a claim.
      expect(verdict.roots.map((r) => [r.seq, r.root])).to.deep.equal([[2, v("batch2.root")]]);
      expect(vectors.verdicts.compact).to.deep.equal(
        JSON.parse(JSON.stringify({ ...verdict, format: undefined, valid: undefined, problems: undefined, notes: undefined })),
      );
      expect([
        v("bundle.compact.status"),
        v("bundle.compact.completeAsOf"),
        v("bundle.compact.timesClaimed"),
        v("bundle.compact.batches"),
        v("bundle.compact.roots"),
      ]).to.deep.equal(["valid", "2", "[1,2]", "[2]", "[2]"]);
      expect(v("bundle.compact.bytes")).to.equal(String(Buffer.byteLength(JSON.stringify(compact))));
      expect(Number(v("bundle.compact.bytes"))).to.be.lessThan(Number(v("bundle.full.bytes")));

      // Link 1 is proven by the head alone: its hash is link 2's prev, and link 2's hash is the head's leaf.
      const head = (index: number, n: number, link: string): string => K(utf8Hex("sealtrace:head:2"), u64Hex(index), u64Hex(n), link);
      const proof = JSON.parse(v("batch2.A.headProof")) as string[];
      expect(headNodeRef(headNodeRef(head(0, 2, v("A.2.linkHash")), proof[0]!), proof[1]!)).to.equal(v("batch2.headsRoot"));
      expect(JSON.parse(v("A.2.jcs")).prev).to.equal(v("A.1.linkHash"));
      expect(JSON.parse(v("A.1.jcs")).prev).to.equal(v("A.genesis"));
      // Without the head proof, the compact bundle proves nothing about its links: invalid, naming link 1.
      const headless = { ...structuredClone(compact), head: null, batches: [] };
      const bare = verifyBundle(headless);
      expect(bare.status).to.equal("invalid");
      expect(bare.problems.map((p) => p.path)).to.deep.equal(["links[0].anchor"]);
    });

    it("the registry accepts the batch roots, every link (verifyLink) and A's head (verifyHead)", async () => {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      await registry.anchor(1, v("batch1.root"), Number(v("batch1.leafCount")));
      await registry.anchor(2, v("batch2.root"), Number(v("batch2.leafCount")));
      for (const [seq, id] of [
        [1, "A.1"],
        [1, "B.1"],
        [1, "C.1"],
        [2, "A.2"],
        [2, "L.1"],
      ] as const) {
        const ok = await registry.verifyLink(seq, v(`${id}.linkHash`), JSON.parse(v(`batch${seq}.${id}.proof`)), v(`batch${seq}.headsRoot`), 2);
        expect(ok, id).to.equal(true);
      }
      expect(await registry.verifyHead(2, 0, 2, v("A.2.linkHash"), JSON.parse(v("batch2.A.headProof")), v("batch2.linksRoot"))).to.equal(true);
      // A's head in batch 2 is link 2: link 1 is not its head there.
      expect(await registry.verifyHead(2, 0, 1, v("A.1.linkHash"), JSON.parse(v("batch2.A.headProof")), v("batch2.linksRoot"))).to.equal(false);
    });
  });

  describe("the doc shows the file's numbers", () => {
    const doc = readFileSync(DOC, "utf8");
    const section = doc.slice(doc.indexOf("\n## Test vectors"));

    it("every `name = value` line of the vectors section is the file's value, and every value is shown", () => {
      expect(section.length, "docs/PROOF-FORMAT.md has a '## Test vectors' section").to.be.greaterThan(100);
      const shown = new Map<string, string>();
      for (const block of section.matchAll(/```text\n([\s\S]*?)```/g)) {
        for (const line of block[1]!.split("\n").filter((l) => l.trim() !== "")) {
          const match = /^(\S+) = (.*)$/.exec(line);
          expect(match, `a line of the form "name = value": ${line}`).to.not.equal(null);
          expect(shown.has(match![1]!), `${match![1]} shown twice`).to.equal(false);
          shown.set(match![1]!, match![2]!);
        }
      }
      for (const [name, value] of shown) expect(value, name).to.equal(v(name));
      expect([...shown.keys()]).to.deep.equal(Object.keys(vectors.values));
    });

    it("both bundles printed in the doc are the file's", () => {
      for (const name of ["full", "compact"] as const) {
        const at = section.indexOf(`**${BUNDLE_TITLES[name]}**`);
        expect(at, `a bold title "${BUNDLE_TITLES[name]}"`).to.be.greaterThan(0);
        const json = /```json\n([\s\S]*?)```/.exec(section.slice(at));
        expect(json, `a json block after "${BUNDLE_TITLES[name]}"`).to.not.equal(null);
        expect(JSON.parse(json![1]!) as ProofBundle, name).to.deep.equal(vectors.bundles[name]);
      }
    });

    it("every hash anywhere in the doc is one of the vectors' (or a zero or a placeholder)", () => {
      const known = new Set([...JSON.stringify(vectors).matchAll(/0x[0-9a-f]{64}/g)].map((m) => m[0]));
      const strays = [...doc.matchAll(/0x[0-9a-fA-F]{64}/g)].map((m) => m[0]).filter((h) => !known.has(h) && !/^0x(0{64}|([0-9a-f]{2})\2{31})$/.test(h));
      expect(strays).to.deep.equal([]);
    });

    it("the tag table lists each tag's ASCII, length and hex bytes", () => {
      for (const [kind, tag] of Object.entries(TAGS)) {
        const row = new RegExp(`\\|\\s*${kind}\\s*\\|\\s*\`${tag}\`\\s*\\|\\s*${tag.length}\\s*\\|\\s*\`${v(`tag.${kind}`).slice(2)}\`\\s*\\|`);
        expect(doc, `tag table row for ${kind}`).to.match(row);
      }
    });
  });
});
