/**
 * The consumer's routes: the GS1 Digital Link page a QR code opens, the proof bundle behind its
 * "verify it yourself" button, and the brand's IP-range table that gives scans a coarse place.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { QueueFull } from "../core/group-commit.ts";
import { normaliseGtin } from "../core/gtin.ts";
import { notAScan } from "../core/previews.ts";
import { band, guideInForce } from "../core/price.ts";
import type { PublicRpc } from "../core/public-rpc.ts";
import { saleOf, verdictOf, warningsFor } from "../core/warnings.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { bearerToken } from "../http/auth.ts";
import { AppError, invalid, notFound, unauthorized } from "../http/errors.ts";
import type { SafeHtml } from "../web/html.ts";
import { pickLang, type Lang } from "../web/lang.ts";
import { afterVisit, scanSummary, type BottleRepo } from "./bottles.ts";
import { etagMatches, FRESH_MS, type BundleCache } from "./bundle-cache.ts";
import { renderPage } from "./page.ts";
import { createScanWriter, type Visit, type VisitOutcome } from "./scan-writer.ts";

const PAGE_CSS = new URL("./assets/page.css", import.meta.url);

export interface VerifyDeps {
  db: Db;
  bundles: BundleCache;
  bottles: BottleRepo;
  rpc: PublicRpc;
  /** The chain and registry the page's self-check trusts, and the explorer that shows the registry (EXPLORER_URL). */
  chain: () => Promise<{ chainId: number; registry: string }>;
  explorerUrl: string | null;
  rateLimitPerIp: number;
  rateLimitPerBottle: number;
  /** Consumer scans recorded per bottle per hour at most (SCANS_PER_BOTTLE_PER_HOUR). */
  scansPerBottlePerHour: number;
  linksAdded: (count: number) => void;
  /**
   * Members (service/members/, issue 20): whether the request's member session is the member who
   * claimed the bottle (no "registered by its buyer" warning for them), and the claim offer shown
   * after a genuine scan of a sold, unclaimed bottle.
   */
  members?: {
    viewerClaimed: (request: FastifyRequest, brandId: number, serial: string) => Promise<boolean>;
    offer: (lang: Lang, bottle: { gtin: string; serial: string; secret: string; brandName: string; brandSlug: string; storeName: string | null }) => SafeHtml;
  };
}

