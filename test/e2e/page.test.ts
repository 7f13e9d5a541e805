/**
 * The real consumer page in a real browser: a phone-sized screen, the in-browser verification of
 * an anchored bottle (every check passes), and the same page fed a tampered bundle (a check fails).
 */
import { expect } from "chai";
import type { Browser } from "playwright-core";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { lifecycle, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" };

describe("consumer page in the browser", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let browser: Browser;
  let brand: BrandFixture;

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 11 });
    browser = await launchBrowser();
    brand = await stack.createBrand({ codes: 2 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    for (const code of brand.codes) await stack.waitAnchored(code.serial, code.secret);
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
    await chain?.stop();
  });

  async function openAndVerify(code: { serial: string; secret: string; url: string }, tamper?: (bundle: ProofBundle) => void, lang = "") {
    const { context, page } = await newPage(browser, PHONE);
    const problems: string[] = [];
    page.on("console", (message) => { if (message.type() === "error") problems.push(message.text()); });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${code.url}${lang}`);
    // This visit was a consumer scan: let its link be anchored, so every check can pass.
    await stack.waitAnchored(code.serial, code.secret);
    if (tamper) {
      await page.route("**/api/v1/items/*/proof*", async (route) => {
        const response = await route.fetch();
        const bundle = (await response.json()) as ProofBundle;
        tamper(bundle);
        await route.fulfill({ response, json: bundle });
      });
    }
    await page.click("#self-check-run");
    await page.waitForSelector("#self-check[data-verdict]", { timeout: 30_000 });
    const verdict = await page.getAttribute("#self-check", "data-verdict");
    const checks = await page.$$eval("#self-check-results li", (items) => items.map((li) => ({ name: li.getAttribute("data-check"), state: li.className.replace("check ", ""), text: li.textContent })));
    const summary = await page.textContent("#self-check-summary");
    return { context, page, verdict, checks, summary, problems };
  }

  it("is readable on a 375-px-wide screen and verifies itself: every check passes", async () => {
    const code = brand.codes[0]!;
    const { context, page, verdict, checks, summary, problems } = await openAndVerify(code);
    try {
      expect(await page.textContent("h1")).to.equal("正品");
      // nothing overflows the phone's width
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(widths.scroll).to.be.at.most(widths.client);
      await saveScreenshot(page, "page-375-verified-zh");
      expect(verdict, JSON.stringify(checks)).to.equal("pass");
      expect(checks.length).to.be.greaterThan(10);
      expect(checks.every((c) => c.state === "pass"), JSON.stringify(checks.filter((c) => c.state !== "pass"))).to.equal(true);
      expect(checks.some((c) => c.name?.startsWith("root:"))).to.equal(true);
      expect(checks.some((c) => c.name === "chain")).to.equal(true);
      expect(summary).to.match(/全部 \d+ 项检查通过/);
      expect(problems, "no console errors and no CSP violations").to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it("shows the failing check when the bundle it is given was tampered with", async () => {
    const code = brand.codes[1]!;
    const { context, page, verdict, checks } = await openAndVerify(code, (bundle) => {
      const sale = bundle.events.find((e) => e.event.type === "retail_sale")!;
      (sale.event.price as { amount: string }).amount = "99.00";
    }, "&lang=en");
    try {
      await saveScreenshot(page, "page-375-tampered-en");
      expect(verdict).to.equal("fail");
      const failed = checks.filter((c) => c.state === "fail");
      expect(failed.map((c) => c.name)).to.include("event:4");
      expect(await page.textContent("#self-check-summary")).to.match(/fail/i);
    } finally {
      await context.close();
    }
  });
});
