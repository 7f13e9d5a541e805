/**
 * "Verify it yourself" in a real browser (Debian's chromium), against a REAL anchored bundle: a
 * stack on PostgreSQL, Redis and a local chain takes a bottle's lifecycle over signed webhooks and
 * anchors it; the consumer page's self-check section (its markup is the contract with
 * service/verify/page.ts) is served by a small fixture app of this test, with the page's CSP, the
 * script from assetRoutes and the proof proxied from the stack, so the script is what it is in
 * production: same-origin bundle, RPC straight to the chain.
 */
import { readFile } from "node:fs/promises";
import { expect } from "chai";
import Fastify, { type FastifyInstance } from "fastify";
import type { Browser, Page } from "playwright-core";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { assetRoutes, selfCheckScript } from "../../service/verify/assets.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { lifecycle, startStack, type Stack } from "../helpers/stack.ts";

interface Check {
  check: string;
  status: string;
  text: string;
}

const MOBILE = { width: 375, height: 812 };
const FAKE_ROOT = `0x${"5e".repeat(32)}`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The consumer page's self-check section, as service/verify/page.ts renders it (the contract). */
function fixturePage(o: { bundleUrl: string; rpcUrl: string; lang: "zh" | "en"; serial: string }): string {
  const a = (s: string) => escapeHtml(s);
  return `<!doctype html>
<html lang="${o.lang === "zh" ? "zh-CN" : "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>self-check fixture</title>
<link rel="stylesheet" href="/assets/page.css">
</head>
<body>
<main>
<section id="self-check" class="card" data-bundle-url="${a(o.bundleUrl)}" data-rpc-url="${a(o.rpcUrl)}" data-lang="${o.lang}">
<h2>${o.lang === "zh" ? "自行核验" : "Verify it yourself"}</h2>
<button id="self-check-run" type="button">${o.lang === "zh" ? "开始核验" : "Verify"}</button>
<a id="self-check-download" href="${a(o.bundleUrl)}" download="${a(o.serial)}.sealtrace-proof.json">${o.lang === "zh" ? "下载证明文件" : "Download the proof"}</a>
<ol id="self-check-results"></ol>
<p id="self-check-summary"></p>
</section>
</main>
<script type="module" src="/assets/self-check.js"></script>
</body>
</html>
`;
}

/** The page's stylesheet when it exists (it is the page owner's), else just the check classes. */
async function pageCss(): Promise<string> {
  try {
    return await readFile(new URL("../../service/verify/assets/page.css", import.meta.url), "utf8");
  } catch {
    return ".check.pass{color:#137333}.check.fail{color:#b3261e;font-weight:600}.check.pending{color:#5f6368}";
  }
}

