/**
 * The proof bundle cache (service/verify/bundle-cache.ts): cached answers are the bytes the uncached
 * store gives for the same state, whatever moved; access is checked on every request; bounds hold;
 * and a cached answer costs one round trip.
 */
import { createHash } from "node:crypto";
import { expect } from "chai";
import pg from "pg";
import type { ChainRef, ProofBundle } from "../../service/core/bundle.ts";
import { createBundleCache, etagMatches, FRESH_MS, type BundleCacheOptions, type ServedBundle } from "../../service/verify/bundle-cache.ts";
import { createBundleRepo, type LinkProofs } from "../../service/verify/bundles.ts";
import { lifecycle, type BrandFixture, type ChainStack, type Stack, startChainStack } from "../helpers/stack.ts";

const BIG = { maxEntries: 1_000, maxBytes: 64 * 1024 * 1024 };

describe("proof bundle cache", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let brand: BrandFixture;
  let pool: pg.Pool;
  let roundTrips = 0;
  let chain: () => Promise<ChainRef>;
  let plain: ReturnType<typeof createBundleRepo>;

  before(async () => {
    services = await startChainStack({ keyIndex: 19 });
    ({ stack } = services);
    brand = await stack.createBrand({ codes: 12 });
    chain = async () => ({ chainId: await stack.runtime.chain.chainId(), registry: stack.runtime.chain.registry });
    // The cache's pool counts its round trips; the uncached store it is compared with has its own.
    pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((...args: unknown[]) => {
      roundTrips++;
      return query(...args);
    }) as typeof pool.query;
    plain = createBundleRepo(services.db, chain);
  });
  after(async () => {
    await pool?.end();
    await services?.stop();
  });

  const code = (i: number) => brand.codes[i]!;
  const cacheOf = (options: Partial<BundleCacheOptions> = {}) => createBundleCache(pool, createBundleRepo(pool, chain), chain, { ...BIG, ...options });
  type Cache = ReturnType<typeof cacheOf>;
  async function served(
    cache: Cache,
    i: number,
    proofs: LinkProofs,
    request: { secret: string } | { apiKey: string } = { secret: code(i).secret },
  ): Promise<ServedBundle> {
    const answer = await cache.serve(code(i).serial, request, proofs);
    if (typeof answer === "string") throw new Error(`bottle ${i}: ${answer}`);
    return answer;
  }
  async function uncached(i: number, proofs: LinkProofs): Promise<string> {
    return JSON.stringify(await plain.bundleFor(code(i).serial, { secret: code(i).secret }, proofs));
  }
  /** Serves twice (a build, then from the cache, one round trip) and checks both against the uncached store. */
  async function expectSame(cache: Cache, i: number, proofs: LinkProofs): Promise<ServedBundle> {
    const first = await served(cache, i, proofs);
    const expected = await uncached(i, proofs);
    roundTrips = 0;
    const again = await served(cache, i, proofs);
    expect(roundTrips, "round trips of a cached answer").to.equal(1);
    expect(again).to.equal(first);
    expect(again.body.toString()).to.equal(expected);
    return again;
  }
  const parse = (s: ServedBundle) => JSON.parse(s.body.toString()) as ProofBundle;
  async function anchorAnotherBottle(i: number): Promise<void> {
    expect((await stack.postEvents(brand, lifecycle([code(i).serial]).slice(0, 1))).status).to.equal(202);
    await stack.waitAnchored(code(i).serial, code(i).secret);
  }

  it("serves the uncached bytes, ?proofs=head and all, before and after the bottle moves and a batch anchors it", async () => {
    expect((await stack.postEvents(brand, lifecycle([code(0).serial]))).status).to.equal(202);
    await stack.waitAnchored(code(0).serial, code(0).secret);
    const cache = cacheOf();
    for (const proofs of ["head", "all"] as const) {
      const anchored = await expectSame(cache, 0, proofs);
      expect(anchored.complete).to.equal(true);
      expect(parse(anchored).links).to.have.length(5);
    }
    // The bottle moves: the next answer has the new link, pending, and is not complete.
    const opened = { id: `open-${code(0).serial}`, type: "opened", codes: [code(0).serial], occurredAt: new Date().toISOString(), party: "store-pudong" };
    expect((await stack.postEvents(brand, [opened])).status).to.equal(202);
    const pending: Record<string, string> = {};
    for (const proofs of ["head", "all"] as const) {
      const moved = await served(cache, 0, proofs);
      const links = parse(moved).links;
      expect(links).to.have.length(6);
      // Sealing may already have anchored it: the answer is then the complete one, still the store's.
      if (links[5]!.anchor === null) {
        expect(moved.complete).to.equal(false);
        pending[proofs] = moved.etag;
      }
    }
    // Anchored by a new batch: the pending entries are not served again.
    await stack.waitAnchored(code(0).serial, code(0).secret);
    for (const proofs of ["head", "all"] as const) {
      const complete = await expectSame(cache, 0, proofs);
      expect(complete.complete).to.equal(true);
      expect(complete.etag).to.not.equal(pending[proofs]);
      expect(parse(complete).links.every((l) => l.anchor !== null)).to.equal(true);
    }
  });

  it("after a newer batch, serves a complete entry until FRESH_MS, then the store's new head", async () => {
    expect((await stack.postEvents(brand, lifecycle([code(1).serial]))).status).to.equal(202);
    await stack.waitAnchored(code(1).serial, code(1).secret);
    let clock = Date.now();
    const cache = cacheOf({ now: () => clock });
    const strict = cacheOf({ freshMs: 0 });
    const before = await expectSame(cache, 1, "head");
    await expectSame(strict, 1, "head");
    await anchorAnotherBottle(2);
    const now = await uncached(1, "head");
    expect(JSON.parse(now).head.seq).to.be.greaterThan(parse(before).head!.seq);
    // Within the bound: the same entry, whose head batch is now behind the latest.
    clock += FRESH_MS - 1_000;
    roundTrips = 0;
    expect(await served(cache, 1, "head")).to.equal(before);
    expect(roundTrips).to.equal(1);
    // Past it, and with no bound at all: the store's bytes as of now.
    clock += 2_000;
    expect((await served(cache, 1, "head")).body.toString()).to.equal(now);
    expect((await served(strict, 1, "head")).body.toString()).to.equal(now);
  });

  it("checks access on every request: a wrong secret, another brand's key and an unknown key get nothing", async () => {
    const cache = cacheOf();
    const own = await expectSame(cache, 0, "head");
    const other = await stack.createBrand({ codes: 0 });
    roundTrips = 0;
    expect(await cache.serve(code(0).serial, { secret: `${code(0).secret.slice(0, -1)}x` })).to.equal("not-found");
    expect(await cache.serve(code(0).serial, { secret: "" })).to.equal("not-found");
    expect(await cache.serve("NOSUCHSERIAL", { secret: code(0).secret })).to.equal("not-found");
    expect(await cache.serve(code(0).serial, { apiKey: other.apiKey })).to.equal("not-found");
    expect(await cache.serve(code(0).serial, { apiKey: "stk_nosuchkey" })).to.equal("unknown-key");
    expect(roundTrips, "one round trip each, nothing built").to.equal(5);
    // The brand's own key gets the same entry.
    expect(await served(cache, 0, "head", { apiKey: brand.apiKey })).to.equal(own);
  });

  it("over HTTP, a client asking for a fresh answer never gets a head proof from before the latest anchored batch", async () => {
    const path = `/api/v1/items/${code(1).serial}/proof?s=${encodeURIComponent(code(1).secret)}`;
    const before = (await (await fetch(`${stack.url}${path}`, { headers: { "cache-control": "no-cache" } })).json()) as ProofBundle;
    await anchorAnotherBottle(4);
    const cached = (await (await fetch(`${stack.url}${path}`)).json()) as ProofBundle;
    expect(cached.head!.seq, "within FRESH_MS a complete entry keeps its head").to.equal(before.head!.seq);
    for (const headers of [{ "cache-control": "no-cache" }, { "cache-control": "max-age=0" }, { pragma: "no-cache" }] as Record<string, string>[]) {
      const fresh = (await (await fetch(`${stack.url}${path}`, { headers })).json()) as ProofBundle;
      expect(fresh.head!.seq, JSON.stringify(headers)).to.be.greaterThan(before.head!.seq);
    }
  });

  it("over HTTP: a strong ETag, 304 on If-None-Match, private Cache-Control; a wrong secret never confirms an ETag", async () => {
    const path = `/api/v1/items/${code(0).serial}/proof?s=${encodeURIComponent(code(0).secret)}`;
    // Fresh, so the entry is built now (an older one may pass its FRESH_MS mid-test and be rebuilt).
    const first = await fetch(`${stack.url}${path}`, { headers: { "cache-control": "no-cache" } });
    const body = await first.text();
    expect(first.status).to.equal(200);
    expect(first.headers.get("content-type")).to.equal("application/json; charset=utf-8");
    expect((JSON.parse(body) as ProofBundle).serial).to.equal(code(0).serial);
    const etag = first.headers.get("etag")!;
    expect(etag).to.equal(`"${createHash("sha256").update(body).digest("base64url")}"`);
    expect(first.headers.get("cache-control")).to.equal(`private, max-age=${FRESH_MS / 1000}`);
    for (const tag of [etag, `W/${etag}`, `"x", ${etag}`, "*"]) {
      const again = await fetch(`${stack.url}${path}`, { headers: { "if-none-match": tag } });
      expect(again.status, tag).to.equal(304);
      expect(again.headers.get("etag")).to.equal(etag);
      expect(await again.text()).to.equal("");
    }
    expect((await fetch(`${stack.url}${path}`, { headers: { "if-none-match": '"other"' } })).status).to.equal(200);
    // Not asked over HTTP before: built now, as the store builds it.
    const all = await fetch(`${stack.url}${path}&proofs=all`);
    expect(await all.text()).to.equal(await uncached(0, "all"));
    expect(all.headers.get("etag")).to.not.equal(etag);
    // Wrong secret, another brand's key, no secret: 404 whatever ETag is offered, and no ETag back.
    const other = await stack.createBrand({ codes: 0 });
    const denied = [
      await fetch(`${stack.url}/api/v1/items/${code(0).serial}/proof?s=${code(0).secret.slice(0, -1)}x`, { headers: { "if-none-match": etag } }),
      await fetch(`${stack.url}/api/v1/items/${code(0).serial}/proof`, { headers: { "if-none-match": etag, authorization: `Bearer ${other.apiKey}` } }),
      await fetch(`${stack.url}/api/v1/items/${code(0).serial}/proof`, { headers: { "if-none-match": "*" } }),
    ];
    for (const r of denied) {
      expect(r.status).to.equal(404);
      expect(r.headers.get("etag")).to.equal(null);
    }
    const unknownKey = await fetch(`${stack.url}/api/v1/items/${code(0).serial}/proof`, { headers: { authorization: "Bearer stk_nosuchkey" } });
    expect(unknownKey.status).to.equal(401);
  });

  it("a bundle with a pending link is revalidated on every use", async () => {
    const produced = {
      id: `prod-${code(3).serial}`,
      type: "production",
      codes: [code(3).serial],
      occurredAt: new Date().toISOString(),
      party: "factory-zunyi",
    };
    expect((await stack.postEvents(brand, [produced])).status).to.equal(202);
    const r = await fetch(`${stack.url}/api/v1/items/${code(3).serial}/proof?s=${encodeURIComponent(code(3).secret)}`);
    const bundle = (await r.json()) as ProofBundle;
    if (bundle.links[0]!.anchor === null) expect(r.headers.get("cache-control")).to.equal("private, no-cache");
    // Nothing left to anchor, so that later tests see no new batch.
    await stack.waitAnchored(code(3).serial, code(3).secret);
  });

  it("stays within its bounds under many bottles, least recently used evicted first", async () => {
    const byCount = cacheOf({ maxEntries: 3 });
    for (let i = 0; i < brand.codes.length; i++) await served(byCount, i, "head");
    expect(byCount.size().entries).to.equal(3);
    // The last three are held (one round trip each); the first is built again.
    for (const i of [9, 10, 11]) {
      roundTrips = 0;
      await served(byCount, i, "head");
      expect(roundTrips, `bottle ${i}`).to.equal(1);
    }
    roundTrips = 0;
    await served(byCount, 0, "head");
    expect(roundTrips).to.be.greaterThan(1);

    const one = (await served(cacheOf(), 5, "head")).body.length;
    const maxBytes = Math.floor(one * 2.5) + 600;
    const byBytes = cacheOf({ maxBytes });
    for (let i = 4; i < brand.codes.length; i++) await served(byBytes, i, "head");
    expect(byBytes.size().bytes).to.be.at.most(maxBytes);
    expect(byBytes.size().entries).to.be.within(1, 2);

    const none = cacheOf({ maxEntries: 0 });
    await served(none, 4, "head");
    expect(none.size()).to.deep.equal({ entries: 0, bytes: 0 });
  });

  it("answers requests that arrive together with one statement", async () => {
    const cache = cacheOf();
    const bottles = [4, 5, 6, 7, 8];
    const first = await Promise.all(bottles.map((i) => served(cache, i, "head")));
    roundTrips = 0;
    const again = await Promise.all(bottles.map((i) => served(cache, i, "head")));
    expect(roundTrips).to.equal(1);
    again.forEach((s, k) => expect(s).to.equal(first[k]));
  });

  it("parses If-None-Match as RFC 9110 says (weak comparison)", () => {
    expect(etagMatches(undefined, '"a"')).to.equal(false);
    expect(etagMatches('"a"', '"a"')).to.equal(true);
    expect(etagMatches('W/"a"', '"a"')).to.equal(true);
    expect(etagMatches('"b" ,  "a"', '"a"')).to.equal(true);
    expect(etagMatches('"b"', '"a"')).to.equal(false);
    expect(etagMatches("a", '"a"')).to.equal(false);
  });
});
