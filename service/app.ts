/**
 * Builds the Fastify app: plugins, error mapping, OpenAPI docs and every feature's routes.
 * It never listens by itself (main.ts and the tests do).
 */
import { randomUUID } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import helmet from "helmet";
import type { Logger } from "pino";
import { auditRoutes } from "./audit/routes.ts";
import { checksRoutes } from "./checks/routes.ts";
import { consoleRoutes } from "./console/routes.ts";
import type { ChainRef } from "./core/bundle.ts";
import type { TrustProxy } from "./config.ts";
import type { Cidr } from "./core/destinations.ts";
import { publicRpcOrigins, publicRpcUrl, type PublicRpc } from "./core/public-rpc.ts";
import type { Db } from "./db/pool.ts";
import { primaryOnly, type Reads } from "./db/replica.ts";
import { createEpcisRepo } from "./epcis/capture.ts";
import { createEpcisQuery } from "./epcis/query.ts";
import { epcisRoutes } from "./epcis/routes.ts";
import { typed } from "./http/api.ts";
import { installAuth } from "./http/auth.ts";
import { installErrorHandler } from "./http/errors.ts";
import { installJsonParser } from "./http/json.ts";
import { createMemberKeys, type MemberKeyConfig } from "./members/keys.ts";
import { claimOffer } from "./members/page.ts";
import { createMembersRepo } from "./members/repo.ts";
import { cookieValue, memberCookieName, memberRoutes } from "./members/routes.ts";
import { createSmsSender } from "./members/sms.ts";
import { ingestRoutes } from "./ingest/routes.ts";
import { memberApiRoutes } from "./members/api-routes.ts";
import { createIngestRepo } from "./ingest/repo.ts";
import type { Metrics } from "./metrics.ts";
import { opsRoutes } from "./ops/routes.ts";
import { outboxRoutes } from "./outbox/routes.ts";
import { pricingRoutes } from "./pricing/routes.ts";
import { priceProtectionRoutes } from "./reports/price-protection-routes.ts";
import { priceReportRoutes } from "./reports/price-report-routes.ts";
import { setupRoutes } from "./setup/routes.ts";
import { createSetupRepo } from "./setup/repo.ts";
import { storeForKey } from "./store/keys.ts";
import { storeRoutes } from "./store/routes.ts";
import { assetRoutes } from "./verify/assets.ts";
import { createBottleRepo } from "./verify/bottles.ts";
import { createBundleCache } from "./verify/bundle-cache.ts";
import { createBundleRepo } from "./verify/bundles.ts";
import { verifyRoutes } from "./verify/routes.ts";

