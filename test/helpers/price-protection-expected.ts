/**
 * The price-protection report a person computes by hand for the fixed data set of
 * test/core/price-protection.test.ts (which test/service/price-protection.test.ts posts through the
 * API): period [2026-11-01, 2026-11-11) +08:00, previous period [2026-10-22, 2026-11-01); guide
 * prices national 1000.00 (band 950.00–1100.00), CN-SH 1200.00 (band 1140.00–1320.00) from 2026-11-06.
 */
export const EXPECTED = [
  {
    party: "store-gz",
    name: "广州店",
    region: "CN-GZ",
    sold: 3,
    previousSold: 0,
    volumeChange: null,
    judged: 2,
    within: 1,
    excluded: 1,
    compliance: 0.5,
    guideRevenue: "3000.00",
    rate: 0,
    compensation: "0.00",
  },
  {
    // volume 10 → 8: −20 %; compliance 8/8; rate 0.05 + 0.03 × 0.2/0.3 = 0.07; revenue 5 × 1000 + 3 × 1200 = 8600
    party: "store-pudong",
    name: "浦东专卖店",
    region: "CN-SH",
    sold: 8,
    previousSold: 10,
    volumeChange: -0.2,
    judged: 8,
    within: 8,
    excluded: 0,
    compliance: 1,
    guideRevenue: "8600.00",
    rate: 0.07,
    compensation: "602.00",
  },
  {
    // volume 25 → 20: −20 %; compliance 19/20 = 95 % (just enough); rate 0.07; revenue 20 × 1000 (national: CN-GZ)
    party: "store-tianhe",
    name: "天河店",
    region: "CN-GZ",
    sold: 20,
    previousSold: 25,
    volumeChange: -0.2,
    judged: 20,
    within: 19,
    excluded: 0,
    compliance: 0.95,
    guideRevenue: "20000.00",
    rate: 0.07,
    compensation: "1400.00",
  },
  {
    // volume 4 → 2: −50 % (more than maxFall) but compliance 50 %: nothing
    party: "store-xuhui",
    name: "徐汇店",
    region: "CN-SH",
    sold: 2,
    previousSold: 4,
    volumeChange: -0.5,
    judged: 2,
    within: 1,
    excluded: 0,
    compliance: 0.5,
    guideRevenue: "2000.00",
    rate: 0,
    compensation: "0.00",
  },
];
