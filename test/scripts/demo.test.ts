import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { freePort } from "../../service/anchoring/local-chain.ts";
import { loadConfig } from "../../service/config.ts";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { normaliseGtin } from "../../service/core/gtin.ts";
import { createLogger } from "../../service/log.ts";
import { startRuntime, type Runtime } from "../../service/runtime.ts";
import type { Summary } from "../../scripts/demo.ts";
import { runScript } from "../helpers/run.ts";
import { ADMIN_TOKEN } from "../helpers/stack.ts";

const SCRIPT = "scripts/demo.ts";


/** The demo's child process must not pick up an admin token or URL from the developer's shell. */
const CLEAN_ENV = { ADMIN_TOKEN: "", SEALTRACE_URL: "", DATA_DIR: "" };

describe("npm run demo", function () {
  this.timeout(180_000);
  let dir: string;
  let runtime: Runtime;
  let api: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealtrace-demo-"));
    const config = loadConfig({ DATA_DIR: join(dir, "service"), PORT: "0", SEAL_INTERVAL_MS: "200", LOG_LEVEL: "silent", ADMIN_TOKEN });
    runtime = await startRuntime(config, { role: "all", log: createLogger("silent") });
    api = runtime.url!;
  });

  after(async () => {
    await runtime?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("usage errors: exit 2, the reason and the usage", () => {
    for (const [args, reason] of [
      [["--bottles", "0"], /--bottles must be a whole number from 1 to 10000 \(got "0"\)/],
      [["--bottles", "ten"], /--bottles must be a whole number/],
      [["--brand", "Not A Slug"], /--brand must be/],
      [["--api", "ftp://example.com"], /--api must be an http or https URL/],
      [["--colour", "red"], /Unknown option '--colour'/],
    ] as const) {
      it(args.join(" "), async () => {
        const { code, stdout, stderr } = await runScript(SCRIPT, ["--admin-token", ADMIN_TOKEN, ...args], CLEAN_ENV);
        expect(code, stderr).to.equal(2);
        expect(stdout).to.equal("");
        expect(stderr).to.match(reason);
        expect(stderr).to.include("usage: npm run demo");
      });
    }

    it("no admin token anywhere", async () => {
      const { code, stderr } = await runScript(SCRIPT, [], { ...CLEAN_ENV, DATA_DIR: join(dir, "nowhere") });
      expect(code).to.equal(2);
      expect(stderr).to.match(/no admin token: pass --admin-token, set ADMIN_TOKEN/);
    });

    it("--help: exit 0 and the usage", async () => {
      const { code, stdout } = await runScript(SCRIPT, ["--help"], CLEAN_ENV);
      expect(code).to.equal(0);
      expect(stdout).to.match(/^usage: npm run demo/);
    });
  });

  describe("against a running service", () => {
    it("sets up a brand, posts a signed week of events, and prints scan URLs and a proof that verifies on chain", async () => {
      const bundleFile = join(dir, "proof.json");
      const { code, stdout, stderr } = await runScript(SCRIPT, ["--api", api, "--admin-token", ADMIN_TOKEN, "--bottles", "40", "--brand", "demo-text", "--out", bundleFile], CLEAN_ENV);
      expect(code, stderr).to.equal(0);

      expect(stdout).to.match(/^ {2}brand: {10}demo-text$/m);
      const apiKey = /^ {2}API key: +(stk_\S+)$/m.exec(stdout)?.[1];
      expect(apiKey, stdout).to.be.a("string");
      expect(stdout).to.match(/^ {2}webhook secret: whsec_\S+$/m);
      expect(stdout).to.match(/^ {2}bottles: +40 in \d+ lots$/m);
      const events = Number(/^ {2}events: +(\d+) posted in 1 signed request \(/m.exec(stdout)?.[1]);
      expect(events).to.be.greaterThan(40);

      // 3 to 5 scan URLs: GS1 Digital Links on the service, for codes the service knows with that secret.
      const escaped = api.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const urls = [...stdout.matchAll(new RegExp(`^ {2}(${escaped}/01/\\d{14}/21/[0-9A-Z]+\\?s=[\\w-]+)$`, "gm"))].map((m) => m[1]!);
      expect(urls.length, stdout).to.be.within(3, 5);
      expect(new Set(urls).size).to.equal(urls.length);
      for (const url of urls) {
        const { pathname, searchParams } = new URL(url);
        const [, , gtin, , serial] = pathname.split("/");
        expect(normaliseGtin(gtin!), `${gtin} has a valid check digit`).to.equal(gtin);
        const proof = await fetch(`${api}/api/v1/items/${serial}/proof?s=${searchParams.get("s")}`);
        expect(proof.status, url).to.equal(200);
        expect(((await proof.json()) as ProofBundle).gtin).to.equal(gtin);
        // The consumer page (this visit is recorded as a consumer scan of that bottle).
        const page = await fetch(url);
        expect(page.status, url).to.equal(200);
        expect(await page.text()).to.include('id="self-check"');
      }

      // The sample bottle's proof URL answers a bundle that is fully anchored and valid.
      const proofUrl = /^ {2}(\S+\/api\/v1\/items\/[0-9A-Z]+\/proof\?s=[\w-]+)$/m.exec(stdout)?.[1];
      expect(proofUrl, stdout).to.be.a("string");
      expect(proofUrl!.startsWith(`${api}/api/v1/items/`)).to.equal(true);
      const served = (await (await fetch(proofUrl!)).json()) as ProofBundle;
      const verdict = verifyBundle(served);
      expect(verdict.problems).to.deep.equal([]);
      // Valid, or incomplete only because the consumer scans just made still wait for their batch.
      expect(verdict.status).to.equal(verdict.pending.length === 0 ? "valid" : "incomplete");
      const pendingTypes = verdict.pending.map((n) => served.events.find((e) => e.eventHash === served.links[n - 1]!.link.event)!.event.type);
      expect(pendingTypes.every((t) => t === "consumer_scan"), pendingTypes.join()).to.equal(true);
      const history = served.events.filter((e) => e.event.type !== "consumer_scan");
      // production, warehouse_in, warehouse_out, store_receiving, retail_sale and (for the sample) opened
      expect(history.map((e) => e.event.type)).to.deep.equal(["production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale", "opened"]);
      const times = history.map((e) => Date.parse(e.event.occurredAt as string));
      expect(times).to.deep.equal([...times].sort((a, b) => a - b));
      expect(times[0]).to.be.greaterThan(Date.now() - 7 * 86_400_000);
      expect(times.at(-1)).to.be.lessThan(Date.now());
      for (const { event } of history) expect(event.occurredAt).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
      const sale = served.events.find((e) => e.event.type === "retail_sale")!.event;
      expect(sale.price).to.have.property("currency", "CNY");
      expect(served.events.find((e) => e.event.type === "warehouse_out")!.event.to).to.match(/-dist-/);

      // The brand's API key works, and the saved bundle verifies against the chain with the printed command.
      const asBrand = await fetch(`${api}/api/v1/items/${served.serial}/proof`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(asBrand.status).to.equal(200);
      const chain = (await (await fetch(`${api}/api/v1/chain`)).json()) as { rpcUrl: string; chainId: number; registry: string };
      expect(stdout).to.include(`npm run verify-proof -- ${bundleFile} --rpc ${chain.rpcUrl} --chain-id ${chain.chainId} --registry ${chain.registry}`);
      const saved = JSON.parse(await readFile(bundleFile, "utf8")) as ProofBundle;
      expect(saved.serial).to.equal(served.serial);
      const check = await runScript("scripts/verify-proof.ts", [bundleFile, "--rpc", chain.rpcUrl, "--chain-id", String(chain.chainId), "--registry", chain.registry]);
      expect(check.code, check.stdout + check.stderr).to.equal(0);
      expect(check.stdout).to.match(new RegExp(`^trusted: chain ${chain.chainId}, registry ${chain.registry}`));
      expect(check.stdout).to.match(new RegExp(`^VALID: bottle ${served.serial}, 6 links, 6 anchored; .*roots match the chain`, "m"));

      // Progress went to stderr, the summary to stdout.
      expect(stderr).to.include('Creating brand "demo-text"');
      expect(stdout).not.to.include("Creating brand");
    });

    it("--json: one JSON summary; the admin token comes from DATA_DIR/admin-token when not given", async () => {
      const dataDir = join(dir, "data");
      await mkdir(dataDir, { recursive: true });
      await writeFile(join(dataDir, "admin-token"), `${ADMIN_TOKEN}\n`);
      const { code, stdout, stderr } = await runScript(SCRIPT, ["--bottles", "12", "--json"], { ...CLEAN_ENV, SEALTRACE_URL: api, DATA_DIR: dataDir });
      expect(code, stderr).to.equal(0);
      const lines = stdout.trim().split("\n");
      expect(lines).to.have.length(1);
      const summary = JSON.parse(lines[0]!) as Summary;
      expect(summary.brand).to.match(/^demo-[a-z0-9]{6}$/);
      expect(summary.bottles).to.equal(12);
      expect(summary.eventsByType.production).to.be.greaterThan(0);
      expect(Object.values(summary.eventsByType).reduce((a, b) => a + b, 0)).to.equal(summary.events);
      expect(summary.verificationUrls.length).to.be.within(3, 5);
      expect(summary.chain.chainId).to.equal(31337);
      const bundle = JSON.parse(await readFile(summary.sample.bundleFile, "utf8")) as ProofBundle;
      await rm(summary.sample.bundleFile, { force: true });
      const verdict = verifyBundle(bundle);
      expect(verdict.valid, JSON.stringify(verdict.problems)).to.equal(true);
      expect(verdict.pending).to.deep.equal([]);
      expect(bundle.links).to.have.length(summary.sample.links);
    });

    it("fails with exit 1 and the service's answer when the admin token is wrong or the brand exists", async () => {
      const wrong = await runScript(SCRIPT, ["--api", api, "--admin-token", "not-the-admin-token-000"], CLEAN_ENV);
      expect(wrong.code).to.equal(1);
      expect(wrong.stdout).to.equal("");
      expect(wrong.stderr).to.match(/POST \/api\/v1\/admin\/brands answered 401/);
      expect(wrong.stderr).to.include('"error": "unauthorized"');

      const again = await runScript(SCRIPT, ["--api", api, "--admin-token", ADMIN_TOKEN, "--brand", "demo-text"], CLEAN_ENV);
      expect(again.code).to.equal(1);
      expect(again.stderr).to.match(/answered 409/);
      expect(again.stderr).to.include('a brand with slug \\"demo-text\\" already exists');
    });

    it("fails with exit 1 and says so when the service cannot be reached", async () => {
      const nobody = `http://127.0.0.1:${await freePort()}`;
      const { code, stdout, stderr } = await runScript(SCRIPT, ["--api", nobody, "--admin-token", ADMIN_TOKEN], CLEAN_ENV);
      expect(code).to.equal(1);
      expect(stdout).to.equal("");
      expect(stderr).to.include(`cannot reach SealTrace at ${nobody} (POST /api/v1/admin/brands): ECONNREFUSED`);
    });
  });
});
