/**
 * The real consumer page in a real browser: a phone-sized screen, the in-browser verification of
 * an anchored bottle (every check passes, complete as of its batch, against the registry the page
 * names with its explorer link), and the same page fed the tampered bundles of issue 14 (served to
 * the browser in place of the real one): each one fails, or says it is incomplete, never passes.
 * And the page's verdict as a phone shows it (issue 17): the buyer's first scan after a sale is
 * genuine, with the sale, in the genuine colour; a diverted, an opened and a copied bottle each show
 * their warning (scans placed by X-Forwarded-For, the stack trusting its proxy).
 */
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { LOCAL_CHAIN_ID, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { gtinFrom, lifecycle, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" };
const EXPLORER = "https://explorer.example.org";
/** The page's colours (assets/page.css --ok and --warn), as the browser computes them. */
const GENUINE_COLOUR = "rgb(19, 115, 51)";
const WARNING_COLOUR = "rgb(160, 90, 0)";
const SHANGHAI_IP = "203.0.113.7";
const URUMQI_IP = "198.51.100.9";

type Checks = { name: string | null; state: string; text: string | null }[];

describe("consumer page in the browser", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let browser: Browser;
  let brand: BrandFixture;

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 11, env: { EXPLORER_URL: `${EXPLORER}/`, TRUST_PROXY: "1" } });
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

  /** Opens the bottle's page and runs its check; `tamper` edits the bundle served to it (with `full`, the one with every link's own proof). */
  async function openAndVerify(
    code: { serial: string; secret: string; url: string },
    tamper?: (bundle: ProofBundle) => void,
    lang = "",
    options: { full?: boolean } = {},
  ) {
    const { context, page } = await newPage(browser, PHONE);
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${code.url}${lang}`);
    // This visit was a consumer scan: let its link be anchored, so every check can pass.
    await stack.waitAnchored(code.serial, code.secret);
    if (tamper) {
      await page.route("**/api/v1/items/*/proof*", async (route) => {
        const response = await route.fetch(options.full ? { url: `${route.request().url()}&proofs=all` } : undefined);
        const bundle = (await response.json()) as ProofBundle;
        tamper(bundle);
        await route.fulfill({ response, json: bundle });
      });
    }
    await page.click("#self-check-run");
    await page.waitForSelector("#self-check[data-verdict]", { timeout: 30_000 });
    const verdict = await page.getAttribute("#self-check", "data-verdict");
    const checks: Checks = await page.$$eval("#self-check-results li", (items) =>
      items.map((li) => ({ name: li.getAttribute("data-check"), state: li.className.replace("check ", ""), text: li.textContent })),
    );
    const summary = await page.textContent("#self-check-summary");
    return { context, page, verdict, checks, summary, problems };
  }

  const failing = (checks: Checks) => checks.filter((c) => c.state === "fail").map((c) => c.name);
  const text = (checks: Checks, name: string) => checks.find((c) => c.name === name)?.text ?? "";

  it("is readable on a 375-px-wide screen and verifies itself: complete as of its batch, against the registry it names", async () => {
    const code = brand.codes[0]!;
    const { context, page, verdict, checks, summary, problems } = await openAndVerify(code);
    try {
      expect(await page.textContent("h1")).to.equal("正品");
      // nothing overflows the phone's width
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(widths.scroll).to.be.at.most(widths.client);
      await saveScreenshot(page, "page-375-verified-zh");
      expect(verdict, JSON.stringify(checks)).to.equal("pass");
      expect(checks.length).to.be.greaterThan(15);
      expect(
        checks.every((c) => c.state === "pass"),
        JSON.stringify(checks.filter((c) => c.state !== "pass")),
      ).to.equal(true);
      expect(checks.map((c) => c.name)).to.include.members(["format", "identity", "head", "chain", "fresh"]);
      expect(checks.some((c) => c.name?.startsWith("root:"))).to.equal(true);
      expect(text(checks, "head")).to.match(/^记录完整，截至批次 \d+（锚定于 .+）/);
      expect(text(checks, "identity")).to.contain(`GTIN ${brand.gtin}`).and.to.contain("与二维码一致");
      expect(summary).to.match(/^全部 \d+ 项检查通过：此瓶的完整记录（截至批次 \d+，锚定于 .+）与链上一致。$/);
      expect(problems, "no console errors and no CSP violations").to.deep.equal([]);

      // The chain and registry the check trusts are the server's, shown with a link to the explorer.
      const registry = stack.runtime.chain.registry;
      const section = await page.$eval("#self-check", (s) => ({ ...(s as HTMLElement).dataset }));
      expect(section).to.include({ chainId: String(LOCAL_CHAIN_ID), registry, gtin: brand.gtin, serial: code.serial });
      expect(await page.textContent("#self-check-trust")).to.match(new RegExp(`^核验所依据的区块链：链 ${LOCAL_CHAIN_ID} · 锚定合约 0x`));
      expect(await page.getAttribute("#self-check-trust a", "href")).to.equal(`${EXPLORER}/address/${registry}`);

      // The bundle the page checks shows no other bottle: the other serial of its production event is not in it.
      const bundle = (await stack.request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`)).body as ProofBundle;
      expect(bundle.events[0]!.event.type).to.equal("production");
      expect(JSON.stringify(bundle)).not.to.contain(brand.codes[1]!.serial);
    } finally {
      await context.close();
    }
  });

  it("shows the failing check when the bundle it is given was tampered with", async () => {
    const code = brand.codes[1]!;
    const { context, page, verdict, checks } = await openAndVerify(
      code,
      (bundle) => {
        const sale = bundle.events.find((e) => e.event.type === "retail_sale")!;
        (sale.event.price as { amount: string }).amount = "99.00";
      },
      "&lang=en",
    );
    try {
      await saveScreenshot(page, "page-375-tampered-en");
      expect(verdict).to.equal("fail");
      expect(failing(checks)).to.include("event:4");
      expect(await page.textContent("#self-check-summary")).to.match(/^Verification failed/);
    } finally {
      await context.close();
    }
  });

  it("fails a bundle whose last two links and their events were left out: the head proof names the last link", async () => {
    const code = brand.codes[1]!;
    let kept = 0;
    const { context, page, verdict, checks, summary } = await openAndVerify(
      code,
      (bundle) => {
        const dropped = bundle.links.splice(-2);
        bundle.events = bundle.events.filter((e) => !dropped.some((l) => l.link.event === e.eventHash));
        kept = bundle.links.length;
      },
      "&lang=en",
    );
    try {
      await saveScreenshot(page, "page-375-truncated-en");
      expect(verdict).to.equal("fail");
      expect(failing(checks)).to.include("head");
      expect(text(checks, "head")).to.match(
        new RegExp(
          `^The completeness proof is wrong: .*records link ${kept + 2} as this bottle's last, but the bundle stops at link ${kept}: links were left out`,
        ),
      );
      // Everything that is shown is genuine: only the omission fails.
      for (const c of checks.filter((c) => /^(event|link|proof):/.test(c.name ?? ""))) expect(c.state, `${c.name}: ${c.text}`).to.equal("pass");
      expect(summary).to.match(/^Verification failed/);
    } finally {
      await context.close();
    }
  });

  it("fails a bundle whose GTIN was edited: the first link binds the real one, and the QR code names it", async () => {
    const code = brand.codes[1]!;
    const other = gtinFrom("0690123456790");
    const { context, verdict, checks } = await openAndVerify(
      code,
      (bundle) => {
        bundle.gtin = other;
      },
      "&lang=en",
    );
    try {
      expect(verdict).to.equal("fail");
      expect(failing(checks)).to.deep.equal(["identity"]);
      expect(text(checks, "identity")).to.match(
        /^The bottle's identity is wrong: the first link does not commit to this bottle's brand, GTIN, lot, serial and index/,
      );
      expect(text(checks, "identity")).to.contain(`the proof's GTIN (${other}) is not the QR code's (${brand.gtin})`);
    } finally {
      await context.close();
    }
  });

  it("fails a bundle that names another registry than the page's", async () => {
    const code = brand.codes[1]!;
    const elsewhere = "0x000000000000000000000000000000000000dEaD";
    const { context, verdict, checks, summary } = await openAndVerify(
      code,
      (bundle) => {
        bundle.chain.registry = elsewhere;
      },
      "&lang=en",
    );
    try {
      expect(verdict).to.equal("fail");
      expect(failing(checks)).to.deep.equal(["chain"]);
      expect(text(checks, "chain")).to.match(
        /: the check failed: the bundle names another registry than the one trusted \(expected 0x.+, found 0x000000…00dEaD\)$/,
      );
      expect(checks.some((c) => /^(root:|fresh)/.test(c.name ?? ""))).to.equal(false);
      expect(summary).to.match(/The roots on chain could not be checked\.$/);
    } finally {
      await context.close();
    }
  });

  it("never passes a bundle whose every anchor was set to null", async () => {
    const code = brand.codes[1]!;
    const { context, verdict, checks } = await openAndVerify(
      code,
      (bundle) => {
        for (const link of bundle.links) link.anchor = null;
      },
      "&lang=en",
    );
    try {
      // The head proof still records the last link: links it covers cannot be pending.
      expect(verdict).to.equal("fail");
      expect(failing(checks)).to.include("proof:1");
      expect(failing(checks).every((name) => name?.startsWith("proof:") || name?.startsWith("batch:"))).to.equal(true);
    } finally {
      await context.close();
    }
  });

  it("says 'incomplete' in words, not pass, when every link is pending (and no batch is left unused)", async () => {
    const code = brand.codes[1]!;
    let links = 0;
    const { context, page, verdict, checks, summary } = await openAndVerify(
      code,
      (bundle) => {
        // As a bundle looks before its first batch is anchored: every link pending, no head proof, no batch.
        for (const link of bundle.links) link.anchor = null;
        bundle.head = null;
        bundle.batches = [];
        links = bundle.links.length;
      },
      "&lang=en",
    );
    try {
      await saveScreenshot(page, "page-375-pending-en");
      expect(verdict).to.equal("incomplete");
      expect(failing(checks)).to.deep.equal([]);
      expect(checks.filter((c) => c.state === "pending").map((c) => c.name)).to.deep.equal([
        ...Array.from({ length: links }, (_, i) => `proof:${i + 1}`),
        "head",
      ]);
      expect(summary).to.equal(
        `Incomplete, not verified yet: ${links} links are not anchored yet; the history is not yet proven complete; no root was compared with the chain. Nothing wrong was found, but this is not a pass: check again in a few seconds.`,
      );
    } finally {
      await context.close();
    }
  });

  it("says 'incomplete' in words (Chinese) when the head proof is removed: completeness is not proven", async () => {
    const code = brand.codes[1]!;
    const { context, page, verdict, checks, summary } = await openAndVerify(
      code,
      (bundle) => {
        // A bundle with every link's own proof (?proofs=all), its head proof removed.
        bundle.head = null;
        // A batch that only the head proof used would now be unused (a failure): drop it as a forger would.
        const used = new Set(bundle.links.map((l) => l.anchor?.seq));
        bundle.batches = bundle.batches.filter((b) => used.has(b.seq));
      },
      "",
      { full: true },
    );
    try {
      await saveScreenshot(page, "page-375-no-head-zh");
      expect(verdict).to.equal("incomplete");
      expect(failing(checks)).to.deep.equal([]);
      expect(checks.find((c) => c.name === "head")).to.deep.equal({
        name: "head",
        state: "pending",
        text: "完整性尚未证明：还没有已上链的批次记录此瓶的最后一环",
      });
      expect(checks.some((c) => c.name === "fresh")).to.equal(false);
      expect(summary).to.equal("核验尚未完成：记录的完整性尚未得到证明。目前未发现问题，但这不是“通过”；请几秒后再核验。");
    } finally {
      await context.close();
    }
  });
  describe("the verdict on a phone", () => {
    /** Opens a bottle's page as a phone at `ip` (a place in the brand's table, or none). */
    async function scanAs(url: string, ip: string, locale = "zh-CN") {
      const { context, page } = await newPage(browser, { ...PHONE, locale, extraHTTPHeaders: { "x-forwarded-for": ip } });
      const response = await page.goto(url);
      expect(response?.status()).to.equal(200);
      return { context, page };
    }
    const verdictOn = async (page: Page) =>
      page.$eval("header.verdict", (header) => ({
        verdict: header.getAttribute("data-verdict"),
        title: header.querySelector("h1")?.textContent ?? null,
        sale: header.querySelector("p.sale")?.textContent ?? null,
        background: getComputedStyle(header).backgroundColor,
        warnings: [...header.querySelectorAll(".reasons li")].map((li) => ({ kind: li.getAttribute("data-warning"), text: li.textContent ?? "" })),
        fits: document.documentElement.scrollWidth <= document.documentElement.clientWidth,
      }));
    const placed = async (b: BrandFixture) => {
      const r = await stack.request("PUT", "/api/v1/ip-places", {
        token: b.apiKey,
        body: {
          places: [
            { cidr: "203.0.113.0/24", place: "上海", latitude: 31.23, longitude: 121.47 },
            { cidr: "198.51.100.0/24", place: "乌鲁木齐", latitude: 43.83, longitude: 87.62 },
          ],
        },
      });
      expect(r.status).to.equal(200);
    };

    it("the buyer's first scan, days after the sale, is genuine with the sale line, in the genuine colour (Chinese and English)", async () => {
      const bought = await stack.createBrand({ codes: 1 });
      const code = bought.codes[0]!;
      // bought four days ago, kept as a gift: its first consumer scan comes now
      const events = lifecycle([code.serial]) as { occurredAt: string }[];
      for (const e of events) e.occurredAt = new Date(Date.parse(e.occurredAt) - 4 * 86_400_000).toISOString();
      expect((await stack.postEvents(bought, events)).status).to.equal(202);

      const zh = await scanAs(code.url, SHANGHAI_IP);
      try {
        const seen = await verdictOn(zh.page);
        await saveScreenshot(zh.page, "page-375-bought-zh");
        expect(seen).to.deep.include({ verdict: "genuine", title: "正品", background: GENUINE_COLOUR, warnings: [], fits: true });
        expect(seen.sale).to.match(/^正品，已于 \d{4}\/\d{2}\/\d{2} \d{2}:\d{2} 在 浦东专卖店 售出$/);
        // the line is on the genuine header itself, white on green
        expect(await zh.page.$eval("header.verdict p.sale", (p) => getComputedStyle(p).color)).to.equal("rgb(255, 255, 255)");
      } finally {
        await zh.context.close();
      }
      // another phone (the buyer's family) within the buyer's window, in English
      const en = await scanAs(code.url, "192.0.2.70", "en-GB");
      try {
        const seen = await verdictOn(en.page);
        expect(seen).to.deep.include({ verdict: "genuine", title: "Genuine", background: GENUINE_COLOUR, warnings: [], fits: true });
        expect(seen.sale).to.match(/^Genuine, sold on \d{2}\/\d{2}\/\d{4}, \d{2}:\d{2} at 浦东专卖店$/);
      } finally {
        await en.context.close();
      }
    });

    it("a diverted bottle (sold by a store outside its region) shows the out-of-region warning", async () => {
      const diverted = await stack.createBrand({ codes: 1 });
      const code = diverted.codes[0]!; // minted for CN-SH
      await stack.request("PUT", "/api/v1/regions/CN-BJ", { token: diverted.apiKey, body: { name: "北京" } });
      await stack.request("PUT", "/api/v1/parties/store-bj", { token: diverted.apiKey, body: { kind: "store", name: "北京王府井店", region: "CN-BJ" } });
      const events = lifecycle([code.serial]) as { party: string }[];
      events[3]!.party = "store-bj";
      events[4]!.party = "store-bj";
      expect((await stack.postEvents(diverted, events)).status).to.equal(202);
      const { context, page } = await scanAs(code.url, "192.0.2.71");
      try {
        const seen = await verdictOn(page);
        await saveScreenshot(page, "page-375-diverted-zh");
        expect(seen).to.deep.include({ verdict: "warning", title: "请注意", background: WARNING_COLOUR, sale: null, fits: true });
        expect(seen.warnings.map((w) => w.kind)).to.deep.equal(["out_of_region"]);
        expect(seen.warnings[0]!.text).to.equal("此瓶应在「CN-SH」销售，却出现在「CN-BJ」的 北京王府井店（疑似窜货）。");
      } finally {
        await context.close();
      }
    });

    it("an opened bottle (its cap code scanned) shows the opened warning to whoever scans it next", async () => {
      const opened = await stack.createBrand({ codes: 1 });
      const code = opened.codes[0]!;
      expect((await stack.postEvents(opened, lifecycle([code.serial]))).status).to.equal(202);
      const cap = await fetch(code.capUrl, { headers: { "x-forwarded-for": "192.0.2.72" } });
      expect(cap.status).to.equal(200);
      const { context, page } = await scanAs(code.url, "192.0.2.73");
      try {
        const seen = await verdictOn(page);
        await saveScreenshot(page, "page-375-opened-zh");
        expect(seen).to.deep.include({ verdict: "warning", background: WARNING_COLOUR, sale: null, fits: true });
        expect(seen.warnings.map((w) => w.kind)).to.deep.equal(["opened"]);
        expect(seen.warnings[0]!.text).to.match(/^此瓶已于 .+ 开启（瓶盖下暗码已被扫描）。$/);
      } finally {
        await context.close();
      }
    });

    it("a copied code (verified in Shanghai, then in Urumqi within the hour) shows the copied-code warning", async () => {
      const copied = await stack.createBrand({ codes: 1 });
      const code = copied.codes[0]!;
      expect((await stack.postEvents(copied, lifecycle([code.serial]))).status).to.equal(202);
      await placed(copied);
      // the genuine bottle's buyer in Shanghai ...
      const first = await scanAs(code.url, SHANGHAI_IP);
      try {
        expect(await verdictOn(first.page)).to.deep.include({ verdict: "genuine", background: GENUINE_COLOUR });
      } finally {
        await first.context.close();
      }
      // ... and the same code on another bottle, 3,000 km away, minutes later
      const { context, page } = await scanAs(code.url, URUMQI_IP, "en-GB");
      try {
        const seen = await verdictOn(page);
        await saveScreenshot(page, "page-375-copied-en");
        expect(seen).to.deep.include({ verdict: "warning", title: "Warning", background: WARNING_COLOUR, sale: null, fits: true });
        expect(seen.warnings.map((w) => w.kind)).to.deep.equal(["copied_code"]);
        expect(seen.warnings[0]!.text).to.match(
          /^This code was verified in 上海 and in 乌鲁木齐 \(about 3\d{3} km apart\) within 0(\.\d)? hours: it may have been copied onto other bottles\.$/,
        );
      } finally {
        await context.close();
      }
    });
  });
});
