import { expect } from "chai";
import { compensationRate, DEFAULT_POLICY, policyProblems, priceProtection, sumMoney, type Sale, type StoreRef } from "../../service/core/price-protection.ts";
import type { GuidePrice } from "../../service/core/price.ts";
import { EXPECTED } from "../helpers/price-protection-expected.ts";

const GTIN = "06901234567892";
const CNY = (amount: string) => ({ amount, currency: "CNY" });
const at = (iso: string) => new Date(iso);

/**
 * The fixed data set (the same as test/service/price-protection.test.ts posts through the API).
 * Period [2026-11-01, 2026-11-11) +08:00, so the previous period is [2026-10-22, 2026-11-01).
 * Guide prices: national 1000.00 (band 950.00–1100.00) from 2026-01-01; CN-SH 1200.00 (band
 * 1140.00–1320.00) from 2026-11-06.
 */
const GUIDES: GuidePrice[] = [
  { amount: "1000.00", currency: "CNY", below: 0.05, above: 0.1, region: null, validFrom: at("2026-01-01T00:00:00+08:00") },
  { amount: "1200.00", currency: "CNY", below: 0.05, above: 0.1, region: "CN-SH", validFrom: at("2026-11-06T00:00:00+08:00") },
];
const STORES: StoreRef[] = [
  { id: "store-gz", name: "广州店", region: "CN-GZ" },
  { id: "store-pudong", name: "浦东专卖店", region: "CN-SH" },
  { id: "store-tianhe", name: "天河店", region: "CN-GZ" },
  { id: "store-xuhui", name: "徐汇店", region: "CN-SH" },
];

function sales(party: string, count: number, when: string, amount: string | null): Sale[] {
  return Array.from({ length: count }, () => ({ party, gtin: GTIN, at: at(when), price: amount === null ? null : CNY(amount) }));
}

const CURRENT: Sale[] = [
  // store-pudong: 8 bottles, all within their band; 5 under the national price, 3 under Shanghai's new one
  ...sales("store-pudong", 1, "2026-11-01T00:00:00+08:00", "1000.00"), // exactly at `from`: in
  ...sales("store-pudong", 2, "2026-11-02T10:00:00+08:00", "980.00"),
  ...sales("store-pudong", 2, "2026-11-05T23:59:00+08:00", "1050.00"),
  ...sales("store-pudong", 1, "2026-11-07T12:00:00+08:00", "1200.00"),
  ...sales("store-pudong", 1, "2026-11-08T12:00:00+08:00", "1250.00"),
  ...sales("store-pudong", 1, "2026-11-09T12:00:00+08:00", "1150.00"),
  // store-xuhui: 2 bottles, one below the band
  ...sales("store-xuhui", 1, "2026-11-03T12:00:00+08:00", "1000.00"),
  ...sales("store-xuhui", 1, "2026-11-04T12:00:00+08:00", "900.00"),
  // store-gz: 3 bottles, one above the band, one without a price
  ...sales("store-gz", 1, "2026-11-03T12:00:00+08:00", "1000.00"),
  ...sales("store-gz", 1, "2026-11-04T12:00:00+08:00", "1500.00"),
  ...sales("store-gz", 1, "2026-11-05T12:00:00+08:00", null),
  // store-tianhe: 20 bottles, 19 within and one above: exactly 95 %
  ...sales("store-tianhe", 19, "2026-11-02T12:00:00+08:00", "1000.00"),
  ...sales("store-tianhe", 1, "2026-11-10T12:00:00+08:00", "1200.00"),
];
const PREVIOUS = new Map([
  ["store-pudong", 10],
  ["store-xuhui", 4],
  ["store-tianhe", 25],
]);

