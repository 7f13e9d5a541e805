import { expect } from "chai";
import type { EventType } from "../../service/core/vocabulary.ts";
import {
  custodyRefusal,
  DEFAULT_STORE_POLICY,
  futureRefusal,
  MAX_CLOCK_SKEW_MS,
  storeTimeRefusal,
  type CustodyStep,
  type StoreActor,
} from "../../service/core/custody.ts";

const HOUR = 3_600_000;
const now = new Date("2026-12-02T06:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);
const pudong: StoreActor = { party: "store-pudong", region: "CN-SH" };
const step = (type: EventType, extra: Partial<CustodyStep> = {}): CustodyStep => ({
  type,
  party: null,
  to: null,
  toKind: null,
  toRegion: null,
  at: ago(HOUR),
  ...extra,
});
const toDistributor = step("warehouse_out", { party: "wh", to: "dist-shanghai", toKind: "distributor", toRegion: "CN-SH" });

describe("core/custody: what a store key may write", () => {
  it("receives only a bottle shipped to the store or to a non-store party of its region", () => {
    expect(custodyRefusal("store_receiving", toDistributor, pudong, DEFAULT_STORE_POLICY)).to.equal(null);
    expect(
      custodyRefusal("store_receiving", step("warehouse_out", { to: "store-pudong", toKind: "store", toRegion: "CN-SH" }), pudong, DEFAULT_STORE_POLICY),
    ).to.equal(null);
    expect(
      custodyRefusal("store_receiving", step("warehouse_out", { to: "store-xuhui", toKind: "store", toRegion: "CN-SH" }), pudong, DEFAULT_STORE_POLICY),
    ).to.match(/not to this store/);
    expect(custodyRefusal("store_receiving", { ...toDistributor, toRegion: "CN-GZ" }, pudong, DEFAULT_STORE_POLICY)).to.match(/in region CN-GZ/);
    expect(custodyRefusal("store_receiving", null, pudong, DEFAULT_STORE_POLICY)).to.match(/has not been shipped/);
    expect(custodyRefusal("store_receiving", step("warehouse_in"), pudong, DEFAULT_STORE_POLICY)).to.match(/has not been shipped/);
    expect(custodyRefusal("store_receiving", step("store_receiving", { party: "store-xuhui" }), pudong, DEFAULT_STORE_POLICY)).to.match(
      /held by another store/,
    );
    expect(custodyRefusal("store_receiving", step("store_receiving", { party: "store-pudong" }), pudong, DEFAULT_STORE_POLICY)).to.match(
      /already received by this store/,
    );
    expect(custodyRefusal("store_receiving", step("retail_sale"), pudong, DEFAULT_STORE_POLICY)).to.match(/already sold/);
    expect(custodyRefusal("store_receiving", step("opened"), pudong, DEFAULT_STORE_POLICY)).to.match(/was opened/);
  });

  it("sells only what it received, or (storeSellsUnreceived) what it could receive; never another store's", () => {
    const loose = { ...DEFAULT_STORE_POLICY, storeSellsUnreceived: true };
    expect(custodyRefusal("retail_sale", step("store_receiving", { party: "store-pudong" }), pudong, DEFAULT_STORE_POLICY)).to.equal(null);
    expect(custodyRefusal("retail_sale", toDistributor, pudong, DEFAULT_STORE_POLICY)).to.match(/record its store_receiving first/);
    expect(custodyRefusal("retail_sale", toDistributor, pudong, loose)).to.equal(null);
    for (const policy of [DEFAULT_STORE_POLICY, loose]) {
      expect(custodyRefusal("retail_sale", step("store_receiving", { party: "store-xuhui" }), pudong, policy)).to.match(/held by another store/);
      expect(custodyRefusal("retail_sale", { ...toDistributor, toRegion: "CN-GZ" }, pudong, policy)).to.match(/in region CN-GZ/);
      expect(custodyRefusal("retail_sale", step("retail_sale"), pudong, policy)).to.match(/already sold/);
    }
  });

  it("times: never beyond the clock skew ahead; a store's within its window and not before the previous step", () => {
    expect(futureRefusal(new Date(now.getTime() + MAX_CLOCK_SKEW_MS), now)).to.equal(null);
    expect(futureRefusal(new Date(now.getTime() + MAX_CLOCK_SKEW_MS + 1), now)).to.match(/lies in the future/);
    const policy = DEFAULT_STORE_POLICY;
    expect(storeTimeRefusal(ago(72 * HOUR), now, policy, null)).to.equal(null);
    expect(storeTimeRefusal(ago(72 * HOUR + 1), now, policy, null)).to.match(/more than 72 hours before/);
    expect(storeTimeRefusal(ago(2 * HOUR), now, { ...policy, storeBackdateHours: 1 }, null)).to.match(/more than 1 hours before/);
    expect(storeTimeRefusal(ago(2 * HOUR), now, policy, step("store_receiving", { at: ago(HOUR) }))).to.match(/before the bottle's previous step/);
    expect(storeTimeRefusal(ago(HOUR), now, policy, step("store_receiving", { at: ago(HOUR) }))).to.equal(null);
    expect(storeTimeRefusal(new Date(now.getTime() + HOUR), now, policy, null)).to.match(/lies in the future/);
  });
});
