import { expect } from "chai";
import { AMOUNT_PATTERN, band, fromCents, guideInForce, isAmount, priceVerdict, toCents, type GuidePrice } from "../../service/core/price.ts";

const guide = (amount: string, extra: Partial<GuidePrice> = {}): GuidePrice => ({
  amount,
  currency: "CNY",
  below: 0.05,
  above: 0.1,
  region: null,
  validFrom: new Date("2026-01-01T00:00:00Z"),
  ...extra,
});

describe("core/price", () => {
  it("converts decimal strings and cents both ways", () => {
    expect(toCents("1499.00")).to.equal(149_900);
    expect(toCents("1499.5")).to.equal(149_950);
    expect(toCents("0.07")).to.equal(7);
    expect(fromCents(149_950)).to.equal("1499.50");
    expect(fromCents(7)).to.equal("0.07");
    expect(() => toCents("1,499")).to.throw(RangeError);
  });

  it("takes amounts of up to 12 digits and 2 decimals, no leading zero: one pattern for schemas, forms and parsers", () => {
    for (const ok of ["0", "0.5", "0.07", "7", "1499", "1499.00", "999999999999.99"]) expect(isAmount(ok), ok).to.equal(true);
    for (const bad of ["", "01", "00.5", "1499.", ".5", "1499.001", "1,499", "-1", "+1", "1e3", " 1", "1 ", "1000000000000", "１"]) {
      expect(isAmount(bad), bad).to.equal(false);
      expect(() => toCents(bad), bad).to.throw(RangeError);
    }
    // The same text works as an HTML pattern attribute, which browsers compile with the v flag.
    expect(new RegExp(`^(?:${AMOUNT_PATTERN})$`, "v").test("1499.00")).to.equal(true);
    expect(new RegExp(`^(?:${AMOUNT_PATTERN})$`, "v").test("1499.001")).to.equal(false);
  });

  it("computes the band around the guide price", () => {
    expect(band(guide("1499.00"))).to.deep.equal({ min: "1424.05", max: "1648.90" });
    expect(band(guide("100.00", { below: 0, above: 0 }))).to.deep.equal({ min: "100.00", max: "100.00" });
  });

  it("says below, within or above, with the deviation", () => {
    expect(priceVerdict({ amount: "1199.20", currency: "CNY" }, guide("1499.00"))).to.deep.equal({ verdict: "below", deviation: -0.2 });
    expect(priceVerdict({ amount: "1424.05", currency: "CNY" }, guide("1499.00")).verdict).to.equal("within");
    expect(priceVerdict({ amount: "1424.04", currency: "CNY" }, guide("1499.00")).verdict).to.equal("below");
    expect(priceVerdict({ amount: "1648.90", currency: "CNY" }, guide("1499.00")).verdict).to.equal("within");
    expect(priceVerdict({ amount: "1648.91", currency: "CNY" }, guide("1499.00")).verdict).to.equal("above");
    expect(priceVerdict({ amount: "200.00", currency: "USD" }, guide("1499.00")).verdict).to.equal("other_currency");
  });

  it("uses the price in force at the moment, regional before national", () => {
    const prices = [
      guide("1499.00", { validFrom: new Date("2026-01-01T00:00:00Z") }),
      guide("1599.00", { validFrom: new Date("2026-11-01T00:00:00Z") }),
      guide("1699.00", { region: "CN-SH", validFrom: new Date("2026-06-01T00:00:00Z") }),
    ];
    expect(guideInForce(prices, null, new Date("2026-10-31T23:59:59Z"))!.amount).to.equal("1499.00");
    expect(guideInForce(prices, null, new Date("2026-11-02T00:00:00Z"))!.amount).to.equal("1599.00");
    expect(guideInForce(prices, "CN-SH", new Date("2026-11-02T00:00:00Z"))!.amount).to.equal("1699.00");
    expect(guideInForce(prices, "CN-SH", new Date("2026-05-01T00:00:00Z"))!.amount).to.equal("1499.00");
    expect(guideInForce(prices, "CN-BJ", new Date("2025-12-31T00:00:00Z"))).to.equal(null);
  });
});
