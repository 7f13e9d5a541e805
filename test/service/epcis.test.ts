/**
 * EPCIS 2.0 capture and query against the real PostgreSQL, Redis and a local chain: GS1's own
 * example documents (read in place from ../shared/conformance/epcis/), a baijiu flow written as
 * EPCIS compared with the same flow posted as webhooks, rollback/proceed, and the anchor extension.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { Contract, JsonRpcProvider } from "ethers";
import { batchRoot, epcisDigest } from "../../service/core/commitments.ts";
import type { Json } from "../../service/core/hash.ts";
import { eventHash, leafOf, linkHash } from "../../service/core/links.ts";
import { processProof } from "../../service/core/merkle.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { gs1CheckDigit } from "../../service/core/gtin.ts";
import { ANCHOR_REGISTRY_ABI } from "../../service/core/registry-abi.ts";
import { signWebhook } from "../../service/ingest/signature.ts";
import { loadConfig } from "../../service/config.ts";
import { createLogger } from "../../service/log.ts";
import { startRuntime } from "../../service/runtime.ts";
import { deployTestRegistry, devKey, httpClient, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

const CONFORMANCE = fileURLToPath(new URL("../../../shared/conformance/epcis/", import.meta.url));
// GS1's examples are read in place; a clone without ../shared skips the tests that need them.
const HAVE_EXAMPLES = existsSync(CONFORMANCE);
if (!HAVE_EXAMPLES) console.log(`  (GS1's EPCIS examples not found at ${CONFORMANCE}: the tests that capture them are skipped)`);
const EXAMPLES = HAVE_EXAMPLES
  ? readdirSync(CONFORMANCE)
      .filter((f) => f.endsWith(".jsonld"))
      .sort()
  : [];
/** `it` for a test that reads GS1's examples: skipped without them. */
const itWithExamples = HAVE_EXAMPLES ? it : it.skip;
const example = (file: string) =>
  JSON.parse(readFileSync(`${CONFORMANCE}${file}`, "utf8")) as { "@context": unknown; epcisBody: { eventList: Record<string, unknown>[] } };
const CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", { sealtrace: "https://ns.sealtrace.dev/epcis/" }];

/** A GLN-13 with its check digit, from 12 digits. */
const gln = (digits12: string) => digits12 + gs1CheckDigit(digits12);
const GLN = {
  factory: gln("690123400001"),
  warehouse: gln("690123400002"),
  distributor: gln("690123400003"),
  store: gln("690123400004"),
  storeBj: gln("690123400005"),
};
const sgln = (g: string) => `urn:epc:id:sgln:${g.slice(0, 7)}.${g.slice(7, 12)}.0`;
const SSCC_URN = "urn:epc:id:sscc:6901234.0000000001";
const SSCC_DL = (() => {
  const body = "0" + "6901234" + "000000001";
  return `https://id.gs1.org/00/${body}${gs1CheckDigit(body)}`;
})();

function documentOf(events: Record<string, unknown>[]) {
  return { "@context": CONTEXT, type: "EPCISDocument", schemaVersion: "2.0", creationDate: new Date().toISOString(), epcisBody: { eventList: events } };
}

