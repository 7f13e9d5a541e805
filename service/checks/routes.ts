/**
 * Guide prices (with history) and the alerts the checks raise, for the brand.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { normaliseGtin } from "../core/gtin.ts";
import { AMOUNT_PATTERN, band } from "../core/price.ts";
import type { Db } from "../db/pool.ts";
import { requireBrand } from "../http/auth.ts";
import { cursorParam, encodeCursor } from "../http/cursor.ts";
import { invalid } from "../http/errors.ts";

const GuidePriceBody = Type.Object({
  amount: Type.String({ pattern: AMOUNT_PATTERN, description: "decimal string, e.g. \"1499.00\"" }),
  currency: Type.String({ pattern: "^[A-Z]{3}$" }),
  below: Type.Number({ minimum: 0, maximum: 0.99, description: "allowed fraction under the guide price, e.g. 0.05" }),
  above: Type.Number({ minimum: 0, maximum: 10, description: "allowed fraction over it, e.g. 0.10" }),
  region: Type.Optional(Type.String({ maxLength: 64 })),
  validFrom: Type.Optional(Type.String({ format: "date-time" })),
}, { additionalProperties: false });

const AlertsQuery = Type.Object({
  kind: Type.Optional(Type.String({ maxLength: 64 })),
  party: Type.Optional(Type.String({ maxLength: 128 })),
  serial: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ format: "date-time" })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
});

interface GuideRow { region: string | null; amount: string; currency: string; below: number; above: number; valid_from: Date }

function present(row: GuideRow) {
  const guide = { amount: row.amount, currency: row.currency, below: row.below, above: row.above, region: row.region, validFrom: row.valid_from };
  return { ...guide, validFrom: row.valid_from.toISOString(), band: band(guide) };
}

export function checksRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  app.put<{ Params: { gtin: string }; Body: Static<typeof GuidePriceBody> }>("/api/v1/products/:gtin/guide-price", {
    schema: {
      tags: ["checks"], summary: "Set a guide price and its band, national or for one region, from validFrom on (default now); earlier prices stay in the history",
      security: [{ brandApiKey: [] }], params: Type.Object({ gtin: Type.String({ maxLength: 14 }) }), body: GuidePriceBody,
    },
  }, async (request, reply) => {
    const brand = await requireBrand(db, request);
    const gtin = normaliseGtin(request.params.gtin);
    if (gtin === null) throw invalid("gtin", "not a valid GTIN");
    const { amount, currency, below, above, region, validFrom } = request.body;
    if (Number(amount) <= 0) throw invalid("amount", "must be more than zero");
    const product = await db.query("SELECT 1 FROM products WHERE brand_id = $1 AND gtin = $2", [brand.id, gtin]);
    if (!product.rowCount) throw invalid("gtin", `unknown product ${gtin}`);
    if (region !== undefined) {
      const known = await db.query("SELECT 1 FROM regions WHERE brand_id = $1 AND code = $2", [brand.id, region]);
      if (!known.rowCount) throw invalid("region", `unknown region "${region}"`);
    }
    const { rows: [row] } = await db.query<GuideRow>(
      `INSERT INTO guide_prices (brand_id, gtin, region, amount, currency, below, above, valid_from)
       VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::timestamptz, now()))
       RETURNING region, amount::text AS amount, currency, below::float8 AS below, above::float8 AS above, valid_from`,
      [brand.id, gtin, region ?? null, amount, currency, below, above, validFrom ?? null],
    );
    return reply.code(201).send({ gtin, ...present(row!) });
  });

  app.get<{ Params: { gtin: string } }>("/api/v1/products/:gtin/guide-price", {
    schema: { tags: ["checks"], summary: "The product's guide prices, newest first", security: [{ brandApiKey: [] }], params: Type.Object({ gtin: Type.String({ maxLength: 14 }) }) },
  }, async (request) => {
    const brand = await requireBrand(db, request);
    const gtin = normaliseGtin(request.params.gtin);
    if (gtin === null) throw invalid("gtin", "not a valid GTIN");
    const { rows } = await db.query<GuideRow>(
      `SELECT region, amount::text AS amount, currency, below::float8 AS below, above::float8 AS above, valid_from
         FROM guide_prices WHERE brand_id = $1 AND gtin = $2 ORDER BY valid_from DESC, id DESC`,
      [brand.id, gtin],
    );
    return { gtin, prices: rows.map(present) };
  });

  app.get<{ Querystring: Static<typeof AlertsQuery> }>("/api/v1/alerts", {
    schema: {
      tags: ["checks"], summary: "The brand's alerts, newest first; pass nextCursor as cursor for the next page",
      security: [{ brandApiKey: [] }], querystring: AlertsQuery,
    },
  }, async (request) => {
    const brand = await requireBrand(db, request);
    const { kind, party, serial, since, cursor } = request.query;
    const limit = request.query.limit ?? 50;
    const after = cursor === undefined ? null : cursorParam("a", cursor);
    const { rows } = await db.query<{ id: number; kind: string; serial: string | null; event_id: number | null; party: string | null; details: unknown; created_at: Date }>(
      `SELECT id, kind, serial, event_id, party, details, created_at FROM alerts
        WHERE brand_id = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR party = $3 OR details->>'responsible' = $3)
          AND ($4::text IS NULL OR serial = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
          AND ($6::bigint IS NULL OR id < $6)
        ORDER BY id DESC LIMIT $7`,
      [brand.id, kind ?? null, party ?? null, serial ?? null, since ?? null, after, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      alerts: page.map((a) => ({ id: String(a.id), kind: a.kind, serial: a.serial, party: a.party, eventId: a.event_id === null ? null : String(a.event_id), details: a.details, createdAt: a.created_at.toISOString() })),
      nextCursor: rows.length > limit && last ? encodeCursor("a", last.id) : null,
    };
  });
}
