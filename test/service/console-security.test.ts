/**
 * Issue 16, point 12, attacked on the real console: parallel password guesses against one user
 * (the lockout is counted atomically in the database before any hash), usernames that told one
 * brand which names other brands use (now unique within a brand; signing in names the brand), and
 * the label file (every QR secret and cap code) that any brand user could download (admins only).
 */
import { expect } from "chai";
import type pg from "pg";
import { SIGN_IN_PER_USER } from "../../service/console/users.ts";
import { consoleClient, type ConsoleUserFixture } from "../helpers/console.ts";
import { startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

describe("console: lockout, usernames per brand, label export", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let a: BrandFixture;
  let b: BrandFixture;

  const createUser = (brand: BrandFixture, body: Record<string, unknown>) => stack.request("POST", "/api/v1/users", { token: brand.apiKey, body });
  const signedIn = async (user: ConsoleUserFixture) => {
    const client = consoleClient(stack.url);
    const answer = await client.signIn(user);
    expect(answer.status, answer.text.slice(0, 300)).to.equal(303);
    return client;
  };

  before(async () => {
    services = await startChainStack({ keyIndex: 17 });
    ({ stack, db } = services);
    [a, b] = await Promise.all([stack.createBrand({ codes: 2 }), stack.createBrand({ codes: 0 })]);
  });
  after(async () => {
    await services?.stop();
  });

  it("50 parallel wrong passwords: no more than the limit reach the hash, and then the right password is refused too", async () => {
    const victim = { brand: a.slug, username: "victim", password: "the-real-password" };
    expect((await createUser(a, { username: victim.username, password: victim.password, kind: "brand" })).status).to.equal(201);
    const client = consoleClient(stack.url);
    const token = await client.csrf();
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client.post("/console/sign-in", { brand: a.slug, username: victim.username, password: `guess-${i}`, _csrf: token }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 401)).to.have.length(SIGN_IN_PER_USER);
    expect(statuses.filter((s) => s === 429)).to.have.length(50 - SIGN_IN_PER_USER);
    const right = await client.post("/console/sign-in", { ...victim, _csrf: token });
    expect(right.status).to.equal(429);
    expect(Number(right.headers.get("retry-after"))).to.be.within(1, 15 * 60);
    expect(right.setCookies.some((c) => c.startsWith("sealtrace_session="))).to.equal(false);
    const {
      rows: [row],
    } = await db.query("SELECT failures FROM console_sign_in_failures WHERE brand = $1 AND username = $2", [a.slug, victim.username]);
    expect(row.failures).to.equal(51);
  });

  it("a username another brand uses can be created, and tells nothing; each signs in to its own brand only", async () => {
    const name = "shared-manager";
    const ofA = await createUser(a, { username: name, password: "password-of-brand-a", kind: "brand", admin: true });
    expect(ofA.status).to.equal(201);
    const ofB = await createUser(b, { username: name.toUpperCase(), password: "password-of-brand-b", kind: "brand", admin: true });
    expect(ofB.status, JSON.stringify(ofB.body)).to.equal(201);
    // Within one brand, a name is still one user's.
    const again = await createUser(b, { username: name, password: "another-password", kind: "brand" });
    expect(again.status).to.equal(409);
    expect(JSON.stringify(again.body)).not.to.include(a.slug);

    const asB = await signedIn({ brand: b.slug, username: name, password: "password-of-brand-b" });
    const users = (await asB.get("/console/users")).text;
    expect(users).to.include(name).and.not.to.include("victim");
    // A's password under B's code, and B's under A's, open nothing.
    expect((await consoleClient(stack.url).signIn({ brand: b.slug, username: name, password: "password-of-brand-a" })).status).to.equal(401);
    expect((await consoleClient(stack.url).signIn({ brand: a.slug, username: name, password: "password-of-brand-b" })).status).to.equal(401);
  });

  it("only a brand admin downloads a lot's labels (QR secrets and cap codes)", async () => {
    expect((await createUser(a, { username: "analyst", password: "analyst-password", kind: "brand" })).status).to.equal(201);
    expect((await createUser(a, { username: "boss", password: "boss-password!", kind: "brand", admin: true })).status).to.equal(201);
    const analyst = await signedIn({ brand: a.slug, username: "analyst", password: "analyst-password" });
    const refused = await analyst.get("/console/codes/export?lot=2026-11-A");
    expect(refused.status).to.equal(403);
    for (const code of a.codes) expect(refused.text).not.to.include(code.secret).and.not.to.include(code.capCode);
    const codes = await analyst.get("/console/codes");
    expect(codes.status).to.equal(200);
    expect(codes.text).not.to.include("/console/codes/export");

    const boss = await signedIn({ brand: a.slug, username: "boss", password: "boss-password!" });
    const csv = await boss.get("/console/codes/export?lot=2026-11-A");
    expect(csv.status).to.equal(200);
    for (const code of a.codes) expect(csv.text).to.include(code.capCode);
    expect((await boss.get("/console/codes")).text).to.include("/console/codes/export?lot=2026-11-A");
  });
});