const PlacesBody = Type.Object(
  {
    places: Type.Array(
      Type.Object(
        {
          cidr: Type.String({ minLength: 3, maxLength: 64, pattern: "^[0-9A-Fa-f:.]+/[0-9]{1,3}$" }),
          place: Type.String({ minLength: 1, maxLength: 100 }),
          latitude: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
          longitude: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 100_000 },
    ),
  },
  { additionalProperties: false },
);

/** The same URL with `lang` set, keeping the bottle's own parameters. */
function switchUrl(request: FastifyRequest, lang: "zh" | "en", keep: boolean): string {
  const url = new URL(request.url, "http://x");
  const params = new URLSearchParams();
  if (keep)
    for (const key of ["s", "o"]) {
      const v = url.searchParams.get(key);
      if (v) params.set(key, v);
    }
  params.set("lang", lang === "zh" ? "en" : "zh");
  // Relative to the page itself, so the not-found page never names the code it was asked about.
  return `?${params}`;
}

/** The request headers that say a browser fetches a page ahead of a click (core/previews.ts). */
const PURPOSE_HEADERS = ["purpose", "sec-purpose", "x-purpose", "x-moz"] as const;

export function verifyRoutes(app: Api, deps: VerifyDeps): void {
  const perIp = app.rateLimit({ max: deps.rateLimitPerIp, timeWindow: 60_000 });
  // The plugin runs one limiter per request, so the per-bottle one is checked by hand, and only once
  // the secret has matched: keyed on the serial alone, anyone who knows a serial (it is printed in
  // clear on the label) could keep that bottle's page at 429. Wrong secrets count against their IP.
  const bottleLimit = app.createRateLimit({
    max: deps.rateLimitPerBottle,
    timeWindow: 60_000,
    keyGenerator: (request) => `bottle:${(request.params as { serial?: string }).serial ?? ""}`,
  });
  const perBottle = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const limit = await bottleLimit(request);
    if (!limit.isAllowed && limit.isExceeded) {
      void reply.header("retry-after", String(limit.ttlInSeconds));
      throw new AppError(429, "rate_limited", `this bottle was looked up too often; retry in ${limit.ttlInSeconds} s`);
    }
  };

  app.get(
    "/api/v1/items/:serial/proof",
    {
      onRequest: perIp,
      schema: {
        tags: ["verify"],
        summary:
          "A bottle's proof bundle (sealtrace-proof/2, docs/PROOF-FORMAT.md): its whole history, proven complete by the latest anchored heads map; " +
          "?proofs=all adds each link's own Merkle proof (when it was anchored). Check it with `npm run verify-proof`",
        params: Type.Object({ serial: Type.String({ maxLength: 64 }) }),
        querystring: Type.Object({
          s: Type.Optional(Type.String({ maxLength: 128 })),
          proofs: Type.Optional(Type.Union([Type.Literal("head"), Type.Literal("all")], { default: "head" })),
        }),
      },
    },
    async (request, reply) => {
      const token = bearerToken(request);
      // A client that asks for a fresh answer (a reload, `fetch(…, { cache: "no-cache" })`) gets a head
      // proof from the latest anchored batch, never a cached one from an earlier batch.
      const fresh = /\b(no-cache|max-age=0)\b/.test(request.headers["cache-control"] ?? "") || request.headers.pragma === "no-cache";
      const served = await deps.bundles.serve(
        request.params.serial,
        token !== null ? { apiKey: token } : { secret: request.query.s ?? "" },
        request.query.proofs ?? "head",
        fresh,
      );
      if (served === "unknown-key") throw unauthorized("unknown API key");
      if (served === "not-found") throw notFound("no such bottle");
      // Private: the URL carries the bottle's secret (or the request a brand's key), so no shared cache
      // may keep it and hand it to others, or keep the secret in its logs. A complete bundle changes only
      // when the bottle moves: a browser may keep it as long as the server would (FRESH_MS); one with a
      // pending link is revalidated on every use (If-None-Match, 304 while it is unchanged).
      void reply
        .header("etag", served.etag)
        .header("vary", "authorization")
        .header("cache-control", served.complete ? `private, max-age=${FRESH_MS / 1000}` : "private, no-cache");
      if (etagMatches(request.headers["if-none-match"], served.etag)) return reply.code(304).send();
      return reply.type("application/json; charset=utf-8").send(served.body);
    },
  );

  // Consumers' visits are written many to a transaction; the page answers once its visit is committed.
  const scanWriter = createScanWriter(deps.db, app.log, { scansPerHour: deps.scansPerBottlePerHour });
  app.addHook("onClose", () => scanWriter.drain());
  const recordVisit = async (visit: Visit, reply: FastifyReply): Promise<VisitOutcome> => {
    try {
      return await scanWriter.record(visit);
    } catch (error) {
      // Not recorded (the group's transaction failed twice, or too many visits wait): the page must not claim otherwise.
      void reply.header("retry-after", "1");
      throw new AppError(
        503,
        "unavailable",
        error instanceof QueueFull ? "too many verifications at once; retry in a second" : "this verification could not be recorded; retry shortly",
      );
    }
  };
  const htmlReply = (reply: FastifyReply) => reply.header("cache-control", "no-store").header("vary", "accept-language").type("text/html; charset=utf-8");

  app.get(
    "/01/:gtin/21/:serial",
    {
      onRequest: perIp,
      schema: {
        tags: ["verify"],
        summary: "The consumer verification page a bottle's QR code opens (GS1 Digital Link); ?o= is the code under the cap",
        params: Type.Object({ gtin: Type.String({ maxLength: 14 }), serial: Type.String({ maxLength: 64 }) }),
        querystring: Type.Object({
          s: Type.Optional(Type.String({ maxLength: 128 })),
          o: Type.Optional(Type.String({ maxLength: 128 })),
          lang: Type.Optional(Type.String({ maxLength: 8 })),
        }),
      },
    },
    async (request, reply) => {
      const lang = pickLang(request.query.lang, request.headers["accept-language"]);
      const gtin = normaliseGtin(request.params.gtin);
      const { serial } = request.params;
      const { s, o } = request.query;
      // A link preview, a HEAD or a prefetch sees the page like anyone but is no one's scan.
      const header = (name: string) => {
        const v = request.headers[name];
        return Array.isArray(v) ? v.join(",") : v;
      };
      const record = notAScan({ method: request.method, userAgent: header("user-agent"), purpose: PURPOSE_HEADERS.map(header) }) === null;
      // One round trip reads all the page shows; a visit to record then waits for its group's commit.
      const view =
        gtin === null
          ? null
          : await deps.bottles.forPage({ gtin, serial, secret: o ?? s, cap: o !== undefined, ip: request.ip, token: bearerToken(request), record });
      if (view === null) {
        // A wrong or missing secret looks exactly like an unknown code: nothing here names the bottle.
        return htmlReply(reply)
          .code(404)
          .send(renderPage({ lang, switchUrl: switchUrl(request, lang, false), bottle: null }));
      }
      await perBottle(request, reply);

      const outcome = view.visit === null ? null : await recordVisit(view.visit, reply);
      if (outcome?.counted) deps.linksAdded(1);
      const { bottle, steps, scans: facts, scanned } = afterVisit(view, outcome);

      const now = new Date();
      const soldAt = steps.find((st) => st.type === "retail_sale")?.at ?? null;
      const scans = scanSummary(facts, soldAt, now.getTime());
      const guide = guideInForce(view.guidePrices, bottle.region?.code ?? null, now);
      // A claimed bottle: only its member (their session cookie) sees it without the "registered by its buyer" warning.
      const claimed = steps.some((st) => st.type === "claimed");
      const viewerClaimed = claimed && deps.members !== undefined ? await deps.members.viewerClaimed(request, bottle.brandId, bottle.serial) : false;
      // All the scans read, with this visit's if it was recorded: the buyer's first scan after the sale may be weeks old.
      const warnings = warningsFor({ steps, openedAt: bottle.openedAt, assignedRegion: bottle.region?.code ?? null, scans: facts, now, viewerClaimed });
      const sale = saleOf({ steps, scans: facts, now });
      const proofUrl = o !== undefined || s === undefined ? "" : `/api/v1/items/${encodeURIComponent(serial)}/proof?s=${encodeURIComponent(s)}`;
      // The claim offer: after a genuine scan (the QR code, not the cap) of a sold bottle nobody has claimed.
      const lastSale = steps.filter((st) => st.type === "retail_sale").at(-1);
      const memberOffer =
        deps.members !== undefined && o === undefined && s !== undefined && !claimed && lastSale !== undefined && verdictOf(warnings) === "genuine"
          ? deps.members.offer(lang, {
              gtin: gtin ?? bottle.gtin,
              serial: bottle.serial,
              secret: s,
              brandName: bottle.brandName,
              brandSlug: bottle.brandSlug,
              storeName: lastSale.party?.name ?? null,
            })
          : "";
      return htmlReply(reply).send(
        renderPage({
          lang,
          switchUrl: switchUrl(request, lang, true),
          bottle: {
            ...bottle,
            steps,
            scans,
            warnings,
            sale,
            scanned,
            guide: guide === null ? null : { amount: guide.amount, currency: guide.currency, band: band(guide) },
            proofUrl,
            rpc: deps.rpc,
            chain: await deps.chain(),
            explorerUrl: deps.explorerUrl,
            qrGtin: gtin ?? bottle.gtin,
            reportSecret: o === undefined ? s : undefined,
            memberOffer,
          },
        }),
      );
    },
  );

  let css: Promise<string> | null = null;
  app.get("/assets/page.css", { schema: { hide: true } }, async (_request, reply) => {
    css ??= readFile(PAGE_CSS, "utf8");
    return reply
      .type("text/css; charset=utf-8")
      .header("cache-control", "public, max-age=3600")
      .send(await css);
  });

  app.put(
    "/api/v1/ip-places",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["set-up"],
        summary: "Replace the brand's IP-range → place table used to place consumer scans (coarse; no raw IP is stored)",
        security: [{ brandApiKey: [] }],
        body: PlacesBody,
      },
    },
    async (request) => {
      request.body.places.forEach((p, i) => {
        const [address, bits] = p.cidr.split("/") as [string, string];
        const version = isIP(address);
        if (version === 0 || Number(bits) > (version === 4 ? 32 : 128)) throw invalid(`places[${i}].cidr`, `"${p.cidr}" is not an IP range (address/prefix)`);
      });
      return { places: await deps.bottles.putPlaces(request.brand.id, request.body.places) };
    },
  );
}
