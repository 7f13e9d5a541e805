/**
 * Tenancy and secrets. Two brands, A and B, each with bottles, history, stores, a store key, an
 * outgoing-webhook endpoint and a guide price; B's things carry markers. Then, for every route the
 * app lists (so routes added later are covered), A's brand key, A's store key, a stranger and nobody
 * at all aim requests at B's bottles, parties, endpoints, keys, lots, regions and products: no answer
 * may show anything of B's, and none of B's rows may change. Store keys reach only their own store.
 * The service logs at trace level into memory meanwhile; no secret may appear in the logs, and none
 * of the secrets that need no HMAC may be stored in plain text. Signature and secret comparisons go
 * through constant-time functions.
 */
import { randomBytes } from "node:crypto";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { expect } from "chai";
import type pg from "pg";
import { tokenHash } from "../../service/core/secrets.ts";
import { signWebhook, verifySignature } from "../../service/ingest/signature.ts";
import { ADMIN_TOKEN, gtinFrom, lifecycle, startChainStack, type BrandFixture, type ChainStack } from "../helpers/stack.ts";
import { example } from "./support/hostile.ts";
import { waitAllAnchored } from "./support/ledger.ts";
import { appRoutes, capturedLogger, changedTables, type Route } from "./support/routes.ts";
import { faultSuite, tally } from "./support/suite.ts";

const require = createRequire(import.meta.url);

interface Tenant {
  brand: BrandFixture;
  id: number;
  /** In the tenant's ids (which callers send, and errors may echo back). */
  marker: string;
  /** Only in what the tenant stored and nobody else sends: its names, its endpoint's URL, its events. */
  hidden: string[];
  storeKey: string;
  storeKeyId: string;
  endpointId: string;
  endpointSecret: string;
  onlyGtin: string;
}

/** Every row that belongs to the brand, table by table (tables are found, not listed). */
async function ownedRows(db: pg.Pool, brandId: number): Promise<Record<string, string>> {
  const { rows: columns } = await db.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'`,
  );
  const byTable = new Map<string, Set<string>>();
  for (const c of columns) byTable.set(c.table_name, (byTable.get(c.table_name) ?? new Set()).add(c.column_name));
  const digest: Record<string, string> = {};
  for (const [table, cols] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
    const where = cols.has("brand_id")
      ? "brand_id = $1"
      : cols.has("serial")
        ? "serial IN (SELECT serial FROM codes WHERE brand_id = $1)"
        : cols.has("endpoint_id")
          ? "endpoint_id IN (SELECT id FROM endpoints WHERE brand_id = $1)"
          : cols.has("delivery_id")
            ? "delivery_id IN (SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE e.brand_id = $1)"
            : cols.has("event_id")
              ? "event_id IN (SELECT id FROM events WHERE brand_id = $1)"
              : null;
    if (where === null) continue; // public data (batches) or bookkeeping
    const {
      rows: [row],
    } = await db.query<{ n: number; md5: string | null }>(
      `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS md5 FROM "${table}" t WHERE ${where}`,
      [brandId],
    );
    digest[table] = `${row!.n}:${row!.md5 ?? ""}`;
  }
  return digest;
}

