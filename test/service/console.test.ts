/**
 * The console's service-level behaviour over real HTTP, PostgreSQL and chain: users created by the
 * brand, sign-in (scrypt, same answer for unknown user and wrong password, rate limit), session
 * cookies and their hashed storage, CSRF refusal, expiry and sign-out, and tenancy between brands,
 * stores and brand views.
 */
import { createHash } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { SIGN_IN_PER_USER } from "../../service/console/web.ts";
import { consoleClient, createDemoBrand, csrfOf, expectedFor, type ConsoleUserFixture, type DemoBrand } from "../helpers/console.ts";
import { startChainStack, type ChainStack, type Stack } from "../helpers/stack.ts";

describe("console: users, sessions, CSRF and tenancy", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let demo: DemoBrand;

  before(async () => {
    services = await startChainStack({ keyIndex: 15 });
    ({ stack, db } = services);
    demo = await createDemoBrand(stack);
  });
  after(async () => {
    await services?.stop();
  });

  const signedIn = async (user: ConsoleUserFixture) => {
    const client = consoleClient(stack.url);
    const answer = await client.signIn(user);
    expect(answer.status, answer.text.slice(0, 300)).to.equal(303);
    return client;
  };

  it("lets the brand create users through its API, validating every field, and keeps only scrypt hashes", async () => {
    const key = demo.brand.apiKey;
    const post = (body: unknown, token = key) => stack.request("POST", "/api/v1/users", { token, body });
    const created = await post({ username: `${demo.brand.slug}-Clerk`, password: "0123456789ab", kind: "store", party: "store-pudong", displayName: "店员" });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body).to.include({ username: `${demo.brand.slug}-clerk`, kind: "store", party: "store-pudong", admin: false, disabledAt: null });
    const {
      rows: [row],
    } = await db.query("SELECT password_hash FROM console_users WHERE id = $1", [created.body.id]);
    expect(row.password_hash).to.match(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(row.password_hash).not.to.include("0123456789ab");

    const refused = async (body: unknown, status: number, field: string) => {
      const r = await post(body);
      expect(r.status, JSON.stringify(r.body)).to.equal(status);
      expect(r.body.field).to.equal(field);
    };
    await refused({ username: `${demo.brand.slug}-clerk`, password: "0123456789ab", kind: "brand" }, 409, "username");
    await refused({ username: "x1", password: "0123456789ab", kind: "brand" }, 400, "username");
    await refused({ username: "has space", password: "0123456789ab", kind: "brand" }, 422, "username");
    await refused({ username: "short-pass", password: "123", kind: "brand" }, 400, "password");
    await refused({ username: "no-store", password: "0123456789ab", kind: "store" }, 422, "party");
    await refused({ username: "bad-store", password: "0123456789ab", kind: "store", party: "dist-shanghai" }, 422, "party");
    await refused({ username: "ghost-store", password: "0123456789ab", kind: "store", party: "nowhere" }, 422, "party");
    await refused({ username: "store-admin", password: "0123456789ab", kind: "store", party: "store-pudong", admin: true }, 422, "admin");
    await refused({ username: "brand-party", password: "0123456789ab", kind: "brand", party: "store-pudong" }, 422, "party");
    await refused({ username: "extra", password: "0123456789ab", kind: "brand", role: "root" }, 400, "role");
    expect((await post({ username: "nokey", password: "0123456789ab", kind: "brand" }, "stk_wrong")).status).to.equal(401);

    const list = await stack.request("GET", "/api/v1/users", { token: key });
    expect(list.body.users.map((u: { username: string }) => u.username)).to.include.members([demo.users.admin.username, `${demo.brand.slug}-clerk`]);
    const other = await stack.createBrand({ codes: 0 });
    expect((await stack.request("DELETE", `/api/v1/users/${created.body.id}`, { token: other.apiKey })).status, "another brand's user").to.equal(404);
    const { rows: count } = await db.query("SELECT count(*)::int AS n FROM console_users WHERE username LIKE $1", [`%-${"no-store"}`]);
    expect(count[0].n, "nothing written by a refused request").to.equal(0);

    // the users API is documented; the console's pages are not API
    const doc = await stack.request("GET", "/docs/json");
    expect(doc.body.paths).to.have.property("/api/v1/users");
    expect(Object.keys(doc.body.paths).filter((path) => path.startsWith("/console"))).to.deep.equal([]);
  });

  it("signs in with a session cookie whose token is stored only hashed; wrong password and unknown user look the same", async () => {
    const client = consoleClient(stack.url);
    const page = await client.get("/console/sign-in");
    expect(page.status).to.equal(200);
    expect(page.headers.get("cache-control")).to.equal("no-store");
    expect(page.text).to.include('<label for="username">').and.to.include('autocomplete="current-password"');

    const wrong = await client.signIn({ ...demo.users.admin, password: "not the password" });
    const unknown = await client.signIn({ ...demo.users.admin, username: "nobody-at-all", password: "not the password" });
    const otherBrand = await client.signIn({ ...demo.users.admin, brand: "no-such-brand" });
    expect(wrong.status).to.equal(401);
    expect(unknown.status).to.equal(401);
    const strip = (html: string) => html.replace(/value="[^"]*"/g, "");
    expect(otherBrand.status, "the right username and password under another brand").to.equal(401);
    expect(strip(wrong.text)).to.equal(strip(unknown.text));
    expect(strip(otherBrand.text)).to.equal(strip(unknown.text));
    expect(wrong.setCookies.some((c) => c.startsWith("sealtrace_session="))).to.equal(false);

    const ok = await client.signIn({ ...demo.users.admin, brand: ` ${demo.brand.slug.toUpperCase()}`, username: demo.users.admin.username.toUpperCase() });
    expect(ok.status).to.equal(303);
    expect(ok.location).to.equal("/console");
    const cookie = ok.setCookies.find((c) => c.startsWith("sealtrace_session="))!;
    expect(cookie)
      .to.match(/; Max-Age=43200/)
      .and.to.match(/; Path=\/console/)
      .and.to.match(/; HttpOnly/)
      .and.to.match(/; Secure/)
      .and.to.match(/; SameSite=Lax/);
    const token = client.cookies.get("sealtrace_session")!;
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.query(
      "SELECT s.token_hash, s.expires_at FROM console_sessions s JOIN console_users u ON u.id = s.user_id WHERE u.username = $1",
      [demo.users.admin.username],
    );
    expect(rows.some((r) => r.token_hash.equals(createHash("sha256").update(token).digest()))).to.equal(true);
    const { rows: leaked } = await db.query("SELECT 1 FROM console_sessions WHERE encode(token_hash, 'escape') LIKE $1", [`%${token}%`]);
    expect(leaked).to.have.length(0);

    const home = await client.get("/console");
    expect(home.status).to.equal(303);
    expect(home.location).to.equal("/console/overview");
    const overview = await client.get("/console/overview");
    expect(overview.status).to.equal(200);
    expect(overview.text).to.include("已登录：王经理");
  });

  it("refuses a form without a valid CSRF token, or with one from another session", async () => {
    const admin = await signedIn(demo.users.admin);
    const before = await db.query("SELECT count(*)::int AS n FROM codes");
    const mint = { gtin: demo.gtins.feitian, count: "2", lot: "CSRF-1" };
    const none = await admin.post("/console/codes", mint, { csrf: false });
    expect(none.status).to.equal(403);
    expect(none.text).to.include("表单已过期");
    const forged = await admin.post("/console/codes", { ...mint, _csrf: "forged-token" });
    expect(forged.status).to.equal(403);
    // a token from the sign-in page (signed out) is not good for the signed-in session
    const anonymous = await consoleClient(stack.url).csrf();
    expect((await admin.post("/console/codes", { ...mint, _csrf: anonymous })).status).to.equal(403);
    const other = await signedIn(demo.users.pudong);
    const otherToken = await other.csrf(`/console/stores/store-pudong`);
    expect((await admin.post("/console/codes", { ...mint, _csrf: otherToken })).status).to.equal(403);
    expect((await db.query("SELECT count(*)::int AS n FROM codes")).rows[0].n, "nothing minted").to.equal(before.rows[0].n);
    // sign-out needs the token too: without it the session lives on
    expect((await admin.post("/console/sign-out", {}, { csrf: false })).status).to.equal(403);
    expect((await admin.get("/console/overview")).status).to.equal(200);

    const minted = await admin.post("/console/codes", { ...mint, _csrf: await admin.csrf("/console/codes") });
    expect(minted.status, minted.text.slice(0, 500)).to.equal(303);
    expect(minted.location).to.equal("/console/codes?minted=2&lot=CSRF-1");
    const csv = await admin.get("/console/codes/export?lot=CSRF-1");
    expect(csv.status).to.equal(200);
    expect(csv.headers.get("content-disposition")).to.equal('attachment; filename="codes-CSRF-1.csv"');
    expect(csv.text.trim().split("\r\n")).to.have.length(3);
  });

  it("ends a session at sign-out and at expiry, and a disabled user's sessions at once", async () => {
    const client = await signedIn(demo.users.admin);
    const token = client.cookies.get("sealtrace_session")!;
    const out = await client.post("/console/sign-out", { _csrf: await client.csrf("/console/overview") });
    expect(out.status).to.equal(303);
    expect(out.location).to.equal("/console/sign-in");
    expect(out.setCookies.some((c) => /^sealtrace_session=;/.test(c))).to.equal(true);
    const { rows } = await db.query("SELECT 1 FROM console_sessions WHERE token_hash = $1", [createHash("sha256").update(token).digest()]);
    expect(rows, "the session row is deleted").to.have.length(0);
    // the old cookie, replayed, signs nobody in
    const replay = consoleClient(stack.url);
    replay.cookies.set("sealtrace_session", token);
    const denied = await replay.get("/console/overview");
    expect(denied.status).to.equal(303);
    expect(denied.location).to.equal("/console/sign-in?next=%2Fconsole%2Foverview");

    const expiring = await signedIn(demo.users.admin);
    const hash = createHash("sha256").update(expiring.cookies.get("sealtrace_session")!).digest();
    expect((await expiring.get("/console/sales")).status).to.equal(200);
    await db.query("UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hash]);
    const expired = await expiring.get("/console/sales");
    expect(expired.status).to.equal(303);
    expect(expired.location).to.match(/^\/console\/sign-in/);

    const key = demo.brand.apiKey;
    const temp = await stack.request("POST", "/api/v1/users", {
      token: key,
      body: { username: `${demo.brand.slug}-temp`, password: "temporary-pass", kind: "brand" },
    });
    const tempClient = await signedIn({ brand: demo.brand.slug, username: `${demo.brand.slug}-temp`, password: "temporary-pass" });
    expect((await tempClient.get("/console/overview")).status).to.equal(200);
    expect((await stack.request("DELETE", `/api/v1/users/${temp.body.id}`, { token: key })).body.disabledAt).to.be.a("string");
    expect((await tempClient.get("/console/overview")).status, "disabled: signed out at once").to.equal(303);
    const again = await consoleClient(stack.url).signIn({ brand: demo.brand.slug, username: `${demo.brand.slug}-temp`, password: "temporary-pass" });
    expect(again.status, "a disabled user cannot sign in").to.equal(401);
    expect(again.text).to.include("用户名或密码不正确");
  });

  it("keeps store users to their own store and brand users to their own brand", async () => {
    const pudong = await signedIn(demo.users.pudong);
    expect((await pudong.get("/console")).location).to.equal("/console/stores/store-pudong");
    for (const path of [
      "/console/overview",
      "/console/sales",
      "/console/alerts",
      "/console/compliance",
      "/console/price-protection",
      "/console/price-protection.csv",
      "/console/codes",
      "/console/codes/export?lot=FT-1",
      "/console/webhooks",
      "/console/batches",
      "/console/stores",
      "/console/users",
    ]) {
      const r = await pudong.get(path);
      expect(r.status, path).to.equal(403);
      expect(r.text, path).to.include("无权访问");
    }
    for (const path of [
      "/console/stores/store-guiyang",
      "/console/stores/store-guiyang/sales",
      "/console/stores/store-guiyang/check?code=x",
      "/console/stores/no-such-store",
    ]) {
      expect((await pudong.get(path)).status, path).to.equal(403);
    }
    expect(
      (await pudong.post("/console/stores/store-guiyang/threshold", { threshold: "1", _csrf: await pudong.csrf("/console/stores/store-pudong") })).status,
    ).to.equal(403);
    expect(
      (await pudong.post("/console/codes", { gtin: demo.gtins.feitian, count: "1", lot: "X", _csrf: await pudong.csrf("/console/stores/store-pudong") }))
        .status,
    ).to.equal(403);
    const own = await pudong.get("/console/stores/store-pudong");
    expect(own.status).to.equal(200);
    expect(own.text).to.include("浦东专卖店").and.not.to.include("贵阳南明烟酒店");

    // a brand user who is not an admin cannot manage users
    await stack.request("POST", "/api/v1/users", {
      token: demo.brand.apiKey,
      body: { username: `${demo.brand.slug}-analyst`, password: "analyst-password", kind: "brand" },
    });
    const analyst = await signedIn({ brand: demo.brand.slug, username: `${demo.brand.slug}-analyst`, password: "analyst-password" });
    expect((await analyst.get("/console/overview")).status).to.equal(200);
    expect((await analyst.get("/console/users")).status).to.equal(403);
    expect((await analyst.get("/console/stores/store-guiyang")).status, "brand users see every store of the brand").to.equal(200);

    // another brand's admin sees none of this brand's stores, lots or numbers
    const other = await stack.createBrand({ codes: 0 });
    await stack.request("POST", "/api/v1/users", {
      token: other.apiKey,
      body: { username: `${other.slug}-admin`, password: "other-password", kind: "brand", admin: true },
    });
    const stranger = await signedIn({ brand: other.slug, username: `${other.slug}-admin`, password: "other-password" });
    expect((await stranger.get("/console/stores/store-guiyang")).status).to.equal(404);
    expect((await stranger.get("/console/codes/export?lot=FT-1")).status).to.equal(404);
    const overview = await stranger.get("/console/overview");
    expect(overview.text).to.match(/id="events-today" data-value="0"/);
    const users = await stranger.get("/console/users");
    expect(users.text).not.to.include(demo.users.admin.username);
  });

  it("shows the numbers of the demo history on the server-rendered pages", async () => {
    const expected = expectedFor(demo);
    const admin = await signedIn(demo.users.admin);
    const overview = (await admin.get("/console/overview")).text;
    expect(overview).to.include(`id="events-today" data-value="${expected.eventsToday}"`);
    expect(overview).to.include(`id="events-week" data-value="${expected.eventsWeek}"`);
    const stock = (await admin.get("/console/stores/store-pudong")).text;
    const feitian = expected.stock["store-pudong"]![demo.gtins.feitian]!;
    expect(stock).to.include(
      `<td class="num">${feitian.onHand}</td><td class="num">${feitian.received}</td><td class="num">${feitian.sold}</td><td>${demo.gtins.feitian}</td>`,
    );
  });

  it("lets a store set its low-stock threshold with a form, refusing bad values with a 422 page", async () => {
    const pudong = await signedIn(demo.users.pudong);
    const page = await pudong.get("/console/stores/store-pudong");
    expect(page.text).to.include('id="low-stock-list"');
    const token = csrfOf(page.text);
    const bad = await pudong.post("/console/stores/store-pudong/threshold", { threshold: "-3", _csrf: token });
    expect(bad.status).to.equal(422);
    expect(bad.text).to.include("低库存阈值");
    expect((await db.query("SELECT 1 FROM store_settings")).rowCount, "nothing saved").to.equal(0);
    const saved = await pudong.post("/console/stores/store-pudong/threshold", { threshold: "0", _csrf: token });
    expect(saved.status).to.equal(303);
    const after = await pudong.get(saved.location!);
    expect(after.text).to.include("已保存").and.to.include('id="low-stock-none"');
  });

  it("checks a bottle from the scan box, accepting the QR link as scanned", async () => {
    const pudong = await signedIn(demo.users.pudong);
    const sold = demo.codes.find((c) => c.serial === demo.events.find((e) => e.id.endsWith("-sale-3"))!.codes[0])!;
    const url = `${stack.url}/01/${sold.gtin}/21/${sold.serial}?s=${sold.secret}`;
    const checked = await pudong.get(`/console/stores/store-pudong/check?${new URLSearchParams({ code: url, intent: "sale", price: "1499" })}`);
    expect(checked.status).to.equal(200);
    expect(checked.text).to.include('data-authentic="true"').and.to.include('data-warning="already_sold"');
    const fake = await pudong.get("/console/stores/store-pudong/check?code=NOSUCHCODE");
    expect(fake.text).to.include('data-authentic="false"');
    expect((await pudong.get("/console/stores/store-pudong/check?code=x&price=abc")).status).to.equal(422);
    const scans = await db.query("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [sold.serial]);
    expect(scans.rows[0].n, "a store check is not a consumer scan").to.equal(0);
  });

  it("never sends a signed-in user off our console, whatever `next` says", async () => {
    for (const next of ["https://evil.example/", "//evil.example/console", "/console/../../etc", "/\\evil.example", "javascript:alert(1)"]) {
      const client = consoleClient(stack.url);
      const answer = await client.post("/console/sign-in", { ...demo.users.admin, next });
      expect(answer.status, next).to.equal(303);
      expect(answer.location, next).to.equal("/console");
    }
    const client = consoleClient(stack.url);
    expect((await client.post("/console/sign-in", { ...demo.users.admin, next: "/console/alerts?kind=price_below" })).location).to.equal(
      "/console/alerts?kind=price_below",
    );
  });

  it("lets a brand admin create and disable users with the console's forms", async () => {
    const admin = await signedIn(demo.users.admin);
    const page = await admin.get("/console/users");
    expect(page.status).to.equal(200);
    const username = `${demo.brand.slug}-cashier`;
    const refused = await admin.post("/console/users", { username, password: "short", kind: "store", party: "store-pudong", _csrf: csrfOf(page.text) });
    expect(refused.status).to.equal(422);
    expect(refused.text).to.include("请检查「密码」").and.to.include(`value="${username}"`).and.not.to.include('value="short"');
    const created = await admin.post("/console/users", {
      username,
      password: "cashier-password",
      kind: "store",
      party: "store-pudong",
      _csrf: csrfOf(page.text),
    });
    expect(created.status, created.text.slice(0, 400)).to.equal(303);
    expect((await admin.get(created.location!)).text).to.include(`已创建用户 ${username}`);
    const cashier = await signedIn({ brand: demo.brand.slug, username, password: "cashier-password" });
    expect((await cashier.get("/console")).location).to.equal("/console/stores/store-pudong");

    const {
      rows: [row],
    } = await db.query("SELECT id FROM console_users WHERE username = $1", [username]);
    const disabled = await admin.post(`/console/users/${row.id}/disable`, { _csrf: csrfOf(page.text) });
    expect(disabled.status).to.equal(303);
    expect((await cashier.get("/console/stores/store-pudong")).status, "signed out at once").to.equal(303);
    const self = (await db.query("SELECT id FROM console_users WHERE username = $1", [demo.users.admin.username])).rows[0].id;
    expect((await admin.post(`/console/users/${self}/disable`, { _csrf: csrfOf(page.text) })).status, "not yourself").to.equal(422);
  });

  it("rate-limits sign-in attempts per username", async () => {
    const client = consoleClient(stack.url);
    const token = await client.csrf();
    let last = 0;
    for (let i = 0; i <= SIGN_IN_PER_USER; i++) {
      last = (await client.post("/console/sign-in", { username: "target-user", password: `guess-${i}`, _csrf: token })).status;
    }
    expect(last).to.equal(429);
    const page = await client.post("/console/sign-in", { username: "target-user", password: "guess", _csrf: token });
    expect(page.status).to.equal(429);
    expect(page.text).to.include("登录尝试过于频繁");
    // another username from the same client is not locked out
    expect((await client.post("/console/sign-in", { username: "someone-else", password: "guess", _csrf: token })).status).to.equal(401);
  });
});
