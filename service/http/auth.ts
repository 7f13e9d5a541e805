/**
 * Bearer authentication: the platform admin token, brand API keys and store keys (looked up by their
 * hash). A route declares who may call it with `config: { auth: "admin" | "brand" | "store" }`; the
 * hook installAuth adds then answers 401 to anyone else, and sets `request.brand` or `request.store`
 * for the handler. Routes without `auth` are public (or authenticate themselves, like the webhooks).
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import { tokenHash } from "../core/secrets.ts";
import type { Db } from "../db/pool.ts";
import type { StoreRef } from "../store/keys.ts";
import { unauthorized } from "./errors.ts";

export interface BrandRef {
  id: number;
  slug: string;
}

/** Who may call a route: the platform admin (ADMIN_TOKEN), a brand (its API key) or a store (its store key). */
export type Caller = "admin" | "brand" | "store";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route (see installAuth); absent: anyone. */
    auth?: Caller;
  }
  interface FastifyRequest {
    /** The brand whose API key the request carries, on routes with `auth: "brand"` (elsewhere reading it is a 500). */
    readonly brand: BrandRef;
    /** The store whose key the request carries, on routes with `auth: "store"` (elsewhere reading it is a 500). */
    readonly store: StoreRef;
  }
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

export async function brandForKey(db: Db, apiKey: string): Promise<BrandRef | null> {
  const { rows } = await db.query<BrandRef>("SELECT id, slug FROM brands WHERE api_key_hash = $1", [tokenHash(apiKey)]);
  return rows[0] ?? null;
}

/** The brand whose API key the request carries; 401 otherwise (for routes that also take other credentials). */
export async function requireBrand(db: Db, request: FastifyRequest): Promise<BrandRef> {
  const token = bearerToken(request);
  const brand = token === null ? null : await brandForKey(db, token);
  if (brand === null) throw unauthorized("a valid brand API key is required (Authorization: Bearer …)");
  return brand;
}

export interface AuthDeps {
  db: Db;
  adminToken: string | null;
  /** The live store a store key belongs to (the store feature owns its keys). */
  storeForKey: (key: string) => Promise<StoreRef | null>;
}

/**
 * Authenticates every route that declares `config.auth`, as its last preHandler: after the body and
 * query are validated (a malformed request is a 400 whoever sends it) and after the route's own
 * preHandlers, just before the handler. Must be installed before the routes are added.
 */
export function installAuth(app: FastifyInstance, deps: AuthDeps): void {
  // Read on a route that does not declare the caller, they fail closed (a 500 naming the route), never undefined.
  const brands = new WeakMap<FastifyRequest, BrandRef>();
  const stores = new WeakMap<FastifyRequest, StoreRef>();
  const undeclared = (request: FastifyRequest, caller: Caller): Error =>
    new Error(`${request.method} ${request.routeOptions.url ?? request.url} reads request.${caller} but does not declare config.auth "${caller}"`);
  app.decorateRequest("brand", {
    getter(this: FastifyRequest): BrandRef {
      const brand = brands.get(this);
      if (brand === undefined) throw undeclared(this, "brand");
      return brand;
    },
  });
  app.decorateRequest("store", {
    getter(this: FastifyRequest): StoreRef {
      const store = stores.get(this);
      if (store === undefined) throw undeclared(this, "store");
      return store;
    },
  });

  const checks: Record<Caller, preHandlerAsyncHookHandler> = {
    async admin(request) {
      const token = bearerToken(request);
      if (deps.adminToken === null || token === null || !secretsEqual(token, deps.adminToken)) {
        throw unauthorized("a valid admin token is required (Authorization: Bearer …)");
      }
    },
    async brand(request) {
      brands.set(request, await requireBrand(deps.db, request));
    },
    async store(request) {
      const token = bearerToken(request);
      const store = token === null ? null : await deps.storeForKey(token);
      if (store === null) throw unauthorized("a valid store API key is required (Authorization: Bearer sts_…)");
      stores.set(request, store);
    },
  };

  app.addHook("onRoute", (route) => {
    const caller = route.config?.auth;
    if (caller === undefined) return;
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [...own, checks[caller]];
  });
}
