import { createHash } from "node:crypto";
import { expect } from "chai";
import { canonicalJson } from "../../service/core/hash.ts";
import { correctionId, planCapture, type CaptureInput, type Contents, type KnownEvent } from "../../service/core/capture-plan.ts";
import { epcisFacts, type EpcisEvent } from "../../service/core/epcis.ts";
import { canonicalId } from "../../service/core/gs1-ids.ts";
import { productionFirst } from "../../service/core/production.ts";

const now = new Date("2026-12-02T06:00:00Z");
const BOTTLE = "urn:epc:id:sgtin:0614141.107346.2017";
const OTHER = "urn:epc:id:sgtin:0614141.107346.2018";
const CASE = "urn:epc:id:sscc:0614141.1234567890";
const WINERY = "urn:epc:id:sgln:0614141.07346.0";

function event(id: string, bizStep: string, extra: Record<string, unknown> = {}): EpcisEvent {
  return {
    type: "ObjectEvent",
    eventID: id,
    action: "OBSERVE",
    eventTime: "2026-12-01T06:00:00Z",
    eventTimeZoneOffset: "+08:00",
    epcList: [BOTTLE],
    bizStep,
    bizLocation: { id: WINERY },
    ...extra,
  };
}

/** A plan of `events` for brand "chateau", whose winery is registered and whose bottles 2017 and 2018 are minted. */
function plan(events: EpcisEvent[], over: Partial<CaptureInput> = {}) {
  let salts = 0;
  return planCapture({
    brand: "chateau",
    events,
    facts: events.map((e) => epcisFacts(e, new Map())),
    ids: events.map((e) => ({ id: e.eventID as string, hashed: false })),
    context: null,
    known: [],
    parties: [{ id: "winery", kind: "winery", gln: "0614141073467", gln_ext: null }],
    contents: new Map(),
    bottleOf: new Map([
      [canonicalId(BOTTLE), "2017"],
      [canonicalId(OTHER), "2018"],
    ]),
    heads: [
      { serial: "2017", state: "minted" },
      { serial: "2018", state: "minted" },
    ],
    reservedPrefix: "store:",
    now,
    salt: () => `salt${++salts}`,
    ...over,
  });
}

describe("core/production: a bottle's first event is its production", () => {
  it("lets only a production event name a bottle still minted, then any event", () => {
    const rule = productionFirst([
      { serial: "a", state: "minted" },
      { serial: "b", state: "warehouse_in" },
    ]);
    expect(rule.waiting("warehouse_out", ["a", "b"])).to.deep.equal(["a"]);
    expect(rule.waiting("production", ["a", "b"])).to.deep.equal([]);
    expect(rule.waiting(null, ["a"])).to.deep.equal(["a"]);
    rule.accept("warehouse_out", ["a"]);
    expect(rule.waiting("warehouse_out", ["a"]), "only a production event produces").to.deep.equal(["a"]);
    rule.accept("production", ["a"]);
    expect(rule.waiting("warehouse_out", ["a", "b"])).to.deep.equal([]);
  });
});

