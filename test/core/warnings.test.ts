import { expect } from "chai";
import fc from "fast-check";
import {
  BUYER_WINDOW_MS,
  COPY_DISTANCE_KM,
  COPY_WINDOW_MS,
  copiedCode,
  distanceKm,
  saleOf,
  verdictOf,
  warningsFor,
  type ScanFact,
  type StepFact,
} from "../../service/core/warnings.ts";

const SHANGHAI = { name: "上海", latitude: 31.23, longitude: 121.47 };
const SUZHOU = { name: "苏州", latitude: 31.3, longitude: 120.62 };
const URUMQI = { name: "乌鲁木齐", latitude: 43.83, longitude: 87.62 };
const now = new Date("2026-11-21T12:00:00Z");
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const store = (region: string) => ({ id: `store-${region}`, name: `门店 ${region}`, kind: "store", region });

describe("core/warnings", () => {
  it("measures great-circle distances", () => {
    expect(distanceKm(SHANGHAI, SHANGHAI)).to.equal(0);
    expect(distanceKm(SHANGHAI, SUZHOU)).to.be.within(75, 90);
    expect(distanceKm(SHANGHAI, URUMQI)).to.be.within(3200, 3350);
  });

  it("a clean history has no warnings", () => {
    const steps: StepFact[] = [
      { type: "production", at: hoursAgo(100), party: null },
      { type: "store_receiving", at: hoursAgo(50), party: store("CN-SH") },
      { type: "retail_sale", at: hoursAgo(2), party: store("CN-SH") },
    ];
    expect(warningsFor({ steps, openedAt: null, assignedRegion: "CN-SH", scans: [], now })).to.deep.equal([]);
  });

  it("warns about an opened bottle, a resale, a second sale and a store outside the region", () => {
    const steps: StepFact[] = [
      { type: "production", at: hoursAgo(100), party: null },
      { type: "store_receiving", at: hoursAgo(80), party: store("CN-BJ") },
      { type: "retail_sale", at: hoursAgo(30), party: store("CN-BJ") },
    ];
    // its buyer verified it 28 hours ago: whoever scans now is someone else
    const warnings = warningsFor({ steps, openedAt: hoursAgo(20), assignedRegion: "CN-SH", scans: [{ at: hoursAgo(28), place: null }], now });
    expect(warnings.map((w) => w.kind)).to.deep.equal(["opened", "sold_before", "out_of_region"]);
    expect(warnings[2]).to.deep.include({ assigned: "CN-SH", found: "CN-BJ" });
    const twice = warningsFor({
      steps: [...steps, { type: "retail_sale", at: hoursAgo(1), party: store("CN-BJ") }],
      openedAt: null,
      assignedRegion: null,
      scans: [],
      now,
    });
    expect(twice).to.deep.equal([{ kind: "sold_before", at: hoursAgo(1), store: "门店 CN-BJ", times: 2, buyerScan: null }]);
  });

  // Issue 17: the honest buyer who scans days after buying (a gift, a bottle kept for a festival) is not warned.
  describe("the buyer's scans after a retail sale", () => {
    const sold = (saleHoursAgo: number): StepFact[] => [
      { type: "production", at: hoursAgo(2_000), party: null },
      { type: "store_receiving", at: hoursAgo(1_500), party: store("CN-SH") },
      { type: "retail_sale", at: hoursAgo(saleHoursAgo), party: store("CN-SH") },
    ];
    const judge = (steps: StepFact[], scans: ScanFact[], at = now) => warningsFor({ steps, openedAt: null, assignedRegion: "CN-SH", scans, now: at });

    it("the first consumer scan days after the sale is the buyer's: genuine, with the sale to show", () => {
      const steps = sold(5 * 24);
      // the page's read holds the scan being recorded now ...
      expect(judge(steps, [{ at: now, place: SHANGHAI }])).to.deep.equal([]);
      // ... or does not (a scan not recorded: the bottle's hourly cap, a preview): nobody else scanned after the sale either way
      expect(judge(steps, [])).to.deep.equal([]);
      expect(verdictOf(judge(steps, [{ at: now, place: SHANGHAI }]))).to.equal("genuine");
      expect(saleOf({ steps, scans: [{ at: now, place: SHANGHAI }], now })).to.deep.equal({
        at: hoursAgo(5 * 24),
        store: "门店 CN-SH",
        times: 1,
        buyerScan: now,
        resold: false,
      });
      // a month later, still the buyer's first scan
      expect(judge(sold(30 * 24), [{ at: now, place: null }])).to.deep.equal([]);
    });

    it("scans within the buyer's window after the first post-sale scan are the buyer's too", () => {
      const steps = sold(5 * 24);
      const first: ScanFact = { at: hoursAgo(23), place: SHANGHAI };
      expect(judge(steps, [first, { at: now, place: SHANGHAI }])).to.deep.equal([]);
      // the window's edge is inclusive: exactly BUYER_WINDOW_MS after the buyer's first scan is still the buyer's
      const edge = new Date(first.at.getTime() + BUYER_WINDOW_MS);
      expect(judge(steps, [first, { at: edge, place: null }], edge)).to.deep.equal([]);
    });

    it("a scan after the buyer's window closed is someone else's, later: sold_before naming the buyer's first scan", () => {
      const steps = sold(5 * 24);
      const buyer: ScanFact = { at: hoursAgo(48), place: SHANGHAI };
      const warnings = judge(steps, [buyer, { at: now, place: SHANGHAI }]);
      expect(warnings).to.deep.equal([{ kind: "sold_before", at: hoursAgo(5 * 24), store: "门店 CN-SH", times: 1, buyerScan: buyer.at }]);
      expect(verdictOf(warnings)).to.equal("warning");
      // also when the scan now is not in the read (a reload, the hourly cap): the buyer's window closed all the same
      expect(judge(steps, [buyer]).map((w) => w.kind)).to.deep.equal(["sold_before"]);
      // one millisecond past the window
      const past = new Date(buyer.at.getTime() + BUYER_WINDOW_MS + 1);
      expect(judge(steps, [buyer], past).map((w) => w.kind)).to.deep.equal(["sold_before"]);
    });

    it("the buyer's first scan is found in any order, and a week-old one still counts (the copy check alone looks at recent scans)", () => {
      const steps = sold(60 * 24);
      const scans: ScanFact[] = [
        { at: now, place: null },
        { at: hoursAgo(40 * 24), place: null },
        { at: hoursAgo(20 * 24), place: null },
      ];
      expect(judge(steps, scans)).to.deep.include({ kind: "sold_before", at: hoursAgo(60 * 24), store: "门店 CN-SH", times: 1, buyerScan: hoursAgo(40 * 24) });
    });

    it("two sales are sold_before, even on the buyer's first scan (which it does not name as the buyer's)", () => {
      const steps = [...sold(5 * 24), { type: "retail_sale" as const, at: hoursAgo(2), party: store("CN-SH") }];
      expect(judge(steps, [{ at: now, place: null }])).to.deep.equal([
        { kind: "sold_before", at: hoursAgo(2), store: "门店 CN-SH", times: 2, buyerScan: null },
      ]);
      // sold twice and its buyer's window closed: both reasons
      expect(judge(steps, [{ at: hoursAgo(1), place: null }], new Date(now.getTime() + 2 * BUYER_WINDOW_MS))).to.deep.equal([
        { kind: "sold_before", at: hoursAgo(2), store: "门店 CN-SH", times: 2, buyerScan: hoursAgo(1) },
      ]);
    });

    it("the trade's scans before the sale are not the buyer's: they open no window", () => {
      const steps = sold(3 * 24);
      // a dealer pre-queried the code a week and four days before the sale
      const trade: ScanFact[] = [
        { at: hoursAgo(7 * 24), place: SUZHOU },
        { at: hoursAgo(4 * 24), place: SHANGHAI },
      ];
      expect(judge(steps, [...trade, { at: now, place: SHANGHAI }])).to.deep.equal([]);
      expect(saleOf({ steps, scans: [...trade, { at: now, place: SHANGHAI }], now })!.buyerScan).to.deep.equal(now);
      // a scan at the very time of the sale is after it
      expect(saleOf({ steps, scans: [{ at: hoursAgo(3 * 24), place: null }], now })).to.deep.include({ buyerScan: hoursAgo(3 * 24), resold: true });
    });

    it("an unsold bottle has no sale and no sold_before, however often it was scanned", () => {
      const steps = sold(1).slice(0, 2);
      expect(saleOf({ steps, scans: [{ at: hoursAgo(100), place: null }], now })).to.equal(null);
      expect(
        judge(steps, [
          { at: hoursAgo(100), place: null },
          { at: now, place: null },
        ]),
      ).to.deep.equal([]);
    });

    it("opened, out of region and copied stay warnings on the buyer's own first scan", () => {
      const steps: StepFact[] = [...sold(5 * 24).slice(0, 2), { type: "retail_sale", at: hoursAgo(5 * 24), party: store("CN-BJ") }];
      const scans: ScanFact[] = [
        { at: hoursAgo(2), place: SHANGHAI },
        { at: now, place: URUMQI },
      ];
      const warnings = warningsFor({ steps, openedAt: hoursAgo(1), assignedRegion: "CN-SH", scans, now });
      expect(warnings.map((w) => w.kind)).to.deep.equal(["opened", "out_of_region", "copied_code"]);
    });
  });

  // Issue 16, point 6: labels printed but never put on a produced bottle (leaked or stolen) are not genuine.
  it("a code without a production step is not_produced, whatever else its history holds, and outranks every other verdict", () => {
    // its buyer verified it 40 hours ago (after the sale 48 hours ago): scanned now, it is sold_before
    const clean = { openedAt: null, assignedRegion: "CN-SH", scans: [{ at: hoursAgo(40), place: null }], now };
    expect(warningsFor({ ...clean, steps: [] })).to.deep.equal([{ kind: "not_produced" }]);
    expect(verdictOf(warningsFor({ ...clean, steps: [] }))).to.equal("not_produced");
    const noProduction: StepFact[] = [
      { type: "warehouse_in", at: hoursAgo(80), party: null },
      { type: "store_receiving", at: hoursAgo(50), party: store("CN-SH") },
      { type: "retail_sale", at: hoursAgo(48), party: store("CN-SH") },
    ];
    const warnings = warningsFor({ ...clean, steps: noProduction, openedAt: hoursAgo(1) });
    expect(warnings.map((w) => w.kind)).to.deep.equal(["not_produced", "opened", "sold_before"]);
    expect(verdictOf(warnings)).to.equal("not_produced");
    // Produced: the other rules decide.
    const produced: StepFact[] = [{ type: "production", at: hoursAgo(100), party: null }, ...noProduction];
    expect(verdictOf(warningsFor({ ...clean, steps: produced }))).to.equal("warning");
    expect(verdictOf(warningsFor({ ...clean, steps: produced.slice(0, 3) }))).to.equal("genuine");
    expect(verdictOf([])).to.equal("genuine");
  });

  it("flags scans too far apart in too short a time as a copied code, not nearby or slow ones", () => {
    const near: ScanFact[] = [
      { at: hoursAgo(3), place: SHANGHAI },
      { at: hoursAgo(1), place: SUZHOU },
    ];
    expect(copiedCode(near)).to.equal(null);
    const slow: ScanFact[] = [
      { at: hoursAgo(60), place: SHANGHAI },
      { at: hoursAgo(1), place: URUMQI },
    ];
    expect(copiedCode(slow)).to.equal(null);
    const unplaced: ScanFact[] = [
      { at: hoursAgo(2), place: null },
      { at: hoursAgo(1), place: URUMQI },
    ];
    expect(copiedCode(unplaced)).to.equal(null);
    const copied = copiedCode([
      { at: hoursAgo(1), place: URUMQI },
      { at: hoursAgo(5), place: SHANGHAI },
      { at: hoursAgo(4), place: SUZHOU },
    ]);
    expect(copied).to.include({ kind: "copied_code", first: "上海", second: "乌鲁木齐", hours: 4 });
    expect(copied!.km).to.be.greaterThan(3000);
  });

  it("finds a copy exactly when some two scans are too far apart too soon (against the pairwise definition)", () => {
    const places = [SHANGHAI, SUZHOU, URUMQI, { name: "杭州", latitude: 30.27, longitude: 120.15 }, { name: "北京", latitude: 39.9, longitude: 116.4 }];
    const anyPair = (scans: ScanFact[]) =>
      scans.some((a, i) =>
        scans.some(
          (b, j) =>
            i !== j &&
            a.place?.latitude != null &&
            b.place?.latitude != null &&
            Math.abs(a.at.getTime() - b.at.getTime()) <= COPY_WINDOW_MS &&
            distanceKm(a.place as never, b.place as never) > COPY_DISTANCE_KM,
        ),
      );
    fc.assert(
      fc.property(
        fc.array(fc.record({ hours: fc.integer({ min: 0, max: 96 }), place: fc.option(fc.constantFrom(...places), { nil: null }) }), { maxLength: 30 }),
        (drawn) => {
          const scans: ScanFact[] = drawn.map((d) => ({ at: hoursAgo(d.hours), place: d.place }));
          const found = copiedCode(scans);
          expect(found !== null, JSON.stringify(drawn)).to.equal(anyPair(scans));
          if (found !== null) {
            expect(found.km).to.be.greaterThan(COPY_DISTANCE_KM);
            expect(found.hours * 3_600_000).to.be.at.most(COPY_WINDOW_MS);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("checks a flood of scans in linear time, not every pair of a week's scans", function () {
    this.timeout(10_000);
    // 30,000 scans within a day at places near each other (the bound on recorded scans is per hour,
    // so a week's page can carry thousands): every pair is within the window, none far apart.
    const near = [SHANGHAI, SUZHOU, { name: "杭州", latitude: 30.27, longitude: 120.15 }];
    const scans: ScanFact[] = Array.from({ length: 30_000 }, (_, i) => ({ at: new Date(now.getTime() - i * 2_000), place: near[i % near.length]! }));
    const started = performance.now();
    expect(copiedCode(scans)).to.equal(null);
    // Pairwise, this took about 450 million distances (over 10 s); linear, a few milliseconds.
    expect(performance.now() - started).to.be.below(1_000);
    // and a copy at the far end of the flood is still seen
    expect(copiedCode([...scans, { at: new Date(now.getTime() - 59_000_000), place: URUMQI }])).to.include({ kind: "copied_code" });
  });
});