describe("EPCIS 2.0 capture and query", function () {
  this.timeout(180_000);
  let env: ChainStack;

  before(async () => {
    env = await startChainStack({ keyIndex: 18 });
  });
  after(async () => {
    await env?.stop();
  });

  const capture = (brand: BrandFixture, document: unknown, headers: Record<string, string> = {}) =>
    env.stack.request("POST", `/epcis/${brand.slug}/capture`, {
      token: brand.apiKey,
      body: document,
      headers: { "content-type": "application/ld+json", ...headers },
    });
  const query = (brand: BrandFixture, params = "") => env.stack.request("GET", `/epcis/${brand.slug}/events${params}`, { token: brand.apiKey });
  const stripAnchor = (event: Record<string, unknown>) => Object.fromEntries(Object.entries(event).filter(([key]) => key !== "sealtrace:anchor"));
  const count = async (table: string, brand: BrandFixture) =>
    Number((await env.db.query(`SELECT count(*) FROM ${table} WHERE brand_id = (SELECT id FROM brands WHERE slug = $1)`, [brand.slug])).rows[0].count);

  async function brandWithGlns(codes = 3): Promise<BrandFixture> {
    const brand = await env.stack.createBrand({ codes });
    const put = async (path: string, body: unknown) => {
      const r = await env.stack.request("PUT", path, { token: brand.apiKey, body });
      expect(r.status, `${path} ${JSON.stringify(r.body)}`).to.equal(200);
    };
    await put("/api/v1/regions/CN-BJ", { name: "北京" });
    await put("/api/v1/parties/factory-zunyi", { kind: "factory", name: "茅台镇酒厂", region: "CN-GZ", gln: GLN.factory });
    await put("/api/v1/parties/wh-guiyang", { kind: "warehouse", name: "贵阳仓", region: "CN-GZ", gln: sgln(GLN.warehouse) });
    await put("/api/v1/parties/dist-shanghai", { kind: "distributor", name: "上海经销商", region: "CN-SH", gln: `https://id.gs1.org/414/${GLN.distributor}` });
    await put("/api/v1/parties/store-pudong", { kind: "store", name: "浦东专卖店", region: "CN-SH", gln: GLN.store });
    await put("/api/v1/parties/store-bj", { kind: "store", name: "北京王府井店", region: "CN-BJ", gln: GLN.storeBj });
    const guide = await env.stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, {
      token: brand.apiKey,
      body: { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1, validFrom: new Date(Date.now() - 30 * 86_400_000).toISOString() },
    });
    expect(guide.status, JSON.stringify(guide.body)).to.equal(201);
    return brand;
  }

  describe("GS1's example documents", () => {
    for (const file of EXAMPLES) {
      it(`${file}: captured, and every event comes back unchanged`, async () => {
        const brand = await env.stack.createBrand({ codes: 0 });
        const document = example(file);
        const r = await capture(brand, document);
        expect(r.status, JSON.stringify(r.body)).to.equal(202);
        expect(r.headers.get("location")).to.equal(`/epcis/${brand.slug}/capture/${r.body.captureID}`);
        expect(r.headers.get("gs1-epcis-capture-limit")).to.equal("1000");
        expect(Number(r.headers.get("gs1-epcis-capture-file-size-limit"))).to.be.greaterThan(0);
        const job = await env.stack.request("GET", r.headers.get("location")!, { token: brand.apiKey });
        expect(job.status).to.equal(200);
        expect(job.body).to.include({
          success: true,
          running: false,
          captureErrorBehaviour: "rollback",
          stored: document.epcisBody.eventList.length,
          duplicates: 0,
        });
        expect(job.body.errors).to.deep.equal([]);

        const all = await query(brand);
        expect(all.status).to.equal(200);
        expect(all.body.type).to.equal("EPCISQueryDocument");
        const returned = all.body.epcisBody.queryResults.resultsBody.eventList as Record<string, unknown>[];
        expect(returned.map(stripAnchor)).to.deep.equal(document.epcisBody.eventList);
        for (const event of document.epcisBody.eventList) {
          const one = await query(brand, `/${encodeURIComponent(event.eventID as string)}`);
          expect(one.status, String(event.eventID)).to.equal(200);
          expect(stripAnchor(one.body.epcisBody.queryResults.resultsBody.eventList[0])).to.deep.equal(event);
        }
        // the documents' own namespace prefixes come back, so extension fields still resolve
        expect(JSON.stringify(all.body["@context"])).to.include("sealtrace");
        for (const entry of ((document["@context"] as unknown[] | undefined) ?? []).filter((c) => typeof c === "object")) {
          for (const prefix of Object.keys(entry as object)) expect(all.body["@context"][1]).to.have.property(prefix);
        }
      });
    }

    itWithExamples("a document captured again is all duplicates, and URN and Digital Link spellings of one item match the same events", async () => {
      const brand = await env.stack.createBrand({ codes: 0 });
      expect((await capture(brand, example("Example_9.6.1-ObjectEvent.jsonld"))).body.stored).to.equal(2);
      const again = await capture(brand, example("Example_9.6.1-ObjectEvent.jsonld"));
      expect(again.body).to.include({ success: true, stored: 0, duplicates: 2 });
      expect(await count("epcis_events", brand)).to.equal(2);
      // the Digital Link variant names other items (GTIN 70614141123451), so its events are new ones
      expect((await capture(brand, example("Example_9.6.1-ObjectEventWithDigitalLink.jsonld"))).body).to.include({ stored: 2, duplicates: 0 });
      const urn = await query(brand, `?MATCH_epc=${encodeURIComponent("urn:epc:id:sgtin:0614141.107346.2018")}`);
      const dl = await query(brand, `?MATCH_epc=${encodeURIComponent("https://example.com/01/10614141073464/21/2018")}`);
      expect(urn.body.epcisBody.queryResults.resultsBody.eventList).to.have.length(2);
      expect(dl.body.epcisBody.queryResults.resultsBody.eventList.map(stripAnchor)).to.deep.equal(
        urn.body.epcisBody.queryResults.resultsBody.eventList.map(stripAnchor),
      );
    });
  });

  describe("the baijiu flow as EPCIS", () => {
    it("gives the same bottle histories and alerts as the same flow posted as webhooks, and every proof verifies", async () => {
      const [viaEpcis, viaWebhook] = [await brandWithGlns(3), await brandWithGlns(3)];
      const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3_600_000).toISOString();
      const dl = (i: number) => `https://qr.brand.example/01/${viaEpcis.gtin}/21/${viaEpcis.codes[i]!.serial}`;
      const urn = (i: number) => `urn:epc:id:sgtin:${viaEpcis.gtin.slice(1, 8)}.${viaEpcis.gtin[0]}${viaEpcis.gtin.slice(8, 13)}.${viaEpcis.codes[i]!.serial}`;
      const where = (g: string) => ({ readPoint: { id: sgln(g) }, bizLocation: { id: sgln(g) } });
      const sale = (i: number, g: string, amount: string, hoursAgo: number) => ({
        type: "ObjectEvent",
        eventTime: at(hoursAgo),
        eventTimeZoneOffset: "+08:00",
        epcList: [dl(i)],
        action: "OBSERVE",
        bizStep: "retail_selling",
        ...where(g),
        "sealtrace:price": { amount, currency: "CNY" },
      });
      const flow = [
        {
          type: "ObjectEvent",
          eventTime: at(200),
          eventTimeZoneOffset: "+08:00",
          epcList: [dl(0), dl(1), dl(2)],
          action: "ADD",
          bizStep: "commissioning",
          disposition: "active",
          ...where(GLN.factory),
        },
        {
          type: "AggregationEvent",
          eventTime: at(199),
          eventTimeZoneOffset: "+08:00",
          parentID: SSCC_URN,
          childEPCs: [urn(0), urn(1)],
          action: "ADD",
          bizStep: "packing",
          ...where(GLN.factory),
        },
        {
          type: "ObjectEvent",
          eventTime: at(150),
          eventTimeZoneOffset: "+08:00",
          epcList: [SSCC_URN, dl(2)],
          action: "OBSERVE",
          bizStep: "receiving",
          ...where(GLN.warehouse),
        },
        {
          type: "ObjectEvent",
          eventTime: at(120),
          eventTimeZoneOffset: "+08:00",
          epcList: [SSCC_URN, dl(2)],
          action: "OBSERVE",
          bizStep: "shipping",
          ...where(GLN.warehouse),
          bizTransactionList: [{ type: "po", bizTransaction: "urn:epcglobal:cbv:bt:6901234000017:PO-2026-118" }],
          destinationList: [
            { type: "owning_party", destination: `urn:epc:id:pgln:${GLN.distributor.slice(0, 7)}.${GLN.distributor.slice(7, 12)}` },
            { type: "location", destination: sgln(GLN.distributor) },
          ],
        },
        {
          type: "ObjectEvent",
          eventTime: at(72),
          eventTimeZoneOffset: "+08:00",
          epcList: [SSCC_DL],
          action: "OBSERVE",
          bizStep: "receiving",
          ...where(GLN.store),
        },
        {
          type: "ObjectEvent",
          eventTime: at(71),
          eventTimeZoneOffset: "+08:00",
          epcList: [urn(2)],
          action: "OBSERVE",
          bizStep: "receiving",
          ...where(GLN.storeBj),
        },
        {
          type: "AggregationEvent",
          eventTime: at(70),
          eventTimeZoneOffset: "+08:00",
          parentID: SSCC_DL,
          action: "DELETE",
          bizStep: "unpacking",
          ...where(GLN.store),
        },
        sale(0, GLN.store, "1499.00", 3),
        sale(1, GLN.store, "999.00", 2),
        sale(2, GLN.storeBj, "1499.00", 1),
      ];
      const r = await capture(viaEpcis, documentOf(flow));
      expect(r.status, JSON.stringify(r.body)).to.equal(202);
      expect(r.body).to.include({ success: true, stored: flow.length });

      const s = (brand: BrandFixture, i: number) => brand.codes[i]!.serial;
      const native = [
        { id: "prod", type: "production", codes: [0, 1, 2], occurredAt: at(200), party: "factory-zunyi" },
        { id: "whin", type: "warehouse_in", codes: [0, 1, 2], occurredAt: at(150), party: "wh-guiyang" },
        { id: "whout", type: "warehouse_out", codes: [0, 1, 2], occurredAt: at(120), party: "wh-guiyang", to: "dist-shanghai" },
        { id: "recv", type: "store_receiving", codes: [0, 1], occurredAt: at(72), party: "store-pudong" },
        { id: "recv-bj", type: "store_receiving", codes: [2], occurredAt: at(71), party: "store-bj" },
        { id: "sale-0", type: "retail_sale", codes: [0], occurredAt: at(3), party: "store-pudong", price: { amount: "1499.00", currency: "CNY" } },
        { id: "sale-1", type: "retail_sale", codes: [1], occurredAt: at(2), party: "store-pudong", price: { amount: "999.00", currency: "CNY" } },
        { id: "sale-2", type: "retail_sale", codes: [2], occurredAt: at(1), party: "store-bj", price: { amount: "1499.00", currency: "CNY" } },
      ].map((e) => ({ ...e, codes: e.codes.map((i) => s(viaWebhook, i)) }));
      expect((await env.stack.postEvents(viaWebhook, native)).status).to.equal(202);

      for (let i = 0; i < 3; i++) {
        const [a, b] = await Promise.all([
          env.stack.waitAnchored(s(viaEpcis, i), viaEpcis.codes[i]!.secret),
          env.stack.waitAnchored(s(viaWebhook, i), viaWebhook.codes[i]!.secret),
        ]);
        expect(verifyBundle(a).valid, JSON.stringify(verifyBundle(a).problems)).to.equal(true);
        expect(verifyBundle(b).valid).to.equal(true);
        const steps = (bundle: typeof a) =>
          bundle.events
            .map((e) => e.event)
            .filter((e) => e.type !== "epcis")
            .map((e) => ({ type: e.type, party: e.party, to: e.to ?? null, price: e.price ?? null }));
        expect(steps(a), `bottle ${i}`).to.deep.equal(steps(b));
        // plus the packing and unpacking steps, kept as generic EPCIS steps in the history of the packed bottles
        expect(a.events.filter((e) => e.event.type === "epcis").map((e) => e.event.bizStep)).to.deep.equal(i < 2 ? ["packing", "unpacking"] : []);
      }

      const alerts = async (brand: BrandFixture) => {
        const r = await env.stack.request("GET", "/api/v1/alerts", { token: brand.apiKey });
        return (r.body.alerts as { kind: string; serial: string; party: string }[])
          .map((a) => `${a.kind}:${brand.codes.findIndex((c) => c.serial === a.serial)}:${a.party}`)
          .sort();
      };
      const expected = await alerts(viaWebhook);
      expect(expected).to.include.members(["price_below:1:store-pudong"]);
      expect(expected.some((a) => a.startsWith("diversion:2:"))).to.equal(true);
      expect(await alerts(viaEpcis)).to.deep.equal(expected);
    });

    it("events about identifiers SealTrace did not mint, or at unregistered locations, are stored and anchored but build no bottle history", async () => {
      const brand = await brandWithGlns(1);
      const serial = brand.codes[0]!.serial;
      const item = `https://id.gs1.org/01/${brand.gtin}/21/${serial}`;
      const r = await capture(
        brand,
        documentOf([
          {
            type: "ObjectEvent",
            eventTime: new Date().toISOString(),
            eventTimeZoneOffset: "+08:00",
            epcList: [item],
            action: "ADD",
            bizStep: "commissioning",
            bizLocation: { id: sgln(gln("123456700001")) },
          },
          {
            type: "ObjectEvent",
            eventTime: new Date().toISOString(),
            eventTimeZoneOffset: "+08:00",
            epcList: ["urn:epc:id:sgtin:0614141.107346.2017"],
            action: "ADD",
            bizStep: "commissioning",
            bizLocation: { id: sgln(GLN.factory) },
          },
        ]),
      );
      expect(r.body, JSON.stringify(r.body)).to.include({ success: true, stored: 2 });
      const { rows } = await env.db.query("SELECT count(*)::int AS n FROM links WHERE serial = $1", [serial]);
      expect(rows[0].n).to.equal(0);
      const listed = (await query(brand)).body.epcisBody.queryResults.resultsBody.eventList as Record<string, any>[];
      expect(listed).to.have.length(2);
      for (const event of listed) {
        expect(event["sealtrace:anchor"].bottles).to.deep.equal([]);
        expect(event["sealtrace:anchor"].log.link.serial).to.equal(`epcis:${brand.slug}`);
      }
    });
  });

  describe("errors", () => {
    it("a malformed document gets 400 with the schema error's path, and nothing is stored", async () => {
      const brand = await brandWithGlns(1);
      const bad = documentOf([
        {
          type: "ObjectEvent",
          eventTime: new Date().toISOString(),
          eventTimeZoneOffset: "+08:00",
          epcList: ["urn:epc:id:sgtin:0614141.107346.1"],
          action: "ADD",
          bizStep: "commissioning",
        },
        {
          type: "ObjectEvent",
          eventTime: new Date().toISOString(),
          eventTimeZoneOffset: "+08:00",
          epcList: ["urn:epc:id:sgtin:0614141.107346.2"],
          action: "SOMETIMES",
        },
      ]);
      const r = await capture(brand, bad);
      expect(r.status).to.equal(400);
      expect(r.body.error).to.equal("invalid_document");
      expect(r.body.problems.map((p: { field: string }) => p.field)).to.include("epcisBody.eventList[1].action");
      const broken = await capture(brand, '{"type": "EPCISDocument", ');
      expect(broken.status).to.equal(400);
      const missing = await capture(brand, { ...documentOf([]), epcisBody: undefined });
      expect(missing.status).to.equal(400);
      expect(missing.body.problems.map((p: { field: string }) => p.field)).to.include("epcisBody");
      const old = await capture(brand, { ...documentOf([]), schemaVersion: "1.2" });
      expect(old.status).to.equal(400);
      expect(old.body.field).to.equal("schemaVersion");
      for (const table of ["epcis_events", "epcis_captures", "events"]) expect(await count(table, brand), table).to.equal(0);
    });

    it("rollback (the default) stores nothing when one event fails; proceed stores the others and lists the failure", async () => {
      const brand = await brandWithGlns(2);
      const dl = (i: number) => `https://id.gs1.org/01/${brand.gtin}/21/${brand.codes[i]!.serial}`;
      const document = documentOf([
        {
          type: "ObjectEvent",
          eventTime: new Date(Date.now() - 60_000).toISOString(),
          eventTimeZoneOffset: "+08:00",
          epcList: [dl(0)],
          action: "ADD",
          bizStep: "commissioning",
          bizLocation: { id: sgln(GLN.factory) },
        },
        {
          type: "ObjectEvent",
          eventTime: new Date().toISOString(),
          eventTimeZoneOffset: "+08:00",
          epcList: [dl(1)],
          action: "OBSERVE",
          bizStep: "shipping",
          bizLocation: { id: sgln(GLN.factory) },
          destinationList: [{ type: "location", destination: sgln(GLN.store) }],
        },
      ]);
      const rolled = await capture(brand, document);
      expect(rolled.status).to.equal(202);
      expect(rolled.body).to.include({ success: false, stored: 0, captureErrorBehaviour: "rollback" });
      expect(rolled.body.errors).to.have.length(1);
      expect(rolled.body.errors[0]).to.include({ index: 1, field: "epcList" });
      expect(rolled.body.errors[0].reason).to.include("has not been commissioned");
      expect(rolled.body.errors[0].eventID).to.match(/^ni:\/\/\/sha-256;[0-9a-f]{64}\?ver=CBV2\.0$/);
      expect(await count("epcis_events", brand)).to.equal(0);
      expect((await env.stack.request("GET", rolled.headers.get("location")!, { token: brand.apiKey })).body.success).to.equal(false);

      const proceeded = await capture(brand, document, { "GS1-Capture-Error-Behaviour": "proceed" });
      expect(proceeded.body).to.include({ success: false, stored: 1, captureErrorBehaviour: "proceed" });
      expect(proceeded.body.errors.map((e: { index: number }) => e.index)).to.deep.equal([1]);
      expect(await count("epcis_events", brand)).to.equal(1);
      expect((await capture(brand, document, { "GS1-Capture-Error-Behaviour": "sometimes" })).status).to.equal(400);
    });

    itWithExamples("a capture needs the brand's key or its webhook signature", async () => {
      const [brand, other] = [await env.stack.createBrand({ codes: 0 }), await env.stack.createBrand({ codes: 0 })];
      const body = JSON.stringify(example("Example_9.6.2-ObjectEvent.jsonld"));
      expect((await env.stack.request("POST", `/epcis/${brand.slug}/capture`, { body })).status).to.equal(401);
      expect((await env.stack.request("POST", `/epcis/${brand.slug}/capture`, { body, token: other.apiKey })).status).to.equal(404);
      expect((await env.stack.request("GET", `/epcis/${brand.slug}/events`, { token: other.apiKey })).status).to.equal(404);
      const forged = await env.stack.request("POST", `/epcis/${brand.slug}/capture`, { body, headers: signWebhook(other.webhookSecret, "msg_forged", body) });
      expect(forged.status).to.equal(401);
      const signed = await env.stack.request("POST", `/epcis/${brand.slug}/capture`, { body, headers: signWebhook(brand.webhookSecret, "msg_epcis_1", body) });
      expect(signed.status, JSON.stringify(signed.body)).to.equal(202);
      expect(signed.body.stored).to.equal(1);
    });
  });

  describe("event identity and corrections", () => {
    it("an event without eventID gets the CBV 2.0 event hash as its id, and the same event again is a duplicate", async () => {
      const brand = await env.stack.createBrand({ codes: 0 });
      const event = {
        type: "ObjectEvent",
        eventTime: "2026-11-20T08:00:00.000Z",
        eventTimeZoneOffset: "+08:00",
        epcList: ["urn:epc:id:sgtin:0614141.107346.77"],
        action: "OBSERVE",
        bizStep: "inspecting",
      };
      const first = await capture(brand, documentOf([event]));
      expect(first.body.stored).to.equal(1);
      const listed = (await query(brand)).body.epcisBody.queryResults.resultsBody.eventList;
      expect(listed[0]).to.not.have.property("eventID"); // returned as captured
      const reordered = Object.fromEntries(Object.entries(event).reverse());
      expect((await capture(brand, documentOf([reordered]))).body).to.include({ stored: 0, duplicates: 1 });
    });

    itWithExamples("an error declaration is stored as a correction pointing at the original, which stays as captured", async () => {
      const brand = await env.stack.createBrand({ codes: 0 });
      const original = example("Example_9.6.1-ObjectEvent.jsonld").epcisBody.eventList[1]!;
      await capture(brand, documentOf([original]));
      const declared = {
        ...original,
        errorDeclaration: {
          declarationTime: "2026-11-21T08:00:00.000Z",
          reason: "incorrect_data",
          correctiveEventIDs: ["urn:uuid:5c7e2a4e-0000-4000-8000-000000000001"],
        },
      };
      const r = await capture(brand, documentOf([declared]));
      expect(r.body).to.include({ success: true, stored: 1, duplicates: 0 });
      expect((await capture(brand, documentOf([declared]))).body).to.include({ stored: 0, duplicates: 1 });
      const one = await query(brand, `/${encodeURIComponent(original.eventID as string)}`);
      const returned = one.body.epcisBody.queryResults.resultsBody.eventList[0];
      expect(stripAnchor(returned)).to.deep.equal(original);
      expect(returned["sealtrace:anchor"].corrections).to.have.length(1);
      expect(returned["sealtrace:anchor"].corrections[0].errorDeclaration).to.deep.equal(declared.errorDeclaration);
      expect(returned["sealtrace:anchor"].corrections[0].canonical.corrects).to.equal(original.eventID);
      expect((await query(brand)).body.epcisBody.queryResults.resultsBody.eventList).to.have.length(1);
    });
  });

  (HAVE_EXAMPLES ? describe : describe.skip)("query", () => {
    let brand: BrandFixture;
    let flow: Record<string, unknown>[] = [];
    const ids = async (params: string) => {
      const r = await query(brand, params);
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      return (r.body.epcisBody.queryResults.resultsBody.eventList as { eventID: string }[]).map((e) => e.eventID);
    };
    before(async () => {
      flow = example("Example_9.6.1-ObjectEvent.jsonld").epcisBody.eventList.concat(
        example("Example_9.6.3-AggregationEvent.jsonld").epcisBody.eventList,
        example("Example_9.6.4-TransformationEvent.jsonld").epcisBody.eventList,
      );
      brand = await env.stack.createBrand({ codes: 0 });
      const r = await capture(brand, { ...documentOf(flow), "@context": example("Example_9.6.1-ObjectEvent.jsonld")["@context"] });
      expect(r.body.stored).to.equal(4);
    });
    const id = (i: number) => flow[i]!.eventID as string;

    it("filters by bizStep, eventType, EPC (either spelling), anyEPC, time, bizLocation and readPoint", async () => {
      expect(await ids("?EQ_bizStep=shipping")).to.deep.equal([id(0)]);
      expect(await ids(`?EQ_bizStep=${encodeURIComponent("https://ref.gs1.org/cbv/BizStep-receiving")}|shipping`)).to.deep.equal([id(0), id(1), id(2)]);
      expect(await ids("?eventType=AggregationEvent|TransformationEvent")).to.deep.equal([id(2), id(3)]);
      expect(await ids(`?MATCH_epc=${encodeURIComponent("urn:epc:id:sgtin:0614141.107346.2017")}`)).to.deep.equal([id(0), id(2)]); // epcList and childEPCs
      expect(await ids(`?MATCH_epc=${encodeURIComponent("https://id.gs1.org/01/10614141073464/21/2018")}`)).to.deep.equal([id(0), id(1), id(2)]);
      expect(await ids(`?MATCH_epc=${encodeURIComponent("urn:epc:id:sscc:0614141.1234567890")}`)).to.deep.equal([]);
      expect(await ids(`?MATCH_anyEPC=${encodeURIComponent("urn:epc:id:sscc:0614141.1234567890")}`)).to.deep.equal([id(2)]);
      expect(await ids(`?GE_eventTime=${encodeURIComponent("2005-04-04T12:00:00Z")}&LT_eventTime=${encodeURIComponent("2013-07-01T00:00:00Z")}`)).to.deep.equal(
        [id(1), id(2)],
      );
      expect(await ids(`?EQ_bizLocation=${encodeURIComponent("urn:epc:id:sgln:0012345.11111.0")}`)).to.deep.equal([id(1)]);
      expect(await ids(`?EQ_readPoint=${encodeURIComponent("urn:epc:id:sgln:0614141.07346.1234")}`)).to.deep.equal([id(0)]);
    });

    it("pages with perPage and nextPageToken through the Link header", async () => {
      const seen: string[] = [];
      let next: string | null = "/events?perPage=1";
      while (next !== null) {
        const r = await query(brand, next.slice(next.indexOf("/events") + "/events".length));
        seen.push(...(r.body.epcisBody.queryResults.resultsBody.eventList as { eventID: string }[]).map((e) => e.eventID));
        const link = r.headers.get("link");
        next = link === null ? null : /<([^>]+)>; rel="next"/.exec(link)![1]!;
      }
      expect(seen).to.deep.equal(flow.map((e) => e.eventID));
    });

    it("refuses unknown parameters and bad values with 400 naming the parameter", async () => {
      for (const [params, field] of [
        ["?EQ_colour=red", "EQ_colour"],
        ["?perPage=0", "perPage"],
        ["?GE_eventTime=yesterday", "GE_eventTime"],
        ["?nextPageToken=forged", "nextPageToken"],
        ["?eventType=Event", "eventType"],
      ]) {
        const r = await query(brand, params);
        expect(r.status, params).to.equal(400);
        expect(r.body).to.include({ error: "QueryParameterException", field });
      }
      expect((await query(brand, `/${encodeURIComponent("urn:uuid:nothing")}`)).status).to.equal(404);
    });

    it("each event's anchor extension checks out on its own: canonical event, log link, Merkle proof, and the root on chain", async () => {
      const deadline = Date.now() + 60_000;
      let events: Record<string, any>[];
      for (;;) {
        events = (await query(brand)).body.epcisBody.queryResults.resultsBody.eventList;
        if (events.every((e) => e["sealtrace:anchor"].log.anchor !== null) || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const provider = new JsonRpcProvider(env.chain.url, undefined, { staticNetwork: true });
      try {
        const registry = new Contract(events[0]!["sealtrace:anchor"].chain.registry, ANCHOR_REGISTRY_ABI, provider);
        let previous: string | null = null;
        for (const event of events) {
          const anchor = event["sealtrace:anchor"];
          // Format 2: the canonical event carries the EPCIS event's digest, with the document's @context.
          expect(anchor.canonical.epcis).to.equal(epcisDigest(stripAnchor(event) as Json, anchor.context));
          expect(eventHash(anchor.canonical)).to.equal(anchor.eventHash);
          expect(anchor.log.link.event).to.equal(anchor.eventHash);
          if (previous !== null) expect(anchor.log.link.prev).to.equal(previous);
          previous = anchor.log.linkHash;
          expect(linkHash(anchor.log.link)).to.equal(anchor.log.linkHash);
          expect(leafOf(anchor.log.linkHash)).to.equal(anchor.log.leaf);
          const { linksRoot, headsRoot, headsDepth } = anchor.log.anchor;
          expect(processProof(anchor.log.leaf, anchor.log.anchor.proof)).to.equal(linksRoot);
          const root = batchRoot(linksRoot, headsRoot, headsDepth);
          expect(root).to.equal(anchor.log.anchor.root);
          expect(await registry.getFunction("rootOf")(anchor.log.anchor.seq)).to.equal(root);
        }
      } finally {
        provider.destroy();
      }
    });
  });

  it("reports a link anchored on an older registry as not anchored: only the current registry's anchors count", async () => {
    const brand = await env.stack.createBrand({ codes: 0 });
    const item = "urn:epc:id:sgtin:0614141.107346.2017";
    const r = await capture(
      brand,
      documentOf([
        { type: "ObjectEvent", eventTime: new Date().toISOString(), eventTimeZoneOffset: "+08:00", epcList: [item], action: "ADD", bizStep: "commissioning" },
      ]),
    );
    expect(r.body, JSON.stringify(r.body)).to.include({ success: true, stored: 1 });
    const anchors = async (request: Stack["request"]) => {
      const events = (await request("GET", `/epcis/${brand.slug}/events`, { token: brand.apiKey })).body.epcisBody.queryResults.resultsBody.eventList as Record<
        string,
        any
      >[];
      return events.map((e) => e["sealtrace:anchor"]);
    };
    const deadline = Date.now() + 60_000;
    while ((await anchors(env.stack.request)).some((a) => a.log.anchor === null)) {
      if (Date.now() > deadline) throw new Error("the EPCIS log was not anchored in time");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // The operator moves to a new registry: an HTTP node configured with it answers before any
    // worker has anchored the history there (the batches are still recorded on the old one).
    const moved = await deployTestRegistry(env.chain.url, devKey(19));
    const node = await startRuntime(loadConfig({ ...env.stack.env, REGISTRY_ADDRESS: moved }), { role: "http", log: createLogger("silent") });
    try {
      const [batch] = (await httpClient(node.url!)("GET", "/api/v1/batches?after=0&limit=1")).body.batches as { status: string }[];
      expect(batch!.status).to.equal("sealed"); // the audit routes' view of the same batch
      const seen = await anchors(httpClient(node.url!));
      expect(seen).to.have.length(1);
      expect(seen[0].chain.registry).to.equal(moved);
      expect(seen[0].log.link.serial).to.equal(`epcis:${brand.slug}`);
      expect(seen[0].log.anchor, "an anchor on the old registry reported as one on the current").to.equal(null);
    } finally {
      await node.stop();
    }
    // The node still on the old registry reports it anchored there.
    expect((await anchors(env.stack.request))[0].log.anchor).to.not.equal(null);
  });

  it("a party's GLN must be a real GLN, SGLN or Digital Link", async () => {
    const brand = await env.stack.createBrand({ codes: 0 });
    const put = (gln: string) =>
      env.stack.request("PUT", "/api/v1/parties/store-x", { token: brand.apiKey, body: { kind: "store", name: "x", region: "CN-SH", gln } });
    expect((await put("6901234000010")).status).to.equal(422); // wrong check digit
    expect((await put("urn:epc:id:sgln:bad")).body).to.include({ field: "gln" });
    expect((await put(GLN.store)).status).to.equal(200);
    const taken = await env.stack.request("PUT", "/api/v1/parties/store-y", {
      token: brand.apiKey,
      body: { kind: "store", name: "y", region: "CN-SH", gln: `https://id.gs1.org/414/${GLN.store}` },
    });
    expect(taken.status).to.equal(409);
  });
});