/** Waits until every anchored batch has been announced to each brand's endpoint and delivered. */
async function outboxSettled(db: pg.Pool, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const {
      rows: [row],
    } = await db.query<{ missing: number; pending: number }>(
      `SELECT (SELECT count(*)::int FROM endpoints e
                 JOIN (SELECT DISTINCT c.brand_id, link_batch(l.id, l.batch_seq) AS batch_seq FROM links l JOIN codes c ON c.serial = l.serial
                        WHERE link_batch(l.id, l.batch_seq) IS NOT NULL) held
                   ON held.brand_id = e.brand_id
                WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_id = e.id AND d.event_type = 'batch.anchored' AND d.source_id = held.batch_seq)) AS missing,
              (SELECT count(*)::int FROM deliveries WHERE state = 'pending') AS pending`,
    );
    if (row!.missing === 0 && row!.pending === 0) return;
    if (Date.now() > deadline) throw new Error(`outbox not settled: ${row!.missing} announcements missing, ${row!.pending} pending`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

faultSuite("faults: tenancy and secrets", function () {
  this.timeout(600_000);
  let cs: ChainStack;
  const captured = capturedLogger("trace");
  let a: Tenant;
  let b: Tenant;
  let receivedUrl: string;

  async function tenant(cs: ChainStack, letter: string): Promise<Tenant> {
    const { stack } = cs;
    const brand = await stack.createBrand({ codes: 4 });
    const marker = `MARK${letter}${randomBytes(5).toString("hex").toUpperCase()}`;
    const name = `NAME${letter}${randomBytes(5).toString("hex").toUpperCase()}`;
    const put = async (path: string, body: unknown) =>
      expect((await stack.request("PUT", path, { token: brand.apiKey, body })).status, path).to.be.oneOf([200, 201]);
    const onlyGtin = gtinFrom(letter === "A" ? "0690111111111" : "0690222222222");
    await put(`/api/v1/regions/${marker}-R`, { name: `${name} region` });
    await put(`/api/v1/parties/${marker}-store`, { kind: "store", name: `${name} store`, region: `${marker}-R` });
    await put(`/api/v1/products/${onlyGtin}`, { name: `${name} product` });
    expect(
      (
        await stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, {
          token: brand.apiKey,
          body: { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1 },
        })
      ).status,
    ).to.equal(201);
    const posted = await stack.postEvents(
      brand,
      lifecycle(
        brand.codes.map((c) => c.serial),
        `${name}-ev`,
      ),
    );
    expect(posted.status).to.equal(202);
    const eventHashes = (posted.body.events as { eventHash: string }[]).map((e) => e.eventHash);
    const key = await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
    const endpoint = await stack.request("POST", "/api/v1/endpoints", {
      token: brand.apiKey,
      body: { url: `${receivedUrl}/${name}`, types: ["batch.anchored", "sold_twice"] },
    });
    const {
      rows: [row],
    } = await cs.db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug]);
    return {
      brand,
      id: row!.id,
      marker,
      hidden: [name, ...eventHashes],
      storeKey: key.body.storeKey,
      storeKeyId: key.body.id,
      endpointId: endpoint.body.id,
      endpointSecret: endpoint.body.secret,
      onlyGtin,
    };
  }

  before(async () => {
    // A local receiver for the outgoing webhooks, so deliveries settle (delivered) before the sweep.
    const { createServer } = await import("node:http");
    const receiver = createServer((request, response) => {
      request.resume();
      request.on("end", () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receivedUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    cs = await startChainStack({ keyIndex: 12, log: captured.log, env: { RATE_LIMIT_PER_IP: "1000000", RATE_LIMIT_PER_BOTTLE: "1000000" } });
    a = await tenant(cs, "A");
    b = await tenant(cs, "B");
    await waitAllAnchored(cs.db);
    await outboxSettled(cs.db);
    after(() => {
      receiver.closeAllConnections();
      receiver.close();
    });
  });
  after(async () => {
    await cs?.stop();
  });

  /** Path, query and body aimed at `target`'s things. */
  function aimed(route: Route, target: Tenant, id: string): { path: string; body: unknown } {
    const values: Record<string, string> = {
      serial: target.brand.codes[0]!.serial,
      gtin: target.onlyGtin,
      brand: target.brand.slug,
      seq: "1",
      id,
      code: `${target.marker}-R`,
      "*": "x",
    };
    let path = route.path.replace(/:([A-Za-z_]+)|\*/g, (_, name: string | undefined) => encodeURIComponent(values[name ?? "*"] ?? id));
    const query: Record<string, string> = {
      serial: target.brand.codes[0]!.serial,
      lot: "2026-11-A",
      party: `${target.marker}-store`,
      kind: "sold_twice",
      from: "2026-01-01",
      to: "2030-01-01",
    };
    const given = route.query.filter((name) => query[name] !== undefined).map((name) => `${name}=${encodeURIComponent(query[name]!)}`);
    if (given.length > 0) path += `?${given.join("&")}`;
    // A body of the right shape naming the target's things wherever a field names a bottle, party, product or region.
    const swap = (value: unknown, key = ""): unknown => {
      if (Array.isArray(value)) return value.map((v) => swap(v, key));
      if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, swap(v, k)]));
      if (/^(serial|codes)$/.test(key)) return target.brand.codes[0]!.serial;
      if (/^(party|to|store)$/.test(key)) return `${target.marker}-store`;
      if (key === "gtin") return target.onlyGtin;
      if (key === "region") return `${target.marker}-R`;
      return value;
    };
    return { path, body: route.body ? swap(example(route.body, 1)) : undefined };
  }

  it("for every route, A's brand key, A's store key, a stranger and nobody neither see nor change anything of B's", async () => {
    const { stack, db } = cs;
    const routes = appRoutes(stack.runtime.app!);
    const before = await ownedRows(db, b.id);
    const secretsOfB = [b.brand.apiKey, b.brand.webhookSecret, b.storeKey, b.endpointSecret, ...b.brand.codes.flatMap((c) => [c.secret, c.capCode])];
    // What B stored and no caller sends (an answer may echo the ids it was asked about).
    const leaksOfB = [...b.hidden, ...secretsOfB];
    const leaksOfA = [...a.hidden, a.brand.apiKey, a.storeKey, ...a.brand.codes.map((c) => c.secret)];
    const callers: { who: string; token: string | null }[] = [
      { who: "A's brand key", token: a.brand.apiKey },
      { who: "A's store key", token: a.storeKey },
      { who: "a stranger", token: "stk_" + randomBytes(24).toString("base64url") },
      { who: "nobody", token: null },
    ];
    const problems: string[] = [];
    let sent = 0;
    for (const route of routes) {
      for (const id of [`${b.marker}-store`, b.endpointId, b.storeKeyId, "store-pudong"]) {
        for (const caller of callers) {
          const { path, body } = aimed(route, b, id);
          const headers: Record<string, string> = {};
          if (caller.token !== null) headers.authorization = `Bearer ${caller.token}`;
          let payload: string | undefined;
          if (body !== undefined && route.method !== "GET") {
            payload = JSON.stringify(body);
            headers["content-type"] = "application/json";
            // A webhook signed with A's secret but sent to B's address.
            if (route.path.startsWith("/webhooks/"))
              Object.assign(headers, signWebhook(a.brand.webhookSecret, `msg_${randomBytes(6).toString("hex")}`, payload));
          }
          const response = await fetch(`${stack.url}${path}`, { method: route.method, headers, body: payload });
          const text = await response.text();
          sent++;
          const leaked = leaksOfB.filter((m) => text.includes(m));
          const seen = caller.token === null || caller.who === "a stranger" ? leaksOfA.filter((m) => text.includes(m)) : [];
          if (leaked.length > 0) problems.push(`${caller.who} ${route.method} ${path} → ${response.status} shows B's ${leaked.join(", ")}`);
          if (seen.length > 0) problems.push(`${caller.who} ${route.method} ${path} → ${response.status} shows A's ${seen.join(", ")}`);
          if (response.status >= 500) problems.push(`${caller.who} ${route.method} ${path} → ${response.status}`);
        }
      }
    }
    tally.requestsSent += sent;
    expect(problems).to.deep.equal([]);
    expect(changedTables(before, await ownedRows(db, b.id)), "B's rows changed").to.deep.equal([]);
    expect(routes.length).to.be.greaterThan(20);
  });

  it("a store key reaches only its own store: not another store of its brand, not brand routes; a brand key is no store key", async () => {
    const { stack } = cs;
    await stack.request("PUT", "/api/v1/parties/store-xuhui", { token: a.brand.apiKey, body: { kind: "store", name: "徐汇店", region: "CN-SH" } });
    const serial = a.brand.codes[1]!.serial;
    const event = (party: string) => ({
      events: [{ id: `x-${randomBytes(3).toString("hex")}`, type: "store_receiving", codes: [serial], occurredAt: new Date().toISOString(), party }],
    });
    const other = await stack.request("POST", "/api/v1/store/events", { token: a.storeKey, body: event("store-xuhui") });
    expect(other.status, "posting for another store of the brand").to.equal(403);
    expect(other.body.field).to.equal("events[0].party");
    const foreign = await stack.request("POST", "/api/v1/store/events", { token: a.storeKey, body: event(`${b.marker}-store`) });
    expect(foreign.status, "posting for B's store").to.equal(403);
    const bottle = await stack.request("GET", `/api/v1/store/check?serial=${b.brand.codes[0]!.serial}`, { token: a.storeKey });
    expect(bottle.body, "checking B's bottle").to.deep.equal({ authentic: false });
    expect((await stack.request("GET", "/api/v1/alerts", { token: a.storeKey })).status, "a store key on a brand route").to.equal(401);
    expect((await stack.request("GET", `/api/v1/store/check?serial=${serial}`, { token: a.brand.apiKey })).status, "a brand key on a store route").to.equal(
      401,
    );
    const revoked = await stack.request("DELETE", `/api/v1/store-keys/${b.storeKeyId}`, { token: a.brand.apiKey });
    expect(revoked.status, "revoking B's store key with A's key").to.equal(404);
    expect(
      (await stack.request("GET", `/api/v1/store/check?serial=${b.brand.codes[0]!.serial}`, { token: b.storeKey })).body.authentic,
      "B's key still works",
    ).to.equal(true);
  });

  it("no secret appears in the logs, and keys, code secrets and cap codes are stored only hashed", async () => {
    const { stack, db } = cs;
    // Use every secret the way clients do, so each passes through the request logs.
    for (const t of [a, b]) {
      const code = t.brand.codes[2]!;
      await stack.request("GET", `/01/${t.brand.gtin}/21/${code.serial}?s=${encodeURIComponent(code.secret)}`);
      await stack.request("GET", `/01/${t.brand.gtin}/21/${code.serial}?o=${encodeURIComponent(code.capCode)}`);
      await stack.request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`);
      await stack.request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}x`);
      await stack.request("GET", "/api/v1/codes/export?lot=2026-11-A", { token: t.brand.apiKey });
      await stack.request("GET", `/api/v1/store/check?serial=${code.serial}`, { token: t.storeKey });
      await stack.request("POST", "/api/v1/price-reports", { body: { serial: code.serial, secret: code.secret, price: "1.00" } });
    }
    const rotated = await stack.request("POST", "/api/v1/webhook-secrets/rotate", { token: a.brand.apiKey, body: { graceSeconds: 60 } });
    expect(rotated.status).to.equal(201);
    const body = JSON.stringify({ events: lifecycle([a.brand.codes[3]!.serial]).slice(0, 1) });
    const signed = signWebhook(rotated.body.webhookSecret, "msg_logged", body);
    expect(
      (await fetch(`${stack.url}/webhooks/${a.brand.slug}/events`, { method: "POST", headers: { "content-type": "application/json", ...signed }, body }))
        .status,
    ).to.be.oneOf([202, 422]);
    await stack.request("GET", "/api/v1/alerts", { token: `${a.brand.apiKey}x` });
    await waitAllAnchored(db);

    const labelSecret = stack.env.LABEL_SECRET!;
    const secrets: Record<string, string> = {
      "admin token": ADMIN_TOKEN,
      "label secret": labelSecret,
      "A's rotated webhook secret": rotated.body.webhookSecret,
      "a webhook signature": signed["webhook-signature"]!,
    };
    for (const t of [a, b]) {
      Object.assign(secrets, {
        [`${t.marker} API key`]: t.brand.apiKey,
        [`${t.marker} webhook secret`]: t.brand.webhookSecret,
        [`${t.marker} store key`]: t.storeKey,
        [`${t.marker} endpoint secret`]: t.endpointSecret,
      });
      t.brand.codes.forEach((c, i) => Object.assign(secrets, { [`${t.marker} code ${i} secret`]: c.secret, [`${t.marker} code ${i} cap code`]: c.capCode }));
    }
    const logs = captured.lines.join("");
    expect(captured.lines.length, "lines logged").to.be.greaterThan(50);
    expect(logs, "the request logs are there").to.include("/api/v1/items/");
    const inLogs = Object.entries(secrets).filter(
      ([, secret]) => logs.includes(secret) || logs.includes(encodeURIComponent(secret)) || logs.includes(secret.replace(/^whsec_/, "")),
    );
    expect(
      inLogs.map(([name]) => name),
      "secrets in the logs",
    ).to.deep.equal([]);

    // At rest: only hashes of what needs no HMAC (webhook and endpoint secrets must stay usable).
    const { rows: tables } = await db.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    const dump = (
      await Promise.all(
        tables.map(async ({ name }) => (await db.query<{ t: string }>(`SELECT string_agg(t::text, '|') AS t FROM "${name}" t`)).rows[0]!.t ?? ""),
      )
    ).join("\n");
    const hashedOnly = Object.entries(secrets).filter(([name]) => !/webhook secret|endpoint secret|signature/.test(name));
    expect(
      hashedOnly.filter(([, secret]) => dump.includes(secret)).map(([name]) => name),
      "secrets stored in plain text",
    ).to.deep.equal([]);
    const {
      rows: [brandRow],
    } = await db.query<{ api_key_hash: Buffer }>("SELECT api_key_hash FROM brands WHERE id = $1", [a.id]);
    expect(Buffer.from(tokenHash(a.brand.apiKey)).equals(brandRow!.api_key_hash), "the API key is kept as its SHA-256").to.equal(true);
    const {
      rows: [codeRow],
    } = await db.query<{ secret_hash: Buffer; cap_hash: Buffer }>("SELECT secret_hash, cap_hash FROM codes WHERE serial = $1", [a.brand.codes[0]!.serial]);
    expect(Buffer.from(tokenHash(a.brand.codes[0]!.secret)).equals(codeRow!.secret_hash), "the code secret is kept as its SHA-256").to.equal(true);
    expect(codeRow!.cap_hash).to.have.length(32);
  });

  it("webhook signatures, admin tokens and bottle secrets are compared in constant time", async () => {
    // Standard Webhooks compares through its own constant-time function: count the calls.
    const library = require("standardwebhooks/dist/timing_safe_equal.js") as { timingSafeEqual: (x: Uint8Array, y: Uint8Array) => boolean };
    const original = library.timingSafeEqual;
    const compared: [number, number][] = [];
    library.timingSafeEqual = (x, y) => {
      compared.push([x.byteLength, y.byteLength]);
      return original(x, y);
    };
    try {
      const body = '{"events":[]}';
      const headers = signWebhook(a.brand.webhookSecret, "msg_ct", body);
      const forged = { ...headers, "webhook-signature": `v1,${"A".repeat(44)}` };
      expect(() => verifySignature(body, forged, [a.brand.webhookSecret])).to.throw(/no webhook-signature matches/);
      expect(verifySignature(body, headers, [a.brand.webhookSecret])).to.equal("msg_ct");
    } finally {
      library.timingSafeEqual = original;
    }
    expect(compared.length).to.be.greaterThan(1);
    expect(
      compared.every(([x, y]) => x === y),
      "equal-length inputs: nothing leaks through an early length check",
    ).to.equal(true);

    // Our own comparisons use node:crypto's timingSafeEqual (on hashes, so lengths never differ).
    const crypto = require("node:crypto") as { timingSafeEqual: (x: NodeJS.ArrayBufferView, y: NodeJS.ArrayBufferView) => boolean };
    const nodeOriginal = crypto.timingSafeEqual;
    let calls = 0;
    crypto.timingSafeEqual = (x, y) => {
      calls++;
      return nodeOriginal(x, y);
    };
    syncBuiltinESMExports();
    try {
      const { stack } = cs;
      expect((await stack.request("POST", "/api/v1/admin/brands", { token: `${ADMIN_TOKEN}x`, body: { slug: "ct-test", name: "x" } })).status).to.equal(401);
      const adminCalls = calls;
      const code = a.brand.codes[0]!;
      expect((await stack.request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(`${code.secret.slice(0, -1)}A`)}`)).status).to.be.oneOf([
        404, 200,
      ]);
      expect(adminCalls, "the admin token").to.be.greaterThan(0);
      expect(calls, "the bottle secret").to.be.greaterThan(adminCalls);
    } finally {
      crypto.timingSafeEqual = nodeOriginal;
      syncBuiltinESMExports();
    }
  });
});
