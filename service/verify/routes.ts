/**
 * GET /api/v1/items/{serial}/proof: the bottle's `sealtrace-proof/1` bundle, for the QR secret's
 * holder (?s=) or the brand (Bearer API key). A wrong secret is the same 404 as an unknown serial.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { Db } from "../db/pool.ts";
import { bearerToken, brandForKey } from "../http/auth.ts";
import { notFound, unauthorized } from "../http/errors.ts";
import type { BundleAccess, BundleStore } from "./bundles.ts";

export function verifyRoutes(app: FastifyInstance, deps: { db: Db; bundles: BundleStore }): void {
  app.get<{ Params: { serial: string }; Querystring: { s?: string } }>("/api/v1/items/:serial/proof", {
    schema: {
      tags: ["verify"],
      summary: "A bottle's proof bundle (sealtrace-proof/1); check it with `npm run verify-proof`",
      params: Type.Object({ serial: Type.String({ maxLength: 64 }) }),
      querystring: Type.Object({ s: Type.Optional(Type.String({ maxLength: 128 })) }),
    },
  }, async (request, reply) => {
    let access: BundleAccess;
    const token = bearerToken(request);
    if (token !== null) {
      const brand = await brandForKey(deps.db, token);
      if (brand === null) throw unauthorized("unknown API key");
      access = { brandId: brand.id };
    } else {
      access = { secret: request.query.s ?? "" };
    }
    const bundle = await deps.bundles.bundleFor(request.params.serial, access);
    if (bundle === null) throw notFound("no such bottle");
    // Pending links become anchored within seconds: never cache an incomplete bundle for long.
    const pending = bundle.links.some((l) => l.anchor === null);
    return reply.header("cache-control", pending ? "no-store" : "private, max-age=60").send(bundle);
  });
}
