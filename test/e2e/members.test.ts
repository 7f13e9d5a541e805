/**
 * Issue 20 in a real browser on a phone-sized screen (375 px), without script: the buyer's genuine
 * scan of a sold bottle offers the claim; the phone number, the (unticked) consent, the code from the
 * development sender; the member page shows the bottle and the points. A second person (a fresh
 * browser) scanning the claimed bottle sees the resale line; a store posting a sale of it raises
 * resold_after_claim.
 */
import { expect } from "chai";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { lifecycle, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" };

describe("members in the browser", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let browser: Browser;
  let db: pg.Pool;
  let brand: BrandFixture;

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 19, env: { TRUST_PROXY: "1" } });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    browser = await launchBrowser();
    brand = await stack.createBrand({ codes: 1 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
  });
  after(async () => {
    await browser?.close();
    await db?.end();
    await stack?.stop();
    await chain?.stop();
  });

  /** Nothing wider than the screen: no sideways scrolling at 375 px. */
  async function fitsWidth(page: Page): Promise<void> {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width, "the page's width").to.be.at.most(375);
  }

  it("claims the bottle from its page, shows it on the member page; a second person sees the resale line; a store's sale raises resold_after_claim", async () => {
    const bottle = brand.codes[0]!;
    const buyer = await newPage(browser, { ...PHONE, extraHTTPHeaders: { "x-forwarded-for": "203.0.113.50" } });
    const problems: string[] = [];
    buyer.page.on("pageerror", (error) => problems.push(error.message));
    await buyer.page.goto(bottle.url);
    expect(await buyer.page.getAttribute("header.verdict", "data-verdict")).to.equal("genuine");
    expect(await buyer.page.isVisible("#member-claim")).to.equal(true);
    expect(await buyer.page.isChecked("#member-claim input[name=consent]"), "the consent is not pre-ticked").to.equal(false);
    await fitsWidth(buyer.page);
    await saveScreenshot(buyer.page, "members-claim-offer");

    await buyer.page.fill("#claim-phone", "138 0013 8000");
    await buyer.page.selectOption("#claim-month", "5");
    await buyer.page.check("#member-claim input[name=consent]");
    await Promise.all([buyer.page.waitForURL(/\/member\/code$/), buyer.page.click("#member-claim button[type=submit]")]);
    expect(await buyer.page.textContent("body")).to.include("138****8000");
    expect(await buyer.page.isVisible("[data-development=true]")).to.equal(true);
    await fitsWidth(buyer.page);

    // The development sender's code, as the console shows it.
    const codeId = await buyer.page.getAttribute("input[name=codeId]", "value");
    const { rows } = await db.query<{ code: string }>("SELECT code FROM member_dev_codes WHERE code_id = $1", [codeId]);
    await buyer.page.fill("#code", rows[0]!.code);
    await Promise.all([buyer.page.waitForURL(new RegExp(`/m/${brand.slug}`)), buyer.page.click("button[type=submit]")]);
    expect(await buyer.page.getAttribute("[data-points]", "data-points")).to.equal("10");
    expect(await buyer.page.textContent(`[data-claimed-serial="${bottle.serial}"]`)).to.include(bottle.serial);
    expect(await buyer.page.textContent("body"))
      .to.include("138****8000")
      .and.not.to.include("13800138000");
    await fitsWidth(buyer.page);
    await saveScreenshot(buyer.page, "members-member-page");

    // The member's link to the bottle opens its page, without the resale line for its own member.
    await Promise.all([buyer.page.waitForURL(/\/01\//), buyer.page.click(`[data-claimed-serial="${bottle.serial}"] a`)]);
    expect(await buyer.page.$('[data-warning="claimed"]')).to.equal(null);
    expect(problems).to.deep.equal([]);
    await buyer.context.close();

    // Someone else, later, elsewhere: the resale line.
    const other = await newPage(browser, { ...PHONE, extraHTTPHeaders: { "x-forwarded-for": "198.51.100.77" } });
    await other.page.goto(bottle.url);
    const line = await other.page.textContent('[data-warning="claimed"]');
    expect(line).to.include("由其买家登记").and.to.include("已被转卖或重新灌装");
    expect(await other.page.getAttribute("header.verdict", "data-verdict")).to.equal("warning");
    expect(await other.page.$("#member-claim")).to.equal(null);
    await fitsWidth(other.page);
    await saveScreenshot(other.page, "members-resale-line");
    await other.context.close();

    // The store tries to sell it again.
    const key = (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey })).body.storeKey as string;
    const sale = { id: "resale-1", type: "retail_sale", codes: [bottle.serial], occurredAt: new Date().toISOString(), party: "store-pudong" };
    expect((await stack.request("POST", "/api/v1/store/events", { token: key, body: { events: [sale] } })).status).to.equal(422);
    const alerts = await stack.request("GET", "/api/v1/alerts", { token: brand.apiKey });
    const resold = (alerts.body.alerts as { kind: string; party: string; serial: string }[]).filter((a) => a.kind === "resold_after_claim");
    expect(resold).to.have.length(1);
    expect(resold[0]).to.include({ party: "store-pudong", serial: bottle.serial });
  });
});
