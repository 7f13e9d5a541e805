/**
 * The standalone verifier (npm run build:verifier → dist/sealtrace-verifier.html) as a user would
 * use it: the built file opened from disk (file://) in a real browser (Debian's chromium), a
 * bundle picked with the file input, the RPC URL of a real local chain typed in, and the chain id
 * and registry pinned or not. The bundles are real (a stack anchored them), or tampered, or forged
 * and anchored on a registry of the forger's own.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import type { Browser } from "playwright-core";
import { LOCAL_CHAIN_ID, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { buildVerifier } from "../../scripts/build-verifier.ts";
import { launchBrowser, newPage, saveScreenshot } from "../helpers/browser.ts";
import { anchorElsewhere, forgeBundle } from "../helpers/forge.ts";
import { devKey, lifecycle, startStack, type Stack } from "../helpers/stack.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PHONE = { viewport: { width: 375, height: 812 }, locale: "en-GB" };

type Checks = { name: string; state: string; text: string }[];

describe("standalone verifier: one HTML file, opened from disk", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let browser: Browser;
  let dir: string;
  let file: string;
  let printed: string;
  let bundle: ProofBundle;
  let registry: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealtrace-verifier-"));
    file = join(dir, "sealtrace-verifier.html");
    // The npm script's own code, as a user runs it (here into a temporary directory).
    const { stdout } = await run(process.execPath, ["scripts/build-verifier.ts", "--out", file], { cwd: ROOT });
    printed = /^SHA-256 ([0-9a-f]{64})$/m.exec(stdout)?.[1] ?? "";
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 12 });
    registry = stack.runtime.chain.registry;
    const brand = await stack.createBrand({ codes: 2 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    bundle = await stack.waitAnchored(brand.codes[0]!.serial, brand.codes[0]!.secret);
    expect(verifyBundle(bundle).status).to.equal("valid");
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Opens the file, picks `picked` as the bundle file, fills in the form and waits for the verdict. */
  async function verifyFile(picked: unknown, form: { rpc?: string; chainId?: string; registry?: string; locale?: string; screenshot?: string } = {}) {
    const { context, page } = await newPage(browser, { ...PHONE, locale: form.locale ?? PHONE.locale });
    try {
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("request", (request) => requests.push(request.url()));
      await page.goto(pathToFileURL(file).href);
      const path = join(dir, `bundle-${Math.random().toString(36).slice(2)}.json`);
      await writeFile(path, typeof picked === "string" ? picked : JSON.stringify(picked, null, 2));
      await page.setInputFiles("#bundle-file", path);
      await page.fill("#rpc-url", form.rpc ?? chain.url);
      if (form.chainId !== undefined) await page.fill("#chain-id", form.chainId);
      if (form.registry !== undefined) await page.fill("#registry", form.registry);
      await page.click("#run");
      await page.waitForSelector("#verifier[data-verdict]", { timeout: 60_000 });
      const result = {
        verdict: (await page.getAttribute("#verifier", "data-verdict"))!,
        checks: (await page.$$eval("#results > li", (items) =>
          items.map((li) => ({ name: li.getAttribute("data-check") ?? "", state: li.className.replace("check ", ""), text: li.textContent ?? "" })),
        )) as Checks,
        summary: (await page.textContent("#summary")) ?? "",
        trusted: (await page.textContent("#trusted")) ?? "",
        shown: (await page.textContent("#verdict")) ?? "",
        title: (await page.textContent("h1")) ?? "",
        errors,
        requests,
      };
      if (form.screenshot) await saveScreenshot(page, form.screenshot);
      return result;
    } finally {
      await context.close();
    }
  }

  it("builds one self-contained file with the same bytes every time, its CSP allowing exactly its inline script and style", async () => {
    const html = await readFile(file, "utf8");
    const digest = createHash("sha256").update(html).digest("hex");
    expect(printed, "the build prints the file's SHA-256").to.equal(digest);
    const again = await buildVerifier();
    expect(again.html === html, "the same sources give the same bytes").to.equal(true);
    expect(again.sha256).to.equal(digest);

    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    const styles = [...html.matchAll(/<style([^>]*)>([\s\S]*?)<\/style>/g)];
    expect(scripts).to.have.length(1);
    expect(styles).to.have.length(1);
    expect(scripts[0]![1]).to.equal(""); // inline, no src
    expect(html).not.to.match(/\ssrc=/);
    expect([...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1])).to.deep.equal(["data:,"]);
    expect(html).not.to.match(/@import|url\(/);
    const sha = (text: string) => createHash("sha256").update(text).digest("base64");
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    expect(csp).to.equal(
      `default-src 'none'; script-src 'sha256-${sha(scripts[0]![2]!)}'; style-src 'sha256-${sha(styles[0]![2]!)}'; connect-src *; img-src data:; base-uri 'none'; form-action 'none'`,
    );
    // core's verifier and on-chain checks are in it, and no code evaluates strings.
    expect(scripts[0]![2]).to.contain("sealtrace:head:2").and.to.contain("eth_getLogs");
    expect(scripts[0]![2]).not.to.match(/\beval\(|new Function\(/);
  });

  it("is the file whose SHA-256 the README publishes (rebuild and update the README when the verifier's sources change)", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const published = /sealtrace-verifier\.html` is SHA-256 `([0-9a-f]{64})`/.exec(readme)?.[1];
    expect(published, "the README names the verifier's SHA-256").to.be.a("string");
    expect(published).to.equal(printed);
  });

  it("finds a real bundle valid against the pinned chain and registry, contacting nothing but the typed RPC", async () => {
    const result = await verifyFile(bundle, { chainId: String(LOCAL_CHAIN_ID), registry, screenshot: "standalone-valid-375-en" });
    expect(result.verdict, JSON.stringify(result.checks)).to.equal("valid");
    expect(result.shown).to.equal("Valid");
    for (const check of result.checks) expect(check.state, `${check.name}: ${check.text}`).to.equal("pass");
    expect(result.checks.map((c) => c.name)).to.include.members([
      "format",
      "identity",
      "head",
      "chain",
      "fresh",
      ...bundle.batches.map((b) => `root:${b.seq}`),
    ]);
    expect(result.checks.find((c) => c.name === "head")!.text).to.match(
      new RegExp(`^Complete as of batch ${bundle.head!.seq}, anchored at .+ UTC: its heads map records link ${bundle.links.length} as this bottle's last`),
    );
    expect(result.trusted).to.match(/^Trusted:Chain id 31337 \(pinned by you\)Registry contract address 0x\w{6}…\w{6} \(pinned by you\)$/);
    expect(result.summary).to.match(
      new RegExp(
        `^All ${result.checks.length} checks passed: this bottle's whole history, complete as of batch \\d+ \\(anchored at .+ UTC\\), matches the chain\\.$`,
      ),
    );
    expect(result.errors).to.deep.equal([]);
    // Nothing is fetched from anywhere but the file itself and the RPC the user typed.
    const others = result.requests.filter(
      (url) => !url.startsWith("file://") && !url.startsWith(`${chain.url}/`) && url !== chain.url && !url.startsWith("data:"),
    );
    expect(others).to.deep.equal([]);
    expect(result.requests.some((url) => url.startsWith(chain.url))).to.equal(true);
  });

  it("finds a bundle whose last two links and their events were left out invalid", async () => {
    const truncated = structuredClone(bundle);
    const dropped = truncated.links.splice(-2);
    truncated.events = truncated.events.filter((e) => !dropped.some((l) => l.link.event === e.eventHash));
    const result = await verifyFile(truncated, { chainId: String(LOCAL_CHAIN_ID), registry, screenshot: "standalone-truncated-375-en" });
    expect(result.verdict).to.equal("invalid");
    expect(result.shown).to.equal("Invalid");
    const head = result.checks.find((c) => c.name === "head")!;
    expect(head.state).to.equal("fail");
    expect(head.text).to.match(/links were left out/);
    expect(result.summary).to.match(/^Verification failed: \d+ of \d+ checks did not pass\./);
  });

  it("refuses a forged history anchored on another registry than the one typed (and says plainly when nothing was pinned)", async () => {
    const forged = await anchorElsewhere(
      chain.url,
      devKey(15),
      forgeBundle(bundle, (copy) => {
        const sale = copy.events.find((e) => e.event.type === "retail_sale")!;
        (sale.event.price as { amount: string }).amount = "299.00";
      }),
    );
    expect(forged.chain.registry.toLowerCase()).not.to.equal(registry.toLowerCase());

    // Pinned to the brand's registry: the forgery names another one and is refused.
    const pinned = await verifyFile(forged, { chainId: String(LOCAL_CHAIN_ID), registry, screenshot: "standalone-other-registry-375-en" });
    expect(pinned.verdict).to.equal("invalid");
    expect(pinned.checks.filter((c) => c.state === "fail").map((c) => c.name)).to.deep.equal(["chain"]);
    expect(pinned.checks.find((c) => c.name === "chain")!.text).to.match(/the bundle names another registry than the one trusted/);
    expect(pinned.checks.some((c) => c.name.startsWith("root:"))).to.equal(false);

    // Not pinned: the forger's registry is what the file names, and it holds the forged root. This
    // is why the form asks for a pin, and says in the result where the trusted registry came from.
    const unpinned = await verifyFile(forged);
    expect(unpinned.verdict).to.equal("valid");
    expect(unpinned.trusted).to.match(
      /^Trusted:Chain id 31337 \(taken from the proof file: pin it\)Registry contract address 0x\w{6}…\w{6} \(taken from the proof file: pin it\)$/,
    );
  });

  it("speaks Chinese in a Chinese browser, and reads well at 375 px", async () => {
    const result = await verifyFile(bundle, { locale: "zh-CN", screenshot: "standalone-valid-375-zh" });
    expect(result.title).to.equal("SealTrace 证明核验工具");
    expect(result.verdict).to.equal("valid");
    expect(result.shown).to.equal("有效");
    expect(result.trusted).to.match(/^所信任的：链 ID 31337 （取自证明文件：请指定）锚定合约地址 0x\w{6}…\w{6} （取自证明文件：请指定）$/);
    expect(result.summary).to.match(/^全部 \d+ 项检查通过：此瓶的完整记录（截至批次 \d+，锚定于 .+ UTC）与链上一致。$/);
  });

  it("says what is missing instead of a verdict when the form is not filled in right", async () => {
    const notJson = await verifyFile("{ not json");
    expect(notJson.verdict).to.equal("error");
    expect(notJson.summary).to.match(/^The file is not valid JSON \(bundle-\w+\.json\)\.$/);
    const badRegistry = await verifyFile(bundle, { registry: "0x1234" });
    expect(badRegistry.verdict).to.equal("error");
    expect(badRegistry.summary).to.equal("The registry address must be 0x followed by 40 hex digits.");
    expect(badRegistry.checks).to.deep.equal([]);
  });
});
