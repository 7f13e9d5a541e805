/**
 * Set-up API: brands (admin), and the brand's products, regions, parties, codes and webhook secrets.
 */
import { Readable } from "node:stream";
import { Type } from "@sinclair/typebox";
import type { Api } from "../http/api.ts";
import { attachment } from "../http/download.ts";
import { MAX_STORE_BACKDATE_HOURS } from "../core/custody.ts";
import { MAX_LEVELS } from "../core/members.ts";
import { checkUrl, type EndpointDestinations } from "../outbox/routes.ts";
import type { SetupRepo } from "./repo.ts";

const Slug = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{1,62}$", description: "lowercase letters, digits and dashes" });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Code = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });

const BrandBody = Type.Object({ slug: Slug, name: Name }, { additionalProperties: false });
const BrandCreated = Type.Object({ slug: Type.String(), apiKey: Type.String(), webhookSecret: Type.String() });
const ProductBody = Type.Object(
  {
    name: Name,
    volumeMl: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    abv: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    description: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false },
);
const RegionBody = Type.Object({ name: Name }, { additionalProperties: false });
const PartyBody = Type.Object(
  {
    kind: Type.Union([Type.Literal("factory"), Type.Literal("warehouse"), Type.Literal("distributor"), Type.Literal("store")]),
    name: Name,
    region: Code,
    authorised: Type.Optional(Type.Boolean()),
    gln: Type.Optional(
      Type.String({
        maxLength: 200,
        description:
          "the party's GLN (13 digits), one SGLN (urn:epc:id:sgln:…) or a GS1 Digital Link (/414/{gln}[/254/{ext}]): EPCIS events at that location resolve to this party",
      }),
    ),
  },
  { additionalProperties: false },
);
const CodesBody = Type.Object(
  {
    gtin: Type.String({ pattern: "^[0-9]{8,14}$" }),
    count: Type.Integer({ minimum: 1, maximum: 10_000 }),
    lot: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
    region: Type.Optional(Code),
  },
  { additionalProperties: false },
);
const Lot = Type.String({ minLength: 1, maxLength: 20 });
const MintedCode = Type.Object({
  serial: Type.String(),
  secret: Type.String({ description: "the public secret printed in the QR code (22 base64url characters)" }),
  url: Type.String({ description: "the QR code's GS1 Digital Link URL: {base}/01/{gtin}/21/{serial}?s={secret}" }),
  capCode: Type.String({ description: "the hidden code printed under the cap (16 Crockford base32 characters)" }),
  capUrl: Type.String({ description: "the URL consumers open with the cap code: {base}/01/{gtin}/21/{serial}?o={capCode}" }),
});
/** A CSV text to the client; the handler streams it (the same JSON schema as Type.String()). */
const CsvStream = Type.Unsafe<Readable>(Type.String());
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) });
const RotateBody = Type.Union([
  Type.Object({ graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })) }, { additionalProperties: false }),
  Type.Null(),
]);

const Settings = Type.Object(
  {
    storeBackdateHours: Type.Integer({
      minimum: 0,
      maximum: MAX_STORE_BACKDATE_HOURS,
      description:
        "how many hours before it reaches SealTrace a store key's event may be dated (default 72); never in the future, never before the bottle's previous step",
    }),
    storeSellsUnreceived: Type.Boolean({
      description: "whether a store may post the sale of a bottle it never recorded receiving (default false); a bottle another store holds stays refused",
    }),
    memberPointsPerBottle: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      description: "points a member earns per claimed bottle (default 10; docs/MEMBERS.md)",
    }),
    memberLevelPoints: Type.Array(Type.Integer({ minimum: 0, maximum: 1_000_000_000 }), {
      minItems: 1,
      maxItems: MAX_LEVELS,
      description: "the points at which each member level starts, ascending, the first 0 (default [0, 100, 500]: levels 1, 2 and 3)",
    }),
    // Null first: with type coercion on, a string branch tried first would turn null into "".
    smsGatewayUrl: Type.Union([Type.Null(), Type.String({ maxLength: 2048 })], {
      description:
        "the brand's SMS gateway: members' one-time codes are POSTed to it as a signed webhook (docs/MEMBERS.md); null (default): development sender, codes only logged and shown in the console",
    }),
  },
  { additionalProperties: false },
);
const SettingsAnswer = Type.Object(
  {
    ...Settings.properties,
    smsGatewaySecret: Type.Union([Type.String(), Type.Null()], {
      description: "the Standard Webhooks secret (whsec_…) the SMS gateway webhooks are signed with; made when smsGatewayUrl is first set",
    }),
  },
  { additionalProperties: false },
);
const SettingsChange = Type.Partial(Settings, { additionalProperties: false, minProperties: 1 });

const brandSecurity = [{ brandApiKey: [] }];

