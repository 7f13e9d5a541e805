/**
 * The web console at /console: sessions (HTTP-only cookie holding a random token; the database
 * keeps its hash), CSRF protection on every form (a secret cookie, tokens bound to the session),
 * sign-in with rate limits, the language switch, and the access rules every view goes through:
 * brand views for brand users, a store's views for the brand's users and that store's own users.
 * Errors become pages: not signed in → the sign-in page, otherwise 403/404/422/429 pages.
 */
import { hkdfSync } from "node:crypto";
import cookie from "@fastify/cookie";
import csrf from "@fastify/csrf-protection";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/pool.ts";
import type { ReadDb } from "../db/replica.ts";
import { AppError, unauthorized } from "../http/errors.ts";
import { html } from "../web/html.ts";
import { pickLang, type Lang } from "../web/lang.ts";
import { createBrandData, type BrandData } from "./brand-data.ts";
import { CONSOLE_MESSAGES } from "./i18n.ts";
import { MAX_PASSWORD, SIGN_IN_PER_USER, type ConsoleUser, type Sessions, type Users } from "./users.ts";
import { consolePage, csrfField, notice, type Ctx } from "./view.ts";

export const SESSION_COOKIE = "sealtrace_session";
export const CSRF_COOKIE = "sealtrace_csrf";
export const LANG_COOKIE = "sealtrace_lang";
const FORM = "application/x-www-form-urlencoded";
const FORM_LIMIT = 16 * 1024;
/** Sign-in attempts allowed per client IP per minute (failed ones per brand and username: users.ts). */
export const SIGN_IN_PER_IP = 60;
export { SIGN_IN_PER_USER };

export interface WebDeps {
  db: Db;
  /** Where the reports read (service/db/replica.ts); sessions, CSRF and forms stay on `db`. */
  reads?: ReadDb;
  users: Users;
  sessions: Sessions;
  secureCookies: boolean;
  /** CSRF tokens are HMAC'd with a key derived from it, so every HTTP process accepts the others' tokens. */
  serverSecret: string;
}

/** What the views get to render pages and enforce who may see what. */
export interface Web {
  data: BrandData;
  ctx(request: FastifyRequest, reply: FastifyReply): Ctx;
  send(reply: FastifyReply, page: string, status?: number): FastifyReply;
  /** The form's fields (first value of each, trimmed). */
  form(request: FastifyRequest): Record<string, string>;
  /** Any signed-in user; not signed in → the sign-in page. */
  user(request: FastifyRequest): ConsoleUser;
  /** A brand user (a store user gets 403). */
  brandUser(request: FastifyRequest): ConsoleUser;
  /** A brand admin. */
  adminUser(request: FastifyRequest): ConsoleUser;
  /** One of the brand's stores, for a brand user or that store's own user; 403 for another store's user. */
  storeAccess(request: FastifyRequest, party: string): Promise<{ user: ConsoleUser; store: { id: string; name: string; region: string } }>;
}

export const forbidden = (): AppError => new AppError(403, "forbidden", "this page does not belong to your account");

/** Where to go after signing in: a console path of ours, as given (no dot segments, no other origin), else /console. */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith("/console")) return "/console";
  let url: URL;
  try {
    url = new URL(next, "http://console.invalid");
  } catch {
    return "/console";
  }
  const unchanged = url.origin === "http://console.invalid" && `${url.pathname}${url.search}` === next;
  return unchanged && /^\/console(\/|$)/.test(url.pathname) ? next : "/console";
}

