/**
 * "Verify it yourself" in a real browser (Debian's chromium), against a REAL anchored bundle: a
 * stack on PostgreSQL, Redis and a local chain takes a bottle's lifecycle over signed webhooks and
 * anchors it; the consumer page's self-check section (its markup is the contract with
 * service/verify/page.ts) is served by a small fixture app of this test, with the page's CSP, the
 * script from assetRoutes and the proof proxied from the stack, so the script is what it is in
 * production: same-origin bundle, RPC straight to the chain. The real page, with the issue's
 * tampered bundles, is test/e2e/page.test.ts.
 */
import { readFile } from "node:fs/promises";
import { expect } from "chai";
import Fastify, { type FastifyInstance } from "fastify";
import type { Browser, Page } from "playwright-core";
import { LOCAL_CHAIN_ID, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { assetRoutes, selfCheckScript } from "../../service/verify/assets.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { forgeBundle } from "../helpers/forge.ts";
import { gtinFrom, lifecycle, startStack, type Stack } from "../helpers/stack.ts";

interface Check {
  check: string;
  status: string;
  text: string;
}

const MOBILE = { width: 375, height: 812 };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The consumer page's self-check section, as service/verify/page.ts renders it (the contract). */
function fixturePage(o: { bundleUrl: string; rpcUrl: string; lang: "zh" | "en"; serial: string; gtin: string; chainId: number; registry: string }): string {
  const a = (s: string | number) => escapeHtml(String(s));
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
<section id="self-check" class="card" data-bundle-url="${a(o.bundleUrl)}" data-rpc-url="${a(o.rpcUrl)}" data-lang="${o.lang}"
 data-serial="${a(o.serial)}" data-gtin="${a(o.gtin)}" data-chain-id="${a(o.chainId)}" data-registry="${a(o.registry)}">
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

describe("self-check: verify it yourself, in the browser", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let fixture: FastifyInstance;
  let fixtureUrl: string;
  let browser: Browser;
  let bottle: { serial: string; secret: string };
  let other: { serial: string; secret: string; url: string };
  let gtin: string;
  let bundle: ProofBundle;

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 8 });
    const brand = await stack.createBrand({ codes: 2 });
    const posted = await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)));
    expect(posted.status, JSON.stringify(posted.body)).to.equal(202);
    bottle = brand.codes[0]!;
    other = brand.codes[1]!;
    gtin = brand.gtin;
    bundle = await stack.waitAnchored(bottle.serial, bottle.secret);
    expect(verifyBundle(bundle).status, "the honest bundle is valid for core").to.equal("valid");

    fixture = Fastify();
    assetRoutes(fixture);
    const css = await readFile(new URL("../../service/verify/assets/page.css", import.meta.url), "utf8");
    fixture.get("/favicon.ico", async (_request, reply) => reply.code(204).send());
    fixture.get("/assets/page.css", async (_request, reply) => reply.type("text/css; charset=utf-8").send(css));
    fixture.get<{ Querystring: { lang?: string; rpc?: string; gtin?: string } }>("/page", async (request, reply) => {
      const rpcUrl = request.query.rpc ?? stack.runtime.chain.rpcUrl;
      const lang = request.query.lang === "en" ? "en" : "zh";
      const bundleUrl = `/api/v1/items/${encodeURIComponent(bottle.serial)}/proof?s=${encodeURIComponent(bottle.secret)}`;
      return (
        reply
          .type("text/html; charset=utf-8")
          // The consumer page's policy: our own script only, no inline anything, fetches to us and the RPC.
          .header(
            "content-security-policy",
            `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${new URL(rpcUrl).origin}; base-uri 'none'; object-src 'none'`,
          )
          .send(
            fixturePage({
              bundleUrl,
              rpcUrl,
              lang,
              serial: bottle.serial,
              gtin: request.query.gtin ?? gtin,
              chainId: LOCAL_CHAIN_ID,
              registry: stack.runtime.chain.registry,
            }),
          )
      );
    });
    // The proof, from the stack's real route, on the page's own origin as in production.
    fixture.get("/api/v1/items/*", async (request, reply) => {
      const cacheControl = request.headers["cache-control"];
      const response = await fetch(`${stack.url}${request.url}`, { headers: cacheControl === undefined ? {} : { "cache-control": cacheControl } });
      return reply
        .code(response.status)
        .type(response.headers.get("content-type") ?? "application/json")
        .send(await response.text());
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
    const checks = await page.$$eval("#self-check-results > li", (items) =>
      items.map((li) => ({
        check: li.getAttribute("data-check") ?? "",
        status: [...li.classList].filter((c) => c !== "check").join(" "),
        text: li.textContent ?? "",
      })),
    );
    const summary = (await page.textContent("#self-check-summary")) ?? "";
    return { verdict, checks, summary };
  }

  /** Serves `change(copy of the real bundle)` instead of the real bundle. */
  /** Serves the page's check `change(bundle)` (with `full`, the bundle with every link's own proof, ?proofs=all). */
  async function serve(page: Page, change: (bundle: ProofBundle) => ProofBundle | void, options: { full?: boolean } = {}): Promise<void> {
    await page.route("**/api/v1/items/**", async (route) => {
      const response = await route.fetch(options.full ? { url: `${route.request().url()}&proofs=all` } : undefined);
      const copy = (await response.json()) as ProofBundle;
      await route.fulfill({ response, json: change(copy) ?? copy });
    });
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
    // core's own verifier and on-chain checks are in it (one implementation of the proof format).
    expect(code).to.contain("sealtrace-proof/2").and.to.contain("sealtrace:head:2").and.to.contain("eth_getLogs");
    const again = await fetch(`${fixtureUrl}/assets/self-check.js`, { headers: { "if-none-match": etag } });
    expect(again.status).to.equal(304);
    expect(again.headers.get("etag")).to.equal(etag);
    expect(await again.text()).to.equal("");
    const other = await fetch(`${fixtureUrl}/assets/self-check.js`, { headers: { "if-none-match": '"something-else"' } });
    expect(other.status).to.equal(200);
  });

  it("passes every check of a real anchored bundle, one by one: complete as of its batch, roots on chain, fresh", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(error.message));
      const rpcCalls: string[] = [];
      page.on("request", (request) => {
        if (request.url().startsWith(chain.url)) rpcCalls.push(JSON.parse(request.postData() ?? "{}").method);
      });
      await page.goto(`${fixtureUrl}/page`);
      await page.click("#self-check-run");
      // The button stays disabled while the checks run, and the results appear one at a time.
      await page.waitForFunction(() => (document.getElementById("self-check-run") as HTMLButtonElement).disabled);
      await page.waitForSelector("#self-check[data-verdict]", { timeout: 60_000 });
      expect(await page.isDisabled("#self-check-run")).to.equal(false);
      const { verdict, checks, summary } = await verify(page); // a second run on a fresh load gives the same
      expect(verdict, JSON.stringify(checks)).to.equal("pass");

      const seqs = bundle.batches.map((b) => b.seq).sort((a, b) => a - b);
      expect(checks.map((c) => c.check)).to.deep.equal([
        "format",
        "identity",
        ...bundle.events.map((_, i) => `event:${i}`),
        ...bundle.links.map((l) => `link:${l.link.n}`),
        ...bundle.links.map((l) => `proof:${l.link.n}`),
        ...seqs.map((seq) => `batch:${seq}`),
        "head",
        "chain",
        ...seqs.map((seq) => `root:${seq}`),
        "fresh",
      ]);
      for (const check of checks) expect(check.status, `${check.check}: ${check.text}`).to.equal("pass");
      const head = bundle.head!;
      expect(checks.find((c) => c.check === "head")!.text).to.match(
        new RegExp(`^记录完整，截至批次 ${head.seq}（锚定于 .+）：其头部映射记录此瓶的最后一环为第 ${bundle.links.length} 环`),
      );
      expect(checks.find((c) => c.check === "identity")!.text).to.equal(
        `第 1 环锁定此瓶的身份：品牌 ${bundle.brand}，GTIN ${gtin}，批次 2026-11-A，瓶号 ${bottle.serial}，与二维码一致`,
      );
      expect(checks.find((c) => c.check === "event:4")!.text).to.contain("零售售出");
      expect(checks.find((c) => c.check === "event:0")!.text).to.contain("成员证明");
      expect(summary).to.match(new RegExp(`^全部 ${checks.length} 项检查通过：此瓶的完整记录（截至批次 ${head.seq}，锚定于 .+）与链上一致。$`));
      // core's checkOnChain over fetch: chain id, code, every root, the registry's latest batch and the head batch's log.
      for (const method of ["eth_chainId", "eth_getCode", "eth_call", "eth_blockNumber", "eth_getLogs", "eth_getBlockByNumber"])
        expect(rpcCalls).to.include(method);
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
      await serve(page, (copy) => {
        tampered = copy.events.findIndex((e) => e.event.type === "retail_sale");
        (copy.events[tampered]!.event.price as { amount: string }).amount = "299.00";
      });
      const { verdict, checks, summary } = await verify(page, "?lang=en");
      expect(tampered).to.be.at.least(0);
      expect(verdict).to.equal("fail");
      const event = checks.find((c) => c.check === `event:${tampered}`)!;
      expect(event.status).to.equal("fail");
      expect(event.text).to.match(/^Event \d \(sold\) is wrong: the event's content does not match its hash/);
      // The link that points at it fails too (its event is not in the bundle any more); nothing else.
      const link = bundle.links.find((l) => l.link.event === bundle.events[tampered]!.eventHash)!;
      expect(
        checks
          .filter((c) => c.status === "fail")
          .map((c) => c.check)
          .sort(),
      ).to.deep.equal([`event:${tampered}`, `link:${link.link.n}`].sort());
      expect(summary).to.match(/^Verification failed: 2 of \d+ checks did not pass\. Event \d \(sold\) is wrong/);
      await saveScreenshot(page, "self-check-tampered-event-375");
    } finally {
      await context.close();
    }
  });

  it("fails only on chain a forged history whose every hash is consistent (the operator rewrote it)", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const forged = forgeBundle(bundle, (copy) => {
        const sale = copy.events.find((e) => e.event.type === "retail_sale")!;
        (sale.event.price as { amount: string }).amount = "299.00";
      });
      expect(verifyBundle(forged).status, "offline, the forgery is valid").to.equal("valid");
      await serve(page, () => forged);
      const { verdict, checks, summary } = await verify(page, "?lang=en");
      expect(verdict).to.equal("fail");
      const seq = forged.batches[0]!.seq;
      const offline = checks.filter((c) => !/^(chain|root:|fresh)/.test(c.check));
      for (const check of offline) expect(check.status, `${check.check}: ${check.text}`).to.equal("pass");
      expect(statusOf(checks, "chain")).to.equal("pass");
      const root = checks.find((c) => c.check === `root:${seq}`)!;
      expect(root.status).to.equal("fail");
      expect(root.text).to.match(new RegExp(`^The root of batch ${seq} does not match the chain: the registry holds a different root for batch ${seq}`));
      expect(checks.some((c) => c.check === "fresh")).to.equal(false);
      expect(summary).to.match(/^Verification failed: 1 of \d+ checks did not pass\. The root of batch/);
      await saveScreenshot(page, "self-check-forged-root-375");
    } finally {
      await context.close();
    }
  });

  it("fails the identity when the bundle's GTIN is not the QR code's", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const other = gtinFrom("0690123456790");
      const { verdict, checks } = await verify(page, `?lang=en&gtin=${other}`);
      expect(verdict).to.equal("fail");
      expect(checks.filter((c) => c.status === "fail").map((c) => c.check)).to.deep.equal(["identity"]);
      expect(checks.find((c) => c.check === "identity")!.text).to.equal(
        `The bottle's identity is wrong: the proof's GTIN (${gtin}) is not the QR code's (${other})`,
      );
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
      const offline = checks.filter((c) => c.check !== "chain");
      expect(offline).to.have.length(3 + bundle.events.length + 2 * bundle.links.length + bundle.batches.length);
      for (const check of offline) expect(check.status, `${check.check}: ${check.text}`).to.equal("pass");
      expect(checks.some((c) => /^(root:|fresh)/.test(c.check))).to.equal(false);
      expect(summary).to.match(
        /^Verification failed: 1 of \d+ checks did not pass\. Could not ask the chain node .*\)\. The roots on chain could not be checked\.$/,
      );
      await saveScreenshot(page, "self-check-rpc-unreachable-375");
    } finally {
      await context.close();
    }
  });

  it("says a link that is not anchored yet is pending, and the verdict incomplete in words, never a pass", async () => {
    const { context, page } = await newPage(browser, { viewport: MOBILE });
    try {
      const last = bundle.links.length;
      // As a bundle looks while its last link waits for its batch: that link pending, the others with
      // their own proofs, and no heads map yet recording the last link.
      await serve(
        page,
        (copy) => {
          copy.links[last - 1]!.anchor = null;
          copy.head = null;
          const used = new Set(copy.links.map((l) => l.anchor?.seq));
          copy.batches = copy.batches.filter((b) => used.has(b.seq));
        },
        { full: true },
      );
      const { verdict, checks, summary } = await verify(page);
      expect(verdict).to.equal("incomplete");
      expect(statusOf(checks, `proof:${last}`)).to.equal("pending");
      expect(statusOf(checks, "head")).to.equal("pending");
      expect(
        checks.filter((c) => c.check !== `proof:${last}` && c.check !== "head").every((c) => c.status === "pass"),
        JSON.stringify(checks),
      ).to.equal(true);
      expect(summary).to.match(/^核验尚未完成：1 环记录尚未上链/);
      await saveScreenshot(page, "self-check-incomplete-375");
    } finally {
      await context.close();
    }
  });

  // Last: it anchors a newer batch.
  it("fails a stale completeness proof (an old bundle, once the registry has held a newer batch for longer than an hour)", async () => {
    const old = structuredClone(bundle);
    // Another bottle's consumer scan: its link is sealed in a newer batch.
    expect((await fetch(other.url)).status).to.equal(200);
    await stack.waitAnchored(other.serial, other.secret);
    const later = new Date(Date.now() + 2 * 3_600_000);

    const stale = await newPage(browser, { viewport: MOBILE });
    try {
      await stale.page.clock.setFixedTime(later);
      await serve(stale.page, () => old);
      const { verdict, checks } = await verify(stale.page, "?lang=en");
      expect(verdict).to.equal("fail");
      expect(checks.filter((c) => c.status === "fail").map((c) => c.check)).to.deep.equal(["fresh"]);
      expect(checks.find((c) => c.check === "fresh")!.text).to.match(
        new RegExp(
          `^Batch ${old.head!.seq}'s completeness proof is stale or not found on chain: stale: the registry has held batch ${old.head!.seq + 1} .* longer than 3600 s`,
        ),
      );
    } finally {
      await stale.context.close();
    }

    // The same clock, a fresh bundle (as a reload asks for it: the service's cache may otherwise serve
    // one proven by the previous batch, which is stale only because this browser's clock is 2 h ahead):
    // its head proof is from the latest batch, and passes.
    const fresh = await newPage(browser, { viewport: MOBILE });
    try {
      await fresh.page.clock.setFixedTime(later);
      await fresh.page.route("**/api/v1/items/**", (route) => route.continue({ headers: { ...route.request().headers(), "cache-control": "no-cache" } }));
      const { verdict, checks } = await verify(fresh.page, "?lang=en");
      expect(verdict, JSON.stringify(checks)).to.equal("pass");
      expect(checks.find((c) => c.check === "head")!.text).to.match(new RegExp(`^Complete as of batch ${old.head!.seq + 1}`));
    } finally {
      await fresh.context.close();
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
