/**
 * Members in the console (issue 20), attacked on the real console with members made the real way
 * (a sold bottle, a code from the development sender, the claim): a store sees its own members only,
 * masked, never a full number; only a brand admin exports, by an explicit POST with its CSRF token and
 * a purpose, and every export is on record; another brand sees none of it; the development codes
 * show, marked, only while the brand has no SMS gateway.
 */
import { expect } from "chai";
import type pg from "pg";
import { insertAlerts } from "../../service/checks/alerts.ts";
import { EXPORT_COLUMNS } from "../../service/console/members.ts";
import type { MembersRepo } from "../../service/members/repo.ts";
import { consoleClient, csrfOf, type ConsoleClient, type ConsoleUserFixture } from "../helpers/console.ts";
import { addStore, brandIdOf, claimBottle, devClaimCode, phone, phoneForms, sellAt, stackMembers } from "../helpers/members.ts";
import { startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

const PASSWORD = "correct horse battery staple";

describe("members in the console", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let members: MembersRepo;
  let a: BrandFixture;
  let b: BrandFixture;
  let aId: number;
  let bId: number;
  const p1 = phone("13800138000");
  const p2 = phone("13912345678");
  const p3 = phone("15012345678");
  const p4 = phone("18612345678");
  const pb = phone("13700001111");
  const allPhones = [p1, p2, p3, p4, pb];
  let unusedCode: string;
  const users: Record<"admin" | "staff" | "pudong" | "xuhui" | "bAdmin", ConsoleUserFixture> = {} as never;

  const signedIn = async (user: ConsoleUserFixture): Promise<ConsoleClient> => {
    const client = consoleClient(stack.url);
    const answer = await client.signIn(user);
    expect(answer.status, answer.text.slice(0, 300)).to.equal(303);
    return client;
  };
  const createUser = async (brand: BrandFixture, username: string, body: Record<string, unknown>): Promise<ConsoleUserFixture> => {
    const r = await stack.request("POST", "/api/v1/users", { token: brand.apiKey, body: { username, password: PASSWORD, ...body } });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    return { brand: brand.slug, username, password: PASSWORD };
  };
  /** No way of writing any full number of any member is on the page. */
  const expectNoFullPhone = (text: string) => {
    for (const p of allPhones) for (const form of phoneForms(p)) expect(text, form).to.not.include(form);
  };
  const exportRows = async () => (await db.query("SELECT * FROM member_exports ORDER BY id")).rows;

  before(async () => {
    services = await startChainStack({ keyIndex: 5 });
    ({ stack, db } = services);
    members = stackMembers(stack, db);
    [a, b] = await Promise.all([stack.createBrand({ codes: 6 }), stack.createBrand({ codes: 1 })]);
    [aId, bId] = await Promise.all([brandIdOf(db, a.slug), brandIdOf(db, b.slug)]);
    await addStore(stack, a, "store-xuhui", "徐汇店", "CN-SH");
    await addStore(stack, a, "store-guiyang", "贵阳店", "CN-GZ");
    const s = a.codes.map((c) => c.serial);
    await sellAt(stack, a, [s[0]!, s[1]!, s[2]!], "store-pudong");
    await sellAt(stack, a, [s[3]!, s[4]!], "store-xuhui");
    await sellAt(stack, b, [b.codes[0]!.serial], "store-pudong");
    // Pudong: p1 claims two bottles (a repeat buyer), p2 one. Xuhui: p3 one; bottle 4 sold, not claimed.
    await claimBottle(members, aId, s[0]!, p1.e164);
    await claimBottle(members, aId, s[1]!, p1.e164);
    await claimBottle(members, aId, s[2]!, p2.e164);
    await claimBottle(members, aId, s[3]!, p3.e164);
    await claimBottle(members, bId, b.codes[0]!.serial, pb.e164);
    // A code sent and not used yet: the development sender keeps it for the console.
    unusedCode = (await devClaimCode(members, aId, s[4]!, p4.e164)).code;
    users.admin = await createUser(a, "admin", { kind: "brand", admin: true });
    users.staff = await createUser(a, "staff", { kind: "brand" });
    users.pudong = await createUser(a, "pudong", { kind: "store", party: "store-pudong" });
    users.xuhui = await createUser(a, "xuhui", { kind: "store", party: "store-xuhui" });
    users.bAdmin = await createUser(b, "admin", { kind: "brand", admin: true });
  });
  after(async () => {
    await services?.stop();
  });

  it("shows a store its own members, masked, with new this week, repeat buyers and points", async () => {
    const client = await signedIn(users.pudong);
    const page = await client.get("/console/stores/store-pudong/members");
    expect(page.status, page.text.slice(0, 500)).to.equal(200);
    const value = (id: string) => new RegExp(`id="${id}" data-value="(\\d+)"`).exec(page.text)?.[1];
    expect(value("store-members")).to.equal("2");
    expect(value("store-new-week")).to.equal("2");
    expect(value("store-repeat")).to.equal("1");
    expect(value("store-claims")).to.equal("3");
    expect(value("store-points")).to.equal("30");
    expect(page.text).to.include(p1.masked).and.include(p2.masked);
    expect(page.text, "another store's member").to.not.include(p3.masked);
    expect(page.text, "another brand's member").to.not.include(pb.masked);
    expectNoFullPhone(page.text);
    // The navigation leads there.
    expect((await client.get("/console/stores/store-pudong")).text).to.include('href="/console/stores/store-pudong/members"');
  });

  it("never lets a store user see another store's members or the brand's members page", async () => {
    const client = await signedIn(users.pudong);
    const other = await client.get("/console/stores/store-xuhui/members");
    expect(other.status).to.equal(403);
    expect(other.text).to.not.include(p3.masked);
    expect((await client.get("/console/members")).status).to.equal(403);
    const xuhui = await signedIn(users.xuhui);
    const own = await xuhui.get("/console/stores/store-xuhui/members");
    expect(own.status).to.equal(200);
    expect(own.text).to.include(p3.masked).and.not.include(p1.masked);
    expectNoFullPhone(own.text);
  });

  it("shows the development codes, marked DEVELOPMENT, to the store and the brand, only the brand's own, and none once an SMS gateway is set", async () => {
    for (const user of [users.pudong, users.staff]) {
      const client = await signedIn(user);
      const path = user === users.pudong ? "/console/stores/store-pudong/members?lang=en" : "/console/members?lang=en";
      const page = await client.get(path);
      expect(page.text).to.include('id="dev-codes"').and.include("DEVELOPMENT");
      expect(page.text).to.include(`data-dev-code="${unusedCode}"`);
      expect(page.text).to.include(p4.masked);
      expectNoFullPhone(page.text);
    }
    // Brand B's console shows none of A's codes (B's own claim code was used: none left).
    const bClient = await signedIn(users.bAdmin);
    const bPage = await bClient.get("/console/members?lang=en");
    expect(bPage.text).to.include('id="dev-codes"').and.not.include(`data-dev-code="${unusedCode}"`);
    expect(bPage.text).to.not.include(p4.masked);

    await db.query("UPDATE brands SET sms_gateway_url = 'https://sms.example.com/hook', sms_gateway_secret = 'whsec_dGVzdHRlc3R0ZXN0dGVzdA==' WHERE id = $1", [
      aId,
    ]);
    try {
      const client = await signedIn(users.staff);
      const page = await client.get("/console/members?lang=en");
      expect(page.text).to.not.include('id="dev-codes"').and.not.include(unusedCode);
    } finally {
      await db.query("UPDATE brands SET sms_gateway_url = NULL, sms_gateway_secret = NULL WHERE id = $1", [aId]);
    }
  });

  it("shows the brand its members by store and region, the claimed share of sold bottles, and the resold-after-claim alerts", async () => {
    const serial = a.codes[0]!.serial;
    const claimedAt = (await members.claimOf(aId, serial))!.claimedAt.toISOString();
    await insertAlerts(db, aId, [
      { kind: "resold_after_claim", serial, eventId: null, party: "store-guiyang", details: { store: "store-guiyang", claimedAt, eventType: "retail_sale" } },
    ]);
    const client = await signedIn(users.staff);
    const page = await client.get("/console/members?lang=en");
    expect(page.status).to.equal(200);
    const value = (id: string) => new RegExp(`id="${id}" data-value="(\\d+)"`).exec(page.text)?.[1];
    expect(value("brand-members")).to.equal("3");
    expect(value("brand-claims")).to.equal("4");
    expect(page.text).to.match(/data-store="store-pudong" data-share="1">100%/);
    expect(page.text).to.match(/data-store="store-xuhui" data-share="0.5">50%/);
    expect(page.text).to.match(/data-store="store-guiyang" data-share="">—/);
    // Members by region: Shanghai 3, Guizhou 0.
    const regions = /id="chart-member-regions-table"[\s\S]*?<\/table>/.exec(page.text)![0];
    expect(regions).to.match(/上海<\/td><td class="num">3</);
    const resold = /id="resold-table"[\s\S]*?<\/table>/.exec(page.text)![0];
    expect(resold).to.include(serial).and.include("贵阳店");
    expectNoFullPhone(page.text);
    // A non-admin is told the export is for admins, and gets no form.
    expect(page.text).to.not.include('id="export-form"');
  });

  it("lets only a brand admin export, only by POST with its CSRF token and a purpose, and records every export", async () => {
    const before = (await exportRows()).length;
    // A store user and a brand user who is no admin: 403 with their own valid CSRF token.
    for (const user of [users.pudong, users.staff]) {
      const client = await signedIn(user);
      const token = await client.csrf(user === users.pudong ? "/console/stores/store-pudong/members" : "/console/members");
      const r = await client.post("/console/members/export", { purpose: "季度会员回访", _csrf: token });
      expect(r.status, user.username).to.equal(403);
      expectNoFullPhone(r.text);
    }
    const admin = await signedIn(users.admin);
    // No CSRF token (a cross-site form), a token of another session, or a GET: refused, nothing sent.
    const noToken = await admin.post("/console/members/export", { purpose: "季度会员回访" }, { csrf: false });
    expect(noToken.status).to.equal(403);
    expectNoFullPhone(noToken.text);
    const otherSession = await signedIn(users.staff);
    const foreign = await admin.post("/console/members/export", { purpose: "季度会员回访", _csrf: await otherSession.csrf("/console/members") });
    expect(foreign.status).to.equal(403);
    expect((await admin.get("/console/members/export")).status).to.equal(404);
    // No purpose: 422, nothing sent.
    const page = await admin.get("/console/members");
    expect(page.text).to.include('id="export-form"');
    const short = await admin.post("/console/members/export", { purpose: " ab ", _csrf: csrfOf(page.text) });
    expect(short.status).to.equal(422);
    expectNoFullPhone(short.text);
    expect(await exportRows()).to.have.length(before);

    const csv = await admin.post("/console/members/export", { purpose: "季度会员回访", _csrf: csrfOf(page.text) });
    expect(csv.status).to.equal(200);
    expect(csv.headers.get("content-type")).to.match(/^text\/csv/);
    expect(csv.headers.get("cache-control")).to.equal("private, no-store");
    const lines = csv.text.split("\r\n").filter((l) => l !== "");
    expect(lines[0]).to.equal(EXPORT_COLUMNS.join(","));
    expect(lines.slice(1).map((l) => l.split(",")[1])).to.have.members([p1.e164, p2.e164, p3.e164]);
    expect(csv.text, "another brand's member").to.not.include(pb.e164);
    const p1Line = lines.find((l) => l.includes(p1.e164))!.split(",");
    expect(p1Line.slice(2, 5)).to.deep.equal(["store-pudong", "20", "1"]);
    expect(p1Line[6]).to.equal("2");
    expect(p1Line[7]).to.equal("5");

    let rows = await exportRows();
    expect(rows).to.have.length(before + 1);
    const audit = rows.at(-1)!;
    expect(Number(audit.brand_id)).to.equal(aId);
    expect(audit.username).to.equal("admin");
    expect(audit.purpose).to.equal("季度会员回访");
    expect(audit.row_count).to.equal(3);
    expect(audit.completed_at).to.be.instanceOf(Date);

    // A member who withdrew consent is no longer handed out; the second export is on record too.
    const p2Id = (await members.list(aId, { store: "store-pudong", limit: 10 })).find((m) => m.phoneMasked === p2.masked)!.id;
    await members.withdrawConsent(aId, p2Id);
    const again = await admin.post("/console/members/export", { purpose: "生日月关怀短信", _csrf: csrfOf((await admin.get("/console/members")).text) });
    expect(again.status).to.equal(200);
    expect(again.text).to.include(p1.e164).and.include(p3.e164).and.not.include(p2.e164);
    rows = await exportRows();
    expect(rows).to.have.length(before + 2);
    expect(rows.at(-1)!.row_count).to.equal(2);
    // The admin's page lists them; the list shows no number.
    const listed = await admin.get("/console/members");
    expect(listed.text).to.include("季度会员回访").and.include("生日月关怀短信");
    expectNoFullPhone(listed.text);
  });

  it("shows another brand none of this brand's members, and exports only its own", async () => {
    const client = await signedIn(users.bAdmin);
    // Both brands have a store-pudong: B's page of it holds B's members only.
    const store = await client.get("/console/stores/store-pudong/members");
    expect(store.status).to.equal(200);
    expect(store.text).to.include(pb.masked);
    for (const p of [p1, p2, p3]) expect(store.text).to.not.include(p.masked);
    expect((await client.get("/console/stores/store-xuhui/members")).status).to.equal(404);
    const page = await client.get("/console/members");
    expect(/id="brand-members" data-value="(\d+)"/.exec(page.text)?.[1]).to.equal("1");
    const csv = await client.post("/console/members/export", { purpose: "B 品牌会员回访", _csrf: csrfOf(page.text) });
    expect(csv.status).to.equal(200);
    expect(csv.text).to.include(pb.e164);
    for (const p of [p1, p2, p3]) expect(csv.text).to.not.include(p.e164);
    const { rows } = await db.query("SELECT row_count FROM member_exports WHERE brand_id = $1", [bId]);
    expect(rows.map((r) => r.row_count)).to.deep.equal([1]);
  });

  it("keeps the phone numbers out of the database's plain text: only the export decrypts them", async () => {
    // Every member table, as text: no number in any form (the development codes keep the masked form).
    for (const table of ["members", "member_consents", "member_claims", "member_codes", "member_dev_codes", "member_exports"]) {
      const { rows } = await db.query(`SELECT t::text AS row FROM ${table} t`);
      for (const { row } of rows) for (const p of allPhones) for (const form of phoneForms(p)) expect(row, `${table}: ${form}`).to.not.include(form);
    }
  });
});
