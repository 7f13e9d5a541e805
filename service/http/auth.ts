/**
 * Bearer authentication: the platform admin token, and brand API keys (looked up by their hash).
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";
import { unauthorized } from "./errors.ts";

export interface BrandRef {
  id: number;
  slug: string;
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== "string") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** Compares two secrets in constant time (their hashes, so lengths never leak either). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(tokenHash(a), tokenHash(b));
}

export function requireAdmin(adminToken: string | null) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (adminToken === null || token === null || !secretsEqual(token, adminToken)) {
      throw unauthorized("a valid admin token is required (Authorization: Bearer …)");
    }
  };
}

export async function brandForKey(db: Db, apiKey: string): Promise<BrandRef | null> {
  const { rows } = await db.query<BrandRef>("SELECT id, slug FROM brands WHERE api_key_hash = $1", [tokenHash(apiKey)]);
  return rows[0] ?? null;
}

/** The brand whose API key the request carries; 401 otherwise. */
export async function requireBrand(db: Db, request: FastifyRequest): Promise<BrandRef> {
  const token = bearerToken(request);
  const brand = token === null ? null : await brandForKey(db, token);
  if (brand === null) throw unauthorized("a valid brand API key is required (Authorization: Bearer …)");
  return brand;
}
