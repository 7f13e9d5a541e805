/**
 * Routes declare who may call them (config.auth) and the handlers read request.brand / request.store
 * (service/http/auth.ts). The hook must authenticate exactly where the handlers used to: after
 * validation (a malformed request is a 400 whoever sends it) and after the route's own preHandlers,
 * with the same 401 answers; and a handler that reads a caller its route does not declare must fail
 * closed, never run as nobody.
 */
import { Type } from "@sinclair/typebox";
import { expect } from "chai";
import Fastify, { type FastifyInstance } from "fastify";
import { tokenHash } from "../../service/core/secrets.ts";
import type { Db } from "../../service/db/pool.ts";
import { typed } from "../../service/http/api.ts";
import { installAuth } from "../../service/http/auth.ts";
import { installErrorHandler } from "../../service/http/errors.ts";
import type { StoreRef } from "../../service/store/keys.ts";

const BRAND_KEY = "stk_brand-key-of-brand-b";
const STORE_KEY = "sts_store-key-of-store-1";
const ADMIN = "admin-token-000000000000";
const STORE: StoreRef = { keyId: 7, brandId: 2, brandSlug: "b", party: "store-1", name: "Store 1", region: "CN-SH" };

/** brandForKey's one query, answered for BRAND_KEY only (the lookup is by the key's hash). */
const db = {
  async query(_sql: string, [hash]: [Uint8Array]) {
    return { rows: Buffer.from(hash).equals(Buffer.from(tokenHash(BRAND_KEY))) ? [{ id: 2, slug: "b" }] : [] };
  },
} as unknown as Db;

describe("route authentication (config.auth)", () => {
  let app: FastifyInstance;
  const handled: string[] = [];

  before(async () => {
    app = Fastify();
    installErrorHandler(app);
    installAuth(app, { db, adminToken: ADMIN, storeForKey: async (key) => (key === STORE_KEY ? STORE : null) });
    const api = typed(app);
    api.post(
      "/brand",
      {
        config: { auth: "brand" },
        schema: { body: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) },
      },
      async (request) => {
        handled.push("brand");
        return { brand: request.brand, n: request.body.n };
      },
    );
    api.get("/brand", { config: { auth: "brand" } }, async (request) => ({ slug: request.brand.slug }));
    api.get("/store", { config: { auth: "store" } }, async (request) => ({ party: request.store.party }));
    api.get("/admin", { config: { auth: "admin" } }, async () => ({ ok: true }));
    api.get(
      "/own-prehandler",
      {
        config: { auth: "brand" },
        preHandler: async (_request, reply) => {
          void reply.header("x-first", "yes");
        },
      },
      async () => ({ ok: true }),
    );
    api.get("/public", async (request) => ({ slug: request.brand.slug }));
    await app.ready();
  });
  after(async () => {
    await app?.close();
  });

  const call = async (method: "GET" | "POST" | "HEAD", url: string, token?: string, payload?: unknown) => {
    const r = await app.inject({
      method,
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: r.statusCode, headers: r.headers, body: method === "HEAD" || r.body === "" ? null : JSON.parse(r.body) };
  };

  it("lets the declared caller through and hands its handler the brand or store", async () => {
    expect(await call("POST", "/brand", BRAND_KEY, { n: 1 })).to.deep.include({ status: 200, body: { brand: { id: 2, slug: "b" }, n: 1 } });
    expect((await call("GET", "/store", STORE_KEY)).body).to.deep.equal({ party: "store-1" });
    expect((await call("GET", "/admin", ADMIN)).status).to.equal(200);
  });

  it("answers anyone else 401 with the messages the handlers gave, HEAD routes too", async () => {
    for (const token of [undefined, "stk_unknown", STORE_KEY, ADMIN]) {
      const r = await call("GET", "/brand", token);
      expect(r.status, String(token)).to.equal(401);
      expect(r.body).to.deep.equal({ error: "unauthorized", message: "a valid brand API key is required (Authorization: Bearer …)" });
      expect((await call("HEAD", "/brand", token)).status, `HEAD ${token}`).to.equal(401);
    }
    for (const token of [undefined, BRAND_KEY, "sts_unknown"]) {
      expect((await call("GET", "/store", token)).body).to.deep.equal({
        error: "unauthorized",
        message: "a valid store API key is required (Authorization: Bearer sts_…)",
      });
    }
    for (const token of [undefined, BRAND_KEY, `${ADMIN}x`]) {
      expect((await call("GET", "/admin", token)).body).to.deep.equal({
        error: "unauthorized",
        message: "a valid admin token is required (Authorization: Bearer …)",
      });
    }
  });

  it("authenticates after validation and after the route's own preHandlers, as the handlers did", async () => {
    handled.length = 0;
    const malformed = await call("POST", "/brand", undefined, { n: "x" });
    expect(malformed.status, "a malformed request without a key").to.equal(400);
    const refused = await call("GET", "/own-prehandler");
    expect(refused.status).to.equal(401);
    expect(refused.headers["x-first"], "the route's own preHandler ran first").to.equal("yes");
    expect(handled, "no handler ran").to.deep.equal([]);
  });

  it("fails closed when a handler reads a caller its route does not declare", async () => {
    const r = await call("GET", "/public", BRAND_KEY);
    expect(r.status).to.equal(500);
    expect(JSON.stringify(r.body)).not.to.include('"b"');
  });
});
