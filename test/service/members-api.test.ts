/**
 * The members API for the brand's CRM (issue 20): cursor-paged lists and one member with its bottles,
 * masked phones only; attacked with another brand's key, tampered cursors and ids, and no key.
 */
import { expect } from "chai";
import type pg from "pg";
import { encodeCursor } from "../../service/http/cursor.ts";
import type { MembersRepo } from "../../service/members/repo.ts";
import { addStore, brandIdOf, claimBottle, phone, phoneForms, sellAt, stackMembers } from "../helpers/members.ts";
import { startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

describe("members API", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let members: MembersRepo;
  let a: BrandFixture;
  let b: BrandFixture;
  const p1 = phone("13800138000");
  const p2 = phone("13912345678");
  const p3 = phone("15012345678");
  const pb = phone("13700001111");
  const ids: Record<string, string> = {};

  const get = (path: string, token: string | undefined) => stack.request("GET", path, { token });
  const expectNoFullPhone = (text: string) => {
    for (const p of [p1, p2, p3, pb]) for (const form of phoneForms(p)) expect(text, form).to.not.include(form);
  };

  before(async () => {
    services = await startChainStack({ keyIndex: 6 });
    ({ stack, db } = services);
    members = stackMembers(stack, db);
    [a, b] = await Promise.all([stack.createBrand({ codes: 4 }), stack.createBrand({ codes: 1 })]);
    const [aId, bId] = await Promise.all([brandIdOf(db, a.slug), brandIdOf(db, b.slug)]);
    await addStore(stack, a, "store-xuhui", "徐汇店", "CN-SH");
    const s = a.codes.map((c) => c.serial);
    await sellAt(stack, a, [s[0]!, s[1]!, s[2]!], "store-pudong");
    await sellAt(stack, a, [s[3]!], "store-xuhui");
    await sellAt(stack, b, [b.codes[0]!.serial], "store-pudong");
    ids.p1 = String((await claimBottle(members, aId, s[0]!, p1.e164)).memberId);
    await claimBottle(members, aId, s[1]!, p1.e164);
    ids.p2 = String((await claimBottle(members, aId, s[2]!, p2.e164)).memberId);
    ids.p3 = String((await claimBottle(members, aId, s[3]!, p3.e164)).memberId);
    ids.pb = String((await claimBottle(members, bId, b.codes[0]!.serial, pb.e164)).memberId);
  });
  after(async () => {
    await services?.stop();
  });

  it("lists the brand's members with masked phones, paged by cursor, and one store's on asking", async () => {
    const all = await get("/api/v1/members", a.apiKey);
    expect(all.status, JSON.stringify(all.body)).to.equal(200);
    expect(all.body.members.map((m: { id: string }) => m.id)).to.deep.equal([ids.p1, ids.p2, ids.p3]);
    expect(all.body.nextCursor).to.equal(null);
    const first = all.body.members[0];
    expect(first).to.include({
      id: ids.p1,
      phoneMasked: p1.masked,
      points: 20,
      level: 1,
      birthMonth: 5,
      store: "store-pudong",
      claims: 2,
      consent: true,
      leftAt: null,
    });
    expect(Object.keys(first).sort()).to.deep.equal(
      ["birthMonth", "claims", "consent", "id", "joinedAt", "lastClaimAt", "leftAt", "level", "phoneMasked", "points", "store"].sort(),
    );
    expectNoFullPhone(JSON.stringify(all.body));

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { members: { id: string }[]; nextCursor: string | null } } = await get(
        `/api/v1/members?limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
        a.apiKey,
      );
      expect(page.status).to.equal(200);
      pages.push(...page.body.members.map((m) => m.id));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(pages).to.deep.equal([ids.p1, ids.p2, ids.p3]);

    const xuhui = await get("/api/v1/members?store=store-xuhui", a.apiKey);
    expect(xuhui.body.members.map((m: { id: string }) => m.id)).to.deep.equal([ids.p3]);
    expect((await get("/api/v1/members?store=store-nowhere", a.apiKey)).body.members).to.deep.equal([]);
  });

  it("gives one member with its claimed bottles", async () => {
    const r = await get(`/api/v1/members/${ids.p1}`, a.apiKey);
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ id: ids.p1, phoneMasked: p1.masked, points: 20, claims: 2 });
    expect(r.body.bottles.map((x: { serial: string }) => x.serial).sort()).to.deep.equal([a.codes[0]!.serial, a.codes[1]!.serial].sort());
    expect(r.body.bottles[0]).to.include({ gtin: a.gtin, store: "store-pudong", points: 10, productName: "飞天茅台 53%vol 500ml" });
    expectNoFullPhone(JSON.stringify(r.body));
  });

  it("shows another brand's key none of the brand's members: its own list only, and 404 for their ids", async () => {
    const list = await get("/api/v1/members", b.apiKey);
    expect(list.body.members.map((m: { id: string }) => m.id)).to.deep.equal([ids.pb]);
    // Both brands have a store-pudong: the filter stays within the key's brand.
    expect((await get("/api/v1/members?store=store-pudong", b.apiKey)).body.members.map((m: { id: string }) => m.id)).to.deep.equal([ids.pb]);
    for (const id of [ids.p1, ids.p2, ids.p3]) {
      const r = await get(`/api/v1/members/${id}`, b.apiKey);
      expect(r.status).to.equal(404);
      expect(JSON.stringify(r.body)).to.not.include(p1.masked);
    }
    // A's cursor taken to B pages B's members only (a cursor is a position, not a permission).
    const page = await get("/api/v1/members?limit=1", a.apiKey);
    const fromA = await get(`/api/v1/members?cursor=${encodeURIComponent(page.body.nextCursor)}`, b.apiKey);
    expect(fromA.status).to.equal(200);
    for (const m of fromA.body.members) expect(m.id).to.equal(ids.pb);
  });

  it("answers tampered cursors, ids and queries with a 400 naming the field, never a 500", async () => {
    const tampered = [
      "not-a-cursor",
      "%00%00",
      Buffer.from("mem-1").toString("base64url"),
      Buffer.from("mem1e3").toString("base64url"),
      Buffer.from(`mem${"9".repeat(16)}`).toString("base64url"),
      encodeCursor("d", 1), // another list's cursor (deliveries)
      encodeCursor("a", 1),
      "x".repeat(200),
    ];
    for (const cursor of tampered) {
      const r = await get(`/api/v1/members?cursor=${encodeURIComponent(cursor)}`, a.apiKey);
      expect(r.status, cursor).to.equal(400);
      expect(r.body.field, cursor).to.equal("cursor");
    }
    expect((await get(`/api/v1/members?cursor=${"x".repeat(201)}`, a.apiKey)).status).to.equal(400);
    for (const id of ["0", "-1", "1.5", "abc", "1e3", "9".repeat(16), "%27%20OR%201=1"]) {
      expect((await get(`/api/v1/members/${id}`, a.apiKey)).status, id).to.equal(400);
    }
    expect((await get(`/api/v1/members/${"9".repeat(15)}`, a.apiKey)).status).to.equal(404);
    for (const query of ["limit=0", "limit=201", "limit=x", "store=", `store=${"s".repeat(65)}`, "phone=13800138000"]) {
      expect((await get(`/api/v1/members?${query}`, a.apiKey)).status, query).to.equal(400);
    }
  });

  it("requires the brand's API key: none, a store key or a made-up one is 401", async () => {
    expect((await get("/api/v1/members", undefined)).status).to.equal(401);
    expect((await get(`/api/v1/members/${ids.p1}`, "stk_made_up")).status).to.equal(401);
    const key = await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: a.apiKey });
    expect(key.status).to.equal(201);
    expect((await get("/api/v1/members", key.body.storeKey)).status).to.equal(401);
  });

  it("is in the OpenAPI document", async () => {
    const doc = await get("/docs/json", undefined);
    expect(doc.body.paths).to.have.property("/api/v1/members");
    expect(doc.body.paths).to.have.property("/api/v1/members/{id}");
    expect(doc.body.paths["/api/v1/members"].get.security).to.deep.equal([{ brandApiKey: [] }]);
    const endpointTypes = JSON.stringify(doc.body.paths["/api/v1/endpoints"].post);
    expect(endpointTypes).to.include("member.joined").and.include("bottle.claimed");
  });
});