describe("self-check: verify it yourself, in the browser", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let fixture: FastifyInstance;
  let fixtureUrl: string;
  let browser: Browser;
  let bottle: { serial: string; secret: string };
  let bundle: ProofBundle;

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 8 });
    const brand = await stack.createBrand({ codes: 2 });
    const posted = await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)));
    expect(posted.status, JSON.stringify(posted.body)).to.equal(202);
    bottle = brand.codes[0]!;
    bundle = await stack.waitAnchored(bottle.serial, bottle.secret);

    fixture = Fastify();
    assetRoutes(fixture);
    const css = await pageCss();
    fixture.get("/favicon.ico", async (_request, reply) => reply.code(204).send());
    fixture.get("/assets/page.css", async (_request, reply) => reply.type("text/css; charset=utf-8").send(css));
    fixture.get<{ Querystring: { lang?: string; rpc?: string } }>("/page", async (request, reply) => {
      const rpcUrl = request.query.rpc ?? stack.runtime.chain.rpcUrl;
      const lang = request.query.lang === "en" ? "en" : "zh";
      const bundleUrl = `/api/v1/items/${encodeURIComponent(bottle.serial)}/proof?s=${encodeURIComponent(bottle.secret)}`;
      return reply
        .type("text/html; charset=utf-8")
        // The consumer page's policy: our own script only, no inline anything, fetches to us and the RPC.
        .header("content-security-policy", `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${new URL(rpcUrl).origin}; base-uri 'none'; object-src 'none'`)
        .send(fixturePage({ bundleUrl, rpcUrl, lang, serial: bottle.serial }));
    });
    // The proof, from the stack's real route, on the page's own origin as in production.
    fixture.get("/api/v1/items/*", async (request, reply) => {
      const response = await fetch(`${stack.url}${request.url}`);
      return reply.code(response.status).type(response.headers.get("content-type") ?? "application/json").send(await response.text());
    });
    fixtureUrl = await fixture.listen({ host: "127.0.0.1", port: 0 });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await fixture?.close();
    await stack?.stop();
    await chain?.stop();
  });

  /** Opens the fixture page, clicks "verify" and waits for the verdict. */
  async function verify(page: Page, query = ""): Promise<{ verdict: string; checks: Check[]; summary: string }> {
    await page.goto(`${fixtureUrl}/page${query}`);
    await page.click("#self-check-run");
    await page.waitForSelector("#self-check[data-verdict]", { timeout: 60_000 });
    const verdict = (await page.getAttribute("#self-check", "data-verdict"))!;
    const checks = await page.$$eval("#self-check-results > li", (items) => items.map((li) => ({
      check: li.getAttribute("data-check") ?? "",
      status: [...li.classList].filter((c) => c !== "check").join(" "),
      text: li.textContent ?? "",
    })));
    const summary = (await page.textContent("#self-check-summary")) ?? "";
    return { verdict, checks, summary };
  }

  function statusOf(checks: Check[], name: string): string | undefined {
    return checks.find((c) => c.check === name)?.status;
  }

  it("serves the bundled script with a strong ETag, and 304 when it has not changed", async () => {
    const first = await fetch(`${fixtureUrl}/assets/self-check.js`);
    expect(first.status).to.equal(200);
    expect(first.headers.get("content-type")).to.equal("text/javascript; charset=utf-8");
    expect(first.headers.get("cache-control")).to.equal("public, max-age=3600");
    const etag = first.headers.get("etag")!;
    expect(etag).to.match(/^"[A-Za-z0-9_-]+"$/);
    const code = await first.text();
    expect(code).to.equal((await selfCheckScript()).code);
    // Everything is bundled: no import of a package or of our modules is left for the browser.
    expect(code).not.to.match(/\bimport\s*[{*"'\w]|\bfrom\s*["']/);
    expect(code).not.to.match(/\beval\(|new Function\(/);
    const again = await fetch(`${fixtureUrl}/assets/self-check.js`, { headers: { "if-none-match": etag } });
    expect(again.status).to.equal(304);
    expect(again.headers.get("etag")).to.equal(etag);
    expect(await again.text()).to.equal("");
    const other = await fetch(`${fixtureUrl}/assets/self-check.js`, { headers: { "if-none-match": '"something-else"' } });
    expect(other.status).to.equal(200);
  });

  it("passes every check of a real anchored bundle, one by one, and matches the roots on chain", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const errors: string[] = [];
      page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${fixtureUrl}/page`);
      await page.click("#self-check-run");
      // The button stays disabled while the checks run, and the results appear one at a time.
      await page.waitForFunction(() => (document.getElementById("self-check-run") as HTMLButtonElement).disabled);
      await page.waitForSelector("#self-check[data-verdict]", { timeout: 60_000 });
      expect(await page.isDisabled("#self-check-run")).to.equal(false);
      const { checks, summary } = await verify(page); // a second run on a fresh load gives the same
      expect(await page.getAttribute("#self-check", "data-verdict")).to.equal("pass");

      const seqs = [...new Set(bundle.links.map((l) => l.anchor!.seq))].sort((a, b) => a - b);
      expect(checks.map((c) => c.check)).to.deep.equal([
        "format",
        ...bundle.events.map((_, i) => `event:${i}`),
        ...bundle.links.map((l) => `link:${l.link.n}`),
        ...bundle.links.map((l) => `proof:${l.link.n}`),
        "chain",
        ...seqs.map((seq) => `root:${seq}`),
      ]);
      for (const check of checks) expect(check.status, `${check.check}: ${check.text}`).to.equal("pass");
      expect(checks.some((c) => /^root:\d+$/.test(c.check))).to.equal(true);
      expect(checks.find((c) => c.check === "event:4")!.text).to.contain("零售售出");
      expect(summary).to.equal(`全部 ${checks.length} 项检查通过：此瓶的记录与链上锚定一致。`);
      // The page's CSP (script 'self', no inline style, connect to self and the RPC) was respected.
      expect(errors).to.deep.equal([]);
      await saveScreenshot(page, "self-check-pass-375");
    } finally {
      await context.close();
    }
  });

  it("fails the edited event when the bundle is tampered with (a sale price changed)", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      let tampered = -1;
      await page.route("**/api/v1/items/**", async (route) => {
        const response = await route.fetch();
        const copy = (await response.json()) as ProofBundle;
        tampered = copy.events.findIndex((e) => e.event.type === "retail_sale");
        (copy.events[tampered]!.event.price as { amount: string }).amount = "299.00";
        await route.fulfill({ response, json: copy });
      });
      const { verdict, checks, summary } = await verify(page, "?lang=en");
      expect(tampered).to.be.at.least(0);
      expect(verdict).to.equal("fail");
      expect(statusOf(checks, `event:${tampered}`)).to.equal("fail");
      expect(checks.find((c) => c.check === `event:${tampered}`)!.text).to.match(/does not match its hash/);
      // The other events are untouched, and nothing is left for the final cross-check to find.
      for (const check of checks.filter((c) => c.check.startsWith("event:") && c.check !== `event:${tampered}`)) {
        expect(check.status, check.check).to.equal("pass");
      }
      expect(checks.some((c) => c.check === "bundle")).to.equal(false);
      expect(summary).to.match(/^Verification failed/);
      await saveScreenshot(page, "self-check-tampered-event-375");
    } finally {
      await context.close();
    }
  });

  it("fails the proofs and the on-chain root check when a batch's root is not the one the registry holds", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const seq = bundle.links[0]!.anchor!.seq;
      await page.route("**/api/v1/items/**", async (route) => {
        const response = await route.fetch();
        const copy = (await response.json()) as ProofBundle;
        for (const link of copy.links) if (link.anchor?.seq === seq) link.anchor.root = FAKE_ROOT as `0x${string}`;
        await route.fulfill({ response, json: copy });
      });
      const { verdict, checks, summary } = await verify(page, "?lang=en");
      expect(verdict).to.equal("fail");
      for (const link of bundle.links.filter((l) => l.anchor!.seq === seq)) {
        expect(statusOf(checks, `proof:${link.link.n}`), `proof:${link.link.n}`).to.equal("fail");
      }
      const root = checks.find((c) => c.check === `root:${seq}`)!;
      expect(root.status).to.equal("fail");
      expect(root.text).to.match(new RegExp(`root of batch ${seq} registered on chain .* differs from the proof's`));
      expect(root.text).to.contain(bundle.links[0]!.anchor!.root.slice(0, 8)); // the chain's real root, shortened
      expect(statusOf(checks, "chain")).to.equal("pass");
      expect(checks.filter((c) => /^(event|link):/.test(c.check)).every((c) => c.status === "pass")).to.equal(true);
      expect(checks.some((c) => c.check === "bundle")).to.equal(false);
      expect(summary).to.match(/^Verification failed: \d+ of \d+ checks did not pass\. Link \d+'s Merkle proof/);
      await saveScreenshot(page, "self-check-forged-root-375");
    } finally {
      await context.close();
    }
  });

  it("fails the chain check with its reason when the RPC is unreachable; the offline checks still pass", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const { verdict, checks, summary } = await verify(page, `?lang=en&rpc=${encodeURIComponent("http://127.0.0.1:1")}`);
      expect(verdict).to.equal("fail");
      const chainCheck = checks.find((c) => c.check === "chain")!;
      expect(chainCheck.status).to.equal("fail");
      expect(chainCheck.text).to.match(/^Could not ask the chain node at 127\.0\.0\.1:1: \S+/);
      const offline = checks.filter((c) => /^(format|event:|link:|proof:)/.test(c.check));
      expect(offline).to.have.length(1 + bundle.events.length + 2 * bundle.links.length);
      for (const check of offline) expect(check.status, `${check.check}: ${check.text}`).to.equal("pass");
      expect(checks.some((c) => c.check.startsWith("root:"))).to.equal(false);
      expect(summary).to.match(/^Verification failed: 1 of \d+ checks did not pass\. Could not ask the chain node .*\)\. The roots on chain could not be checked\.$/);
      await saveScreenshot(page, "self-check-rpc-unreachable-375");
    } finally {
      await context.close();
    }
  });

  it("shows a link that is not anchored yet as pending, not as a failure", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const last = bundle.links.length;
      await page.route("**/api/v1/items/**", async (route) => {
        const response = await route.fetch();
        const copy = (await response.json()) as ProofBundle;
        copy.links[last - 1]!.anchor = null;
        await route.fulfill({ response, json: copy });
      });
      const { verdict, checks, summary } = await verify(page);
      expect(verdict).to.equal("pass");
      expect(statusOf(checks, `proof:${last}`)).to.equal("pending");
      expect(checks.filter((c) => c.check !== `proof:${last}`).every((c) => c.status === "pass")).to.equal(true);
      expect(summary).to.contain("1 环记录尚未上链");
    } finally {
      await context.close();
    }
  });

  it("fails with the reason when the bundle cannot be fetched", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      await page.route("**/api/v1/items/**", (route) => route.fulfill({ status: 404, json: { error: "not_found" } }));
      const { verdict, checks } = await verify(page, "?lang=en");
      expect(verdict).to.equal("fail");
      expect(checks).to.deep.equal([{ check: "fetch", status: "fail", text: "Could not load the proof: the server answered 404" }]);
    } finally {
      await context.close();
    }
  });
});
