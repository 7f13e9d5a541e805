import { expect } from "chai";
import { jsonDepthExceededAt, MAX_JSON_DEPTH } from "../../service/core/json-depth.ts";
import { storableAsJsonb } from "../../service/http/problems.ts";

/** A value nested `levels` arrays deep, built without recursion. */
function nested(levels: number, inner: unknown = "x"): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

describe("core/json-depth (issue 16, point 5)", () => {
  it("finds where a text first nests deeper than the limit", () => {
    expect(jsonDepthExceededAt("{}", 1)).to.equal(-1);
    expect(jsonDepthExceededAt('{"a":[1,{"b":2}]}', 3)).to.equal(-1);
    expect(jsonDepthExceededAt('{"a":[1,{"b":2}]}', 2)).to.equal(8);
    expect(jsonDepthExceededAt("[[],[],[[]]]", 2)).to.equal(8);
    expect(jsonDepthExceededAt("1", 0)).to.equal(-1);
    expect(jsonDepthExceededAt(`${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`)).to.equal(-1);
    expect(jsonDepthExceededAt(`${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`)).to.equal(MAX_JSON_DEPTH);
  });

  it("does not count brackets inside strings, escaped quotes and backslashes included", () => {
    expect(jsonDepthExceededAt(JSON.stringify({ a: "[[[[{{{{" }), 1)).to.equal(-1);
    expect(jsonDepthExceededAt(JSON.stringify({ a: '"[[[[', b: "\\", c: '\\"{{{' }), 1)).to.equal(-1);
    expect(jsonDepthExceededAt(JSON.stringify({ a: "\\" }) + "[[", 1)).to.be.above(0);
    expect(jsonDepthExceededAt('["\\u005b\\u007b", [[]]]', 2)).to.equal(18);
  });

  it("scans 200,000 levels and a 4 MB body in one pass", function () {
    this.timeout(10_000);
    const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    expect(jsonDepthExceededAt(deep)).to.equal(MAX_JSON_DEPTH);
    const wide = JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: "[{" })));
    expect(wide.length).to.be.above(4_000_000);
    expect(jsonDepthExceededAt(wide)).to.equal(-1);
  });
});

describe("http/problems storableAsJsonb", () => {
  it("walks any depth without overflowing the stack (it was recursive through JSON.stringify: a 500)", () => {
    expect(storableAsJsonb(nested(200_000))).to.equal(true);
    expect(storableAsJsonb(nested(200_000, "a\u0000b"))).to.equal(false);
    expect(storableAsJsonb(nested(200_000, { "k\ud800": 1 }))).to.equal(false);
  });

  it("refuses NUL characters and lone surrogates in values and keys, and nothing else", () => {
    expect(storableAsJsonb({ a: ["fine", 1, null, true, { 汉字: "😀" }] })).to.equal(true);
    expect(storableAsJsonb({ a: "\u0000" })).to.equal(false);
    expect(storableAsJsonb({ "\u0000": 1 })).to.equal(false);
    expect(storableAsJsonb(["\udc00"])).to.equal(false);
    expect(storableAsJsonb(["\ud83d"])).to.equal(false);
    // The six characters \u0000 written out are text, not a NUL (the JSON-text regex refused them).
    expect(storableAsJsonb({ a: "\\u0000" })).to.equal(true);
  });
});
