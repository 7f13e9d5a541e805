import { expect } from "chai";
import { bottleUrl, parseBottleUrl } from "../../service/core/bottle-url.ts";

describe("core/bottle-url", () => {
  it("builds the Digital Link: /01/{gtin}/21/{serial} with ?s= or ?o=, parts encoded, trailing slashes of the base ignored", () => {
    expect(bottleUrl("https://id.example.com/", "06901234567892", "0123456789ABCDEF", { s: "go3v7qa0DyE91-D5TEi6Pw" })).to.equal(
      "https://id.example.com/01/06901234567892/21/0123456789ABCDEF?s=go3v7qa0DyE91-D5TEi6Pw",
    );
    expect(bottleUrl("http://x//", "1", "A B", { o: "a&b" })).to.equal("http://x/01/1/21/A%20B?o=a%26b");
  });

  it("builds a relative link, with lang=en only for English", () => {
    expect(bottleUrl("", "06901234567892", "S1", { s: "a/b" })).to.equal("/01/06901234567892/21/S1?s=a%2Fb");
    expect(bottleUrl("", "06901234567892", "S1", { s: "x", lang: "en" })).to.equal("/01/06901234567892/21/S1?s=x&lang=en");
  });

  it("parses what it builds back to the same bottle and codes", () => {
    for (const [base, serial, query] of [
      ["https://id.example.com", "0123456789ABCDEF", { s: "go3v7qa0DyE91-D5TEi6Pw" }],
      ["", "A B/C?#", { o: "CM8J4EJ7BPSC1YCN" }],
      ["http://127.0.0.1:3000/", "ü", { s: "x&y=z", lang: "en" as const }],
    ] as const) {
      const parsed = parseBottleUrl(bottleUrl(base, "06901234567892", serial, query));
      expect(parsed).to.deep.equal({ gtin: "06901234567892", serial, s: "s" in query ? query.s : null, o: "o" in query ? query.o : null });
    }
  });

  it("finds the bottle in a scanned text; a text without a bottle URL is null; bad escapes are kept as they are", () => {
    expect(parseBottleUrl("https://trace.example/01/06901234567892/21/ABC123XYZ?s=secret")?.serial).to.equal("ABC123XYZ");
    expect(parseBottleUrl("http://127.0.0.1:3000/01/06901234567892/21/A%42C?o=cap")).to.deep.equal({
      gtin: "06901234567892",
      serial: "ABC",
      s: null,
      o: "cap",
    });
    expect(parseBottleUrl("/01/06901234567892/21/ABC")).to.deep.equal({ gtin: "06901234567892", serial: "ABC", s: null, o: null });
    expect(parseBottleUrl("/01/06901234567892/21/A%E0B")?.serial).to.equal("A%E0B");
    expect(parseBottleUrl("https://id.example/01/06901234567892/10/L1/21/ABC?s=x")).to.deep.equal({ gtin: "06901234567892", serial: "ABC", s: "x", o: null });
    expect(parseBottleUrl("ABC123XYZ")).to.equal(null);
    expect(parseBottleUrl("https://trace.example/01/06901234567892")).to.equal(null);
  });
});
