import { expect } from "chai";
import { copiedCode, distanceKm, warningsFor, type ScanFact, type StepFact } from "../../service/core/warnings.ts";

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
      { type: "store_receiving", at: hoursAgo(80), party: store("CN-BJ") },
      { type: "retail_sale", at: hoursAgo(30), party: store("CN-BJ") },
    ];
    const warnings = warningsFor({ steps, openedAt: hoursAgo(20), assignedRegion: "CN-SH", scans: [], now });
    expect(warnings.map((w) => w.kind)).to.deep.equal(["opened", "sold_before", "out_of_region"]);
    expect(warnings[2]).to.deep.include({ assigned: "CN-SH", found: "CN-BJ" });
    const twice = warningsFor({ steps: [...steps, { type: "retail_sale", at: hoursAgo(1), party: store("CN-BJ") }], openedAt: null, assignedRegion: null, scans: [], now });
    expect(twice).to.deep.equal([{ kind: "sold_before", at: hoursAgo(1), store: "门店 CN-BJ", times: 2 }]);
  });

  it("flags scans too far apart in too short a time as a copied code, not nearby or slow ones", () => {
    const near: ScanFact[] = [{ at: hoursAgo(3), place: SHANGHAI }, { at: hoursAgo(1), place: SUZHOU }];
    expect(copiedCode(near)).to.equal(null);
    const slow: ScanFact[] = [{ at: hoursAgo(60), place: SHANGHAI }, { at: hoursAgo(1), place: URUMQI }];
    expect(copiedCode(slow)).to.equal(null);
    const unplaced: ScanFact[] = [{ at: hoursAgo(2), place: null }, { at: hoursAgo(1), place: URUMQI }];
    expect(copiedCode(unplaced)).to.equal(null);
    const copied = copiedCode([{ at: hoursAgo(1), place: URUMQI }, { at: hoursAgo(5), place: SHANGHAI }, { at: hoursAgo(4), place: SUZHOU }]);
    expect(copied).to.include({ kind: "copied_code", first: "上海", second: "乌鲁木齐", hours: 4 });
    expect(copied!.km).to.be.greaterThan(3000);
  });
});
