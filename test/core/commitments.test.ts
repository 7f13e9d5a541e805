/**
 * core/commitments.ts: genesis (identity), bottle salts, leaves and membership proofs, the format-2
 * form of an event (which must name no serial), the EPCIS digest, and the heads/batch hashes' domains.
 * Byte layouts are recomputed with the from-scratch keccak256 of test/core/vectors.
 */
import { expect } from "chai";
import fc from "fast-check";
import {
  batchRoot,
  commitCodes,
  commitEvent,
  epcisDigest,
  genesis,
  headLeaf,
  headNode,
  isMember,
  isSalt,
  memberLeaf,
  memberSalt,
  type BottleIdentity,
  type Membership,
} from "../../service/core/commitments.ts";
import { canonicalJson, ZERO_HASH, type Hash, type Json } from "../../service/core/hash.ts";
import { eventHash, type CanonicalEvent } from "../../service/core/links.ts";
import { MerkleTree } from "../../service/core/merkle.ts";
import { keccak256Reference } from "./vectors/keccak-reference.ts";

const K = (...parts: (string | Uint8Array)[]): Hash =>
  `0x${Buffer.from(keccak256Reference(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p)))))).toString("hex")}`;
const hex = (h: string): Buffer => Buffer.from(h.replace(/^0x/, ""), "hex");
const secretOf = (n: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (n * 16 + i) & 0xff);
const serial = fc.stringMatching(/^[0-9A-Za-z]{1,20}$/);
const BOTTLE: BottleIdentity = { brand: "moutai-demo", gtin: "06901234567892", lot: "2026-11-A", serial: "MT2026A0000001", index: 41 };