describe("core/capture-plan: what an EPCIS capture stores", () => {
  it("joins a bottle's history only after its commissioning, which may come earlier in the same document", () => {
    const shipFirst = plan([event("e1", "receiving")]);
    expect(shipFirst.events).to.deep.equal([]);
    expect(shipFirst.errors).to.deep.equal([{ index: 0, eventID: "e1", field: "epcList", reason: "bottle 2017 has not been commissioned yet" }]);

    const inOrder = plan([event("e1", "commissioning"), event("e2", "receiving")]);
    expect(inOrder.errors).to.deep.equal([]);
    expect(inOrder.events.map((e) => [e.canonical.type, e.canonical.codes, e.party])).to.deep.equal([
      ["production", ["2017"], "winery"],
      ["warehouse_in", ["2017"], "winery"],
    ]);
    expect(inOrder.events.map((e) => e.canonical.salt)).to.deep.equal(["salt1", "salt2"]);
    expect(inOrder.receivedAt).to.equal(now.toISOString());

    const produced = plan([event("e2", "receiving")], { heads: [{ serial: "2017", state: "production" }] });
    expect(produced.errors).to.deep.equal([]);
    expect(produced.events).to.have.length(1);
  });

  it("keeps an event at an unregistered location out of bottle histories (stored as a plain EPCIS event)", () => {
    const p = plan([event("e1", "receiving")], { parties: [] });
    expect(p.errors).to.deep.equal([]);
    expect(p.events.map((e) => [e.canonical.type, e.canonical.codes, e.party])).to.deep.equal([["epcis", [], null]]);
  });

  it("counts a repeated event as a duplicate, a different event under a stored id as a conflict", () => {
    const stored = event("e1", "commissioning");
    const known: KnownEvent[] = [{ epcis_id: "e1", corrects: null, declaration: null, body: stored as never }];
    const same = plan([{ ...stored }], { known });
    expect([same.duplicates, same.events.length, same.conflicts.length]).to.deep.equal([1, 0, 0]);
    const other = plan([{ ...stored, eventTime: "2026-12-01T07:00:00Z" }], { known });
    expect(other.conflicts).to.deep.equal([
      { index: 0, id: "e1", field: "eventID", message: "already names a different EPCIS event; send a new eventID for a new event" },
    ]);
    const twice = plan([event("e1", "commissioning"), event("e1", "commissioning")]);
    expect([twice.duplicates, twice.events.length]).to.deep.equal([1, 1]);
  });

  it("stores an error declaration as a correction under a stable id, once", () => {
    const declaration = { declarationTime: "2026-12-01T08:00:00Z", reason: "incorrect_data" };
    const id = correctionId("e1", declaration);
    // The id the service always gave (node:crypto's SHA-256 of the declaration's canonical JSON).
    expect(id).to.equal(`e1#correction:${createHash("sha256").update(canonicalJson(declaration)).digest("hex").slice(0, 32)}`);
    const known: KnownEvent[] = [{ epcis_id: "e1", corrects: null, declaration: null, body: {} }];
    const p = plan([event("e1", "commissioning", { errorDeclaration: declaration })], { known });
    expect(p.events.map((e) => [e.brandEventId, e.corrects, e.canonical.corrects, e.canonical.codes])).to.deep.equal([[id, "e1", "e1", []]]);
    const again = plan([event("e1", "commissioning", { errorDeclaration: declaration })], {
      known: [...known, { epcis_id: "e1", corrects: 7, declaration, body: {} }],
    });
    expect([again.duplicates, again.events.length]).to.deep.equal([1, 0]);
  });

  it("refuses reserved ids and events dated in the future, event by event", () => {
    const p = plan([event("store:x", "commissioning"), event("e2", "commissioning", { eventTime: "2026-12-03T06:00:00Z" }), event("e3", "commissioning")]);
    expect(p.errors.map((e) => [e.index, e.field])).to.deep.equal([
      [0, "eventID"],
      [1, "eventTime"],
    ]);
    expect(p.events.map((e) => e.eventID)).to.deep.equal(["e3"]);
  });

  it("follows what is packed in what: a case's bottles share its events; the changed contents come back whole", () => {
    const loaded: Contents = new Map([[canonicalId(CASE), new Map([[canonicalId(OTHER), 41]])]]);
    const pack = {
      type: "AggregationEvent",
      eventID: "p1",
      action: "ADD",
      eventTime: "2026-12-01T06:00:00Z",
      eventTimeZoneOffset: "+08:00",
      parentID: CASE,
      childEPCs: [BOTTLE],
      bizStep: "packing",
      bizLocation: { id: WINERY },
    };
    const ship = event("s1", "receiving", { epcList: [CASE] });
    const p = plan([pack, ship], {
      contents: loaded,
      heads: [
        { serial: "2017", state: "production" },
        { serial: "2018", state: "production" },
      ],
    });
    expect(p.errors).to.deep.equal([]);
    expect(p.events[0]!.canonical.codes, "packing: the bottle packed").to.deep.equal(["2017"]);
    expect(p.events[1]!.canonical.codes, "the case's event: every bottle in it").to.have.members(["2017", "2018"]);
    expect([...p.contents.get(canonicalId(CASE))!]).to.deep.equal([
      [canonicalId(OTHER), 41],
      [canonicalId(BOTTLE), -1],
    ]);
    expect([...loaded.get(canonicalId(CASE))!], "the loaded contents are left as they were").to.deep.equal([[canonicalId(OTHER), 41]]);
  });
});