export function setupRoutes(app: Api, deps: { repo: SetupRepo; destinations: EndpointDestinations }): void {
  const { repo } = deps;

  app.post(
    "/api/v1/admin/brands",
    {
      config: { auth: "admin" },
      schema: {
        tags: ["set-up"],
        summary: "Create a brand (platform admin). The API key and webhook secret are shown only here.",
        security: [{ adminToken: [] }],
        body: BrandBody,
        response: { 201: BrandCreated },
      },
    },
    async (request, reply) => reply.code(201).send(await repo.createBrand(request.body.slug, request.body.name)),
  );

  app.put(
    "/api/v1/products/:gtin",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Create or update a product",
        security: brandSecurity,
        params: Type.Object({ gtin: Type.String() }),
        body: ProductBody,
      },
    },
    async (request) => {
      const { name, ...attributes } = request.body;
      return await repo.putProduct(request.brand.id, request.params.gtin, name, attributes);
    },
  );

  app.put(
    "/api/v1/regions/:code",
    {
      config: { auth: "brand" },
      schema: { tags: ["set-up"], summary: "Create or update a sales region", security: brandSecurity, params: Type.Object({ code: Code }), body: RegionBody },
    },
    async (request) => {
      return await repo.putRegion(request.brand.id, request.params.code, request.body.name);
    },
  );

  app.put(
    "/api/v1/parties/:id",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Create or update a party (factory, warehouse, distributor or store), optionally with its GLN or SGLN",
        security: brandSecurity,
        params: Type.Object({ id: Code }),
        body: PartyBody,
      },
    },
    async (request) => {
      return await repo.putParty(request.brand.id, request.params.id, request.body);
    },
  );

  app.post(
    "/api/v1/codes",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Mint bottle codes: per bottle its QR secret and URL, and the hidden code under its cap with its URL",
        description:
          "Secrets and cap codes are derived from the serial with a server-side key (LABEL_SECRET); only their " +
          "hashes are stored. A lot's label file can be downloaded again with GET /api/v1/codes/export.",
        security: brandSecurity,
        body: CodesBody,
        response: { 201: Type.Object({ codes: Type.Array(MintedCode) }) },
      },
    },
    async (request, reply) => {
      return reply.code(201).send({ codes: await repo.mintCodes(request.brand.id, request.body) });
    },
  );

  app.get(
    "/api/v1/codes/export",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "The label file of one lot, for the label printer (CSV)",
        description:
          "RFC 4180 CSV (UTF-8, CRLF) with the header serial,gtin,lot,region,url,cap_code,cap_url and one row per code " +
          "of the lot, in serial order. It holds every bottle's secrets: keep it like the API key.",
        security: brandSecurity,
        querystring: Type.Object({ lot: Lot }),
        response: {
          200: { description: "the lot's label file", content: { "text/csv": { schema: CsvStream } } },
          404: { description: "no code of this brand has this lot", content: { "application/json": { schema: ErrorBody } } },
          409: {
            description: "the lot's labels cannot be regenerated (minted before derived labels, or under another LABEL_SECRET)",
            content: { "application/json": { schema: ErrorBody } },
          },
        },
      },
    },
    async (request, reply) => {
      const { lot } = request.query;
      const csv = await repo.exportLot(request.brand.id, lot);
      return reply
        .type("text/csv; charset=utf-8")
        .header("content-disposition", attachment(`codes-${lot}.csv`))
        .header("cache-control", "private, no-store")
        .send(Readable.from(csv));
    },
  );

  app.get(
    "/api/v1/codes/:serial/qr.svg",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "A QR code (SVG) of a bottle's Digital Link URL with its secret, or with ?code=cap of its cap URL",
        security: brandSecurity,
        params: Type.Object({ serial: Type.String({ minLength: 1, maxLength: 64 }) }),
        querystring: Type.Object({
          code: Type.Optional(
            Type.Union([Type.Literal("url"), Type.Literal("cap")], {
              default: "url",
              description: "url: the QR printed on the label (?s=); cap: the code under the cap (?o=)",
            }),
          ),
        }),
        response: {
          200: { description: "an SVG image; it embeds a secret, so it is never cached", content: { "image/svg+xml": { schema: Type.String() } } },
          404: { description: "no such code for this brand", content: { "application/json": { schema: ErrorBody } } },
          409: { description: "the code's label cannot be regenerated", content: { "application/json": { schema: ErrorBody } } },
        },
      },
    },
    async (request, reply) => {
      const svg = await repo.qrSvg(request.brand.id, request.params.serial, request.query.code ?? "url");
      return reply.type("image/svg+xml").header("cache-control", "private, no-store").send(svg);
    },
  );

  app.get(
    "/api/v1/settings",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "The brand's settings: what its stores' keys may write, and its members' points, levels and SMS gateway",
        security: brandSecurity,
        response: { 200: SettingsAnswer },
      },
    },
    async (request) => {
      return await repo.settings(request.brand.id);
    },
  );

  app.patch(
    "/api/v1/settings",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Change some of the brand's settings (the others are kept); answers all of them",
        security: brandSecurity,
        body: SettingsChange,
        response: { 200: SettingsAnswer },
      },
    },
    async (request) => {
      const change = { ...request.body };
      if (typeof change.smsGatewayUrl === "string") change.smsGatewayUrl = await checkUrl(change.smsGatewayUrl, deps.destinations, "smsGatewayUrl");
      return await repo.updateSettings(request.brand.id, change);
    },
  );

  app.post(
    "/api/v1/webhook-secrets/rotate",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Issue a new webhook secret; the previous one keeps working for graceSeconds (default one day)",
        security: brandSecurity,
        body: Type.Optional(RotateBody),
        response: { 201: Type.Object({ webhookSecret: Type.String(), previousValidUntil: Type.String() }) },
      },
    },
    async (request, reply) => {
      return reply.code(201).send(await repo.rotateWebhookSecret(request.brand.id, request.body?.graceSeconds ?? 86_400));
    },
  );
}