describe("core/price-protection", () => {
  it("matches the hand-computed report on the fixed data set", () => {
    const lines = priceProtection({
      policy: DEFAULT_POLICY,
      currency: "CNY",
      stores: STORES,
      sales: CURRENT,
      previousSold: PREVIOUS,
      guides: new Map([[GTIN, GUIDES]]),
    });
    expect(lines).to.deep.equal(EXPECTED);
    expect(sumMoney(lines.map((l) => l.compensation))).to.equal("2002.00");
  });

  it("grows the rate linearly from baseRate to maxRate, and only for compliant stores whose volume fell", () => {
    const p = DEFAULT_POLICY;
    expect(compensationRate(p, 1, -0.000001)).to.equal(0.05);
    expect(compensationRate(p, 1, -0.15)).to.equal(0.065);
    expect(compensationRate(p, 1, -0.3)).to.equal(0.08);
    expect(compensationRate(p, 1, -0.9)).to.equal(0.08);
    expect(compensationRate(p, 0.95, -0.3)).to.equal(0.08);
    expect(compensationRate(p, 0.9499, -0.3)).to.equal(0);
    expect(compensationRate(p, 1, 0), "a steady volume").to.equal(0);
    expect(compensationRate(p, 1, 0.1), "a growing volume").to.equal(0);
    expect(compensationRate(p, 1, null), "no previous sales").to.equal(0);
    expect(compensationRate(p, null, -0.5), "nothing could be judged").to.equal(0);
    expect(compensationRate({ minCompliance: 0.8, baseRate: 0.02, maxRate: 0.1, maxFall: 0.5 }, 0.8, -0.25)).to.equal(0.06);
  });

  it("leaves out sales without a guide price in force or in another currency, and takes the store's region", () => {
    const stores: StoreRef[] = [{ id: "s", name: "S", region: "CN-SH" }];
    const lines = priceProtection({
      policy: DEFAULT_POLICY,
      currency: "CNY",
      stores,
      previousSold: new Map([["s", 10]]),
      guides: new Map([[GTIN, GUIDES]]),
      sales: [
        { party: "s", gtin: GTIN, at: at("2025-12-31T00:00:00+08:00"), price: CNY("1000.00") }, // no guide yet
        { party: "s", gtin: "00000000000000", at: at("2026-11-02T00:00:00+08:00"), price: CNY("1000.00") }, // no guide for it
        { party: "s", gtin: GTIN, at: at("2026-11-02T00:00:00+08:00"), price: { amount: "150.00", currency: "USD" } },
        { party: "s", gtin: GTIN, at: at("2026-11-07T00:00:00+08:00"), price: CNY("1000.00") }, // Shanghai's 1200: below
        { party: "other", gtin: GTIN, at: at("2026-11-07T00:00:00+08:00"), price: CNY("1000.00") }, // not a listed store
      ],
    });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ sold: 4, judged: 1, within: 0, excluded: 3, compliance: 0, guideRevenue: "2200.00", volumeChange: -0.6, rate: 0 });
  });

  it("reports a store that sold nothing with nulls, not errors", () => {
    const [line] = priceProtection({ policy: DEFAULT_POLICY, currency: "CNY", stores: [STORES[0]!], sales: [], previousSold: new Map(), guides: new Map() });
    expect(line).to.deep.equal({
      party: "store-gz",
      name: "广州店",
      region: "CN-GZ",
      sold: 0,
      previousSold: 0,
      volumeChange: null,
      judged: 0,
      within: 0,
      excluded: 0,
      compliance: null,
      guideRevenue: "0.00",
      rate: 0,
      compensation: "0.00",
    });
  });

  it("validates a policy", () => {
    expect(policyProblems({ ...DEFAULT_POLICY })).to.deep.equal([]);
    expect(policyProblems({ minCompliance: 1.2, baseRate: 0.05, maxRate: 0.04, maxFall: 0 }).map((p) => p.field)).to.deep.equal([
      "minCompliance",
      "maxFall",
      "maxRate",
    ]);
    expect(policyProblems({ ...DEFAULT_POLICY, baseRate: Number.NaN }).map((p) => p.field)).to.deep.equal(["baseRate"]);
  });

  it("rounds compensation to the cent", () => {
    const [line] = priceProtection({
      policy: { ...DEFAULT_POLICY, baseRate: 0.0333, maxRate: 0.0333 },
      currency: "CNY",
      stores: [STORES[1]!],
      sales: [{ party: "store-pudong", gtin: GTIN, at: at("2026-11-02T00:00:00+08:00"), price: CNY("1000.00") }],
      previousSold: new Map([["store-pudong", 2]]),
      guides: new Map([[GTIN, [{ ...GUIDES[0]!, amount: "999.99" }]]]),
    });
    expect(line!.compensation).to.equal("33.30"); // 0.0333 × 999.99 = 33.299667
  });
});