describe("core/commitments", () => {
  describe("genesis: what a chain's first link commits to", () => {
    it("is keccak256 of the tag and the identity's JCS, with these keys only", () => {
      expect(genesis(BOTTLE)).to.equal(
        K("sealtrace:genesis:2", `{"brand":"moutai-demo","gtin":"06901234567892","index":41,"lot":"2026-11-A","serial":"MT2026A0000001"}`),
      );
      expect(genesis({ ...BOTTLE, lot: null })).to.equal(
        K("sealtrace:genesis:2", `{"brand":"moutai-demo","gtin":"06901234567892","index":41,"lot":null,"serial":"MT2026A0000001"}`),
      );
      expect(genesis({ brand: "moutai-demo", log: "epcis:moutai-demo", index: 7 })).to.equal(
        K("sealtrace:genesis:2", `{"brand":"moutai-demo","index":7,"log":"epcis:moutai-demo"}`),
      );
      // Anything else on the object is not part of the identity.
      expect(genesis({ ...BOTTLE, extra: "x" } as BottleIdentity)).to.equal(genesis(BOTTLE));
    });

    it("changes with every field of the identity", () => {
      const base = genesis(BOTTLE);
      for (const edit of [
        { brand: "moutai" },
        { gtin: "06901234567893" },
        { lot: "2026-11-B" },
        { lot: null },
        { lot: "" },
        { serial: "MT2026A0000002" },
        { index: 42 },
      ]) {
        expect(genesis({ ...BOTTLE, ...edit }), JSON.stringify(edit)).to.not.equal(base);
      }
      // A bottle and a log never share a genesis, even with the same brand and index.
      expect(genesis({ brand: BOTTLE.brand, log: BOTTLE.serial, index: BOTTLE.index })).to.not.equal(base);
    });
  });

  describe("bottle salts, leaves and membership", () => {
    it("a salt is the first 16 bytes of keccak256(tag ‖ secret ‖ serial); a leaf is keccak256(tag ‖ salt ‖ serial)", () => {
      const secret = secretOf(1);
      const salt = memberSalt(secret, "MT2026A0000001");
      expect(salt).to.equal(K("sealtrace:salt:2", secret, "MT2026A0000001").slice(2, 34));
      expect(isSalt(salt)).to.equal(true);
      expect(memberLeaf(salt, "MT2026A0000001")).to.equal(K("sealtrace:code:2", hex(salt), "MT2026A0000001"));
    });

    it("refuses a secret that is not 16 bytes and a salt that is not 32 lowercase hex digits", () => {
      expect(() => memberSalt(new Uint8Array(15), "A")).to.throw(RangeError);
      expect(() => memberSalt(new Uint8Array(32), "A")).to.throw(RangeError);
      for (const bad of ["", "00", "0x" + "00".repeat(15), "AB".repeat(16), "00".repeat(17), "zz".repeat(16)])
        expect(() => memberLeaf(bad, "A"), bad).to.throw(RangeError);
    });

    it("for any event's bottles: each one's proof holds for it alone, with its own salt, and the root is the salted leaves' tree", () => {
      fc.assert(
        fc.property(fc.uniqueArray(serial, { minLength: 1, maxLength: 60 }), fc.nat(255), fc.nat(), (serials, n, pick) => {
          const secret = secretOf(n);
          const { codes, members } = commitCodes(secret, serials);
          expect(codes.count).to.equal(serials.length);
          expect(codes.root).to.equal(new MerkleTree(serials.map((s) => memberLeaf(memberSalt(secret, s), s))).root);
          expect(members.size).to.equal(serials.length);
          const mine = serials[pick % serials.length]!;
          const member = members.get(mine)!;
          expect(member.proof.length).to.be.at.most(Math.ceil(Math.log2(serials.length)));
          expect(isMember(codes, mine, member)).to.equal(true);
          for (const other of serials) {
            if (other === mine) continue;
            // Another bottle cannot use this bottle's proof, nor this bottle's salt with its own proof.
            expect(isMember(codes, other, member), `${other} with ${mine}'s proof`).to.equal(false);
            expect(isMember(codes, other, { salt: member.salt, proof: members.get(other)!.proof })).to.equal(false);
          }
          expect(isMember(codes, `${mine}X`, member)).to.equal(false);
          expect(isMember({ ...codes, root: ZERO_HASH }, mine, member)).to.equal(false);
          // Another secret gives other salts, and so another root.
          expect(commitCodes(secretOf(n + 1), serials).codes.root).to.not.equal(codes.root);
        }),
        { numRuns: 150 },
      );
    });

    it("an inner node of the codes tree is not a bottle: no salt and serial make it a leaf, and a shortened proof fails", () => {
      const serials = ["MT2026A0000001", "MT2026A0000002", "MT2026A0000003", "MT2026A0000004"];
      const { codes, members } = commitCodes(secretOf(3), serials);
      const member = members.get("MT2026A0000001")!;
      expect(isMember(codes, "MT2026A0000001", { salt: member.salt, proof: member.proof.slice(1) })).to.equal(false);
      expect(isMember(codes, "MT2026A0000001", { salt: member.salt, proof: [...member.proof, member.proof[0]!] })).to.equal(false);
    });

    it("an event that names no bottle commits to { root: ZERO, count: 0 }", () => {
      const { codes, members } = commitCodes(secretOf(4), []);
      expect(codes).to.deep.equal({ root: ZERO_HASH, count: 0 });
      expect(members.size).to.equal(0);
    });

    it("the order of the event's bottles is part of the commitment", () => {
      const secret = secretOf(5);
      expect(commitCodes(secret, ["A1", "B2", "C3"]).codes.root).to.not.equal(commitCodes(secret, ["C3", "B2", "A1"]).codes.root);
    });
  });

  describe("an event's format-2 form", () => {
    const draft = (codes: string[]): CanonicalEvent => ({
      brand: "moutai-demo",
      id: "evt-1",
      type: "production",
      codes,
      occurredAt: "2026-11-20T08:00:00+08:00",
      receivedAt: "2026-11-20T00:00:01.000Z",
      party: "factory-zunyi",
      salt: "000102030405060708090a0b0c0d0e0f",
      data: { lot: "2026-11-A", note: "批次" },
    });

    it("names no serial, keeps every other field, and its hash changes with any of them", () => {
      fc.assert(
        fc.property(fc.uniqueArray(fc.stringMatching(/^[A-Z]{2}[0-9]{8,12}$/), { minLength: 1, maxLength: 40 }), (serials) => {
          const input = draft(serials);
          const before = structuredClone(input);
          const { event, members } = commitEvent(input, secretOf(6));
          expect(input, "the draft is not changed").to.deep.equal(before);
          const text = canonicalJson(event);
          for (const s of serials) expect(text.includes(s), `${s} in the stored event`).to.equal(false);
          const rest: Record<string, unknown> = { ...before };
          delete rest.codes;
          expect(event).to.deep.equal({ ...rest, codes: commitCodes(secretOf(6), serials).codes });
          expect([...members.keys()]).to.deep.equal(serials);
          for (const [s, m] of members) expect(isMember(event.codes as never, s, m as Membership)).to.equal(true);
          for (const field of ["id", "occurredAt", "party", "salt"] as const) {
            expect(eventHash({ ...event, [field]: `${String(event[field])}x` }), field).to.not.equal(eventHash(event));
          }
        }),
        { numRuns: 100 },
      );
    });

    it("an EPCIS event becomes its digest (with the document's context), which names nothing", () => {
      const epcis: Json = {
        type: "ObjectEvent",
        eventTime: "2026-11-21T09:30:00.000+08:00",
        epcList: ["https://id.gs1.org/01/06901234567892/21/MT2026A0000002"],
        action: "OBSERVE",
      };
      const context: Json = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", { st: "https://ns.sealtrace.dev/epcis/" }];
      const { event } = commitEvent({ ...draft(["MT2026A0000002"]), type: "warehouse_in", epcis, context }, secretOf(7));
      expect(event.epcis).to.equal(epcisDigest(epcis, context));
      expect(event).to.not.have.property("context");
      expect(canonicalJson(event)).to.not.include("MT2026A0000002");
      expect(canonicalJson(event)).to.not.include("ObjectEvent");
      // A context without an EPCIS event stays as it is.
      expect(commitEvent({ ...draft(["X1"]), context }, secretOf(7)).event.context).to.deep.equal(context);
    });
  });

  describe("the EPCIS digest", () => {
    it("is keccak256(tag ‖ JCS({context, event})): key order does not matter, every value does", () => {
      const event: Json = { type: "ObjectEvent", action: "OBSERVE", eventTime: "2026-11-21T01:30:00Z" };
      expect(epcisDigest(event, null)).to.equal(
        K("sealtrace:epcis:2", `{"context":null,"event":{"action":"OBSERVE","eventTime":"2026-11-21T01:30:00Z","type":"ObjectEvent"}}`),
      );
      expect(epcisDigest({ eventTime: "2026-11-21T01:30:00Z", type: "ObjectEvent", action: "OBSERVE" }, null)).to.equal(epcisDigest(event, null));
      expect(epcisDigest(event, [])).to.not.equal(epcisDigest(event, null));
      expect(epcisDigest(event, ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"])).to.not.equal(epcisDigest(event, null));
      expect(epcisDigest({ ...event, action: "ADD" }, null)).to.not.equal(epcisDigest(event, null));
    });
  });

  describe("heads leaves, nodes and batch roots", () => {
    const link = K("a link");

    it("a head leaf is keccak256(tag ‖ u64(index) ‖ u64(n) ‖ linkHash), for any whole index and n up to 2^53 − 1", () => {
      const u64 = (x: bigint): Buffer => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(x);
        return b;
      };
      for (const [index, n] of [
        [0, 1],
        [1, 1],
        [255, 256],
        [2 ** 32, 2 ** 32 + 1],
        [2 ** 40 - 1, 7],
        [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      ]) {
        expect(headLeaf(index!, n!, link), `${index}, ${n}`).to.equal(K("sealtrace:head:2", u64(BigInt(index!)), u64(BigInt(n!)), hex(link)));
      }
      for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
        expect(() => headLeaf(bad, 1, link), String(bad)).to.throw(RangeError);
        expect(() => headLeaf(0, bad, link), String(bad)).to.throw(RangeError);
      }
    });

    it("a node is ZERO over two ZEROs, else keccak256(tag ‖ left ‖ right), and not symmetric", () => {
      expect(headNode(ZERO_HASH, ZERO_HASH)).to.equal(ZERO_HASH);
      expect(headNode(link, ZERO_HASH)).to.equal(K("sealtrace:node:2", hex(link), hex(ZERO_HASH)));
      expect(headNode(ZERO_HASH, link)).to.equal(K("sealtrace:node:2", hex(ZERO_HASH), hex(link)));
      expect(headNode(link, ZERO_HASH)).to.not.equal(headNode(ZERO_HASH, link));
    });

    it("a batch root is keccak256(tag ‖ linksRoot ‖ headsRoot ‖ u8(depth)) for depths 1-40 only", () => {
      const links = K("links"),
        heads = K("heads");
      for (const depth of [1, 2, 27, 40]) expect(batchRoot(links, heads, depth)).to.equal(K("sealtrace:batch:2", hex(links), hex(heads), Uint8Array.of(depth)));
      for (const bad of [0, 41, 256, 1.5, -1]) expect(() => batchRoot(links, heads, bad), String(bad)).to.throw(RangeError);
      expect(batchRoot(links, heads, 2)).to.not.equal(batchRoot(heads, links, 2));
      expect(batchRoot(links, heads, 2)).to.not.equal(batchRoot(links, heads, 3));
    });
  });
});
