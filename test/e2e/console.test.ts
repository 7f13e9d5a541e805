/**
 * The console in a real browser (Debian's chromium), on a phone-sized screen: a brand admin and a
 * store user sign in (with the keyboard), open every view of the demo brand, and the charts must
 * have drawn exactly the numbers computed from the demo history; a store user cannot open brand
 * views or another store's; the English switch sticks. Screenshots go to test-output/screenshots/.
 */
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { CONSOLE_MESSAGES } from "../../service/console/i18n.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { createDemoBrand, expectedFor, type ConsoleUserFixture, type DemoBrand, type Expected } from "../helpers/console.ts";
import { startChainStack, type ChainStack, type Stack } from "../helpers/stack.ts";

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" };
const m = CONSOLE_MESSAGES.zh;

interface DrawnChart {
  id: string;
  rendered: string | null;
  total: number;
  expectedTotal: number;
  values: { labels: string[]; series: number[][] };
  painted: number;
}

describe("console in the browser", function () {
  this.timeout(300_000);
  let services: ChainStack;
  let stack: Stack;
  let browser: Browser;
  let demo: DemoBrand;
  let expected: Expected;

  before(async () => {
    services = await startChainStack({ keyIndex: 16, env: { EXPLORER_URL: "https://explorer.example/" } });
    stack = services.stack;
    // the endpoint refuses connections: its deliveries stay pending, with failed attempts
    demo = await createDemoBrand(stack, { webhookUrl: "http://127.0.0.1:9/hook" });
    expected = expectedFor(demo);
    await stack.waitAnchored(demo.codes[0]!.serial, demo.codes[0]!.secret);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await services?.stop();
  });

  /** Opens a page and collects console errors and CSP violations. */
  async function open(lang = "zh-CN"): Promise<{ page: Page; problems: string[]; close(): Promise<void> }> {
    const { context, page } = await newPage(browser, { ...PHONE, locale: lang });
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    return { page, problems, close: () => context.close() };
  }

  /** Signs in with the keyboard only: skip link first, then the form's fields, Enter to send. */
  async function signIn(page: Page, user: ConsoleUserFixture): Promise<void> {
    await page.goto(`${stack.url}/console`);
    expect(new URL(page.url()).pathname).to.equal("/console/sign-in");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.className)).to.equal("skip-link");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.id), "the skip link moves focus to the content").to.equal("main");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id), "the brand's code first").to.equal("brand");
    await page.keyboard.type(user.brand);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal("username");
    await page.keyboard.type(user.username);
    await page.keyboard.press("Tab");
    await page.keyboard.type(user.password);
    await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/console/sign-in")), page.keyboard.press("Enter")]);
  }

  /** Waits for the page at `path` (with exactly `search`, when given). */
  const at = (page: Page, path: string, search?: string) => page.waitForURL((url) => url.pathname === path && (search === undefined || url.search === search));

  /** Every chart on the page once drawn: what Chart.js holds, and how many pixels it painted. */
  async function charts(page: Page): Promise<Record<string, DrawnChart>> {
    await page.waitForFunction(() => [...document.querySelectorAll("canvas[data-chart]")].every((c) => (c as HTMLElement).dataset.rendered));
    const list = await page.$$eval("canvas[data-chart]", (canvases) =>
      canvases.map((canvas) => {
        const c = canvas as HTMLCanvasElement;
        const pixels = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
        return {
          id: c.id,
          rendered: c.dataset.rendered ?? null,
          total: Number(c.dataset.total),
          expectedTotal: Number(c.dataset.expectedTotal),
          values: JSON.parse(c.dataset.values ?? "{}"),
          painted,
        };
      }),
    );
    for (const chart of list) {
      expect(chart.rendered, chart.id).to.equal("true");
      expect(chart.total, `${chart.id}: what was drawn is what the server sent`).to.equal(chart.expectedTotal);
      expect(chart.painted, `${chart.id} painted something`).to.be.greaterThan(500);
    }
    return Object.fromEntries(list.map((c) => [c.id, c]));
  }

  /** The chart's data as { label: value } for its one series. */
  const byLabel = (chart: DrawnChart | undefined, series = 0): Record<string, number> =>
    Object.fromEntries((chart?.values.labels ?? []).map((label, i) => [label, chart!.values.series[series]![i]!]));
  const total = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);

  /** What every console page must be: an h1, no sideways scrolling at 375 px, labelled fields, tables with headers. */
  async function checkPage(page: Page, name: string, problems: string[]): Promise<void> {
    expect(await page.locator("h1").count(), name).to.equal(1);
    const widths = await page.evaluate(() => {
      const client = document.documentElement.clientWidth;
      // the innermost elements reaching past the right edge, to say what overflows
      const wide = [...document.querySelectorAll("body *")].filter(
        (e) => e.getBoundingClientRect().right > client + 0.5 && ![...e.children].some((c) => c.getBoundingClientRect().right > client + 0.5),
      );
      return { scroll: document.documentElement.scrollWidth, client, wide: wide.slice(0, 3).map((e) => e.outerHTML.slice(0, 120)) };
    });
    expect(widths.scroll, `${name} fits a 375-px screen: ${widths.wide.join(" | ")}`).to.be.at.most(widths.client);
    const unlabelled = await page.$$eval("input:not([type=hidden]), select", (fields) =>
      fields.filter((f) => (f as HTMLInputElement).labels?.length === 0).map((f) => f.outerHTML),
    );
    expect(unlabelled, `${name}: every field has a label`).to.deep.equal([]);
    expect(
      await page.$$eval("table", (tables) => tables.filter((t) => t.querySelectorAll("th[scope=col]").length === 0).length),
      `${name}: tables have headers`,
    ).to.equal(0);
    expect(problems, `${name}: no console errors or CSP violations`).to.deep.equal([]);
    await saveScreenshot(page, `console-375-${name}`);
  }

  it("shows a brand admin every brand view, with charts drawn from the demo history", async () => {
    const { page, problems, close } = await open();
    try {
      await signIn(page, demo.users.admin);
      expect(new URL(page.url()).pathname).to.equal("/console/overview");

      // overview: events, bottles by state, alerts by kind, anchoring health
      expect(await page.getAttribute("#events-today", "data-value")).to.equal(String(expected.eventsToday));
      expect(await page.getAttribute("#events-week", "data-value")).to.equal(String(expected.eventsWeek));
      expect(await page.getAttribute("#anchoring-health", "data-health")).to.equal("ok");
      expect(await page.textContent("#last-batch")).to.match(/#\d+ · 已上链/);
      let drawn = await charts(page);
      expect(byLabel(drawn["chart-states"])).to.deep.equal(Object.fromEntries(Object.entries(expected.states).map(([state, n]) => [m.states[state], n])));
      expect(drawn["chart-states"]!.total).to.equal(demo.codes.length);
      expect(byLabel(drawn["chart-alerts"])).to.deep.equal(Object.fromEntries(Object.entries(expected.alerts).map(([kind, n]) => [m.alertKinds[kind], n])));
      await checkPage(page, "brand-overview", problems);

      // a focused link shows where the keyboard is
      await page.focus('.console-nav a[href="/console/sales"]');
      expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.to.equal("none");
      await Promise.all([at(page, "/console/sales"), page.keyboard.press("Enter")]);
      drawn = await charts(page);
      expect(byLabel(drawn["chart-regions"])).to.deep.equal({ 上海: expected.salesByRegion["CN-SH"], 贵州: expected.salesByRegion["CN-GZ"] });
      expect(drawn["chart-weeks"]!.values.series[0]).to.deep.equal(expected.salesByWeek);
      expect(drawn["chart-weeks"]!.total).to.equal(total(expected.salesByRegion));
      await checkPage(page, "brand-sales", problems);

      await page.goto(`${stack.url}/console/alerts`);
      drawn = await charts(page);
      expect(byLabel(drawn["chart-responsible"])).to.deep.equal({ 上海经销商: expected.diversionsByResponsible["dist-shanghai"] });
      const rows = await page.$$eval("#alerts-table tbody tr", (trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")),
      );
      expect(rows).to.have.length(2);
      for (const row of rows) {
        expect(row.slice(0, 4)).to.deep.equal(["上海经销商", "贵阳南明烟酒店", "上海", "贵州"]);
        expect(row[4]).to.include("茅台镇酒厂").and.to.include("贵阳仓").and.to.include("上海经销商");
      }
      await checkPage(page, "brand-alerts", problems);
      await page.selectOption("#kind", "price_below");
      await Promise.all([at(page, "/console/alerts", "?kind=price_below"), page.click("form.inline-form button")]);
      expect(await page.locator("#alerts-table tbody tr").count()).to.equal(expected.alerts.price_below);

      await page.goto(`${stack.url}/console/compliance`);
      drawn = await charts(page);
      const compliance = drawn["chart-compliance"]!;
      const stores = { 浦东专卖店: "store-pudong", 贵阳南明烟酒店: "store-guiyang" } as Record<string, string>;
      for (const [name, party] of Object.entries(stores)) {
        expect(byLabel(compliance, 0)[name], `${name} within`).to.equal(expected.compliance[party]!.within);
        expect(byLabel(compliance, 1)[name], `${name} outside`).to.equal(expected.compliance[party]!.judged - expected.compliance[party]!.within);
      }
      await checkPage(page, "brand-compliance", problems);

      await page.goto(`${stack.url}/console/price-protection`);
      expect(await page.locator("#protection-table tbody tr").count()).to.equal(3); // two stores and the totals
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#protection-csv")]);
      expect(download.suggestedFilename()).to.match(/^price-protection-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
      await checkPage(page, "brand-price-protection", problems);

      await page.goto(`${stack.url}/console/codes`);
      expect(await page.locator("#lots-table tbody tr").count()).to.equal(2);
      await page.fill("#mint-count", "3");
      await page.fill("#mint-lot", "E2E-1");
      await Promise.all([at(page, "/console/codes", "?minted=3&lot=E2E-1"), page.click("form.stacked-form button[type=submit]")]);
      expect(await page.textContent(".notice-ok")).to.include("已生成 3 个编码");
      const [labels] = await Promise.all([page.waitForEvent("download"), page.click('a[href="/console/codes/export?lot=E2E-1"]')]);
      expect(labels.suggestedFilename()).to.equal("codes-E2E-1.csv");
      await checkPage(page, "brand-codes", problems);

      await page.goto(`${stack.url}/console/webhooks`);
      expect(await page.textContent("#endpoints-table")).to.include("http://127.0.0.1:9/hook");
      await checkPage(page, "brand-webhooks", problems);
      await page.click(`a[href="/console/webhooks/${demo.endpointId}"]`);
      await at(page, `/console/webhooks/${demo.endpointId}`);
      // the outbox fans the two diversion alerts out to the endpoint within moments
      for (let i = 0; i < 100 && (await page.locator("#deliveries-table tbody tr").count()) < expected.alerts.diversion!; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await page.reload();
      }
      const deliveries = await page.$$eval("#deliveries-table tbody tr", (trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim())),
      );
      expect(deliveries.map((d) => d[1])).to.deep.equal([m.alertKinds.diversion, m.alertKinds.diversion]);
      await checkPage(page, "brand-webhook-deliveries", problems);

      await page.goto(`${stack.url}/console/batches`);
      const tx = page.locator("#batches-table a[href^='https://explorer.example/tx/0x']").first();
      expect(await tx.count()).to.equal(1);
      await checkPage(page, "brand-batches", problems);

      await page.goto(`${stack.url}/console/stores`);
      await checkPage(page, "brand-stores", problems);
      await page.goto(`${stack.url}/console/users`);
      expect(await page.textContent("#users-table")).to.include(demo.users.pudong.username);
      await checkPage(page, "brand-users", problems);

      // the brand sees each store's own views too
      await page.goto(`${stack.url}/console/stores/store-guiyang`);
      drawn = await charts(page);
      expect(byLabel(drawn["chart-stock"])).to.deep.equal({ "飞天茅台 53%vol 500ml": expected.stock["store-guiyang"]![demo.gtins.feitian]!.onHand });
      await checkPage(page, "brand-store-guiyang", problems);
    } finally {
      await close();
    }
  });

  it("shows a store user its stock, sales and scan box, and nothing of the brand or other stores", async () => {
    const { page, problems, close } = await open();
    try {
      await page.goto(`${stack.url}/console/sign-in`);
      await checkPage(page, "sign-in", problems);
      await signIn(page, demo.users.pudong);
      expect(new URL(page.url()).pathname).to.equal("/console/stores/store-pudong");
      const stock = expected.stock["store-pudong"]!;
      let drawn = await charts(page);
      expect(byLabel(drawn["chart-stock"])).to.deep.equal({
        "茅台王子酒 53%vol 500ml": stock[demo.gtins.wangzi]!.onHand,
        "飞天茅台 53%vol 500ml": stock[demo.gtins.feitian]!.onHand,
      });
      // default threshold 5: both products are low; at 3 only 飞天 (2 on hand) is
      expect(await page.locator("#low-stock-list li").count()).to.equal(2);
      await page.fill("#threshold", "3");
      await Promise.all([at(page, "/console/stores/store-pudong", "?saved=1"), page.press("#threshold", "Enter")]);
      expect(await page.$$eval("#low-stock-list li", (items) => items.map((li) => li.getAttribute("data-gtin")))).to.deep.equal([demo.gtins.feitian]);
      await checkPage(page, "store-stock", problems);

      await page.click('.console-nav a[href="/console/stores/store-pudong/sales"]');
      await at(page, "/console/stores/store-pudong/sales");
      drawn = await charts(page);
      expect(drawn["chart-weeks"]!.values.series[0]).to.deep.equal(expected.storeSalesByWeek["store-pudong"]);
      expect(drawn["chart-months"]!.values.series[0]).to.deep.equal(expected.storeSalesByMonth["store-pudong"]);
      expect(byLabel(drawn["chart-best"])).to.deep.equal({
        "飞天茅台 53%vol 500ml": expected.bestSellers["store-pudong"]![demo.gtins.feitian],
        "茅台王子酒 53%vol 500ml": expected.bestSellers["store-pudong"]![demo.gtins.wangzi],
      });
      await checkPage(page, "store-sales", problems);

      // the scan box: a bottle still on the shelf, scanned as its QR link, about to be sold at the guide price
      await page.goto(`${stack.url}/console/stores/store-pudong/check`);
      expect(await page.evaluate(() => document.activeElement?.id), "the scan box has the focus").to.equal("scan-code");
      const onShelf = demo.codes.find((c) => c.serial === demo.events.find((e) => e.id.endsWith("-recv-pd-f"))!.codes[5])!;
      await page.keyboard.type(`${stack.url}/01/${onShelf.gtin}/21/${onShelf.serial}?s=${onShelf.secret}`);
      await page.check("input[name=intent][value=sale]");
      await page.fill("#scan-price", "1499.00");
      await Promise.all([page.waitForURL((url) => url.pathname.endsWith("/check") && url.searchParams.has("code")), page.press("#scan-price", "Enter")]);
      expect(await page.getAttribute("#check-result", "data-authentic")).to.equal("true");
      expect(await page.getAttribute("#check-result", "data-warnings")).to.equal("0");
      expect(await page.getAttribute("#check-result [data-verdict]", "data-verdict")).to.equal("within");
      await checkPage(page, "store-check", problems);

      for (const path of [
        "/console/overview",
        "/console/alerts",
        "/console/codes",
        "/console/users",
        "/console/stores/store-guiyang",
        "/console/stores/store-guiyang/sales",
        "/console/stores/store-guiyang/members",
        "/console/members",
      ]) {
        const response = await page.goto(`${stack.url}${path}`);
        expect(response!.status(), path).to.equal(403);
        expect(await page.textContent("h1"), path).to.equal(m.forbidden);
      }
      await saveScreenshot(page, "console-375-store-forbidden");
      expect(await page.locator(".console-nav a").count(), "a store user's menu has only its own views").to.equal(4);

      await page.click(".sign-out button");
      await at(page, "/console/sign-in");
      const response = await page.goto(`${stack.url}/console/stores/store-pudong`);
      expect(new URL(response!.url()).pathname, "signed out").to.equal("/console/sign-in");
    } finally {
      await close();
    }
  });

  it("switches to English and stays there", async () => {
    const { page, problems, close } = await open();
    try {
      await signIn(page, demo.users.admin);
      await page.click('footer a[hreflang="en"]');
      await at(page, "/console/overview", "?lang=en");
      expect(await page.textContent("h1")).to.equal("Overview");
      expect(await page.getAttribute("html", "lang")).to.equal("en");
      await page.click('.console-nav a[href="/console/sales"]');
      await at(page, "/console/sales");
      expect(await page.textContent("h1")).to.equal("Sales");
      await charts(page);
      await checkPage(page, "brand-sales-en", problems);
    } finally {
      await close();
    }
  });
});
