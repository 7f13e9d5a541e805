import { expect } from "chai";
import type pg from "pg";
import type { LocalChain } from "../../service/anchoring/local-chain.ts";
import { runScript } from "../helpers/run.ts";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("auditors: public batch data and npm run audit", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let chain: LocalChain;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;

  before(async () => {
    services = await startChainStack({ keyIndex: 17 });
    ({ chain, stack, db } = services);
    brand = await stack.createBrand({ codes: 6 });
    // three deliveries, each anchored before the next: several batches
    const serials = brand.codes.map((c) => c.serial);
    for (const group of [serials.slice(0, 2), serials.slice(2, 4), serials.slice(4)]) {
      expect((await stack.postEvents(brand, lifecycle(group))).status).to.equal(202);
      for (const serial of group) await stack.waitAnchored(serial, brand.codes.find((c) => c.serial === serial)!.secret);
    }
  });
  after(async () => {
    await services?.stop();
  });

  const audit = (...extra: string[]) => runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", chain.url, ...extra]);

  /** Applies a database edit for the length of `check`, then runs `restore`. */
  async function tampered(edit: string, restore: string, check: () => Promise<void>): Promise<void> {
    await db.query(edit);
    try {
      await check();
    } finally {
      await db.query(restore);
    }
  }

  it("lists batches, streams leaves and gives the checkpoint, with long-lived caching for anchored batches", async () => {
    const page = await stack.request("GET", "/api/v1/batches?after=0&limit=2");
    expect(page.status).to.equal(200);
    expect(page.body.batches.map((b: { seq: number }) => b.seq)).to.deep.equal([1, 2]);
    expect(page.body.next).to.equal(2);
    expect(page.headers.get("cache-control")).to.equal("public, max-age=31536000, immutable");
    const etag = page.headers.get("etag")!;
    expect((await fetch(`${stack.url}/api/v1/batches?after=0&limit=2`, { headers: { "if-none-match": etag } })).status).to.equal(304);

    const one = await fetch(`${stack.url}/api/v1/batches/1`);
    expect(one.headers.get("etag")).to.match(/^"batch-1-/);
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

  it("exports the brand's events with hashes, links and proofs as NDJSON, only to the brand", async () => {
    const response = await fetch(`${stack.url}/api/v1/audit/events`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
    expect(response.headers.get("content-type")).to.match(/^application\/x-ndjson/);
    const records = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(records.filter((r) => r.event.type !== "consumer_scan")).to.have.length(3 * 4 + 6);
    const sale = records.find((r) => r.event.type === "retail_sale");
    expect(sale.links[0].batch.proof.length).to.be.greaterThan(0);
    expect(sale.links[0].anchor.txHash).to.match(/^0x/);
    const none = await fetch(`${stack.url}/api/v1/audit/events?from=2099-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
    expect(await none.text()).to.equal("");
    expect((await fetch(`${stack.url}/api/v1/audit/events`)).status).to.equal(401);
  });

  it("passes on real traffic, with and without the brand's key", async () => {
    const plain = await audit();
    expect(plain.code, plain.stdout + plain.stderr).to.equal(0);
    expect(plain.stdout).to.match(/^AUDIT PASSED: \d+ batches, \d+ leaves verified/);
    const full = await audit("--brand-key", brand.apiKey, "--full");
    expect(full.code, full.stdout + full.stderr).to.equal(0);
    expect(full.stdout).to.match(/18 events and 6 bottle bundles of the brand/);
    expect(full.stderr).to.match(/batch 1: \d+ leaves match the chain/);
  });

  it("finds an altered leaf, naming the batch, the leaf and what it should be", async () => {
    const { rows: [original] } = await db.query("SELECT id, leaf FROM links WHERE batch_seq = 2 AND leaf_index = 1");
    await db.query("UPDATE links SET leaf = sha256(leaf) WHERE id = $1", [original.id]);
    try {
      const r = await audit("--brand-key", brand.apiKey);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/batch 2: the root recomputed from its \d+ leaves differs from the chain's \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
      expect(r.stdout).to.match(/batch 2 leaf 1: differs from bottle \w+ link \d+ \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
    } finally {
      await db.query("UPDATE links SET leaf = $2 WHERE id = $1", [original.id, original.leaf]);
    }
  });

  it("finds a dropped leaf", async () => {
    const { rows: [link] } = await db.query("SELECT * FROM links WHERE batch_seq = 1 AND leaf_index = 0");
    await db.query("DELETE FROM links WHERE id = $1", [link.id]);
    try {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/batch 1: the API serves another number of leaves than the chain records \(a leaf was dropped or added\) \(expected (\d+), found \d+\)/);
    } finally {
      await db.query("INSERT INTO links (id, serial, n, event_id, prev, link_hash, leaf, batch_seq, leaf_index, proof) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        [link.id, link.serial, link.n, link.event_id, link.prev, link.link_hash, link.leaf, link.batch_seq, link.leaf_index, link.proof]);
    }
  });

  it("finds a batch missing from the API, and a root that differs from the chain", async () => {
    const { rows: [batch] } = await db.query("SELECT * FROM batches WHERE seq = 2");
    await db.query("DELETE FROM batches WHERE seq = 2");
    try {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include("api: batch 2 is missing (numbers must run 1, 2, 3 … with no gap)");
      expect(r.stdout).to.include("batch 2: is anchored on chain but missing from the API");
    } finally {
      const columns = Object.keys(batch);
      await db.query(`INSERT INTO batches (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`, columns.map((c) => batch[c]));
    }
    const { rows: [{ root }] } = await db.query("SELECT root FROM batches WHERE seq = 1");
    await tampered("UPDATE batches SET root = sha256(root) WHERE seq = 1", "SELECT 1", async () => {
      const r = await audit();
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/batch 1: the API's root differs from the chain's \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
    }).finally(() => db.query("UPDATE batches SET root = $1 WHERE seq = 1", [root]));
  });

  it("finds an event whose content was changed after sealing", async () => {
    const { rows: [event] } = await db.query("SELECT e.id, e.canonical FROM events e JOIN brands b ON b.id = e.brand_id WHERE b.slug = $1 AND e.type = 'retail_sale' LIMIT 1", [brand.slug]);
    await db.query(`UPDATE events SET canonical = jsonb_set(canonical, '{price,amount}', '"99.00"') WHERE id = $1`, [event.id]);
    try {
      const r = await audit("--brand-key", brand.apiKey, "--full");
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(new RegExp(`event ${event.id} \\(.+\\): its content no longer hashes to the hash it was sealed with \\(changed after sealing\\)`));
      expect(r.stdout).to.match(/bottle \w+ bundle events\[\d\]\.eventHash|bottle \w+ bundle links\[\d\]\.link\.event/);
    } finally {
      await db.query("UPDATE events SET canonical = $2 WHERE id = $1", [event.id, event.canonical]);
    }
    const restored = await audit("--brand-key", brand.apiKey);
    expect(restored.code, restored.stdout).to.equal(0);
  });

  it("exit 2 for usage errors and an unreachable API or chain", async () => {
    expect((await runScript("scripts/audit.ts", [])).code).to.equal(2);
    expect((await runScript("scripts/audit.ts", ["--api", "http://127.0.0.1:1", "--rpc", chain.url])).code).to.equal(2);
    expect((await runScript("scripts/audit.ts", ["--api", stack.url, "--rpc", "http://127.0.0.1:1"])).code).to.equal(2);
  });
});
