/**
 * Issue 16, point 1: outgoing webhooks as a way into the network the service runs in (SSRF). A brand
 * key holder tries to point an endpoint at internal addresses in every spelling, at names that
 * resolve inside the network, and at a name whose DNS answer changes between the check and the
 * connection (DNS rebinding); the deliveries list must not become a port scanner. Real local TCP
 * listeners stand in for the internal services and count every connection they get.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type Server } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSecureContext } from "node:tls";
import { expect } from "chai";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { parseCidr, type Cidr } from "../../service/core/destinations.ts";
import { createLogger } from "../../service/log.ts";
import { createDispatcher } from "../../service/outbox/dispatcher.ts";
import { createPool } from "../../service/db/pool.ts";
import { createDatabase, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

/** A TCP listener standing in for an internal service: counts connections, and answers HTTP 200 (or never, when `silent`). */
async function startListener(host: string, port = 0, options: { silent?: boolean } = {}) {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (options.silent || !head.includes("\r\n\r\n")) return;
      requests.push(head.slice(0, head.indexOf("\r\n\r\n")));
      head = "";
      socket.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cidr = (text: string): Cidr => parseCidr(text) as Cidr;
const silentLog = createLogger("silent");

describe("outgoing webhooks cannot reach the internal network (SSRF, issue 16.1)", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let stack: Stack;
  /** Stands in for an internal service on loopback. */
  let internal: Awaited<ReturnType<typeof startListener>>;
  let brand: BrandFixture;

  before(async () => {
    chain = await startLocalChain();
    // No private receivers allowed (the default); no workers in the stack: each test runs its own dispatcher.
    stack = await startStack({ chainUrl: chain.url, keyIndex: 13, role: "http", env: { WEBHOOK_ALLOW_PRIVATE: "" } });
    internal = await startListener("127.0.0.1");
    brand = await stack.createBrand({ codes: 1 });
  });
  after(async () => {
    await internal?.close();
    await stack?.stop();
    await chain?.stop();
  });

  // Each test's dispatcher sees only the endpoints that test made.
  beforeEach(async () => {
    await stack.runtime.db.query("UPDATE endpoints SET enabled = false");
  });

  const brandId = async (): Promise<number> =>
    (await stack.runtime.db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug])).rows[0]!.id;

  /** An endpoint row as one created before this check existed (or while its name resolved elsewhere). */
  async function storedEndpoint(url: string, kind: string): Promise<string> {
    const {
      rows: [row],
    } = await stack.runtime.db.query<{ id: number }>(
      `INSERT INTO endpoints (brand_id, url, types, secret, last_alert_id, last_batch_seq)
       VALUES ($1, $2, $3, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', (SELECT COALESCE(max(id), 0) FROM alerts), 0) RETURNING id`,
      [await brandId(), url, [kind]],
    );
    return String(row!.id);
  }

  async function raise(kind: string): Promise<void> {
    await stack.runtime.db.query("INSERT INTO alerts (brand_id, kind, serial, party, details) VALUES ($1, $2, $3, 'store-pudong', '{}')", [
      await brandId(),
      kind,
      brand.codes[0]!.serial,
    ]);
  }

  async function deliveries(endpointId: string): Promise<any[]> {
    const r = await stack.request("GET", `/api/v1/endpoints/${endpointId}/deliveries`, { token: brand.apiKey });
    expect(r.status).to.equal(200);
    return r.body.deliveries;
  }

  it("refuses endpoints at internal addresses in every spelling, and names that resolve inside, with a 422 on url", async () => {
    const port = internal.port;
    const urls = [
      `http://127.0.0.1:${port}/hook`,
      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://[0:0:0:0:0:ffff:7f00:1]:${port}/`,
      `http://[64:ff9b::7f00:1]:${port}/`,
      `http://0.0.0.0:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f.1:${port}/`,
      `http://0177.0.0.1:${port}/`,
      `http://127.1:${port}/`,
      "http://10.0.0.5/",
      "http://172.16.0.1/",
      "http://192.168.1.1/",
      "http://100.64.0.1/",
      "http://[fe80::1]/",
      "http://[fd00::1]/",
      "http://224.0.0.1/",
      "http://255.255.255.255/",
      "http://198.18.0.1/",
      "http://192.0.2.1/",
      `http://localhost:${port}/`,
      `http://LOCALHOST.:${port}/`,
      "http://postgres:5432/",
      "http://redis:6379/",
      "http://chain:8545/",
    ];
    for (const url of urls) {
      const r = await stack.request("POST", "/api/v1/endpoints", { token: brand.apiKey, body: { url, types: ["diversion"] } });
      expect(r.status, `${url}: ${JSON.stringify(r.body)}`).to.equal(422);
      expect(r.body, url).to.include({ error: "invalid", field: "url" });
      expect(r.body.message, url).to.match(/not a public address|does not resolve, or resolves to an address that is not public/);
    }
    const withCredentials = await stack.request("POST", "/api/v1/endpoints", {
      token: brand.apiKey,
      body: { url: "https://user:pw@example.com/hook", types: ["diversion"] },
    });
    expect(withCredentials.status).to.equal(422);
    expect(withCredentials.body).to.include({ field: "url" });
    expect(withCredentials.body.message).to.match(/user name or password/);

    const list = await stack.request("GET", "/api/v1/endpoints", { token: brand.apiKey });
    expect(list.body.endpoints).to.deep.equal([]);
    expect(internal.connections).to.equal(0);
  });

  it("still accepts public destinations, on any port", async () => {
    const other = await stack.createBrand({ codes: 0 });
    for (const url of ["http://93.184.216.34/hook", "https://[2606:4700:4700::1111]:8443/hook"]) {
      const r = await stack.request("POST", "/api/v1/endpoints", { token: other.apiKey, body: { url, types: ["diversion"] } });
      expect(r.status, `${url}: ${JSON.stringify(r.body)}`).to.equal(201);
    }
  });

  it("refuses at send time an endpoint stored with an internal address, without connecting, and says only refused_destination", async () => {
    const id = await storedEndpoint(`http://127.0.0.1:${internal.port}/hook`, "sold_twice");
    await raise("sold_twice");
    const dispatcher = createDispatcher({ db: stack.runtime.db, log: silentLog, allowPrivate: [] });
    expect(await dispatcher.runOnce()).to.deep.include({ sent: 1 });
    expect(internal.connections).to.equal(0);
    const [delivery] = await deliveries(id);
    expect(delivery).to.include({ state: "pending", lastStatus: null, lastError: "refused_destination" });
    expect(delivery.attempts).to.deep.equal([{ at: delivery.attempts[0].at, status: null, error: "refused_destination", durationMs: null }]);
  });

  it("connects only to the address it checked: a DNS answer that changes after the check (rebinding) is never used", async () => {
    // The checked address is 127.0.0.2 (allowed here); every later answer says 127.0.0.1 (not allowed),
    // where another listener waits on the same port.
    const checked = await startListener("127.0.0.2");
    const rebound = await startListener("127.0.0.1", checked.port);
    try {
      const answers: string[][] = [];
      let calls = 0;
      const resolve = async (name: string) => {
        expect(name).to.equal("hooks.rebind.test");
        const answer = calls++ === 0 ? ["127.0.0.2"] : ["127.0.0.1"];
        answers.push(answer);
        return answer;
      };
      const id = await storedEndpoint(`http://hooks.rebind.test:${checked.port}/hook`, "price_below");
      const dispatcher = createDispatcher({ db: stack.runtime.db, log: silentLog, allowPrivate: [cidr("127.0.0.2/32")], resolve });

      await raise("price_below");
      await dispatcher.runOnce();
      expect(checked.requests).to.have.length(1);
      expect(checked.requests[0]).to.match(/^POST \/hook HTTP\/1.1\r\n/);
      expect(checked.requests[0]).to.match(new RegExp(`\r\nhost: hooks.rebind.test:${checked.port}\r\n`, "i"));
      expect(rebound.connections).to.equal(0);

      // The next attempt resolves again: now the name points inside, and nothing is sent.
      await raise("price_below");
      await dispatcher.runOnce();
      expect(answers).to.deep.equal([["127.0.0.2"], ["127.0.0.1"]]);
      expect(checked.connections).to.equal(1);
      expect(rebound.connections).to.equal(0);
      const list = await deliveries(id);
      expect(list.map((d) => [d.state, d.lastStatus, d.lastError])).to.deep.equal([
        ["pending", null, "refused_destination"],
        ["delivered", 200, null],
      ]);
    } finally {
      await checked.close();
      await rebound.close();
    }
  });

  it("refuses a name when any one of its addresses is internal, including IPv4-mapped answers", async () => {
    for (const answer of [["93.184.216.34", "127.0.0.1"], ["::ffff:127.0.0.1"], ["2606:4700:4700::1111", "fd00::1"], [], ["not-an-address"]]) {
      const id = await storedEndpoint(`http://mixed.rebind.test:${internal.port}/hook`, "sold_without_receiving");
      const dispatcher = createDispatcher({ db: stack.runtime.db, log: silentLog, allowPrivate: [], resolve: async () => answer });
      await raise("sold_without_receiving");
      await dispatcher.runOnce();
      await stack.runtime.db.query("UPDATE endpoints SET enabled = false WHERE id = $1", [id]);
      const [delivery] = await deliveries(id);
      expect(delivery.lastError, JSON.stringify(answer)).to.equal("refused_destination");
    }
    expect(internal.connections).to.equal(0);
  });

  it("reports only coarse causes: no error text, address, port or duration for attempts that got no HTTP answer", async () => {
    const closed = await startListener("127.0.0.1");
    const closedPort = closed.port;
    await closed.close();
    const hanging = await startListener("127.0.0.1", 0, { silent: true });
    try {
      const refusedId = await storedEndpoint(`http://127.0.0.1:${closedPort}/hook`, "consumer_price_report");
      const hangingId = await storedEndpoint(`http://127.0.0.1:${hanging.port}/hook`, "consumer_price_report");
      await raise("consumer_price_report");
      // Allowed here, so these attempts really connect.
      const dispatcher = createDispatcher({ db: stack.runtime.db, log: silentLog, allowPrivate: [cidr("127.0.0.1/32")], timeoutMs: 1_000 });
      await dispatcher.runOnce();
      expect(hanging.connections).to.equal(1);
      const [refused] = await deliveries(refusedId);
      const [timedOut] = await deliveries(hangingId);
      expect(refused.attempts.map((a: any) => [a.status, a.error, a.durationMs])).to.deep.equal([[null, "connection_failed", null]]);
      expect(timedOut.attempts.map((a: any) => [a.status, a.error, a.durationMs])).to.deep.equal([[null, "timeout", null]]);
      const text = JSON.stringify([refused, timedOut]);
      for (const leak of ["ECONNREFUSED", "fetch failed", "127.0.0.1", String(closedPort), "no answer within"]) expect(text).not.to.include(leak);
    } finally {
      await hanging.close();
    }
  });

  it("keeps the URL's name for TLS (SNI, certificate check) while connecting to the checked address, and reports a bad certificate as tls_error", async function () {
    const dir = await mkdtemp(join(tmpdir(), "sealtrace-tls-"));
    try {
      try {
        execFileSync(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            join(dir, "key.pem"),
            "-out",
            join(dir, "cert.pem"),
            "-subj",
            "/CN=hooks.tls.test",
            "-addext",
            "subjectAltName=DNS:hooks.tls.test",
          ],
          { stdio: "ignore" },
        );
      } catch {
        this.skip(); // no openssl to make a certificate with
      }
      const context = { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) };
      const names: string[] = [];
      let requests = 0;
      const server = createHttpsServer(
        {
          ...context,
          SNICallback: (name, done) => {
            names.push(name);
            done(null, createSecureContext(context));
          },
        },
        (_req, res) => {
          requests++;
          res.end("ok");
        },
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const id = await storedEndpoint(`https://hooks.tls.test:${(server.address() as AddressInfo).port}/hook`, "diversion");
        await raise("diversion");
        const dispatcher = createDispatcher({
          db: stack.runtime.db,
          log: silentLog,
          allowPrivate: [cidr("127.0.0.1/32")],
          resolve: async () => ["127.0.0.1"],
        });
        await dispatcher.runOnce();
        // The handshake named the host; its self-signed certificate is not trusted, so nothing was posted.
        expect(names).to.deep.equal(["hooks.tls.test"]);
        expect(requests).to.equal(0);
        const [delivery] = await deliveries(id);
        expect(delivery.attempts.map((a: any) => [a.status, a.error, a.durationMs])).to.deep.equal([[null, "tls_error", null]]);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("deliveries recorded before the SSRF fix (migration 0012)", function () {
  this.timeout(60_000);

  it("keep only coarse causes: raw error texts become one word, and durations without an HTTP answer go", async () => {
    const database = await createDatabase();
    const dir = fileURLToPath(new URL("../../service/db/migrations", import.meta.url));
    // The migrations run on a client of our own, closed before the database is dropped.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const migrate = (count: number) =>
      runner({
        dbClient: client,
        dir,
        direction: "up",
        migrationsTable: "schema_migrations",
        count,
        singleTransaction: true,
        log: () => undefined,
        verbose: false,
      });
    const db = createPool(database.url, silentLog, 2);
    try {
      await migrate(11);
      await db.query("INSERT INTO brands (id, slug, name, api_key_hash) VALUES (1, 'old', 'Old', '\\x01')");
      await db.query("INSERT INTO endpoints (id, brand_id, url, types, secret) VALUES (1, 1, 'http://10.0.0.7:5432/', '{diversion}', 'whsec_x')");
      const old: [number | null, string | null, number][] = [
        [null, "fetch failed: ECONNREFUSED", 3],
        [null, "no answer within 10 s", 10_000],
        [null, "fetch failed: getaddrinfo ENOTFOUND redis", 41],
        [500, "HTTP 500", 12],
        [301, "HTTP 301 (redirects are not followed)", 7],
        [410, "410 Gone: the endpoint is disabled", 5],
        [200, null, 9],
      ];
      for (const [i, [status, error, duration]] of old.entries()) {
        await db.query(
          "INSERT INTO deliveries (id, endpoint_id, event_type, source_id, payload, last_status, last_error) VALUES ($1, 1, 'diversion', $1, '{}', $2, $3)",
          [i + 1, status, error],
        );
        await db.query("INSERT INTO delivery_attempts (delivery_id, attempted_at, status, error, duration_ms) VALUES ($1, now(), $2, $3, $4)", [
          i + 1,
          status,
          error,
          duration,
        ]);
      }
      await db.query(
        "INSERT INTO deliveries (id, endpoint_id, event_type, source_id, payload, state, last_error) VALUES (99, 1, 'diversion', 99, '{}', 'failed', 'not sent: disabled by the brand')",
      );
      await migrate(Infinity);

      const { rows: attempts } = await db.query("SELECT status, error, duration_ms FROM delivery_attempts ORDER BY delivery_id");
      expect(attempts.map((a) => [a.status, a.error, a.duration_ms])).to.deep.equal([
        [null, "connection_failed", null],
        [null, "timeout", null],
        [null, "connection_failed", null],
        [500, "http_status", 12],
        [301, "http_status", 7],
        [410, "http_status", 5],
        [200, null, 9],
      ]);
      const { rows: deliveries } = await db.query("SELECT last_error FROM deliveries ORDER BY id");
      expect(deliveries.map((d) => d.last_error)).to.deep.equal([
        "connection_failed",
        "timeout",
        "connection_failed",
        "http_status",
        "http_status",
        "http_status",
        null,
        "endpoint_disabled",
      ]);
      // And nothing else can be written any more.
      let refused: unknown = null;
      await db
        .query(
          "INSERT INTO delivery_attempts (brand_id, delivery_id, attempted_at, status, error, duration_ms) VALUES (1, 1, now(), NULL, 'connect ECONNREFUSED 10.0.0.7:5432', NULL)",
        )
        .catch((e) => {
          refused = e;
        });
      expect(refused).to.have.property("code", "23514");
    } finally {
      await client.end();
      await db.end();
      await database.drop();
    }
  });
});
