/**
 * What the service tells strangers (issue 16, points 9 and 13): the chain RPC URL the service itself
 * uses (which often carries a provider's API key) appears in no page, header or API answer; /readyz
 * names states, never the causes; /metrics answers only the bearer of METRICS_TOKEN; one /leaves
 * request streams a bounded page of leaves, and following `x-next-from` reads them all.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import Fastify from "fastify";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { LEAVES_PAGE_MAX } from "../../service/audit/routes.ts";
import { installErrorHandler } from "../../service/http/errors.ts";
import { createMetrics } from "../../service/metrics.ts";
import { opsRoutes } from "../../service/ops/routes.ts";
import { renderPage } from "../../service/verify/page.ts";
import { startRpcProxy, type RpcProxy } from "../faults/support/rpc-proxy.ts";
import { runScript } from "../helpers/run.ts";
import { lifecycle, METRICS_TOKEN, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

/** A provider-style RPC URL: the key in the path and in the query. */
const KEY = "k3yS3cr3tAbCdEf0123456789";
const keyed = (proxy: RpcProxy) => `${proxy.url}/v3/${KEY}?apikey=${KEY}`;

describe("what the service tells strangers: RPC URL, readiness, metrics, leaves", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let proxy: RpcProxy;
  let stack: Stack;
  let brand: BrandFixture;

  before(async () => {
    chain = await startLocalChain();
    proxy = await startRpcProxy(chain.url);
    // CHAIN_RPC_URL carries a key; no PUBLIC_RPC_URL is given (an empty value is none).
    stack = await startStack({ chainUrl: keyed(proxy), keyIndex: 5, env: { PUBLIC_RPC_URL: "" } });
    brand = await stack.createBrand({ codes: 3 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    await stack.waitAnchored(brand.codes[0]!.serial, brand.codes[0]!.secret);
  });
  after(async () => {
    await stack?.stop();
    await proxy?.close();
    await chain?.stop();
  });

  const leaks = (text: string) => text.includes(KEY) || text.includes(proxy.url) || text.includes(new URL(proxy.url).host);

  it("never shows CHAIN_RPC_URL (with its key) in a page, a header or an API answer; the page says no public RPC is offered", async () => {
    const code = brand.codes[0]!;
    const pagePath = `${new URL(code.url).pathname}${new URL(code.url).search}`;
    const paths = [
      pagePath,
      `${pagePath}&lang=en`,
      `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`,
      "/api/v1/chain",
      "/api/v1/checkpoint",
      "/api/v1/batches",
      "/api/v1/batches/1",
      "/readyz",
      "/healthz",
      "/docs/json",
      "/verify",
    ];
    for (const path of paths) {
      const response = await fetch(`${stack.url}${path}`);
      const body = await response.text();
      const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
      expect(leaks(body), `${path} body shows the chain RPC URL`).to.equal(false);
      expect(leaks(headers), `${path} headers show the chain RPC URL:\n${headers}`).to.equal(false);
    }
    const page = await fetch(`${stack.url}${pagePath}&lang=en`);
    const html = await page.text();
    expect(html).to.include('data-rpc-url=""');
    expect(html).to.include('id="self-check-rpc" data-rpc="none"');
    expect(html).to.include("The in-browser check needs a public RPC of chain 31337, and this service offers none");
    // The CSP lets the page reach its own origin only.
    expect(page.headers.get("content-security-policy")).to.match(/(^|;)connect-src 'self'(;|$)/);
    const info = await stack.request("GET", "/api/v1/chain");
    expect(info.body).to.deep.include({ chainId: 31337, rpcUrl: null });
  });

  it("says plainly, in embedded mode, that the local chain is reachable only from the server's machine", () => {
    const bottle = {
      serial: "S1",
      gtin: "06901234567892",
      lot: null,
      region: null,
      product: null,
      brandName: "B",
      steps: [],
      scans: { consumer: 0, beforeSale: 0, first: null },
      warnings: [],
      sale: null,
      scanned: false,
      proofUrl: "/p",
      guide: null,
      chain: { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
      explorerUrl: null,
      qrGtin: "06901234567892",
    };
    const local = renderPage({ lang: "en", switchUrl: "/", bottle: { ...bottle, rpc: { kind: "local", url: "http://127.0.0.1:8545" } } as never });
    expect(local)
      .to.include('data-rpc-url="http://127.0.0.1:8545"')
      .and.to.include('data-rpc="local"')
      .and.to.include("reachable only from the server&#39;s own machine");
    const offered = renderPage({ lang: "zh", switchUrl: "/", bottle: { ...bottle, rpc: { kind: "public", url: "https://rpc.example" } } as never });
    expect(offered).to.include('data-rpc-url="https://rpc.example"').and.not.to.include('id="self-check-rpc"');
  });

  it("/readyz names a failing dependency's state only; the cause goes to the log", async () => {
    await proxy.setMode({ kind: "errors", share: 1 });
    try {
      const ready = await fetch(`${stack.url}/readyz`);
      const text = await ready.text();
      expect(ready.status).to.equal(503);
      expect(JSON.parse(text)).to.deep.equal({ status: "not ready", checks: { database: "ok", redis: "ok", chain: "failing" } });
      expect(text).not.to.include("injected");
      expect(leaks(text)).to.equal(false);
    } finally {
      await proxy.setMode({ kind: "pass" });
    }
  });

  it("/metrics answers only the bearer of METRICS_TOKEN", async () => {
    for (const headers of [
      {},
      { authorization: "Bearer wrong-token-0123456789" },
      { authorization: `Basic ${METRICS_TOKEN}` },
      { "x-forwarded-for": "127.0.0.1" },
    ] as Record<string, string>[]) {
      const refused = await fetch(`${stack.url}/metrics`, { headers });
      const text = await refused.text();
      expect(refused.status, JSON.stringify(headers)).to.equal(401);
      expect(text).not.to.include("sealtrace_");
    }
    const ok = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).to.equal(200);
    expect(await ok.text()).to.include("sealtrace_events_ingested_total");
  });

  it("/metrics is not served at all without METRICS_TOKEN", async () => {
    const app = Fastify();
    installErrorHandler(app);
    opsRoutes(app, { db: stack.runtime.db, metrics: createMetrics(async () => 0), pingRedis: null, pingChain: async () => 1, metricsToken: null });
    try {
      for (const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }] as Record<string, string>[]) {
        const r = await app.inject({ method: "GET", url: "/metrics", headers });
        expect(r.statusCode).to.equal(404);
        expect(r.body).not.to.include("sealtrace_");
      }
    } finally {
      await app.close();
    }
  });

  describe("the leaves of a batch", () => {
    let db: pg.Client;
    let seq: number;
    let count: number;

    before(async () => {
      db = new pg.Client({ connectionString: stack.env.DATABASE_URL });
      await db.connect();
      const {
        rows: [row],
      } = await db.query<{ seq: number; count: number }>("SELECT seq, leaf_count AS count FROM batches ORDER BY leaf_count DESC LIMIT 1");
      ({ seq, count } = row!);
      expect(count, "a batch of several leaves").to.be.at.least(3);
    });
    after(async () => {
      await db?.end();
    });

    it("streams at most a bounded page per request; x-next-from pages through them all", async () => {
      const whole = await fetch(`${stack.url}/api/v1/batches/${seq}/leaves`);
      expect(whole.status).to.equal(200);
      const all = (await whole.text()).trim().split("\n");
      expect(all).to.have.length(count);
      expect(whole.headers.get("x-next-from")).to.equal(null);
      // The page size an attacker may ask for is bounded.
      expect((await fetch(`${stack.url}/api/v1/batches/${seq}/leaves?limit=${LEAVES_PAGE_MAX + 1}`)).status).to.equal(400);
      expect((await fetch(`${stack.url}/api/v1/batches/${seq}/leaves?from=${count + 1}`)).status).to.equal(422);
      // Pages of 2: every leaf once, in order, each page naming the next.
      const paged: string[] = [];
      let next: string | null = "0";
      let requests = 0;
      while (next !== null) {
        const r: Response = await fetch(`${stack.url}/api/v1/batches/${seq}/leaves?from=${next}&limit=2`);
        expect(r.status).to.equal(200);
        expect(r.headers.get("x-leaf-count")).to.equal(String(count));
        const lines = (await r.text()).split("\n").filter(Boolean);
        expect(lines.length).to.be.at.most(2);
        paged.push(...lines);
        next = r.headers.get("x-next-from");
        if (next !== null) expect(r.headers.get("link")).to.equal(`</api/v1/batches/${seq}/leaves?from=${next}&limit=2>; rel="next"`);
        requests++;
      }
      expect(paged).to.deep.equal(all);
      expect(requests).to.equal(Math.ceil(count / 2));
    });

    it("npm run audit follows the pages (served here two leaves a page) and passes", async () => {
      // A pass-through proxy that asks the service for pages of 2 leaves, as a batch of more than LEAVES_PAGE_MAX gets.
      let leafRequests = 0;
      const server = createServer((request, response) => {
        const url = new URL(request.url!, stack.url);
        if (url.pathname.endsWith("/leaves")) {
          leafRequests++;
          url.searchParams.set("limit", "2");
        }
        const headers: Record<string, string> = {};
        if (typeof request.headers.authorization === "string") headers.authorization = request.headers.authorization;
        fetch(url, { headers }).then(
          async (upstream) => {
            const kept: Record<string, string> = {};
            for (const [name, value] of upstream.headers)
              if (!["content-length", "transfer-encoding", "content-encoding", "connection"].includes(name)) kept[name] = value;
            response.writeHead(upstream.status, kept).end(Buffer.from(await upstream.arrayBuffer()));
          },
          () => response.destroy(),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const audit = await runScript("scripts/audit.ts", ["--api", api, "--rpc", chain.url, "--brand-key", brand.apiKey]);
        expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
        const {
          rows: [totals],
        } = await db.query<{ batches: number; leaves: number }>("SELECT count(*)::int AS batches, sum(leaf_count)::int AS leaves FROM batches");
        const { batches, leaves } = totals!;
        expect(leafRequests, "a request per page of every batch")
          .to.be.at.least(Math.ceil(leaves / 2))
          .and.to.be.greaterThan(batches);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
});
