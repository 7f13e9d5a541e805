/**
 * Issue 20: claiming a bottle and joining the brand's members from its page, against a real stack.
 * The consumer's side as a script-less browser does it (test/helpers/members.ts); the attacker's
 * side: no consent, wrong, expired, used and exhausted codes, the three send limits, claims of an
 * unsold bottle, a second claim, a code for another bottle or phone, another brand's code and
 * session; and the claim in a proof bundle that verifies, the resale warning and alert.
 */
import { expect } from "chai";
import type pg from "pg";
import {
  consentRecord,
  CONSENT_VERSION,
  CODE_MAX_ATTEMPTS,
  SENDS_PER_BOTTLE_PER_HOUR,
  SENDS_PER_IP_PER_HOUR,
  SENDS_PER_PHONE_PER_HOUR,
} from "../../service/core/members.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { claimOverHttp, codeIdOf, confirmClaim, devCode, getPage, pathOf, postForm, requestClaimCode } from "../helpers/members.ts";
import { lifecycle, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

describe("members: claiming a bottle from its page", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let ipCounter = 0;
  /** A fresh client address for each flow, so one test's sends do not count against another's. */
  const freshIp = () => `198.51.100.${++ipCounter}`;

  before(async () => {
    services = await startChainStack({ keyIndex: 17, env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "1000", RATE_LIMIT_PER_IP: "1000" } });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  /** A brand whose `codes` bottles were all produced, shipped, received and sold an hour ago. */
  async function soldBrand(codes = 2): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes });
    const posted = await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)));
    expect(posted.status, JSON.stringify(posted.body)).to.equal(202);
    return brand;
  }
  const brandId = async (slug: string): Promise<number> => (await db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [slug])).rows[0]!.id;

  it("offers the claim after a genuine scan of a sold bottle, records the consent with its text's version, claims, and shows the member page", async () => {
    const brand = await soldBrand(1);
    const bottle = brand.codes[0]!;
    const ip = freshIp();
    const scan = await getPage(stack.url, pathOf(bottle.url), { ip });
    expect(scan.text).to.include('data-verdict="genuine"').and.to.include('id="member-claim"');
    expect(scan.text, "the consent box is not ticked").not.to.match(/name="consent"[^>]*checked/);

    const noConsent = await requestClaimCode(stack.url, bottle.url, "138 0013 8000", { consent: false, ip });
    expect(noConsent.status).to.equal(422);
    expect(noConsent.text).to.include('data-error="consent"');
    expect((await db.query("SELECT count(*)::int AS n FROM member_codes")).rows[0].n, "no code without consent").to.equal(0);

    const sent = await requestClaimCode(stack.url, bottle.url, "138 0013 8000", { ip, birthMonth: "5" });
    expect(sent.status, sent.text.slice(0, 300)).to.equal(200);
    expect(sent.text).to.include("138****8000").and.to.include('data-development="true"');
    const codeId = codeIdOf(sent.text);
    const code = await devCode(db, codeId);
    const wrong = code === "000000" ? "000001" : "000000";
    const bad = await confirmClaim(stack.url, bottle.url, codeId, wrong, { ip });
    expect(bad.status).to.equal(422);
    expect(bad.text).to.include('data-error="code"');
    expect((await db.query("SELECT attempts FROM member_codes WHERE id = $1", [codeId])).rows[0].attempts, "a wrong try is counted").to.equal(1);

    const done = await confirmClaim(stack.url, bottle.url, codeId, code, { ip });
    expect(done.status, done.text.slice(0, 300)).to.equal(303);
    expect(done.location).to.equal(`/m/${brand.slug}?lang=zh`);
    expect(done.cookie).to.match(/^sealtrace_member_\d+=/);

    const id = await brandId(brand.slug);
    const { rows: consents } = await db.query(
      "SELECT text_version, encode(text_sha256, 'hex') AS sha, lang, store_party, withdrawn_at FROM member_consents WHERE brand_id = $1",
      [id],
    );
    expect(consents).to.have.length(1);
    const shown = consentRecord("zh", "贵州茅台酒股份有限公司 (test)", "浦东专卖店");
    expect(consents[0]).to.deep.include({ text_version: CONSENT_VERSION, sha: shown.sha256, lang: "zh", store_party: "store-pudong", withdrawn_at: null });
    const { rows: members } = await db.query("SELECT store_party, points, birth_month FROM members WHERE brand_id = $1", [id]);
    expect(members).to.deep.equal([{ store_party: "store-pudong", points: 10, birth_month: 5 }]);

    const page = await getPage(stack.url, `/m/${brand.slug}?lang=en`, { cookie: done.cookie });
    expect(page.text)
      .to.include(bottle.serial)
      .and.to.include('data-points="10"')
      .and.to.include('data-member-phone="138****8000"')
      .and.to.include('data-level="1"');
    expect(page.text).not.to.include("13800138000");

    // The member's own look is not warned; anyone else's is.
    const own = await getPage(stack.url, `${pathOf(bottle.url)}&lang=en`, { cookie: done.cookie, ip });
    expect(own.text).not.to.include('data-warning="claimed"');
    const other = await getPage(stack.url, `${pathOf(bottle.url)}&lang=en`, { ip: freshIp() });
    expect(other.text).to.include('data-warning="claimed"').and.to.include("Registered by its buyer on").and.to.include("resold or refilled");
    expect(other.text, "no claim offer on a claimed bottle").not.to.include('id="member-claim"');
  });

  it("claims a bottle once: a second claim, a claim of an unsold bottle, and a code for another bottle are refused", async () => {
    const brand = await soldBrand(2);
    const [first, second] = brand.codes as [BrandFixture["codes"][0], BrandFixture["codes"][0]];
    await claimOverHttp(stack.url, db, first.url, "13900139000", freshIp());
    const again = await requestClaimCode(stack.url, first.url, "13700137000", { ip: freshIp() });
    expect(again.status).to.equal(409);
    expect(again.text).to.include('data-error="already_claimed"');

    // A code asked for the second bottle, entered on the first (claimed) and vice versa: a code is bound to its bottle.
    const ip = freshIp();
    const sent = await requestClaimCode(stack.url, second.url, "13700137000", { ip });
    const codeId = codeIdOf(sent.text);
    const code = await devCode(db, codeId);
    const crossed = await confirmClaim(stack.url, first.url, codeId, code, { ip });
    expect(crossed.status, "a code for another bottle").to.equal(422);

    // Two claims racing for one bottle: the database lets one through.
    const ip2 = freshIp();
    const sentB = await requestClaimCode(stack.url, second.url, "13600136000", { ip: ip2 });
    const codeIdB = codeIdOf(sentB.text);
    const [a, b] = await Promise.all([
      confirmClaim(stack.url, second.url, codeId, code, { ip }),
      confirmClaim(stack.url, second.url, codeIdB, await devCode(db, codeIdB), { ip: ip2 }),
    ]);
    expect([a.status, b.status].sort()).to.deep.equal([303, 409]);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM member_claims WHERE serial = $1", [second.serial]);
    expect(rows[0].n).to.equal(1);
    const { rows: events } = await db.query("SELECT count(*)::int AS n FROM events WHERE type = 'claimed' AND $1 = ANY(codes)", [second.serial]);
    expect(events[0].n, "one claimed event").to.equal(1);

    // An unsold bottle: no offer on its page, and a forged post is refused.
    const unsold = await stack.createBrand({ codes: 1 });
    const [production, whIn, whOut, recv] = lifecycle([unsold.codes[0]!.serial]);
    expect((await stack.postEvents(unsold, [production, whIn, whOut, recv])).status).to.equal(202);
    const page = await getPage(stack.url, pathOf(unsold.codes[0]!.url), { ip: freshIp() });
    expect(page.text).not.to.include('id="member-claim"');
    const forged = await requestClaimCode(stack.url, unsold.codes[0]!.url, "13500135000", { ip: freshIp() });
    expect(forged.status).to.equal(409);
    expect(forged.text).to.include('data-error="not_sold"');
    // A wrong secret: like an unknown bottle.
    const noSecret = await requestClaimCode(stack.url, first.url, "13500135000", { ip: freshIp(), secret: "wrong" });
    expect(noSecret.status).to.equal(404);
  });

  it("refuses expired, used and exhausted codes", async () => {
    const brand = await soldBrand(3);
    const ip = freshIp();
    const sent = await requestClaimCode(stack.url, brand.codes[0]!.url, "13800138001", { ip });
    const codeId = codeIdOf(sent.text);
    const code = await devCode(db, codeId);
    await db.query("UPDATE member_codes SET expires_at = now() - interval '1 second' WHERE id = $1", [codeId]);
    const expired = await confirmClaim(stack.url, brand.codes[0]!.url, codeId, code, { ip });
    expect(expired.status).to.equal(410);
    expect(expired.text).to.include('data-error="code_expired"');

    const sent2 = await requestClaimCode(stack.url, brand.codes[1]!.url, "13800138001", { ip });
    const codeId2 = codeIdOf(sent2.text);
    const code2 = await devCode(db, codeId2);
    const wrong = code2 === "111111" ? "222222" : "111111";
    for (let i = 0; i < CODE_MAX_ATTEMPTS; i++) expect((await confirmClaim(stack.url, brand.codes[1]!.url, codeId2, wrong, { ip })).status).to.equal(422);
    const exhausted = await confirmClaim(stack.url, brand.codes[1]!.url, codeId2, code2, { ip });
    expect(exhausted.status, "the right code after too many wrong ones").to.equal(429);
    expect(exhausted.text).to.include('data-error="too_many_attempts"');

    const sent3 = await requestClaimCode(stack.url, brand.codes[2]!.url, "13800138001", { ip });
    const codeId3 = codeIdOf(sent3.text);
    const code3 = await devCode(db, codeId3);
    expect((await confirmClaim(stack.url, brand.codes[2]!.url, codeId3, code3, { ip })).status).to.equal(303);
    expect((await confirmClaim(stack.url, brand.codes[2]!.url, codeId3, code3, { ip })).status, "a used code").to.be.oneOf([409, 410]);
  });

  it("limits codes sent per phone, per IP and per bottle per hour, with clear 429s", async () => {
    const brand = await soldBrand(3);
    const [a, b, c] = brand.codes as [BrandFixture["codes"][0], BrandFixture["codes"][0], BrandFixture["codes"][0]];
    // Per phone: from different IPs, for different bottles.
    for (let i = 0; i < SENDS_PER_PHONE_PER_HOUR; i++)
      expect((await requestClaimCode(stack.url, i % 2 ? a.url : b.url, "13800138111", { ip: freshIp() })).status).to.equal(200);
    const phone = await requestClaimCode(stack.url, c.url, "13800138111", { ip: freshIp() });
    expect(phone.status).to.equal(429);
    expect(phone.text).to.include('data-error="too_many_phone"');

    // Per bottle: c, from different IPs and phones (c has no sends yet).
    for (let i = 0; i < SENDS_PER_BOTTLE_PER_HOUR; i++)
      expect((await requestClaimCode(stack.url, c.url, `1390013${String(9000 + i)}`, { ip: freshIp() })).status).to.equal(200);
    const bottle = await requestClaimCode(stack.url, c.url, "13900139999", { ip: freshIp() });
    expect(bottle.status).to.equal(429);
    expect(bottle.text).to.include('data-error="too_many_bottle"');

    // Per IP: one address, different phones, across a fresh brand's bottles.
    const other = await soldBrand(SENDS_PER_IP_PER_HOUR + 1);
    const ip = freshIp();
    for (let i = 0; i < SENDS_PER_IP_PER_HOUR; i++) {
      expect((await requestClaimCode(stack.url, other.codes[i]!.url, `1370013${String(7000 + i)}`, { ip })).status).to.equal(200);
    }
    const byIp = await requestClaimCode(stack.url, other.codes[SENDS_PER_IP_PER_HOUR]!.url, "13700137999", { ip });
    expect(byIp.status).to.equal(429);
    expect(byIp.text).to.include('data-error="too_many_ip"');
  });

  it("keeps brands apart: another brand's code, session and key see and claim nothing", async () => {
    const brandA = await soldBrand(2);
    const brandB = await soldBrand(1);
    const ip = freshIp();
    const { cookie } = await claimOverHttp(stack.url, db, brandA.codes[0]!.url, "13800138222", ip);
    // A code sent for A's second bottle, entered on B's bottle: another brand's code is no code there.
    const sentA = await requestClaimCode(stack.url, brandA.codes[1]!.url, "13800138333", { ip: freshIp() });
    const codeIdA = codeIdOf(sentA.text);
    const sentB = await requestClaimCode(stack.url, brandB.codes[0]!.url, "13800138333", { ip });
    const codeIdB = codeIdOf(sentB.text);
    const crossed = await confirmClaim(stack.url, brandB.codes[0]!.url, codeIdA, await devCode(db, codeIdA), { ip });
    expect(crossed.status, "brand A's code on brand B's bottle").to.equal(422);
    expect((await confirmClaim(stack.url, brandB.codes[0]!.url, codeIdB, await devCode(db, codeIdB), { ip })).status).to.equal(303);
    expect((await db.query("SELECT count(*)::int AS n FROM member_claims WHERE serial = $1", [brandA.codes[1]!.serial])).rows[0].n).to.equal(0);

    // A's member session on B's member page: not signed in there.
    const page = await getPage(stack.url, `/m/${brandB.slug}`, {
      cookie: cookie.replace(/^sealtrace_member_\d+/, `sealtrace_member_${await brandId(brandB.slug)}`),
    });
    expect(page.text).to.include("member-sign-in").and.not.to.include("data-points");
    // B's settings answer with B's own (no member data in them), and no route shows A's members to B.
    const settings = await stack.request("GET", "/api/v1/settings", { token: brandB.apiKey });
    expect(settings.body).to.deep.include({ memberPointsPerBottle: 10, memberLevelPoints: [0, 100, 500], smsGatewayUrl: null });
  });

  it("anchors the claim: a claimed event with only a salted member reference, in a bundle that verifies; a later sale raises resold_after_claim", async () => {
    const brand = await soldBrand(1);
    const bottle = brand.codes[0]!;
    await claimOverHttp(stack.url, db, bottle.url, "13800138444", freshIp());
    const bundle = await stack.waitAnchored(bottle.serial, bottle.secret);
    const claimed = bundle.events.filter((e) => e.event.type === "claimed");
    expect(claimed).to.have.length(1);
    const event = claimed[0]!.event as unknown as Record<string, unknown>;
    expect(event.member).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(bundle)).not.to.match(/138\D*0013\D*8444/);
    expect(verifyBundle(bundle).valid).to.equal(true);

    // The brand's system records a second sale of the claimed bottle: the alert names the store.
    const resale = { id: `resale-${bottle.serial}`, type: "retail_sale", codes: [bottle.serial], occurredAt: new Date().toISOString(), party: "store-pudong" };
    expect((await stack.postEvents(brand, [resale])).status).to.equal(202);
    const { rows } = await db.query("SELECT kind, party, details FROM alerts WHERE serial = $1 AND kind = 'resold_after_claim'", [bottle.serial]);
    expect(rows).to.have.length(1);
    expect(rows[0].party).to.equal("store-pudong");
    expect(rows[0].details).to.include({ store: "store-pudong", eventType: "retail_sale" });

    // A store key posting a sale of another claimed bottle: refused by the custody rules (it is sold),
    // and the attempt is an alert naming the store.
    const other = await soldBrand(1);
    await claimOverHttp(stack.url, db, other.codes[0]!.url, "13800138555", freshIp());
    const key = (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: other.apiKey })).body.storeKey as string;
    const sale = { id: "again-1", type: "retail_sale", codes: [other.codes[0]!.serial], occurredAt: new Date().toISOString(), party: "store-pudong" };
    const posted = await stack.request("POST", "/api/v1/store/events", { token: key, body: { events: [sale] } });
    expect(posted.status).to.equal(422);
    const { rows: alerts } = await db.query("SELECT party, details FROM alerts WHERE serial = $1 AND kind = 'resold_after_claim'", [other.codes[0]!.serial]);
    expect(alerts).to.have.length(1);
    expect(alerts[0].party).to.equal("store-pudong");
    expect(alerts[0].details).to.include({ store: "store-pudong", eventType: "retail_sale", refused: true });
  });

  it("signs a member in with a code on the member page; a non-member's number gets the same page and no code that works", async () => {
    const brand = await soldBrand(1);
    await claimOverHttp(stack.url, db, brand.codes[0]!.url, "13800138666", freshIp());
    const asked = await postForm(stack.url, `/m/${brand.slug}/code`, { phone: "138 0013 8666", lang: "en" }, { ip: freshIp() });
    expect(asked.status).to.equal(200);
    const codeId = codeIdOf(asked.text);
    const signedIn = await postForm(stack.url, `/m/${brand.slug}/sign-in`, { codeId, code: await devCode(db, codeId) }, { ip: freshIp() });
    expect(signedIn.status).to.equal(303);
    expect((await getPage(stack.url, `/m/${brand.slug}`, { cookie: signedIn.cookie })).text)
      .to.include(brand.codes[0]!.serial)
      .and.to.include('data-points="10"');

    const stranger = await postForm(stack.url, `/m/${brand.slug}/code`, { phone: "138 0013 8777", lang: "en" }, { ip: freshIp() });
    expect(stranger.status).to.equal(200);
    const strangerId = codeIdOf(stranger.text);
    expect(strangerId, "a real-looking code id: membership is not told").to.match(/^[1-9][0-9]*$/);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM member_dev_codes WHERE code_id = $1", [strangerId]);
    expect(rows[0].n, "no code was sent to a non-member").to.equal(0);
    for (const guess of ["000000", "123456"]) {
      expect((await postForm(stack.url, `/m/${brand.slug}/sign-in`, { codeId: strangerId, code: guess }, { ip: freshIp() })).status).to.be.oneOf([422, 429]);
    }
  });

  it("answers malformed cookies, origins and bodies with a 4xx page, never a 5xx", async () => {
    const brand = await soldBrand(1);
    const id = await brandId(brand.slug);
    const page = await getPage(stack.url, `/m/${brand.slug}`, { cookie: `sealtrace_member_${id}=%E0%A4%A` });
    expect(page.status).to.equal(200);
    expect(page.text).to.include("member-sign-in");
    const forged = await postForm(stack.url, `/m/${brand.slug}/leave`, { confirm: "yes" }, { cookie: `sealtrace_member_${id}=${id}.x`, origin: "::nonsense" });
    expect(forged.status).to.equal(403);
    const json = await fetch(`${stack.url}${new URL(brand.codes[0]!.url).pathname}/member/code`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ phone: "13800138000" }),
    });
    expect(json.status).to.be.within(400, 499);
    const badId = await postForm(stack.url, `${new URL(brand.codes[0]!.url).pathname}/member/claim`, { s: brand.codes[0]!.secret, codeId: "abc", code: "12" });
    expect(badId.status).to.equal(422);
    expect((await getPage(stack.url, "/m/no-such-brand")).status).to.equal(404);
  });

  it("sets the brand's member settings: points per bottle, level thresholds, the SMS gateway with its secret", async () => {
    const brand = await stack.createBrand({ codes: 0 });
    const bad = await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { memberLevelPoints: [10, 5] } });
    expect(bad.status).to.equal(422);
    expect(bad.body.field).to.equal("memberLevelPoints");
    const ssrf = await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { smsGatewayUrl: "http://169.254.169.254/latest" } });
    expect(ssrf.status).to.equal(422);
    expect(ssrf.body.field).to.equal("smsGatewayUrl");
    const set = await stack.request("PATCH", "/api/v1/settings", {
      token: brand.apiKey,
      body: { memberPointsPerBottle: 25, memberLevelPoints: [0, 50], smsGatewayUrl: "http://127.0.0.1:9/sms" },
    });
    expect(set.status, JSON.stringify(set.body)).to.equal(200);
    expect(set.body).to.deep.include({ memberPointsPerBottle: 25, memberLevelPoints: [0, 50], smsGatewayUrl: "http://127.0.0.1:9/sms" });
    expect(set.body.smsGatewaySecret).to.match(/^whsec_/);
    const cleared = await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { smsGatewayUrl: null } });
    expect(cleared.body).to.deep.include({ smsGatewayUrl: null, smsGatewaySecret: null });
  });
});
