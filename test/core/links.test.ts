/**
 * linkHash and genesis write their JCS out by hand (ingest computes one of each per bottle event):
 * they must hash the very bytes the generic canonical JSON gives, for any input, and refuse what it refuses.
 */
import { expect } from "chai";
import fc from "fast-check";
import { genesis, type BottleIdentity } from "../../service/core/commitments.ts";
import { canonicalJson, hashCanonical, keccak256, toHex, type Json } from "../../service/core/hash.ts";
import { linkHash, type Link } from "../../service/core/links.ts";

/** Any string: odd Unicode, escapes and lone surrogates included. */
const anyString = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: fc.constantFrom('"', "\\", "\n", "\u0000", "\ud800", "\udc00", "\u2028", "é") }),
);
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 2 ** 53, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY));

/** The result, or that it threw. */
const outcome = (f: () => string): string => {
  try {
    return f();
  } catch {
    return "throws";
  }
};

describe("core/links: hand-written JCS", () => {
  it("linkHash hashes the canonical JSON of { serial, n, event, prev } for any values", () => {
    fc.assert(
      fc.property(anyString, anyNumber, anyString, anyString, (serial, n, event, prev) => {
        const link = { serial, n, event, prev } as Link;
        expect(outcome(() => linkHash(link))).to.equal(outcome(() => hashCanonical({ serial, n, event, prev } as Json)));
      }),
      { numRuns: 2_000 },
    );
    const link: Link = { serial: "MT2026A0000001", n: 3, event: `0x${"ab".repeat(32)}`, prev: `0x${"cd".repeat(32)}` };
    expect(linkHash(link)).to.equal(
      toHex(keccak256(new TextEncoder().encode(`{"event":"${link.event}","n":3,"prev":"${link.prev}","serial":"MT2026A0000001"}`))),
    );
  });

  it("genesis hashes the tag and the canonical JSON of a bottle's identity for any values", () => {
    const generic = (identity: BottleIdentity): string => {
      const json = canonicalJson({ brand: identity.brand, gtin: identity.gtin, index: identity.index, lot: identity.lot, serial: identity.serial } as Json);
      return toHex(keccak256(new TextEncoder().encode(`sealtrace:genesis:2${json}`)));
    };
    fc.assert(
      fc.property(anyString, anyString, anyNumber, fc.option(anyString), anyString, (brand, gtin, index, lot, serial) => {
        const identity = { brand, gtin, index, lot, serial } as BottleIdentity;
        expect(outcome(() => genesis(identity))).to.equal(outcome(() => generic(identity)));
      }),
      { numRuns: 2_000 },
    );
  });
});
