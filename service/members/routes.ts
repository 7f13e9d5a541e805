/**
 * The members' consumer routes (docs/MEMBERS.md): claiming a bottle from its page (send a code, enter
 * it), and the member page /m/<brand> (sign in by code, see bottles and points, withdraw consent,
 * leave). Plain HTML forms answered with pages: the pages run no script. Posts that act on a
 * member's session (withdraw, leave, sign out) must come from our own origin (the session cookie is
 * also SameSite=Lax, so no other site's form carries it).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { consentRecord, normalisePhone, type ConsentLang } from "../core/members.ts";
import { normaliseGtin } from "../core/gtin.ts";
import { verdictOf, warningsFor } from "../core/warnings.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { AppError, invalid } from "../http/errors.ts";
import { afterVisit, type BottleRepo } from "../verify/bottles.ts";
import { pickLang, type Lang } from "../web/lang.ts";
import { claimRefused, MEMBER_SESSION_DAYS, type MembersRepo } from "./repo.ts";
import { MEMBER_WORDS, renderCodePage, renderFailed, renderMemberPage, renderSignIn, type MemberErrorKey } from "./page.ts";
import type { SmsSender } from "./sms.ts";

const FORM = "application/x-www-form-urlencoded";
const FORM_LIMIT = 8 * 1024;

/** The member session cookie of a brand (one per brand: a consumer may be a member of several). */
export const memberCookieName = (brandId: number): string => `sealtrace_member_${brandId}`;

/** The value of cookie `name` in a Cookie header (the consumer page reads it without a cookie plugin). */
export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      // A malformed value (a lone %) is no session, not an error.
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

export interface MemberRouteDeps {
  db: Db;
  members: MembersRepo;
  sms: SmsSender;
  bottles: BottleRepo;
  /** The bottle page's URL with its QR secret (re-derived from LABEL_SECRET; setup's bottlePageUrl), for the member's own bottles. */
  bottlePageUrl: (brandId: number, serial: string) => Promise<string | null>;
  secureCookies: boolean;
  rateLimitPerIp: number;
}

type Fields = Record<string, string>;

/** Which words an error is shown in. */
function errorKey(error: unknown): MemberErrorKey {
  if (!(error instanceof AppError)) return "other";
  if (error.code === "too_many_requests") return error.field === "phone" ? "too_many_phone" : error.field === "serial" ? "too_many_bottle" : "too_many_ip";
  if (error.code === "code_expired" || error.code === "too_many_attempts" || error.code === "sms_failed") return error.code;
  if (error.field === "consent") return "consent";
  if (error.field === "phone" && error.code === "invalid") return "phone";
  if (error.field === "code") return "code";
  if (error.code === "conflict" && error.field === "serial") {
    return /already/.test(error.message) ? "already_claimed" : /sold/.test(error.message) ? "not_sold" : "not_genuine";
  }
  return "other";
}

