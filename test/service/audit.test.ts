import { readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import type pg from "pg";
import { registryAt } from "../../service/anchoring/registry.ts";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { batchRoot, epcisDigest, headLeaf, processHeadProof } from "../../service/core/commitments.ts";
import { gs1CheckDigit } from "../../service/core/gtin.ts";
import { toHex, type Hash } from "../../service/core/hash.ts";
import { processProof, proofFromLinkTiles } from "../../service/core/merkle.ts";
import { loadConfig } from "../../service/config.ts";
import { signWebhook } from "../../service/ingest/signature.ts";
import { createLogger } from "../../service/log.ts";
import { startRuntime, type Runtime } from "../../service/runtime.ts";
import { runScript } from "../helpers/run.ts";
import {
  createBrandWith,
  deployTestRegistry,
  devKey,
  httpClient,
  lifecycle,
  stackEnv,
  startChainStack,
  type BrandFixture,
  type ChainStack,
  type Stack,
} from "../helpers/stack.ts";
import { startTamperingProxy, type TamperingProxy } from "./audit-proxy.ts";

const LINE = /^\s{2}/m;

describe("auditors: public batch data and npm run audit", function () {
  this.timeout(240_000);
  let services: ChainStack;
  let chain: LocalChain;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;
  let epcisBrand: BrandFixture;
  let proxy: TamperingProxy;
  let dir: string;

  before(async () => {
    // The audit asks for every bottle's bundle, run after run, from one address. The operator under
    // attack edits the database behind a running service, which a bundle cache would not see until
    // its entries expire (an older head proof of the same head is what a cache serves: the proxy's
    // "frozen bundle" test covers it), so this service answers every bundle from the database.
    services = await startChainStack({ keyIndex: 17, env: { RATE_LIMIT_PER_IP: "100000", BUNDLE_CACHE_ENTRIES: "0" } });
    ({ chain, stack, db } = services);
    brand = await stack.createBrand({ codes: 6 });
    // three deliveries, each anchored before the next: several batches
    const serials = brand.codes.map((c) => c.serial);
    for (const group of [serials.slice(0, 2), serials.slice(2, 4), serials.slice(4)]) {
      expect((await stack.postEvents(brand, lifecycle(group))).status).to.equal(202);
      for (const serial of group) await stack.waitAnchored(serial, brand.codes.find((c) => c.serial === serial)!.secret);
    }

    // A brand whose two bottles were commissioned by an EPCIS event (its EPCIS log is a chain too).
    epcisBrand = await stack.createBrand({ codes: 2 });
    const factoryGln = "690123400001" + gs1CheckDigit("690123400001");
    const party = await stack.request("PUT", "/api/v1/parties/factory-zunyi", {
      token: epcisBrand.apiKey,
      body: { kind: "factory", name: "茅台镇酒厂", region: "CN-GZ", gln: factoryGln },
    });
    expect(party.status, JSON.stringify(party.body)).to.equal(200);
    const dl = (i: number) => `https://id.gs1.org/01/${epcisBrand.gtin}/21/${epcisBrand.codes[i]!.serial}`;
    const sgln = `urn:epc:id:sgln:${factoryGln.slice(0, 7)}.${factoryGln.slice(7, 12)}.0`;
    const captured = await stack.request("POST", `/epcis/${epcisBrand.slug}/capture`, {
      token: epcisBrand.apiKey,
      headers: { "content-type": "application/ld+json" },
      body: {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", { sealtrace: "https://ns.sealtrace.dev/epcis/" }],
        type: "EPCISDocument",
        schemaVersion: "2.0",
        creationDate: new Date().toISOString(),
        epcisBody: {
          eventList: [
            {
              type: "ObjectEvent",
              eventTime: new Date(Date.now() - 60_000).toISOString(),
              eventTimeZoneOffset: "+08:00",
              epcList: [dl(0), dl(1)],
              action: "ADD",
              bizStep: "commissioning",
              disposition: "active",
              readPoint: { id: sgln },
              bizLocation: { id: sgln },
              "sealtrace:note": "tank 3, 53.0 % vol",
            },
            {
              // Names no bottle: only the brand's EPCIS log records it.
              type: "ObjectEvent",
              eventTime: new Date(Date.now() - 30_000).toISOString(),
              eventTimeZoneOffset: "+08:00",
              epcList: ["urn:epc:id:sgtin:0614141.107346.77"],
              action: "OBSERVE",
              bizStep: "inspecting",
              readPoint: { id: sgln },
            },
          ],
        },
      },
    });
    expect(captured.status, JSON.stringify(captured.body)).to.equal(202);
    expect(captured.body.stored, JSON.stringify(captured.body)).to.equal(2);
    for (const code of epcisBrand.codes) await stack.waitAnchored(code.serial, code.secret);

    proxy = await startTamperingProxy(stack.url);
    dir = await mkdtemp(join(tmpdir(), "sealtrace-audit-"));
  });
  after(async () => {
    await proxy?.close();
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => proxy?.tamper({}));

  const audit = (...extra: string[]) => runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", chain.url, ...extra]);
  const auditViaProxy = (...extra: string[]) => runScript("scripts/audit.ts", ["--api", proxy.url, "--rpc", chain.url, ...extra]);
  const exportOf = async (key: string) =>
    (await (await fetch(`${stack.url}/api/v1/audit/events`, { headers: { authorization: `Bearer ${key}` } })).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));

  /** Applies a database edit for the length of `check`, then runs `restore`. */
  async function tampered(edit: string, restore: string, check: () => Promise<void>): Promise<void> {
    await db.query(edit);
    try {
      await check();
    } finally {
      await db.query(restore);
    }
  }

  /** Puts a deleted row back as it was. */
  async function reinsert(table: string, row: Record<string, unknown>): Promise<void> {
    const columns = Object.keys(row);
    await db.query(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
      columns.map((c) => row[c]),
    );
  }

  it("lists batches (format 2: with the parts of the root), streams leaves and gives the checkpoint, with long-lived caching for anchored batches", async () => {
    const page = await stack.request("GET", "/api/v1/batches?after=0&limit=2");
    expect(page.status).to.equal(200);
    expect(page.body.batches.map((b: { seq: number }) => b.seq)).to.deep.equal([1, 2]);
    expect(page.body.next).to.equal(2);
    expect(page.headers.get("cache-control")).to.equal("public, max-age=31536000, immutable");
    for (const b of page.body.batches) {
      expect(b.format).to.equal(2);
      expect(batchRoot(b.linksRoot, b.headsRoot, b.headsDepth)).to.equal(b.root);
    }
    const etag = page.headers.get("etag")!;
    expect((await fetch(`${stack.url}/api/v1/batches?after=0&limit=2`, { headers: { "if-none-match": etag } })).status).to.equal(304);

    const one = await fetch(`${stack.url}/api/v1/batches/1`);
    expect(one.headers.get("etag")).to.match(/^"batch-1-/);
    const single = (await one.json()) as { format: number; linksRoot: string; headsRoot: string; headsDepth: number; root: string };
    expect(single).to.include({ format: 2, root: page.body.batches[0].root, linksRoot: page.body.batches[0].linksRoot });
    expect((await fetch(`${stack.url}/api/v1/batches/1`, { headers: { "if-none-match": one.headers.get("etag")! } })).status).to.equal(304);

    const leaves = await fetch(`${stack.url}/api/v1/batches/1/leaves`);
    expect(leaves.headers.get("content-type")).to.match(/^text\/plain/);
    const lines = (await leaves.text()).trim().split("\n");
    const batch = (await (await fetch(`${stack.url}/api/v1/batches/1`)).json()) as { leafCount: number; root: string };
    expect(lines).to.have.length(batch.leafCount);
    expect(leaves.headers.get("x-batch-root")).to.equal(batch.root);
    for (const line of lines) expect(line).to.match(/^0x[0-9a-f]{64}$/);

    const checkpoint = await stack.request("GET", "/api/v1/checkpoint");
    expect(checkpoint.body).to.include({ chainId: 31337, registry: stack.runtime.chain.registry });
    expect(checkpoint.body.seq).to.be.at.least(3);
    expect(checkpoint.body.root).to.match(/^0x[0-9a-f]{64}$/);
  });

  it("exports the brand's events with hashes, links, proofs and members, then the checkpoint and every chain's head, as NDJSON, only to the brand", async () => {
    const response = await fetch(`${stack.url}/api/v1/audit/events`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
    expect(response.headers.get("content-type")).to.match(/^application\/x-ndjson/);
    const records = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const events = records.filter((r) => r.event !== undefined);
    expect(events.filter((r) => r.event.type !== "consumer_scan")).to.have.length(3 * 4 + 6);
    const sale = events.find((r) => r.event.type === "retail_sale");
    expect(sale.links[0].batch.proof.length).to.be.greaterThan(0);
    expect(sale.links[0].batch).to.include.keys("format", "linksRoot", "headsRoot", "headsDepth");
    expect(sale.links[0].anchor.txHash).to.match(/^0x/);
    const production = events.find((r) => r.event.type === "production");
    // Members in the event's order (its codes tree's), links in serial order.
    expect(production.members.map((m: { serial: string }) => m.serial)).to.deep.equal(brand.codes.slice(0, 2).map((c) => c.serial));
    expect(production.links.map((l: { link: { serial: string } }) => l.link.serial)).to.deep.equal(
      brand.codes
        .slice(0, 2)
        .map((c) => c.serial)
        .sort(),
    );
    expect(production.links[0].identity).to.deep.include({ brand: brand.slug, gtin: brand.gtin, lot: "2026-11-A", serial: production.links[0].link.serial });

    // After the events: the checkpoint, then one head per bottle, each proven in the checkpoint's heads map.
    const at = records.findIndex((r) => r.checkpoint !== undefined);
    expect(at).to.equal(events.length);
    const { checkpoint } = records[at];
    expect(checkpoint.seq).to.equal((await stack.request("GET", "/api/v1/checkpoint")).body.seq);
    const heads = records.slice(at + 1).map((r) => r.heads);
    expect(heads.map((h) => h.chain)).to.have.members(brand.codes.map((c) => c.serial));
    expect(heads.map((h) => h.index)).to.deep.equal(heads.map((h) => h.index).sort((a, b) => a - b));
    for (const head of heads) {
      expect(processHeadProof(head.index, headLeaf(head.index, head.n, head.linkHash), head.proof)).to.equal(checkpoint.headsRoot);
      expect(head.n).to.equal(5);
    }

    const none = await fetch(`${stack.url}/api/v1/audit/events?from=2099-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
    expect(await none.text()).to.equal("");
    expect((await fetch(`${stack.url}/api/v1/audit/events`)).status).to.equal(401);
  });

  it("exports an EPCIS event with the body and @context its digest commits to, and the brand's EPCIS log as a chain with its head", async () => {
    const records = await exportOf(epcisBrand.apiKey);
    const [event, inspection] = records.filter((r) => r.event !== undefined);
    expect(event.epcis.event.bizStep).to.equal("commissioning");
    expect(epcisDigest(event.epcis.event, event.epcis.context)).to.equal(event.event.epcis);
    expect(event.links.map((l: { link: { serial: string } }) => l.link.serial)).to.include(`epcis:${epcisBrand.slug}`);
    expect(inspection.members).to.deep.equal([]);
    expect(inspection.event.codes).to.deep.equal({ root: `0x${"00".repeat(32)}`, count: 0 });
    expect(inspection.links.map((l: { link: { serial: string } }) => l.link.serial)).to.deep.equal([`epcis:${epcisBrand.slug}`]);
    expect(epcisDigest(inspection.epcis.event, inspection.epcis.context)).to.equal(inspection.event.epcis);
    const heads = records.filter((r) => r.heads !== undefined).map((r) => r.heads.chain);
    expect(heads).to.have.members([...epcisBrand.codes.map((c) => c.serial), `epcis:${epcisBrand.slug}`]);
  });

  it("passes on real traffic, with and without the brand's key, and says which registry it trusted", async () => {
    const plain = await audit();
    expect(plain.code, plain.stdout + plain.stderr).to.equal(0);
    const [first, summary] = plain.stdout.trim().split("\n");
    expect(first).to.equal(
      `trusted: chain 31337, registry ${stack.runtime.chain.registry.toLowerCase()}, as named by the API itself: pin it with --registry, or remember it with --state FILE`,
    );
    expect(summary).to.match(/^AUDIT PASSED: \d+ batches, \d+ leaves verified/);
    const full = await audit("--brand-key", brand.apiKey, "--full", "--registry", stack.runtime.chain.registry, "--chain-id", "31337");
    expect(full.code, full.stdout + full.stderr).to.equal(0);
    expect(full.stdout).to.match(/^trusted: chain 31337, registry 0x[0-9a-f]{40} \(--registry\)$/m);
    expect(full.stdout).to.match(/18 events, 6 chains complete as of batch \d+ and 6 bottle bundles of the brand/);
    expect(full.stderr).to.match(/batch 1: \d+ leaves match the chain \(format 2\)/);
    const epcis = await audit("--brand-key", epcisBrand.apiKey, "--full");
    expect(epcis.code, epcis.stdout + epcis.stderr).to.equal(0);
    expect(epcis.stdout).to.match(/2 events, 3 chains complete as of batch \d+ and 2 bottle bundles of the brand/);
  });

  it("streams a history larger than one page of events and one page of heads, and the audit passes on it", async () => {
    const big = await stack.createBrand({ codes: 1_001 });
    const serials = big.codes.map((c) => c.serial);
    // 104 events for the first 100 bottles, one production event for the other 901: 105 events, 1,001 chains.
    const events = [
      ...lifecycle(serials.slice(0, 100)),
      { id: "rest-prod", type: "production", codes: serials.slice(100), occurredAt: new Date(Date.now() - 86_400_000).toISOString(), party: "factory-zunyi" },
    ];
    expect((await stack.postEvents(big, events)).status).to.equal(202);
    for (const code of [big.codes[0]!, big.codes[1_000]!]) await stack.waitAnchored(code.serial, code.secret);
    const records = await exportOf(big.apiKey);
    expect(records.filter((r) => r.event !== undefined)).to.have.length(105);
    expect(records.filter((r) => r.checkpoint !== undefined)).to.have.length(1);
    expect(new Set(records.filter((r) => r.heads !== undefined).map((r) => r.heads.chain)).size).to.equal(1_001);
    const r = await audit("--brand-key", big.apiKey, "--sample", "3");
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/105 events, 1001 chains complete as of batch \d+ and 3 bottle bundles of the brand/);
  });

  it("fails with another registry pinned or another chain id", async () => {
    const other = await deployTestRegistry(chain.url, devKey(17));
    const r = await audit("--registry", other);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include(`chain: the API names another registry than the one audited (expected ${other.toLowerCase()}`);
    const wrongChain = await audit("--chain-id", "1");
    expect(wrongChain.code).to.equal(1);
    expect(wrongChain.stdout).to.include("chain: the RPC serves another chain than the one trusted (expected 1, found 31337)");
  });

  describe("through a tampering proxy (finding 6): the audit fails naming the bottle", () => {
    it("an export with one event line dropped: the bottle's link is missing, or its last link is not its proven head", async () => {
      const records = await exportOf(brand.apiKey);
      const victim = brand.codes[3]!.serial;
      const sale = records.findIndex((r) => r.event?.type === "retail_sale" && r.links[0].link.serial === victim);
      proxy.tamper({ export: (lines) => lines.filter((_, i) => i !== sale) });
      const dropSale = await auditViaProxy("--brand-key", brand.apiKey, "--full");
      expect(dropSale.code, dropSale.stdout).to.equal(1);
      expect(dropSale.stdout).to.match(
        new RegExp(
          `^  bottle ${victim}: batch \\d+'s heads map records link 5 as its last; the export's last link sealed by then is link 4: links were left out of the export`,
          "m",
        ),
      );
      expect(dropSale.stdout).to.match(new RegExp(`^  bottle ${victim} bundle: shows link 5, anchored in batch \\d+, which the export leaves out`, "m"));

      // A step in the middle of two bottles' histories.
      const step = records.findIndex((r) => r.event?.type === "warehouse_in" && r.links.some((l: any) => l.link.serial === victim));
      const named = records[step].links.map((l: any) => l.link.serial);
      proxy.tamper({ export: (lines) => lines.filter((_, i) => i !== step) });
      const dropStep = await auditViaProxy("--brand-key", brand.apiKey);
      expect(dropStep.code).to.equal(1);
      for (const serial of named) expect(dropStep.stdout).to.include(`  bottle ${serial}: link 2 is missing from the export (its links must run 1…5)`);
    });

    it("an export with a head record dropped, or with the checkpoint and heads cut off", async () => {
      const victim = brand.codes[0]!.serial;
      proxy.tamper({ export: (lines) => lines.filter((r) => r.heads?.chain !== victim) });
      const dropHead = await auditViaProxy("--brand-key", brand.apiKey);
      expect(dropHead.code).to.equal(1);
      expect(dropHead.stdout).to.match(
        new RegExp(`^  bottle ${victim}: has links in anchored format-2 batches, but the export gives no head record for it`, "m"),
      );

      proxy.tamper({ export: (lines) => lines.filter((r) => r.event !== undefined) });
      const cut = await auditViaProxy("--brand-key", brand.apiKey, "--max-age", "0");
      expect(cut.code).to.equal(1);
      expect(cut.stdout).to.include("export: ends without a checkpoint, though it has links anchored in format-2 batches");
      expect(cut.stdout).to.match(/export: its checkpoint is missing, but the registry has held batch 1 since/);
    });

    it("an export that shows a bottle's links as pending (or in a batch that does not exist) and drops its head record", async () => {
      const victim = brand.codes[5]!.serial;
      for (const batch of [null, { seq: 999, leafIndex: 0, root: `0x${"00".repeat(32)}`, proof: [] }]) {
        proxy.tamper({
          export: (lines) =>
            lines
              .filter((r) => r.heads?.chain !== victim)
              .map((r) =>
                r.links === undefined ? r : { ...r, links: r.links.map((l: any) => (l.link.serial === victim ? { ...l, batch, anchor: null } : l)) },
              ),
        });
        const r = await auditViaProxy("--brand-key", brand.apiKey, "--sample", "0");
        expect(r.code, r.stdout).to.equal(1);
        for (let n = 1; n <= 5; n++) {
          expect(r.stdout).to.match(
            new RegExp(
              `^ {2}event \\d+ \\([^)]+\\), bottle ${victim} link ${n}: the export shows this link as not anchored, but its leaf is leaf \\d+ of batch \\d+, which the registry holds$`,
              "m",
            ),
          );
        }
      }
    });

    it("an export whose event leaves out a bottle from its members, or changes its EPCIS body", async () => {
      const victim = brand.codes[1]!.serial;
      proxy.tamper({
        export: (lines) =>
          lines.map((r) =>
            r.event?.type === "production" && r.members?.some((m: any) => m.serial === victim)
              ? { ...r, members: r.members.filter((m: any) => m.serial !== victim) }
              : r,
          ),
      });
      const member = await auditViaProxy("--brand-key", brand.apiKey);
      expect(member.code).to.equal(1);
      expect(member.stdout).to.match(/event \d+ \(.+-prod\): its members do not recompute the root its codes commit to/);
      expect(member.stdout).to.match(new RegExp(`event \\d+ \\(.+-prod\\): bottle ${victim} has a link to it, but the event does not name that bottle`));

      proxy.tamper({ export: (lines) => lines.map((r) => (r.epcis ? { ...r, epcis: { ...r.epcis, event: { ...r.epcis.event, bizStep: "shipping" } } } : r)) });
      const body = await auditViaProxy("--brand-key", epcisBrand.apiKey);
      expect(body.code).to.equal(1);
      expect(body.stdout).to.match(/event \d+ \(.+\): its EPCIS body and @context do not recompute the digest it commits to/);
    });

    it("a bundle frozen before its bottle moved; not one whose older head is still the bottle's head", async () => {
      // A brand of its own: its bottles get events after the others' tests ran.
      const late = await stack.createBrand({ codes: 2 });
      const [a, b] = late.codes as [(typeof late.codes)[0], (typeof late.codes)[0]];
      expect((await stack.postEvents(late, lifecycle([a.serial, b.serial]))).status).to.equal(202);
      await stack.waitAnchored(a.serial, a.secret);
      await stack.waitAnchored(b.serial, b.secret);
      const frozen = (await stack.request("GET", `/api/v1/items/${a.serial}/proof?s=${a.secret}`)).body;
      const opened = (serial: string, id: string) => [{ id, type: "opened", codes: [serial], occurredAt: new Date().toISOString(), party: "store-pudong" }];

      // Another bottle moves: the checkpoint passes A's head batch, but A's head is what it was.
      expect((await stack.postEvents(late, opened(b.serial, "late-b"))).status).to.equal(202);
      await stack.waitAnchored(b.serial, b.secret);
      proxy.tamper({ bundle: (serial, bundle) => (serial === a.serial ? frozen : bundle) });
      const same = await auditViaProxy("--brand-key", late.apiKey, "--full");
      expect(same.code, same.stdout).to.equal(0);

      // A moves: the frozen bundle now hides its newest link.
      expect((await stack.postEvents(late, opened(a.serial, "late-a"))).status).to.equal(202);
      await stack.waitAnchored(a.serial, a.secret);
      const moved = await auditViaProxy("--brand-key", late.apiKey, "--full");
      expect(moved.code, moved.stdout).to.equal(1);
      expect(moved.stdout).to.match(new RegExp(`bottle ${a.serial} bundle: stops at link 5, but the export has 6 links`));
      expect(moved.stdout).to.match(
        new RegExp(
          `bottle ${a.serial} bundle: its head proof is in batch \\d+, older than the export's checkpoint \\(batch \\d+\\), and proves another head \\(expected link 6 0x[0-9a-f]{64}, found link 5 0x[0-9a-f]{64}\\)`,
        ),
      );
    });

    it("a truncated bundle, even one whose head proof and batches were trimmed to match", async () => {
      const victim = brand.codes[4]!.serial;
      proxy.tamper({
        bundle: (serial, bundle) => (serial !== victim ? bundle : { ...bundle, links: bundle.links.slice(0, 4), events: bundle.events.slice(0, 4) }),
      });
      const plain = await auditViaProxy("--brand-key", brand.apiKey, "--full");
      expect(plain.code).to.equal(1);
      expect(plain.stdout).to.include(`  bottle ${victim} bundle links: batch`);
      expect(plain.stdout).to.include(
        `  bottle ${victim} bundle: stops at link 4, but the export has 5 links of bottle ${victim}: links were left out of the bundle`,
      );

      proxy.tamper({
        bundle: (serial, bundle) => {
          if (serial !== victim) return bundle;
          const links = bundle.links.slice(0, 4);
          const used = new Set(links.map((l: any) => l.anchor.seq));
          return { ...bundle, links, events: bundle.events.slice(0, 4), head: null, batches: bundle.batches.filter((b: any) => used.has(b.seq)) };
        },
      });
      const trimmed = await auditViaProxy("--brand-key", brand.apiKey, "--full");
      expect(trimmed.code).to.equal(1);
      const lines = trimmed.stdout.split("\n").filter((line) => LINE.test(line));
      expect(
        lines.every((line) => line.startsWith(`  bottle ${victim} bundle`)),
        trimmed.stdout,
      ).to.equal(true);
      expect(trimmed.stdout).to.include(`  bottle ${victim} bundle: stops at link 4, but the export has 5 links`);
      expect(trimmed.stdout).to.match(
        new RegExp(`bottle ${victim} bundle: carries no head proof, but batch \\d+'s heads map records link 5 as bottle ${victim}'s last`),
      );
    });

    it("a bundle whose link claims another batch than the export", async () => {
      const victim = brand.codes[2]!.serial;
      proxy.tamper({
        bundle: (serial, bundle) =>
          serial !== victim
            ? bundle
            : { ...bundle, links: bundle.links.map((l: any, i: number) => (i === 0 ? { ...l, anchor: { seq: l.anchor.seq + 1 } } : l)) },
      });
      const r = await auditViaProxy("--brand-key", brand.apiKey, "--full");
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(
        new RegExp(`^ {2}bottle ${victim} bundle: its link 1 claims another batch than the export's \\(expected \\d+, found \\d+\\)$`, "m"),
      );
    });

    it("passes through a faithful proxy", async () => {
      const r = await auditViaProxy("--brand-key", brand.apiKey, "--full");
      expect(r.code, r.stdout).to.equal(0);
    });
  });

  it("serves a batch's links tree as immutable tiles whose proofs lead to its links root", async () => {
    const batch = (await (await fetch(`${stack.url}/api/v1/batches/1`)).json()) as { leafCount: number; linksRoot: Hash };
    const tile = await fetch(`${stack.url}/api/v1/batches/1/tiles/0/0`);
    expect(tile.status).to.equal(200);
    expect(tile.headers.get("content-type")).to.equal("application/octet-stream");
    expect(tile.headers.get("cache-control")).to.equal("public, max-age=31536000, immutable");
    const bytes = new Uint8Array(await tile.arrayBuffer());
    // The leaves tile is the leaves, in the order /leaves streams them; every proof cut from it holds.
    const lines = (await (await fetch(`${stack.url}/api/v1/batches/1/leaves`)).text()).trim().split("\n");
    expect(bytes.length).to.equal(32 * batch.leafCount);
    expect(lines).to.deep.equal(Array.from({ length: batch.leafCount }, (_, i) => toHex(bytes.subarray(32 * i, 32 * i + 32))));
    for (let i = 0; i < batch.leafCount; i++) {
      expect(processProof(lines[i] as Hash, proofFromLinkTiles(i, batch.leafCount, new Map([["0/0", bytes]])))).to.equal(batch.linksRoot);
    }
    expect((await fetch(`${stack.url}/api/v1/batches/1/tiles/0/0`, { headers: { "if-none-match": tile.headers.get("etag")! } })).status).to.equal(304);
    const missing = await stack.request("GET", "/api/v1/batches/1/tiles/0/1");
    expect(missing.status).to.equal(404);
    expect(JSON.stringify(missing.body)).to.match(/batch 1 has no tile 0\/1/);
    expect((await stack.request("GET", "/api/v1/batches/1/tiles/7/0")).status).to.equal(400);
  });

  it("finds an altered leaf in the stored tree, naming the batch, the leaf and what it should be", async () => {
    // The operator rewrites leaf 1 of batch 2 where the batch's tree is kept (its level-0 tile).
    const {
      rows: [tile],
    } = await db.query("SELECT hashes FROM link_tiles WHERE seq = 2 AND lvl = 0 AND idx = 0");
    await db.query(
      "UPDATE link_tiles SET hashes = overlay(hashes PLACING sha256(substring(hashes FROM 33 FOR 32)) FROM 33 FOR 32) WHERE seq = 2 AND lvl = 0 AND idx = 0",
    );
    try {
      const r = await audit("--brand-key", brand.apiKey);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(
        /batch 2: the links root recomputed from its \d+ leaves differs from the batch's \(whose node with its heads root is the chain's root\) \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/,
      );
      expect(r.stdout).to.match(/batch 2 leaf 1: differs from bottle \w+ link \d+ \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
    } finally {
      await db.query("UPDATE link_tiles SET hashes = $1 WHERE seq = 2 AND lvl = 0 AND idx = 0", [tile.hashes]);
    }
  });

  it("finds a leaf dropped from the stored tree", async () => {
    // The operator cuts batch 1's first leaf out of its tree: the API then serves one leaf fewer.
    const {
      rows: [tile],
    } = await db.query("SELECT hashes, ids FROM link_tiles WHERE seq = 1 AND lvl = 0 AND idx = 0");
    await db.query("UPDATE link_tiles SET hashes = substring(hashes FROM 33), ids = ids[2:] WHERE seq = 1 AND lvl = 0 AND idx = 0");
    try {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(
        /batch 1: the API serves another number of leaves than the chain records \(a leaf was dropped or added\) \(expected (\d+), found \d+\)/,
      );
    } finally {
      await db.query("UPDATE link_tiles SET hashes = $1, ids = $2 WHERE seq = 1 AND lvl = 0 AND idx = 0", [tile.hashes, tile.ids]);
    }
  });

  it("finds a batch missing from the API, a root that differs from the chain, and heads that do not make the root", async () => {
    const {
      rows: [batch],
    } = await db.query("SELECT * FROM batches WHERE seq = 2");
    const { rows: tiles } = await db.query("SELECT * FROM head_tiles WHERE seq = 2");
    const { rows: linkTiles } = await db.query("SELECT * FROM link_tiles WHERE seq = 2");
    await db.query("DELETE FROM head_tiles WHERE seq = 2");
    await db.query("DELETE FROM link_tiles WHERE seq = 2");
    await db.query("DELETE FROM batches WHERE seq = 2");
    try {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include("api: batch 2 is missing (numbers must run 1, 2, 3 … with no gap)");
      expect(r.stdout).to.include("batch 2: is anchored on chain but missing from the API");
    } finally {
      await reinsert("batches", batch);
      for (const tile of tiles) await reinsert("head_tiles", tile);
      for (const tile of linkTiles) await reinsert("link_tiles", tile);
    }
    const {
      rows: [{ root, heads_root: headsRoot }],
    } = await db.query("SELECT root, heads_root FROM batches WHERE seq = 1");
    await tampered("UPDATE batches SET root = sha256(root) WHERE seq = 1", "SELECT 1", async () => {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/batch 1: the API's root differs from the chain's \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
    }).finally(() => db.query("UPDATE batches SET root = $1 WHERE seq = 1", [root]));
    await tampered("UPDATE batches SET heads_root = sha256(heads_root) WHERE seq = 1", "SELECT 1", async () => {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/batch 1: its root is not node\(linksRoot, headsRoot, headsDepth\)/);
    }).finally(() => db.query("UPDATE batches SET heads_root = $1 WHERE seq = 1", [headsRoot]));
  });

  it("finds an event whose content was changed after sealing", async () => {
    const {
      rows: [event],
    } = await db.query("SELECT e.id, e.canonical FROM events e JOIN brands b ON b.id = e.brand_id WHERE b.slug = $1 AND e.type = 'retail_sale' LIMIT 1", [
      brand.slug,
    ]);
    await db.query(`UPDATE events SET canonical = jsonb_set(canonical, '{price,amount}', '"99.00"') WHERE id = $1`, [event.id]);
    try {
      const r = await audit("--brand-key", brand.apiKey, "--full");
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(
        new RegExp(`event ${event.id} \\(.+\\): its content no longer hashes to the hash it was sealed with \\(changed after sealing\\)`),
      );
      expect(r.stdout).to.match(/bottle \w+ bundle events\[\d\]\.eventHash|bottle \w+ bundle links\[\d\]\.link\.event/);
    } finally {
      await db.query("UPDATE events SET canonical = $2 WHERE id = $1", [event.id, event.canonical]);
    }
    const restored = await audit("--brand-key", brand.apiKey);
    expect(restored.code, restored.stdout).to.equal(0);
  });

  describe("--state: a monitor of the registry's history", () => {
    let state: string;
    before(async () => {
      state = join(dir, "state.json");
      const first = await audit("--state", state);
      expect(first.code, first.stdout + first.stderr).to.equal(0);
    });

    it("remembers the chain, the registry and every root after a passing run", async () => {
      const remembered = JSON.parse(await readFile(state, "utf8"));
      const checkpoint = (await stack.request("GET", "/api/v1/checkpoint")).body;
      expect(remembered).to.include({ format: "sealtrace-audit-state/1", chainId: 31337, registry: stack.runtime.chain.registry.toLowerCase() });
      expect(remembered.latestSeq).to.be.at.least(checkpoint.seq);
      expect(remembered.roots[String(checkpoint.seq)]).to.equal(checkpoint.root);
      const again = await audit("--state", state);
      expect(again.code, again.stdout).to.equal(0);
      expect(again.stdout).to.match(/^trusted: chain 31337, registry 0x[0-9a-f]{40} \(remembered in .*state\.json\)$/m);
    });

    it("fails loudly on a changed root, a missing batch or a shorter history, and keeps the state as it was", async () => {
      const remembered = JSON.parse(await readFile(state, "utf8"));
      const edits: [string, (s: any) => void, RegExp][] = [
        [
          "a changed root",
          (s) => {
            s.roots["1"] = `0x${"11".repeat(32)}`;
          },
          /state: batch 1: its root changed since it was checked \(a rewritten history\)/,
        ],
        [
          "a missing batch",
          (s) => {
            s.roots["999"] = `0x${"22".repeat(32)}`;
          },
          /state: batch 999: was checked before, but registry 0x[0-9a-f]{40} no longer holds it \(a shorter history\)/,
        ],
        [
          "a shorter history",
          (s) => {
            s.latestSeq += 5;
          },
          /state: registry 0x[0-9a-f]{40} holds a shorter history than was checked before/,
        ],
      ];
      for (const [what, edit, message] of edits) {
        const copy = structuredClone(remembered);
        edit(copy);
        const file = join(dir, `state-${what.replaceAll(" ", "-")}.json`);
        const text = JSON.stringify(copy);
        await writeFile(file, text);
        const r = await audit("--state", file);
        expect(r.code, what).to.equal(1);
        expect(r.stdout, what).to.match(message);
        expect(await readFile(file, "utf8"), `${what}: the state is not rewritten after a failing run`).to.equal(text);
      }
    });
  });

  it("exit 2 for usage errors and an unreachable API or chain", async () => {
    expect((await runScript("scripts/audit.ts", [])).code).to.equal(2);
    expect((await runScript("scripts/audit.ts", ["--api", "http://127.0.0.1:1", "--rpc", chain.url])).code).to.equal(2);
    expect((await runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", "http://127.0.0.1:1"])).code).to.equal(2);
    expect((await runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", chain.url, "--registry", "0x1234"])).code).to.equal(2);
    await writeFile(join(dir, "broken.json"), "{ not json");
    expect((await runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", chain.url, "--state", join(dir, "broken.json")])).code).to.equal(2);
  });
});

describe("npm run audit --state across a registry move", function () {
  this.timeout(240_000);
  const KEY_INDEX = 16;
  let chain: LocalChain;
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  let runtime: Runtime | null = null;
  let dir: string;
  let state: string;
  const log = createLogger((process.env.TEST_LOG_LEVEL ?? "silent") as "silent");

  const audit = (...extra: string[]) => runScript("scripts/audit.ts", ["--api", runtime!.url!, "--rpc", chain.url, "--state", state, ...extra]);

  /** Waits until every batch is anchored on the registry the service now uses. */
  async function allAnchored(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const page = await httpClient(runtime!.url!)("GET", "/api/v1/batches?after=0&limit=1000");
      if (page.body.batches.length > 0 && page.body.batches.every((b: { status: string }) => b.status === "anchored")) return;
      if (Date.now() > deadline) throw new Error(`batches not anchored: ${JSON.stringify(page.body).slice(0, 300)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  before(async () => {
    chain = await startLocalChain();
    ({ env, cleanup } = await stackEnv({ chainUrl: chain.url, keyIndex: KEY_INDEX }));
    runtime = await startRuntime(loadConfig(env), { role: "all", log });
    const brand = await createBrandWith(httpClient(runtime.url!), { codes: 2 });
    const body = JSON.stringify({ events: lifecycle(brand.codes.map((c) => c.serial)) });
    const posted = await fetch(`${runtime.url}/webhooks/${brand.slug}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signWebhook(brand.webhookSecret, "msg_move_1", body) },
      body,
    });
    expect(posted.status).to.equal(202);
    await allAnchored();
    dir = await mkdtemp(join(tmpdir(), "sealtrace-audit-move-"));
    state = join(dir, "state.json");
  });
  after(async () => {
    await runtime?.stop();
    await cleanup?.();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fails against a new registry nobody named, and follows one the old registry names as its successor", async () => {
    const first = await audit();
    expect(first.code, first.stdout + first.stderr).to.equal(0);
    const old = env.REGISTRY_ADDRESS!;

    // The operator moves: a new registry, the service re-anchors its whole history there.
    const moved = await deployTestRegistry(chain.url, devKey(KEY_INDEX));
    await runtime!.stop();
    runtime = await startRuntime(loadConfig({ ...env, REGISTRY_ADDRESS: moved }), { role: "all", log });
    await allAnchored();

    const unannounced = await audit();
    expect(unannounced.code, unannounced.stdout).to.equal(1);
    expect(unannounced.stdout).to.include(
      `state: the API names another registry than the state remembers, and no successor recorded on chain leads to it: another registry is another history (expected ${old.toLowerCase()}, found ${moved})`,
    );
    expect(JSON.parse(await readFile(state, "utf8")).registry).to.equal(old.toLowerCase());

    // The old registry records its successor, once, on chain: the monitor follows it.
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    try {
      const admin = new NonceManager(new Wallet(devKey(KEY_INDEX), provider));
      await (await registryAt(old, admin).getFunction("setSuccessor")(moved)).wait();
    } finally {
      provider.destroy();
    }
    const followed = await audit();
    expect(followed.code, followed.stdout + followed.stderr).to.equal(0);
    expect(followed.stdout).to.include(`registry moved: ${old.toLowerCase()} names ${moved.toLowerCase()} as its successor on chain; following it`);
    const remembered = JSON.parse(await readFile(state, "utf8"));
    expect(remembered.registry).to.equal(moved.toLowerCase());
    expect(remembered.successions.map((s: { from: string; to: string }) => [s.from, s.to])).to.deep.equal([[old.toLowerCase(), moved.toLowerCase()]]);

    // Once moved, the old registry is another history.
    const back = await audit("--registry", old);
    expect(back.code).to.equal(1);
    expect(back.stdout).to.include("state: --registry names another registry than the state remembers");
  });
});