export async function consoleWeb(scope: FastifyInstance, deps: WebDeps, routes: (web: Web) => void): Promise<void> {
  const { users, sessions } = deps;
  const data = createBrandData(deps.db, () => deps.reads?.("console-report") ?? deps.db);
  const current = new WeakMap<FastifyRequest, ConsoleUser | null>();
  const cookieOptions = { path: "/console", httpOnly: true, sameSite: "lax" as const, secure: deps.secureCookies };

  // Pages, not API: they stay out of the OpenAPI document.
  scope.addHook("onRoute", (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  await scope.register(cookie);
  await scope.register(csrf, {
    sessionPlugin: "@fastify/cookie",
    cookieKey: CSRF_COOKIE,
    cookieOpts: cookieOptions,
    getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf,
    // Tokens are bound to the session, so a token planted from elsewhere (cookie tossing) is refused.
    getUserInfo: (request) => String(current.get(request)?.sessionId ?? "signed-out"),
    csrfOpts: { hmacKey: Buffer.from(hkdfSync("sha256", deps.serverSecret, "sealtrace", "console csrf", 32)) },
  });

  scope.addContentTypeParser(FORM, { parseAs: "string", bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    const fields: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(body as string)) if (!(key in fields)) fields[key] = value.trim();
    done(null, fields);
  });

  scope.addHook("onRequest", async (request) => {
    if (request.url.startsWith("/console/assets/")) return;
    const token = request.cookies[SESSION_COOKIE];
    current.set(request, token ? await sessions.lookup(token) : null);
  });

  const langOf = (request: FastifyRequest, reply: FastifyReply): Lang => {
    const asked = (request.query as { lang?: unknown }).lang;
    if (asked === "zh" || asked === "en") {
      void reply.setCookie(LANG_COOKIE, asked, { ...cookieOptions, maxAge: 365 * 86_400 });
      return asked;
    }
    return pickLang(request.cookies[LANG_COOKIE], request.headers["accept-language"]);
  };

  const web: Web = {
    data,
    ctx(request, reply) {
      const lang = langOf(request, reply);
      const user = current.get(request) ?? null;
      const token = reply.generateCsrf({ userInfo: String(user?.sessionId ?? "signed-out") });
      return { lang, m: CONSOLE_MESSAGES[lang], user, csrf: token, url: new URL(request.url, "http://console") };
    },
    send(reply, page, status = 200) {
      return reply.code(status).type("text/html; charset=utf-8").header("cache-control", "no-store").send(page);
    },
    form(request) {
      const body = request.body;
      return typeof body === "object" && body !== null ? (body as Record<string, string>) : {};
    },
    user(request) {
      const user = current.get(request) ?? null;
      if (user === null) throw unauthorized("sign in first");
      return user;
    },
    brandUser(request) {
      const user = web.user(request);
      if (user.kind !== "brand") throw forbidden();
      return user;
    },
    adminUser(request) {
      const user = web.brandUser(request);
      if (!user.admin) throw forbidden();
      return user;
    },
    async storeAccess(request, party) {
      const user = web.user(request);
      if (user.kind === "store") {
        if (user.store!.id !== party) throw forbidden();
        return { user, store: user.store! };
      }
      const store = await data.store(user.brand.id, party);
      if (store === null) throw new AppError(404, "not_found", "no such store");
      return { user, store };
    },
  };

  const signInPage = (ctx: Ctx, options: { error?: string; brand?: string; username?: string; next?: string } = {}): string => {
    const { m } = ctx;
    return consolePage(
      ctx,
      m.signIn,
      html`<section class="card sign-in">
<p class="muted">${m.signInIntro}</p>
<form method="post" action="/console/sign-in">
${csrfField(ctx)}
<input type="hidden" name="next" value="${safeNext(options.next)}">
<p><label for="brand">${m.brandSlug}</label>
<input id="brand" name="brand" type="text" autocomplete="organization" autocapitalize="none" spellcheck="false" maxlength="63" required value="${options.brand ?? ""}" placeholder="${m.brandSlugHint}"${options.error ? html` aria-describedby="sign-in-error"` : ""}></p>
<p><label for="username">${m.username}</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="64" required value="${options.username ?? ""}"${options.error ? html` aria-describedby="sign-in-error"` : ""}></p>
<p><label for="password">${m.password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="${MAX_PASSWORD}" required></p>
<p><button type="submit">${m.signIn}</button></p>
</form>
</section>`,
      options.error ? html`<p id="sign-in-error" class="notice notice-error" role="alert">${options.error}</p>` : "",
    );
  };

  // Errors as pages. Not signed in (or the session ended): the sign-in page, then back here.
  scope.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error instanceof AppError ? error.status : error.validation ? 400 : (error.statusCode ?? 500);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    if (status === 401) {
      const next = request.method === "GET" ? request.url : undefined;
      return reply.redirect(next && next !== "/console" ? `/console/sign-in?next=${encodeURIComponent(next)}` : "/console/sign-in", 303);
    }
    if (status === 429 && request.url.startsWith("/console/sign-in")) {
      const form = web.form(request);
      return web.send(reply, signInPage(ctx, { error: m.tooManyAttempts, brand: form.brand ?? "", username: form.username ?? "", next: form.next ?? "" }), 429);
    }
    if (status >= 500) request.log.error({ err: error }, "console request failed");
    const [title, text] = error.code?.startsWith("FST_CSRF")
      ? [m.forbidden, m.formExpired]
      : status === 403
        ? [m.forbidden, m.forbiddenText]
        : status === 404
          ? [m.notFound, m.notFoundText]
          : status === 429
            ? [m.failed, m.tooManyAttempts]
            : status >= 500
              ? [m.failed, m.failedText(request.id)]
              : [m.failed, error instanceof AppError && error.field ? m.checkInput(error.field, error.message) : error.message];
    return web.send(reply, consolePage(ctx, title, html`<p><a href="/console">${m.back}</a></p>`, notice("error", text)), status);
  });
  scope.setNotFoundHandler((request, reply) => {
    const ctx = web.ctx(request, reply);
    return web.send(reply, consolePage(ctx, ctx.m.notFound, html`<p><a href="/console">${ctx.m.back}</a></p>`, notice("error", ctx.m.notFoundText)), 404);
  });

  const perIp = scope.rateLimit({ max: SIGN_IN_PER_IP, timeWindow: 60_000 });

  scope.get("/", async (request, reply) => {
    const user = web.user(request);
    return reply.redirect(user.kind === "store" ? `/console/stores/${encodeURIComponent(user.store!.id)}` : "/console/overview", 303);
  });

  // ?brand= fills in the brand's code (a brand can hand its people a link with it).
  scope.get<{ Querystring: { next?: string; brand?: string } }>("/sign-in", async (request, reply) => {
    if (current.get(request)) return reply.redirect(safeNext(request.query.next), 303);
    const brand = typeof request.query.brand === "string" ? request.query.brand.slice(0, 63) : "";
    return web.send(reply, signInPage(web.ctx(request, reply), { next: request.query.next ?? "", brand }));
  });

  scope.post("/sign-in", { onRequest: perIp, preHandler: scope.csrfProtection }, async (request, reply) => {
    const form = web.form(request);
    // Failed attempts count against the brand and username, in the database (users.ts).
    const signIn = await users.authenticate(form.brand ?? "", form.username ?? "", form.password ?? "");
    if (signIn.kind === "locked") {
      void reply.header("retry-after", String(signIn.retryAfterSeconds));
      throw new AppError(429, "rate_limited", "too many sign-in attempts");
    }
    if (signIn.kind === "refused") {
      const ctx = web.ctx(request, reply);
      return web.send(
        reply,
        signInPage(ctx, { error: ctx.m.signInFailed, brand: form.brand ?? "", username: form.username ?? "", next: form.next ?? "" }),
        401,
      );
    }
    const token = await sessions.open(signIn.brandId, signIn.userId);
    void reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, maxAge: Math.floor(sessions.ttlMs / 1000) });
    return reply.redirect(safeNext(form.next), 303);
  });

  scope.post("/sign-out", { preHandler: scope.csrfProtection }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await sessions.close(token);
    void reply.clearCookie(SESSION_COOKIE, { path: cookieOptions.path });
    return reply.redirect("/console/sign-in", 303);
  });

  routes(web);
}
