/**
 * The alerts the checks raise, for the brand (guide prices are service/pricing's).
 */
import { Type } from "@sinclair/typebox";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { cursorParam, encodeCursor } from "../http/cursor.ts";

const AlertsQuery = Type.Object({
  kind: Type.Optional(Type.String({ maxLength: 64 })),
  party: Type.Optional(Type.String({ maxLength: 128 })),
  serial: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ format: "date-time" })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
});

export function checksRoutes(app: Api, deps: { db: Db }): void {
  const { db } = deps;

  app.get(
    "/api/v1/alerts",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["checks"],
        summary: "The brand's alerts, newest first; pass nextCursor as cursor for the next page",
        security: [{ brandApiKey: [] }],
        querystring: AlertsQuery,
      },
    },
    async (request) => {
      const { kind, party, serial, since, cursor } = request.query;
      const limit = request.query.limit ?? 50;
      const after = cursor === undefined ? null : cursorParam("a", cursor);
      const { rows } = await db.query<{
        id: number;
        kind: string;
        serial: string | null;
        event_id: number | null;
        party: string | null;
        details: unknown;
        created_at: Date;
      }>(
        `SELECT id, kind, serial, event_id, party, details, created_at FROM alerts
        WHERE brand_id = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR party = $3 OR details->>'responsible' = $3)
          AND ($4::text IS NULL OR serial = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
          AND ($6::bigint IS NULL OR id < $6)
        ORDER BY id DESC LIMIT $7`,
        [request.brand.id, kind ?? null, party ?? null, serial ?? null, since ?? null, after, limit + 1],
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        alerts: page.map((a) => ({
          id: String(a.id),
          kind: a.kind,
          serial: a.serial,
          party: a.party,
          eventId: a.event_id === null ? null : String(a.event_id),
          details: a.details,
          createdAt: a.created_at.toISOString(),
        })),
        nextCursor: rows.length > limit && last ? encodeCursor("a", last.id) : null,
      };
    },
  );
}