export interface AppDeps {
  db: Db;
  /** Where the public read paths read (service/db/replica.ts); without it, the primary. */
  reads?: Reads;
  log: Logger;
  metrics: Metrics;
  adminToken: string | null;
  /** Bottle secrets and cap codes are derived from it (see core/labels.ts). */
  labelSecret: string;
  /** The members' phone keys (MEMBER_KEYS, MEMBER_HASH_KEY; derived under DATA_DIR in embedded mode). */
  memberKeys: MemberKeyConfig;
  /** Where bottle URLs point: PUBLIC_BASE_URL, or the address the server listens on. */
  publicBaseUrl: () => string;
  /** The RPC the public is offered for the in-browser check (never CHAIN_RPC_URL). */
  publicRpc: PublicRpc;
  /** Bearer token GET /metrics requires (null: /metrics is not served). */
  metricsToken: string | null;
  chain: () => Promise<ChainRef>;
  linksAdded: (count: number) => void;
  /** Null when jobs run in-process, without Redis. */
  pingRedis: (() => Promise<void>) | null;
  pingChain: () => Promise<unknown>;
  /** Which X-Forwarded-For entries are believed (TRUST_PROXY): never the client's own. */
  trustProxy: TrustProxy;
  rateLimitPerIp: number;
  rateLimitPerBottle: number;
  /** Consumer scans recorded per bottle per hour at most (SCANS_PER_BOTTLE_PER_HOUR). */
  scansPerBottlePerHour: number;
  /** The web console (/console): chain explorer for batch links, Secure cookies, session length. */
  console: { explorerUrl: string | null; secureCookies: boolean; sessionHours: number };
  /** Bounds of the proof bundle cache. */
  bundleCache: { maxEntries: number; maxBytes: number };
  /** Private blocks webhook endpoints may point at (WEBHOOK_ALLOW_PRIVATE); otherwise public addresses only. */
  webhookAllowPrivate: readonly Cidr[];
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`, which resolves `request.ip` with proxy-addr: walking
 * X-Forwarded-For from the right, the first address not trusted is the client. A hop count is given
 * as a function: Fastify 5 takes a bare number as "trust no hop" (it cannot check the peer).
 */
export function fastifyTrustProxy(trust: TrustProxy): false | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false) return false;
  if ("proxies" in trust) return trust.proxies;
  const { hops } = trust;
  return hops === 0 ? false : (_address, hop) => hop < hops;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Unknown fields are refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    bodyLimit: 1024 * 1024,
    trustProxy: fastifyTrustProxy(deps.trustProxy),
  });
  app.addHook("onSend", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
  installErrorHandler(app);
  // Every JSON body is depth-checked on its raw text before it is parsed (a deep one is a 400, not a stack overflow).
  installJsonParser(app);

  // Security headers everywhere; the strict policy lets pages run only our own script and reach
  // only our own origin and the chain's public RPC (for the in-browser check of anchored roots).
  // Helmet's middleware is built once (@fastify/helmet built it, policy parsing included, on every
  // request: 15 % of the HTTP process's time when serving cached proof bundles).
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'", ...publicRpcOrigins(deps.publicRpc)],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        objectSrc: ["'none'"],
      },
    },
    referrerPolicy: { policy: "no-referrer" },
  });
  app.addHook("onRequest", (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (error?: unknown) => done(error as Error | undefined));
  });
  await app.register(rateLimit, { global: false });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "SealTrace API", version: "1", description: "One code per bottle, a history anchored on an EVM chain that anyone can verify." },
      components: {
        securitySchemes: {
          adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" },
          brandApiKey: { type: "http", scheme: "bearer", description: "A brand API key (stk_…)" },
          storeApiKey: { type: "http", scheme: "bearer", description: "A store API key (sts_…)" },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true });

  // Routes declare who may call them (config.auth); their handlers are typed from their schemas.
  installAuth(app, { db: deps.db, adminToken: deps.adminToken, storeForKey: (key) => storeForKey(deps.db, key) });
  const api = typed(app);
  const reads = deps.reads ?? primaryOnly(deps.db);

  const setup = createSetupRepo(deps.db, deps.publicBaseUrl, deps.labelSecret);
  setupRoutes(api, { repo: setup, destinations: { allowPrivate: deps.webhookAllowPrivate } });
  const ingestRepo = createIngestRepo(deps.db);
  ingestRoutes(api, {
    repo: ingestRepo,
    onLinksAdded: (count) => deps.linksAdded(count),
    onEventsAccepted: (count) => deps.metrics.eventsIngested.inc(count),
  });
  const members = createMembersRepo(deps.db, createMemberKeys(deps.memberKeys));
  const bottles = createBottleRepo(deps.db, deps.chain, { scansPerHour: deps.scansPerBottlePerHour, reads: reads.readDb });
  verifyRoutes(api, {
    db: deps.db,
    bundles: createBundleCache(deps.db, createBundleRepo(deps.db, deps.chain), deps.chain, { ...deps.bundleCache, reads: reads.readDb }),
    bottles,
    rpc: deps.publicRpc,
    chain: deps.chain,
    explorerUrl: deps.console.explorerUrl,
    rateLimitPerIp: deps.rateLimitPerIp,
    rateLimitPerBottle: deps.rateLimitPerBottle,
    scansPerBottlePerHour: deps.scansPerBottlePerHour,
    linksAdded: deps.linksAdded,
    members: {
      async viewerClaimed(request, brandId, serial) {
        const token = cookieValue(request.headers.cookie, memberCookieName(brandId));
        if (token === null) return false;
        const [memberId, claim] = await Promise.all([members.sessionMember(brandId, token), members.claimOf(brandId, serial)]);
        return memberId !== null && claim?.memberId === memberId;
      },
      offer: (lang, bottle) =>
        claimOffer(lang, {
          action: `/01/${encodeURIComponent(bottle.gtin)}/21/${encodeURIComponent(bottle.serial)}/member/code`,
          secret: bottle.secret,
          brandName: bottle.brandName,
          brandSlug: bottle.brandSlug,
          storeName: bottle.storeName,
        }),
    },
  });
  memberRoutes(api, {
    db: deps.db,
    members,
    sms: createSmsSender({ repo: members, log: deps.log.child({ component: "sms" }), allowPrivate: deps.webhookAllowPrivate }),
    bottles,
    bottlePageUrl: (brandId, serial) => setup.bottlePageUrl(brandId, serial),
    secureCookies: deps.console.secureCookies,
    rateLimitPerIp: deps.rateLimitPerIp,
  });
  pricingRoutes(api, { db: deps.db });
  checksRoutes(api, { db: deps.db });
  assetRoutes(api);
  auditRoutes(api, { db: deps.db, reads: reads.readDb, chain: deps.chain, publicRpcUrl: publicRpcUrl(deps.publicRpc) });
  outboxRoutes(api, { db: deps.db, destinations: { allowPrivate: deps.webhookAllowPrivate } });
  storeRoutes(api, { db: deps.db, ingest: ingestRepo, linksAdded: deps.linksAdded, eventsAccepted: (count) => deps.metrics.eventsIngested.inc(count) });
  epcisRoutes(api, {
    db: deps.db,
    repo: createEpcisRepo(deps.db),
    query: createEpcisQuery(() => reads.readDb("epcis-query"), deps.chain),
    activeSecrets: (slug) => ingestRepo.activeSecrets(slug),
    linksAdded: deps.linksAdded,
    eventsAccepted: (count) => deps.metrics.eventsIngested.inc(count),
  });
  priceReportRoutes(api, { db: deps.db, rateLimitPerIp: deps.rateLimitPerIp });
  priceProtectionRoutes(api, { db: deps.db });
  opsRoutes(api, {
    db: deps.db,
    reads: () => reads.status(),
    metrics: deps.metrics,
    pingRedis: deps.pingRedis,
    pingChain: deps.pingChain,
    metricsToken: deps.metricsToken,
  });
  memberApiRoutes(api, { members });
  consoleRoutes(api, { db: deps.db, reads: reads.readDb, setup, members, serverSecret: deps.labelSecret, ...deps.console });
  return app;
}
