/**
 * Set-up API: brands (admin), and the brand's products, regions, parties, codes and webhook secrets.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { Db } from "../db/pool.ts";
import { requireAdmin, requireBrand } from "../http/auth.ts";
import type { SetupStore } from "./store.ts";

const Slug = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{1,62}$", description: "lowercase letters, digits and dashes" });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Code = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });

const BrandBody = Type.Object({ slug: Slug, name: Name }, { additionalProperties: false });
const BrandCreated = Type.Object({ slug: Type.String(), apiKey: Type.String(), webhookSecret: Type.String() });
const ProductBody = Type.Object({
  name: Name,
  volumeMl: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  abv: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  description: Type.Optional(Type.String({ maxLength: 2_000 })),
}, { additionalProperties: false });
const RegionBody = Type.Object({ name: Name }, { additionalProperties: false });
const PartyBody = Type.Object({
  kind: Type.Union([Type.Literal("factory"), Type.Literal("warehouse"), Type.Literal("distributor"), Type.Literal("store")]),
  name: Name,
  region: Code,
  authorised: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
const CodesBody = Type.Object({
  gtin: Type.String({ pattern: "^[0-9]{8,14}$" }),
  count: Type.Integer({ minimum: 1, maximum: 10_000 }),
  lot: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  region: Type.Optional(Code),
}, { additionalProperties: false });
const RotateBody = Type.Union([
  Type.Object({ graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })) }, { additionalProperties: false }),
  Type.Null(),
]);

const brandSecurity = [{ brandApiKey: [] }];

export function setupRoutes(app: FastifyInstance, deps: { db: Db; store: SetupStore; adminToken: string | null }): void {
  const { db, store } = deps;

  app.post<{ Body: Static<typeof BrandBody> }>("/api/v1/admin/brands", {
    schema: {
      tags: ["set-up"], summary: "Create a brand (platform admin). The API key and webhook secret are shown only here.",
      security: [{ adminToken: [] }], body: BrandBody, response: { 201: BrandCreated },
    },
    preHandler: requireAdmin(deps.adminToken),
  }, async (request, reply) => reply.code(201).send(await store.createBrand(request.body.slug, request.body.name)));

  app.put<{ Params: { gtin: string }; Body: Static<typeof ProductBody> }>("/api/v1/products/:gtin", {
    schema: { tags: ["set-up"], summary: "Create or update a product", security: brandSecurity, params: Type.Object({ gtin: Type.String() }), body: ProductBody },
  }, async (request) => {
    const brand = await requireBrand(db, request);
    const { name, ...attributes } = request.body;
    return await store.putProduct(brand.id, request.params.gtin, name, attributes);
  });

  app.put<{ Params: { code: string }; Body: Static<typeof RegionBody> }>("/api/v1/regions/:code", {
    schema: { tags: ["set-up"], summary: "Create or update a sales region", security: brandSecurity, params: Type.Object({ code: Code }), body: RegionBody },
  }, async (request) => {
    const brand = await requireBrand(db, request);
    return await store.putRegion(brand.id, request.params.code, request.body.name);
  });

  app.put<{ Params: { id: string }; Body: Static<typeof PartyBody> }>("/api/v1/parties/:id", {
    schema: { tags: ["set-up"], summary: "Create or update a party (factory, warehouse, distributor or store)", security: brandSecurity, params: Type.Object({ id: Code }), body: PartyBody },
  }, async (request) => {
    const brand = await requireBrand(db, request);
    return await store.putParty(brand.id, request.params.id, request.body);
  });

  app.post<{ Body: Static<typeof CodesBody> }>("/api/v1/codes", {
    schema: {
      tags: ["set-up"], summary: "Mint bottle codes. Each secret is returned only here; only its hash is stored.",
      security: brandSecurity, body: CodesBody,
      response: { 201: Type.Object({ codes: Type.Array(Type.Object({ serial: Type.String(), secret: Type.String(), url: Type.String() })) }) },
    },
  }, async (request, reply) => {
    const brand = await requireBrand(db, request);
    return reply.code(201).send({ codes: await store.mintCodes(brand.id, request.body) });
  });

  app.post<{ Body: Static<typeof RotateBody> }>("/api/v1/webhook-secrets/rotate", {
    schema: {
      tags: ["set-up"], summary: "Issue a new webhook secret; the previous one keeps working for graceSeconds (default one day)",
      security: brandSecurity, body: Type.Optional(RotateBody),
      response: { 201: Type.Object({ webhookSecret: Type.String(), previousValidUntil: Type.String() }) },
    },
  }, async (request, reply) => {
    const brand = await requireBrand(db, request);
    return reply.code(201).send(await store.rotateWebhookSecret(brand.id, request.body?.graceSeconds ?? 86_400));
  });
}
