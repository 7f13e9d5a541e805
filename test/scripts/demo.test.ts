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
import { consoleClient } from "../helpers/console.ts";
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
      const { code, stdout, stderr } = await runScript(
        SCRIPT,
        ["--api", api, "--admin-token", ADMIN_TOKEN, "--bottles", "40", "--brand", "demo-text", "--out", bundleFile],
        CLEAN_ENV,
      );
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
      expect(
        pendingTypes.every((t) => t === "consumer_scan"),
        pendingTypes.join(),
      ).to.equal(true);
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
      const check = await runScript("scripts/verify-proof.ts", [
        bundleFile,
        "--rpc",
        chain.rpcUrl,
        "--chain-id",
        String(chain.chainId),
        "--registry",
        chain.registry,
      ]);
      expect(check.code, check.stdout + check.stderr).to.equal(0);
      expect(check.stdout).to.match(new RegExp(`^trusted: chain ${chain.chainId}, registry ${chain.registry}`));
      expect(check.stdout).to.match(new RegExp(`^VALID: bottle ${served.serial}, 6 links, 6 anchored; .*roots match the chain`, "m"));

      // The stories, each with its URL and what to look for; the console's sign-in.
      expect(stdout.match(/^ {4}look for: .+$/gm) ?? [], stdout).to.have.length(10);
      expect(stdout).to.match(new RegExp(`^Console: ${escaped}/console/sign-in\\?brand=demo-text$`, "m"));
      expect(stdout).to.match(/^ {2}brand code: demo-text$/m);
      expect(stdout).to.match(/^ {2}brand user: username manager {2}password \S{10,}$/m);
      expect(stdout).to.match(/^ {2}store user \(gz-store-guiyang-01\): username nanming {2}password \S{10,}$/m);

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

    describe("the stories (--json)", () => {
      let summary: Summary;
      let elapsedMs: number;
      const story = (key: Summary["stories"][number]["key"]) => summary.stories.find((s) => s.key === key)!;
      const alertsOf = async (query: string) =>
        (
          (await (await fetch(`${api}/api/v1/alerts?limit=500&${query}`, { headers: { authorization: `Bearer ${summary.apiKey}` } })).json()) as {
            alerts: any[];
          }
        ).alerts;
      /** The page of a story's bottle, in English, as a visitor on 127.0.0.1 sees it (this visit is a consumer scan). */
      const page = async (key: Summary["stories"][number]["key"]) => {
        const response = await fetch(`${story(key).url}&lang=en`);
        expect(response.status, key).to.equal(200);
        return await response.text();
      };
      const warningsOn = (html: string) => [...html.matchAll(/data-warning="([a-z_]+)"/g)].map((m) => m[1]);

      before(async () => {
        const started = Date.now();
        const { code, stdout, stderr } = await runScript(
          SCRIPT,
          ["--api", api, "--admin-token", ADMIN_TOKEN, "--bottles", "30", "--brand", "demo-stories", "--json"],
          CLEAN_ENV,
        );
        elapsedMs = Date.now() - started;
        expect(code, stderr).to.equal(0);
        summary = JSON.parse(stdout) as Summary;
      });

      it("prints every story with its URL and what to look for, none skipped, in seconds", () => {
        expect(summary.stories.map((s) => s.key)).to.deep.equal([
          "shelf",
          "just_bought",
          "diverted",
          "price_below",
          "price_above",
          "copied",
          "opened",
          "pre_queried",
          "price_report",
          "price_protection",
        ]);
        for (const s of summary.stories) {
          expect(s.skipped, s.key).to.equal(null);
          expect(s.url.startsWith(`${api}/`), s.url).to.equal(true);
          expect(s.lookFor.length, s.key).to.be.greaterThan(20);
        }
        expect(elapsedMs).to.be.lessThan(60_000);
      });

      it("raises the alerts by kind; the diversion names the distributor responsible and the path", async () => {
        const alerts = await alertsOf("");
        const kinds = new Set(alerts.map((a) => a.kind));
        for (const kind of ["diversion", "price_below", "price_above", "received_after_opened", "sold_after_opened", "sold_twice", "consumer_price_report"]) {
          expect(kinds.has(kind), `${kind} in ${[...kinds].join()}`).to.equal(true);
          expect(summary.alerts[kind], kind).to.be.greaterThan(0);
        }
        const [diversion, ...more] = await alertsOf(`kind=diversion&serial=${story("diverted").serial}`);
        expect(more).to.deep.equal([]);
        expect(diversion.details).to.include({
          assigned: "CN-GZ",
          found: "CN-SH",
          store: "sh-store-pudong-01",
          responsible: "gz-dist-qianxiang",
          responsibleName: "贵州黔香酒业商贸有限公司",
        });
        expect(diversion.details.path.map((p: { party: string }) => p.party)).to.deep.equal([
          "gz-factory-renhuai",
          "gz-wh-guiyang",
          "gz-dist-qianxiang",
          "sh-store-pudong-01",
        ]);
        expect(summary.diversion).to.deep.include({ serial: story("diverted").serial, responsible: "gz-dist-qianxiang" });
        // Each price story raised its own alert, on its own bottle.
        expect((await alertsOf(`kind=price_below&serial=${story("price_below").serial}`)).map((a) => a.details.price.amount)).to.deep.equal(["1199.00"]);
        const [above] = await alertsOf(`kind=price_above&serial=${story("price_above").serial}`);
        expect(above.details.guide).to.include({ amount: "1599.00", region: "CN-SH" });
        const opened = (await alertsOf(`serial=${story("opened").serial}`)).map((a) => a.kind).sort();
        expect(opened).to.deep.equal(["received_after_opened", "sold_after_opened", "sold_twice"]);
      });

      it("sets national and regional guide prices, shown with their band on the page", async () => {
        const gtin = new URL(story("shelf").url).pathname.split("/")[2]!;
        const listed = (await (
          await fetch(`${api}/api/v1/products/${gtin}/guide-price`, { headers: { authorization: `Bearer ${summary.apiKey}` } })
        ).json()) as { prices: any[] };
        expect(listed.prices.map((p) => [p.region, p.amount, p.band]).sort()).to.deep.equal(
          [
            ["CN-SH", "1599.00", { min: "1519.05", max: "1758.90" }],
            [null, "1499.00", { min: "1424.05", max: "1648.90" }],
          ].sort(),
        );
        expect(summary.guidePrices).to.have.length(6);
        const shelf = await page("shelf");
        expect(shelf).to.include('data-guide-price="1499.00"');
        expect(shelf).to.include("1424.05–1648.90");
        expect(warningsOn(shelf)).to.deep.equal([]);
        // A 上海 bottle shows 上海's own guide price.
        expect(await page("price_above")).to.include('data-guide-price="1599.00"');
      });

      it("the bottle just bought has no warning at its first consumer scan; the diverted, copied and opened ones warn", async () => {
        const bought = await page("just_bought");
        expect(warningsOn(bought)).to.deep.equal([]);
        expect(bought).to.include('data-scan-count="1"');
        expect(warningsOn(await page("diverted"))).to.include("out_of_region");
        const copied = await page("copied");
        expect(warningsOn(copied)).to.include("copied_code");
        expect(copied).to.match(/贵州 贵阳.*上海|上海.*贵州 贵阳/);
        expect(warningsOn(await page("opened"))).to.include("opened");
      });

      it("shows the trade's check before the sale apart from the consumers' scans", async () => {
        const html = await page("pre_queried");
        // Only this visit counts as a consumer's; the dealer's check from 遵义 before the sale is shown apart.
        expect(html).to.include('data-scan-count="1"');
        expect(html).to.match(/1 check before it was sold/);
        expect(warningsOn(html)).to.deep.equal([]);
      });

      it("stores the consumer's price report", async () => {
        const { rows } = await runtime.db.query<{ amount: string; verdict: string; store: string | null }>(
          "SELECT amount::text AS amount, verdict, store FROM price_reports WHERE serial = $1",
          [story("price_report").serial],
        );
        expect(rows).to.deep.equal([{ amount: "1099.00", verdict: "below", store: "贵阳南明烟酒店" }]);
        expect(await alertsOf(`kind=consumer_price_report&serial=${story("price_report").serial}`)).to.have.length(1);
      });

      it("reports price protection for the week with a compensation above zero", async () => {
        const { priceProtection: p } = summary;
        expect(p).to.include({ store: "gz-store-renhuai-01", sold: 8, previousSold: 12 });
        expect(Number(p.compensation)).to.be.greaterThan(0);
        const report = (await (await fetch(p.apiUrl, { headers: { authorization: `Bearer ${summary.apiKey}` } })).json()) as {
          stores: any[];
          totals: { compensation: string };
        };
        const line = report.stores.find((s) => s.party === "gz-store-renhuai-01");
        expect(line).to.include({ sold: 8, previousSold: 12, compliance: 1, compensation: p.compensation });
        expect(Number(report.totals.compensation)).to.be.greaterThan(0);
        expect(story("price_protection").url).to.equal(p.consoleUrl);
      });

      it("both printed console users sign in with the brand code", async () => {
        expect(summary.console.brandCode).to.equal("demo-stories");
        expect(summary.console.signInUrl).to.equal(`${api}/console/sign-in?brand=demo-stories`);
        expect(summary.console.users.map((u) => u.kind)).to.deep.equal(["brand", "store"]);
        for (const user of summary.console.users) {
          const client = consoleClient(api);
          const signedIn = await client.signIn({ brand: summary.console.brandCode, username: user.username, password: user.password });
          expect(signedIn.status, `${user.username}: ${signedIn.text.slice(0, 300)}`).to.equal(303);
          const landing = await client.get(new URL(user.landingUrl).pathname);
          expect(landing.status, user.landingUrl).to.equal(200);
          if (user.kind === "store") {
            expect(user.party).to.equal("gz-store-guiyang-01");
            expect((await client.get("/console/overview")).status).to.equal(403);
          } else {
            // The console's diversions name the distributor responsible and the bottle.
            const diversions = (await client.get("/console/alerts?kind=diversion")).text;
            expect(diversions).to.include("<strong>贵州黔香酒业商贸有限公司</strong>");
            expect(diversions).to.include(summary.diversion.serial);
          }
        }
      });
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
