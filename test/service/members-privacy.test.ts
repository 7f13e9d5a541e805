/**
 * Issue 20: a member's phone number is never in the logs nor in plain text in the database (the
 * whole database dumped with pg_dump and searched for the number in every format, and for those
 * formats' bytes as hex, how bytea is dumped); it leaves SealTrace only in the signed SMS gateway
 * webhook; leaving erases it (the dump searched again, the hash gone too) while counts stay.
 */
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { expect } from "chai";
import type pg from "pg";
import { createLogger } from "../../service/log.ts";
import { verifySignature, type SignedHeaders } from "../../service/ingest/signature.ts";
import { claimOverHttp, codeIdOf, getPage, postForm, requestClaimCode } from "../helpers/members.ts";
import { lifecycle, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

const run = promisify(execFile);

/** The number as people write it, and as programs store it. */
function formats(national: string): string[] {
  const spaced = `${national.slice(0, 3)} ${national.slice(3, 7)} ${national.slice(7)}`;
  const dashed = spaced.replace(/ /g, "-");
  const text = [national, `+86${national}`, `86${national}`, spaced, dashed, `+86 ${spaced}`, `0086${national}`];
  // bytea columns are dumped as \x hex: a number stored as raw bytes would show as the hex of its text.
  return [...text, ...text.map((t) => Buffer.from(t, "utf8").toString("hex"))];
}

describe("members: the phone number stays private", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  const logs: string[] = [];
  let ipCounter = 0;
  const freshIp = () => `203.0.113.${++ipCounter}`;

  before(async () => {
    services = await startChainStack({
      keyIndex: 18,
      env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "1000", RATE_LIMIT_PER_IP: "1000" },
      // Everything the service logs, at its most talkative level, is kept and searched.
      log: createLogger("trace", { write: (line: string) => void logs.push(line) }),
    });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  async function soldBrand(codes = 1): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    return brand;
  }
  async function dump(): Promise<string> {
    const { stdout } = await run("pg_dump", ["--no-owner", "--inserts", stack.env.DATABASE_URL!], { maxBuffer: 512 * 1024 * 1024 });
    expect(stdout).to.include("member_codes").and.to.include("INSERT INTO public.members");
    return stdout;
  }
  const findIn = (text: string, national: string): string[] => formats(national).filter((f) => text.includes(f));

  it("never writes the number to the logs nor in plain text to the database; the member page and a sign-in show it masked", async () => {
    const national = "13812345678";
    const brand = await soldBrand(2);
    // Typed with spaces, claimed, signed in again by code on the member page, one bottle more.
    const { cookie } = await claimOverHttp(stack.url, db, brand.codes[0]!.url, "138 1234 5678", freshIp());
    const page = await getPage(stack.url, `/m/${brand.slug}`, { cookie });
    expect(page.text).to.include("138****5678");
    const signIn = await postForm(stack.url, `/m/${brand.slug}/code`, { phone: "+86 138-1234-5678", lang: "en" }, { ip: freshIp() });
    expect(signIn.status).to.equal(200);
    expect(signIn.text).to.include("138****5678").and.not.to.include(national);
    await claimOverHttp(stack.url, db, brand.codes[1]!.url, "8613812345678", freshIp());
    // A wrong code and a refused request leave the number out too.
    await requestClaimCode(stack.url, brand.codes[0]!.url, "138 1234 5678", { ip: freshIp() });

    const logged = logs.join("");
    expect(logged, "the development sender logs the masked number").to.include("138****5678");
    expect(logged).to.include("DEVELOPMENT");
    expect(findIn(logged, national), "formats found in the logs").to.deep.equal([]);
    expect(findIn(await dump(), national), "formats found in the database dump").to.deep.equal([]);
  });

  it("sends the code to the brand's SMS gateway as a signed webhook, the only place the number leaves; a failing gateway is a 502", async () => {
    const brand = await soldBrand(2);
    const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
    let answer = 200;
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        received.push({ headers: request.headers, body });
        response.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
      const set = await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { smsGatewayUrl: url } });
      expect(set.status, JSON.stringify(set.body)).to.equal(200);
      const secret = set.body.smsGatewaySecret as string;

      const sent = await requestClaimCode(stack.url, brand.codes[0]!.url, "139 8765 4321", { ip: freshIp(), lang: "en" });
      expect(sent.status, sent.text.slice(0, 300)).to.equal(200);
      expect(sent.text).not.to.include('data-development="true"');
      expect(received).to.have.length(1);
      const { headers, body } = received[0]!;
      expect(verifySignature(body, headers as SignedHeaders, [secret])).to.equal(headers["webhook-id"]);
      const message = JSON.parse(body);
      expect(Object.keys(message)).to.deep.equal(["type", "timestamp", "data"]);
      expect(message.type).to.equal("member.code");
      expect(message.data).to.include({ brand: brand.slug, phone: "+8613987654321", purpose: "claim", lang: "en" });
      expect(message.data.code).to.match(/^[0-9]{6}$/);
      const { rows } = await db.query("SELECT count(*)::int AS n FROM member_dev_codes d JOIN brands b ON b.id = d.brand_id WHERE b.slug = $1", [brand.slug]);
      expect(rows[0].n, "no development code kept for a gateway's code").to.equal(0);
      // The gateway's code claims the bottle.
      const claimed = await postForm(stack.url, `${new URL(brand.codes[0]!.url).pathname}/member/claim`, {
        s: new URL(brand.codes[0]!.url).searchParams.get("s")!,
        codeId: codeIdOf(sent.text),
        code: message.data.code,
      });
      expect(claimed.status).to.equal(303);

      answer = 500;
      const failed = await requestClaimCode(stack.url, brand.codes[1]!.url, "139 8765 4322", { ip: freshIp() });
      expect(failed.status).to.equal(502);
      expect(failed.text).to.include('data-error="sms_failed"');
      expect(findIn(logs.join(""), "13987654321")).to.deep.equal([]);
      expect(findIn(logs.join(""), "13987654322")).to.deep.equal([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("erases the personal data when the member leaves, keeps the counts, and withdraws consent on its own", async () => {
    const national = "13655554444";
    const brand = await soldBrand(1);
    const { cookie } = await claimOverHttp(stack.url, db, brand.codes[0]!.url, national, freshIp());
    const brandId = (await db.query("SELECT id FROM brands WHERE slug = $1", [brand.slug])).rows[0].id as number;
    const origin = stack.url;

    // A post from another site is refused (and its cookie would not be sent: SameSite=Lax).
    const forged = await postForm(stack.url, `/m/${brand.slug}/leave`, { confirm: "yes" }, { cookie, origin: "https://evil.example" });
    expect(forged.status).to.equal(403);

    const withdrawn = await postForm(stack.url, `/m/${brand.slug}/withdraw`, { lang: "en" }, { cookie, origin });
    expect(withdrawn.status).to.equal(303);
    const { rows: consents } = await db.query("SELECT withdrawn_at FROM member_consents WHERE brand_id = $1", [brandId]);
    expect(consents[0].withdrawn_at).to.be.instanceOf(Date);
    expect((await getPage(stack.url, `/m/${brand.slug}?lang=en`, { cookie })).text).to.include("Consent withdrawn");

    const left = await postForm(stack.url, `/m/${brand.slug}/leave`, { confirm: "yes", lang: "en" }, { cookie, origin });
    expect(left.status).to.equal(303);
    const { rows } = await db.query("SELECT phone_hash, phone_cipher, phone_key_id, ref_key, birth_month, erased_at, points FROM members WHERE brand_id = $1", [
      brandId,
    ]);
    expect(rows).to.have.length(1);
    expect(rows[0]).to.deep.include({ phone_hash: null, phone_cipher: null, phone_key_id: null, ref_key: null, birth_month: null, points: 10 });
    expect(rows[0].erased_at).to.be.instanceOf(Date);
    const { rows: after } = await db.query(
      `SELECT (SELECT count(*)::int FROM member_claims WHERE brand_id = $1) AS claims,
              (SELECT count(*)::int FROM member_consents WHERE brand_id = $1 AND ip_hash IS NOT NULL) AS ip_hashes,
              (SELECT count(*)::int FROM member_sessions WHERE brand_id = $1) AS sessions,
              (SELECT count(*)::int FROM member_codes WHERE brand_id = $1) AS codes`,
      [brandId],
    );
    expect(after[0]).to.deep.equal({ claims: 1, ip_hashes: 0, sessions: 0, codes: 0 });
    // Signed out, and the number no longer a member: the page offers the sign-in.
    expect((await getPage(stack.url, `/m/${brand.slug}`, { cookie })).text).to.include("member-sign-in");
    expect(findIn(await dump(), national)).to.deep.equal([]);
    // The claim stays anchored, and the bottle still shows it was registered.
    const page = await getPage(stack.url, new URL(brand.codes[0]!.url).pathname + new URL(brand.codes[0]!.url).search, { ip: freshIp() });
    expect(page.text).to.include('data-warning="claimed"');
  });
});