export function memberRoutes(app: Api, deps: MemberRouteDeps): void {
  const { members, sms } = deps;

  void app.register(async (scope: Api) => {
    scope.addContentTypeParser(FORM, { parseAs: "string", bodyLimit: FORM_LIMIT }, (_request, body, done) => {
      const fields: Fields = {};
      for (const [key, value] of new URLSearchParams(body as string)) if (!(key in fields)) fields[key] = value.trim();
      done(null, fields);
    });
    // Every failure is a page in the consumer's language, with the status of the error.
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error instanceof AppError ? error.status : error.validation ? 400 : (error.statusCode ?? 500);
      if (status >= 500 && status !== 502) throw error;
      const lang = formLang(request);
      return sendPage(reply, status, renderFailed(lang, errorKey(error), backUrl(request, lang)));
    });
    const perIp = scope.rateLimit({ max: deps.rateLimitPerIp, timeWindow: 60_000 });
    /** Where a failure page leads back to (the pages send no Referer): the bottle's page, or the member page. */
    const backUrl = (request: FastifyRequest, lang: Lang): string => {
      const params = (request.params ?? {}) as { gtin?: string; serial?: string; brand?: string };
      const secret = (request.body as Fields | undefined)?.s;
      if (params.gtin !== undefined && params.serial !== undefined && secret !== undefined) {
        return `/01/${encodeURIComponent(params.gtin)}/21/${encodeURIComponent(params.serial)}?${new URLSearchParams({ s: secret, lang })}`;
      }
      return params.brand === undefined ? "/" : `/m/${encodeURIComponent(params.brand)}?lang=${lang}`;
    };

    const fields = (request: FastifyRequest): Fields => {
      if (!(request.headers["content-type"] ?? "").toLowerCase().startsWith(FORM)) throw new AppError(415, "unsupported_media_type", "post the page's form");
      return (request.body ?? {}) as Fields;
    };
    const formLang = (request: FastifyRequest): Lang => {
      const body = request.body as Fields | undefined;
      return pickLang(body?.lang ?? (request.query as { lang?: string } | undefined)?.lang, request.headers["accept-language"]);
    };
    const sendPage = (reply: FastifyReply, status: number, page: string): FastifyReply =>
      reply.code(status).type("text/html; charset=utf-8").header("cache-control", "no-store").send(page);
    const setSession = (reply: FastifyReply, brandId: number, token: string) =>
      reply.header(
        "set-cookie",
        `${memberCookieName(brandId)}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${MEMBER_SESSION_DAYS * 86_400}${deps.secureCookies ? "; Secure" : ""}`,
      );
    const clearSession = (reply: FastifyReply, brandId: number) =>
      reply.header("set-cookie", `${memberCookieName(brandId)}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${deps.secureCookies ? "; Secure" : ""}`);
    /** A post acting on a session must come from our own pages: no Origin (same-origin navigation without one) or ours. */
    const sameOrigin = (request: FastifyRequest) => {
      const origin = request.headers.origin;
      if (origin === undefined || origin === "null") return;
      const host = request.headers.host;
      let from: string | null = null;
      try {
        from = new URL(origin).host;
      } catch {
        // an Origin that is no URL is no origin of ours
      }
      if (host === undefined || from !== host) throw new AppError(403, "forbidden", "cross-site post refused");
    };
    const brandOf = async (slug: string) => {
      const brand = await members.brand(slug);
      if (brand === null) throw new AppError(404, "not_found", "no such brand");
      return brand;
    };

    /** The bottle as its page sees it (no visit recorded), if `secret` matches: verdict, latest sale, the store's name. */
    async function bottleFacts(request: FastifyRequest, gtinText: string, serial: string, secret: string) {
      const gtin = normaliseGtin(gtinText);
      const view =
        gtin === null || secret === "" ? null : await deps.bottles.forPage({ gtin, serial, secret, cap: false, ip: request.ip, token: null, record: false });
      if (view === null) throw new AppError(404, "not_found", "no such bottle");
      const { bottle, steps, scans } = afterVisit(view, null);
      const warnings = warningsFor({ steps, openedAt: bottle.openedAt, assignedRegion: bottle.region?.code ?? null, scans, now: new Date() });
      const sale = steps.filter((s) => s.type === "retail_sale").at(-1) ?? null;
      return {
        bottle,
        verdict: verdictOf(warnings),
        storeName: sale?.party?.name ?? null,
        storeId: sale?.party?.id ?? null,
        claimed: steps.some((s) => s.type === "claimed"),
      };
    }

    const bottlePath = "/01/:gtin/21/:serial/member";

    scope.post(`${bottlePath}/code`, { onRequest: perIp, bodyLimit: FORM_LIMIT, schema: { hide: true } }, async (request, reply) => {
      const body = fields(request);
      const { gtin, serial } = request.params as { gtin: string; serial: string };
      const lang = formLang(request) as ConsentLang;
      const facts = await bottleFacts(request, gtin, serial, body.s ?? "");
      if (facts.claimed) throw claimRefused("already_claimed");
      if (facts.storeName === null) throw claimRefused("not_sold");
      if (facts.verdict !== "genuine") throw claimRefused("not_genuine");
      // PIPL: a separate, explicit consent; the box is never pre-ticked, so its absence is a refusal.
      if (body.consent !== "yes") throw invalid("consent", "the consent is required");
      const phone = normalisePhone(body.phone ?? "");
      if (phone === null) throw invalid("phone", "not a valid mobile number");
      const month = body.birthMonth ?? "";
      if (month !== "" && !/^(?:[1-9]|1[0-2])$/.test(month)) throw invalid("birthMonth", "a month from 1 to 12, or none");
      const consent = consentRecord(lang, facts.bottle.brandName, facts.storeName);
      const issued = await members.issueCode({
        brandId: facts.bottle.brandId,
        purpose: "claim",
        phone,
        serial,
        ip: request.ip,
        pending: { birthMonth: month === "" ? null : Number(month), lang, consent: { version: consent.version, sha256: consent.sha256, store: facts.storeId } },
      });
      const settings = await members.settings(facts.bottle.brandId);
      const how = await sms.send(settings, {
        brandId: facts.bottle.brandId,
        brandSlug: facts.bottle.brandSlug,
        brandName: facts.bottle.brandName,
        phone,
        issued,
        purpose: "claim",
        lang,
      });
      return sendPage(
        reply,
        200,
        renderCodePage(lang, {
          action: `/01/${encodeURIComponent(gtin)}/21/${encodeURIComponent(serial)}/member/claim`,
          hidden: { s: body.s ?? "", codeId: String(issued.codeId) },
          phoneMasked: issued.phoneMasked,
          development: how === "development",
          signIn: false,
        }),
      );
    });

    scope.post(`${bottlePath}/claim`, { onRequest: perIp, bodyLimit: FORM_LIMIT, schema: { hide: true } }, async (request, reply) => {
      const body = fields(request);
      const { gtin, serial } = request.params as { gtin: string; serial: string };
      const lang = formLang(request);
      const facts = await bottleFacts(request, gtin, serial, body.s ?? "");
      const codeId = Number(body.codeId);
      const code = (body.code ?? "").replace(/\s+/g, "");
      if (!Number.isSafeInteger(codeId) || codeId <= 0 || !/^[0-9]{6}$/.test(code)) throw invalid("code", "the 6 digits of the code");
      const result = await members.claim({ brandId: facts.bottle.brandId, serial, codeId, code, verdict: facts.verdict });
      request.log.info({ brand: facts.bottle.brandSlug, member: result.memberId, joined: result.joined, event: result.eventId }, "bottle claimed by a member");
      setSession(reply, facts.bottle.brandId, result.sessionToken);
      return reply.redirect(`/m/${encodeURIComponent(facts.bottle.brandSlug)}?lang=${lang}`, 303);
    });

    scope.get("/m/:brand", { onRequest: perIp, schema: { hide: true } }, async (request, reply) => {
      const { brand: slug } = request.params as { brand: string };
      const query = request.query as { lang?: string; done?: string };
      const lang = pickLang(query.lang, request.headers["accept-language"]);
      const brand = await brandOf(slug);
      const token = cookieValue(request.headers.cookie, memberCookieName(brand.id));
      const memberId = token === null ? null : await members.sessionMember(brand.id, token);
      const w = MEMBER_WORDS[lang];
      const notice = query.done === "left" ? w.left : query.done === "withdrawn" ? w.withdrawn : null;
      const member = memberId === null ? null : await members.member(brand.id, memberId);
      if (member === null) return sendPage(reply, 200, renderSignIn(lang, brand, notice));
      const claims = await members.claimsOf(brand.id, member.id);
      const storeName = member.store === null ? null : await members.storeName(brand.id, member.store);
      return sendPage(
        reply,
        200,
        renderMemberPage(lang, {
          brand,
          member,
          // The bottle's page without its secret shows nothing; the member's own link carries none either, so it opens the proof-free page.
          claims: claims.map((c) => ({ ...c, url: `/m/${encodeURIComponent(brand.slug)}/bottles/${encodeURIComponent(c.serial)}?lang=${lang}` })),
          storeName,
          notice,
        }),
      );
    });

    // The member's link to one of their bottles: to its page, with the secret its QR code carries.
    scope.get("/m/:brand/bottles/:serial", { onRequest: perIp, schema: { hide: true } }, async (request, reply) => {
      const { brand: slug, serial } = request.params as { brand: string; serial: string };
      const lang = pickLang((request.query as { lang?: string }).lang, request.headers["accept-language"]);
      const brand = await brandOf(slug);
      const token = cookieValue(request.headers.cookie, memberCookieName(brand.id));
      const memberId = token === null ? null : await members.sessionMember(brand.id, token);
      const claim = memberId === null ? null : await members.claimOf(brand.id, serial);
      const url = claim === null || claim.memberId !== memberId ? null : await deps.bottlePageUrl(brand.id, serial);
      if (url === null) return reply.redirect(`/m/${encodeURIComponent(brand.slug)}?lang=${lang}`, 303);
      const target = new URL(url);
      target.searchParams.set("lang", lang);
      return reply.redirect(`${target.pathname}${target.search}`, 303);
    });

    scope.post("/m/:brand/code", { onRequest: perIp, bodyLimit: FORM_LIMIT, schema: { hide: true } }, async (request, reply) => {
      const body = fields(request);
      const lang = formLang(request);
      const brand = await brandOf((request.params as { brand: string }).brand);
      const phone = normalisePhone(body.phone ?? "");
      if (phone === null) throw invalid("phone", "not a valid mobile number");
      // The same page whether or not the number is a member's (which numbers are members is not told):
      // a code row is made (and counted against the limits) either way, but only a member is sent one,
      // and a non-member's code can never sign in (MembersRepo.signIn finds no member for it).
      const settings = await members.settings(brand.id);
      const issued = await members.issueCode({ brandId: brand.id, purpose: "sign_in", phone, serial: null, ip: request.ip, pending: null });
      let development = settings.smsGatewayUrl === null;
      if (await members.isMember(brand.id, phone)) {
        const how = await sms.send(settings, { brandId: brand.id, brandSlug: brand.slug, brandName: brand.name, phone, issued, purpose: "sign_in", lang });
        development = how === "development";
      }
      const { codeId, phoneMasked } = issued;
      return sendPage(
        reply,
        200,
        renderCodePage(lang, {
          action: `/m/${encodeURIComponent(brand.slug)}/sign-in`,
          hidden: { codeId: String(codeId) },
          phoneMasked,
          development,
          signIn: true,
        }),
      );
    });

    scope.post("/m/:brand/sign-in", { onRequest: perIp, bodyLimit: FORM_LIMIT, schema: { hide: true } }, async (request, reply) => {
      const body = fields(request);
      const lang = formLang(request);
      const brand = await brandOf((request.params as { brand: string }).brand);
      const codeId = Number(body.codeId);
      const code = (body.code ?? "").replace(/\s+/g, "");
      if (!Number.isSafeInteger(codeId) || codeId <= 0 || !/^[0-9]{6}$/.test(code)) throw invalid("code", "the 6 digits of the code");
      const { sessionToken } = await members.signIn(brand.id, codeId, code);
      setSession(reply, brand.id, sessionToken);
      return reply.redirect(`/m/${encodeURIComponent(brand.slug)}?lang=${lang}`, 303);
    });

    const sessionAction = (path: string, act: (brandId: number, memberId: number, body: Fields) => Promise<string | null>) =>
      scope.post(`/m/:brand/${path}`, { onRequest: perIp, bodyLimit: FORM_LIMIT, schema: { hide: true } }, async (request, reply) => {
        sameOrigin(request);
        const body = fields(request);
        const lang = formLang(request);
        const brand = await brandOf((request.params as { brand: string }).brand);
        const token = cookieValue(request.headers.cookie, memberCookieName(brand.id));
        const memberId = token === null ? null : await members.sessionMember(brand.id, token);
        if (memberId === null) return reply.redirect(`/m/${encodeURIComponent(brand.slug)}?lang=${lang}`, 303);
        const done = await act(brand.id, memberId, body);
        if (done === "left" || done === "signed-out") {
          if (token !== null) await members.signOut(brand.id, token);
          clearSession(reply, brand.id);
        }
        return reply.redirect(`/m/${encodeURIComponent(brand.slug)}?lang=${lang}${done === null || done === "signed-out" ? "" : `&done=${done}`}`, 303);
      });
    sessionAction("withdraw", async (brandId, memberId) => {
      await members.withdrawConsent(brandId, memberId);
      return "withdrawn";
    });
    sessionAction("leave", async (brandId, memberId, body) => {
      if (body.confirm !== "yes") throw invalid("confirm", "tick the box to confirm");
      await members.erase(brandId, memberId);
      return "left";
    });
    sessionAction("sign-out", async () => "signed-out");
  });
}
