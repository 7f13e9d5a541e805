import { expect } from "chai";
import { checkBottle, type HistoryEvent, type PartyFact } from "../../service/core/checks.ts";
import { epcisFacts, lifecycleStep } from "../../service/core/epcis.ts";
import {
  ALERT_KINDS,
  ALL_EVENT_TYPES,
  BRAND_EVENT_TYPES,
  labels,
  SEALTRACE_EVENT_TYPES,
  STORE_EVENT_TYPES,
  WEBHOOK_EVENT_TYPES,
  type EventType,
} from "../../service/core/vocabulary.ts";
import { eventProblems } from "../../service/ingest/schema.ts";
import { STEP_LABELS } from "../../service/verify/step-labels.ts";

// The rules that used to be written as string lists in each feature, now derived from one vocabulary:
// these pin them to what they were, word for word.
describe("the domain vocabulary", () => {
  it("lists the brand's, the stores' and SealTrace's own event types as before", () => {
    expect(BRAND_EVENT_TYPES).to.deep.equal(["production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale", "opened"]);
    expect(STORE_EVENT_TYPES).to.deep.equal(["store_receiving", "retail_sale"]);
    // issue 20 added a buyer's claim of the bottle as a member, and its two outgoing webhook types
    expect(SEALTRACE_EVENT_TYPES).to.deep.equal(["consumer_scan", "epcis", "claimed"]);
    expect(ALL_EVENT_TYPES).to.have.length(9);
    expect(WEBHOOK_EVENT_TYPES).to.deep.equal([...ALERT_KINDS, "batch.anchored", "member.joined", "bottle.claimed"]);
  });

  it("labels every event type in both languages", () => {
    for (const type of ALL_EVENT_TYPES) {
      expect(STEP_LABELS.zh[type], type).to.be.a("string").and.not.equal("");
      expect(STEP_LABELS.en[type], type).to.be.a("string").and.not.equal("");
    }
    expect(STEP_LABELS.en["teleported"]).to.equal(undefined); // a type from the database that is none of ours: the caller shows it raw
    expect(labels<"a" | "b">({ a: "A", b: "B" }).b).to.equal("B");
  });

  it("keeps the ingest rules per type, with the same messages", () => {
    const base = { id: "e1", codes: ["C1"], occurredAt: "2026-11-14T09:00:00+08:00", party: "p" };
    const messages = (event: object) => eventProblems(event, 0).map((p) => `${p.field}: ${p.message}`);
    expect(messages({ ...base, type: "warehouse_out" })).to.deep.equal(["to: a warehouse_out event must name the party it ships to"]);
    expect(messages({ ...base, type: "warehouse_out", to: "q" })).to.deep.equal([]);
    expect(messages({ ...base, type: "warehouse_in", to: "q" })).to.deep.equal(["to: only a warehouse_out event has a destination"]);
    expect(messages({ ...base, type: "opened", price: { amount: "1.00", currency: "CNY" } })).to.deep.equal(["price: only a retail_sale event has a price"]);
    expect(messages({ ...base, type: "retail_sale", price: { amount: "1.00", currency: "CNY" } })).to.deep.equal([]);
    expect(messages({ ...base, type: "consumer_scan" })).to.deep.equal([
      "type: must be one of production, warehouse_in, warehouse_out, store_receiving, retail_sale, opened",
    ]);
  });

  it("maps EPCIS bizSteps to the same lifecycle steps", () => {
    const step = (bizStep: string, kind: string | null) =>
      lifecycleStep(epcisFacts({ type: "ObjectEvent", eventTime: "2026-11-14T09:00:00Z", action: "OBSERVE", bizStep }), kind);
    expect(step("commissioning", "factory")).to.equal("production");
    expect(step("shipping", "warehouse")).to.equal("warehouse_out");
    expect(step("receiving", "store")).to.equal("store_receiving");
    expect(step("receiving", "warehouse")).to.equal("warehouse_in");
    expect(step("receiving", null)).to.equal("warehouse_in");
    expect(step("retail_selling", "store")).to.equal("retail_sale");
    expect(step("storing", "warehouse")).to.equal(null);
  });

  it("hands the bottle to the party, or to the destination of a shipment, as before", () => {
    const parties = new Map<string, PartyFact>([
      ["wh", { id: "wh", name: "WH", kind: "warehouse", region: "GZ", authorised: true }],
      ["rogue", { id: "rogue", name: "Rogue", kind: "distributor", region: "GZ", authorised: false }],
    ]);
    let id = 0;
    const ev = (type: EventType, party: string | null, to: string | null = null): HistoryEvent => ({
      eventId: ++id,
      type,
      party,
      to,
      at: new Date(Date.UTC(2026, 0, 1, id)),
      price: null,
    });
    const raisedFor = (history: HistoryEvent[]) =>
      checkBottle({ serial: "S", region: null, history, fresh: new Set(history.map((e) => e.eventId)), divertedTo: new Set() }, parties, [])
        .alerts.filter((a) => a.kind === "unauthorised_receiver")
        .map((a) => history.find((e) => e.eventId === a.eventId)!.type);
    // the holder after each type: warehouse_in → its party; warehouse_out → its destination; store_receiving → its party
    expect(raisedFor([ev("warehouse_in", "rogue")])).to.deep.equal(["warehouse_in"]);
    expect(raisedFor([ev("warehouse_out", "wh", "rogue")])).to.deep.equal(["warehouse_out"]);
    expect(raisedFor([ev("store_receiving", "rogue")])).to.deep.equal(["store_receiving"]);
    // production never raises it; the others hand the bottle to nobody new
    expect(raisedFor([ev("production", "rogue"), ev("retail_sale", "rogue"), ev("opened", "rogue"), ev("epcis", "rogue")])).to.deep.equal([]);
  });
});
