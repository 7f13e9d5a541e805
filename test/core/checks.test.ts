import { expect } from "chai";
import { checkBottle, type HistoryEvent, type PartyFact } from "../../service/core/checks.ts";
import type { GuidePrice } from "../../service/core/price.ts";
import type { EventType } from "../../service/core/vocabulary.ts";

const parties = new Map<string, PartyFact>([
  ["factory", { id: "factory", name: "茅台镇酒厂", kind: "factory", region: "GZ", authorised: true }],
  ["wh", { id: "wh", name: "贵阳仓", kind: "warehouse", region: "GZ", authorised: true }],
  ["dist-sh", { id: "dist-sh", name: "上海经销商", kind: "distributor", region: "SH", authorised: true }],
  ["store-sh", { id: "store-sh", name: "浦东店", kind: "store", region: "SH", authorised: true }],
  ["store-bj", { id: "store-bj", name: "王府井店", kind: "store", region: "BJ", authorised: true }],
  ["grey", { id: "grey", name: "无证商户", kind: "store", region: "SH", authorised: false }],
]);
const prices: GuidePrice[] = [
  { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1, region: null, validFrom: new Date("2026-01-01T00:00:00Z") },
  { amount: "1599.00", currency: "CNY", below: 0.05, above: 0.1, region: null, validFrom: new Date("2026-11-10T00:00:00Z") },
];
let id = 0;
const ev = (type: EventType, party: string | null, at: string, extra: Partial<HistoryEvent> = {}): HistoryEvent => ({
  eventId: ++id,
  type,
  party,
  to: null,
  at: new Date(at),
  price: null,
  ...extra,
});

function run(history: HistoryEvent[], region: string | null = null, fresh = history.map((e) => e.eventId)) {
  return checkBottle({ serial: "S1", region, history, fresh: new Set(fresh), divertedTo: new Set() }, parties, prices);
}

const shipped = () => [
  ev("production", "factory", "2026-11-01T00:00:00Z"),
  ev("warehouse_in", "wh", "2026-11-02T00:00:00Z"),
  ev("warehouse_out", "wh", "2026-11-03T00:00:00Z", { to: "dist-sh" }),
];

describe("core/checks", () => {
  it("an ordinary life raises nothing, and the first shipment to a distributor assigns the region", () => {
    const { alerts, assignedRegion } = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-12T00:00:00Z", { price: { amount: "1599.00", currency: "CNY" } }),
    ]);
    expect(alerts).to.deep.equal([]);
    expect(assignedRegion).to.equal("SH");
  });

  it("a store in another region raises one diversion naming the distributor and the path", () => {
    const { alerts } = run([
      ...shipped(),
      ev("store_receiving", "store-bj", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-bj", "2026-11-05T00:00:00Z", { price: { amount: "1499.00", currency: "CNY" } }),
    ]);
    expect(alerts.map((a) => a.kind)).to.deep.equal(["diversion"]);
    expect(alerts[0]!.details).to.deep.include({ assigned: "SH", found: "BJ", store: "store-bj", responsible: "dist-sh", responsibleName: "上海经销商" });
    expect((alerts[0]!.details.path as { party: string }[]).map((p) => p.party)).to.deep.equal(["factory", "wh", "dist-sh", "store-bj"]);
  });

  it("prices a sale with the guide price in force at the sale's time", () => {
    const cheap = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-05T00:00:00Z", { price: { amount: "1199.20", currency: "CNY" } }),
    ]);
    expect(cheap.alerts.map((a) => a.kind)).to.deep.equal(["price_below"]);
    expect(cheap.alerts[0]!.details).to.deep.include({ deviation: -0.2, band: { min: "1424.05", max: "1648.90" } });
    // 1499 is within the old band but under the new one (from 11-10)
    const early = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-09T00:00:00Z", { price: { amount: "1499.00", currency: "CNY" } }),
    ]);
    expect(early.alerts).to.deep.equal([]);
    const late = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-11T00:00:00Z", { price: { amount: "1499.00", currency: "CNY" } }),
    ]);
    expect(late.alerts.map((a) => a.kind)).to.deep.equal(["price_below"]);
    const dear = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-11T00:00:00Z", { price: { amount: "2000.00", currency: "CNY" } }),
    ]);
    expect(dear.alerts.map((a) => a.kind)).to.deep.equal(["price_above"]);
  });

  it("raises each lifecycle anomaly", () => {
    const twice = run([
      ...shipped(),
      ev("store_receiving", "store-sh", "2026-11-04T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-12T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-13T00:00:00Z"),
    ]);
    expect(twice.alerts.map((a) => a.kind)).to.deep.equal(["sold_twice"]);
    const unreceived = run([...shipped(), ev("retail_sale", "store-sh", "2026-11-12T00:00:00Z")]);
    expect(unreceived.alerts.map((a) => a.kind)).to.deep.equal(["sold_without_receiving"]);
    const opened = run([
      ...shipped(),
      ev("opened", null, "2026-11-04T00:00:00Z"),
      ev("store_receiving", "store-sh", "2026-11-05T00:00:00Z"),
      ev("retail_sale", "store-sh", "2026-11-12T00:00:00Z"),
    ]);
    expect(opened.alerts.map((a) => a.kind)).to.deep.equal(["received_after_opened", "sold_after_opened"]);
    const grey = run([...shipped(), ev("store_receiving", "grey", "2026-11-05T00:00:00Z")]);
    expect(grey.alerts.map((a) => a.kind)).to.deep.equal(["unauthorised_receiver"]);
  });

  it("only raises alerts for the events just ingested", () => {
    const history = [...shipped(), ev("store_receiving", "store-bj", "2026-11-04T00:00:00Z")];
    expect(run(history, null, []).alerts).to.deep.equal([]);
    expect(run(history, "GZ", [history.at(-1)!.eventId]).alerts.map((a) => a.kind)).to.deep.equal(["diversion"]);
  });
});
