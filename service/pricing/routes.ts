/**
 * Guide prices (with history) of the brand's products: set one, national or for a region, and read
 * the history. The band they set judges retail sales at ingest, the store check, consumers' price
 * reports and the price-protection report.
 */
import { Type } from "@sinclair/typebox";
import { normaliseGtin } from "../core/gtin.ts";
import { AMOUNT_PATTERN, band, type GuidePrice } from "../core/price.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { invalid } from "../http/errors.ts";
import { guidePriceHistory, insertGuidePrice } from "./guide-prices.ts";

const GuidePriceBody = Type.Object(
  {
    amount: Type.String({ pattern: AMOUNT_PATTERN, description: 'decimal string, e.g. "1499.00"' }),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    below: Type.Number({ minimum: 0, maximum: 0.99, description: "allowed fraction under the guide price, e.g. 0.05" }),
    above: Type.Number({ minimum: 0, maximum: 10, description: "allowed fraction over it, e.g. 0.10" }),
    region: Type.Optional(Type.String({ maxLength: 64 })),
    validFrom: Type.Optional(Type.String({ format: "date-time" })),
  },
  { additionalProperties: false },
);

function present(guide: GuidePrice) {
  return { ...guide, validFrom: guide.validFrom.toISOString(), band: band(guide) };
}

export function pricingRoutes(app: Api, deps: { db: Db }): void {
  const { db } = deps;

  app.put(
    "/api/v1/products/:gtin/guide-price",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["checks"],
        summary: "Set a guide price and its band, national or for one region, from validFrom on (default now); earlier prices stay in the history",
        security: [{ brandApiKey: [] }],
        params: Type.Object({ gtin: Type.String({ maxLength: 14 }) }),
        body: GuidePriceBody,
      },
    },
    async (request, reply) => {
      const gtin = normaliseGtin(request.params.gtin);
      if (gtin === null) throw invalid("gtin", "not a valid GTIN");
      const { amount, region } = request.body;
      if (Number(amount) <= 0) throw invalid("amount", "must be more than zero");
      const product = await db.query("SELECT 1 FROM products WHERE brand_id = $1 AND gtin = $2", [request.brand.id, gtin]);
      if (!product.rowCount) throw invalid("gtin", `unknown product ${gtin}`);
      if (region !== undefined) {
        const known = await db.query("SELECT 1 FROM regions WHERE brand_id = $1 AND code = $2", [request.brand.id, region]);
        if (!known.rowCount) throw invalid("region", `unknown region "${region}"`);
      }
      return reply.code(201).send({ gtin, ...present(await insertGuidePrice(db, request.brand.id, gtin, request.body)) });
    },
  );

  app.get(
    "/api/v1/products/:gtin/guide-price",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["checks"],
        summary: "The product's guide prices, newest first",
        security: [{ brandApiKey: [] }],
        params: Type.Object({ gtin: Type.String({ maxLength: 14 }) }),
      },
    },
    async (request) => {
      const gtin = normaliseGtin(request.params.gtin);
      if (gtin === null) throw invalid("gtin", "not a valid GTIN");
      return { gtin, prices: (await guidePriceHistory(db, request.brand.id, gtin)).map(present) };
    },
  );
}
