/**
 * Issue 16, point 6: a code whose label was printed (exported in the lot's label file) but that was never
 * produced is no genuine bottle: leaked or stolen labels. The consumer page and the store check say so in
 * Chinese and English, with no "genuine" wording and no claim of an anchored history. Real PostgreSQL,
 * Redis and a local chain.
 */
import { expect } from "chai";
import { escapeHtml } from "../../service/web/html.ts";
import { MESSAGES as WORDS } from "../../service/verify/i18n.ts";
import { startChainStack, type BrandFixture, type ChainStack } from "../helpers/stack.ts";

/** The page's words as the page writes them (HTML-escaped). */
const MESSAGES = Object.fromEntries(
  (["zh", "en"] as const).map((lang) => [
    lang,
    Object.fromEntries(Object.entries(WORDS[lang]).map(([key, value]) => [key, typeof value === "string" ? escapeHtml(value) : value])),
  ]),
) as unknown as typeof WORDS;

describe("a code never produced (issue 16, point 6)", function () {
  this.timeout(120_000);
  let env: ChainStack;
  let brand: BrandFixture;
  /** The label file's rows: what a label printer (or whoever took the file) has. */
  let labels: Record<string, string>[];

  before(async () => {
    env = await startChainStack({ keyIndex: 6 });
    brand = await env.stack.createBrand({ codes: 2 });
    const exported = await fetch(`${env.stack.url}/api/v1/codes/export?lot=2026-11-A`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
    expect(exported.status).to.equal(200);
    const [header, ...rows] = (await exported.text())
      .trim()
      .split("\r\n")
      .map((line) => line.split(","));
    labels = rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]!])));
    expect(labels.map((l) => l.serial)).to.have.members(brand.codes.map((c) => c.serial));
  });
  after(async () => {
    await env?.stop();
  });

  const page = async (url: string, lang?: "en" | "zh") => {
    const response = await fetch(`${url}${lang === undefined ? "" : `&lang=${lang}`}`.replace(new URL(url).origin, env.stack.url));
    return { status: response.status, body: await response.text() };
  };
  const claims = (lang: "zh" | "en") => [
    MESSAGES[lang].genuine,
    MESSAGES[lang].genuineText,
    MESSAGES[lang].genuinePendingText,
    `${MESSAGES[lang].anchored} · `,
  ];

  for (const lang of ["zh", "en"] as const) {
    it(`the page of a label never produced says so (${lang}), with no "genuine" wording and no anchored history`, async () => {
      const r = await page(labels[0]!.url!, lang);
      expect(r.status).to.equal(200);
      expect(r.body).to.include('data-verdict="not_produced"');
      expect(r.body).to.include("verdict-notproduced");
      expect(r.body).to.include(`<h1>${MESSAGES[lang].notProduced}</h1>`);
      expect(r.body).to.include(lang === "zh" ? "这瓶酒不能视为真品" : "cannot be taken as authentic");
      expect(r.body).not.to.include("verdict-genuine");
      for (const claim of claims(lang)) expect(r.body, claim).not.to.include(claim);
      expect(r.body, "no history to show, so no timeline").not.to.include('class="timeline"');
      if (lang === "en") expect(r.body).not.to.match(/genuine/i);
    });
  }

  it("the store check's JSON names it not_produced, once, in both languages", async () => {
    const key = await env.stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
    expect(key.status).to.equal(201);
    for (const [lang, message] of [
      ["en", /^No production is recorded for this code/],
      ["zh", /^此编码没有生产记录/],
    ] as const) {
      const r = await env.stack.request("GET", `/api/v1/store/check?serial=${labels[0]!.serial}&lang=${lang}`, { token: key.body.storeKey });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      expect(r.body.warnings[0].kind).to.equal("not_produced");
      expect(r.body.warnings[0].message).to.match(message);
      expect(r.body.warnings.filter((w: { kind: string }) => w.kind === "not_produced")).to.have.length(1);
      expect(JSON.stringify(r.body)).not.to.match(/genuine|正品/i);
    }
  });

  it("once produced, the same label's page is genuine, and claims an anchored history only when it is anchored", async () => {
    const serial = labels[1]!.serial!;
    const before = await page(labels[1]!.url!, "en");
    expect(before.body).to.include('data-verdict="not_produced"');
    const produced = await env.stack.postEvents(brand, [
      { id: "prod-1", type: "production", codes: [serial], occurredAt: new Date(Date.now() - 3_600_000).toISOString(), party: "factory-zunyi" },
    ]);
    expect(produced.status, JSON.stringify(produced.body)).to.equal(202);
    const pending = await page(labels[1]!.url!, "en");
    expect(pending.body).to.include('data-verdict="genuine"');
    // Before its batch is anchored the page says the history is being anchored; after, that it is.
    if (pending.body.includes(`class="step pending"`)) expect(pending.body).to.include(MESSAGES.en.genuinePendingText).and.not.include(MESSAGES.en.genuineText);
    await env.stack.waitAnchored(serial, brand.codes.find((c) => c.serial === serial)!.secret);
    const anchored = await page(labels[1]!.url!, "en");
    expect(anchored.body).to.include(MESSAGES.en.genuineText);
    expect(anchored.body).to.include('id="self-check"');
  });
});
