/**
 * POST /api/v1/price-reports: a consumer reports the price of a bottle, from the verification page's
 * form (application/x-www-form-urlencoded, answered with a small HTML page) or as JSON (answered
 * with JSON). Public, so rate-limited per client IP; a wrong secret is the same 404 as an unknown code.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { bottleUrl } from "../core/bottle-url.ts";
import { AMOUNT_PATTERN, fromCents, toCents } from "../core/price.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { AppError, invalid, notFound } from "../http/errors.ts";
import { renderReportFailed, renderThanks } from "./answer-page.ts";
import { createPriceReports } from "./price-reports.ts";

const FORM = "application/x-www-form-urlencoded";
const BODY_LIMIT = 8 * 1024;

const ReportBody = Type.Object(
  {
    serial: Type.String({ minLength: 1, maxLength: 64 }),
    secret: Type.String({ minLength: 1, maxLength: 128, description: "the public secret from the bottle's QR code (its ?s=)" }),
    price: Type.String({ pattern: AMOUNT_PATTERN, description: 'decimal string, e.g. "1499.00"' }),
    currency: Type.Optional(Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 code (default CNY)" })),
    store: Type.Optional(Type.String({ maxLength: 100, description: "where: a store's party id, or its name" })),
    lang: Type.Optional(Type.Union([Type.Literal("zh"), Type.Literal("en")], { description: "language of the HTML answer to a form post" })),
  },
  { additionalProperties: false },
);

const Money = Type.Object({ amount: Type.String(), currency: Type.String() });
const ReportAnswer = Type.Object({
  verdict: Type.Union([Type.Literal("below"), Type.Literal("within"), Type.Literal("above"), Type.Literal("other_currency"), Type.Null()], {
    description: "null when the product has no guide price in force",
  }),
  guide: Type.Union([Money, Type.Null()]),
  band: Type.Union([Type.Object({ min: Type.String(), max: Type.String() }), Type.Null()]),
});

const isForm = (request: FastifyRequest): boolean => (request.headers["content-type"] ?? "").toLowerCase().startsWith(FORM);
/** The page that answers a form post (the route's schema documents the JSON answer). */
const sendPage = (reply: FastifyReply, status: number, page: string): FastifyReply =>
  reply.code(status).type("text/html; charset=utf-8").header("cache-control", "no-store").send(page);
const formLang = (request: FastifyRequest): "zh" | "en" => ((request.body as { lang?: unknown } | undefined)?.lang === "en" ? "en" : "zh");

export function priceReportRoutes(app: Api, deps: { db: Db; rateLimitPerIp: number }): void {
  const reports = createPriceReports(deps.db);

  void app.register(async (scope: Api) => {
    // The verification page posts a plain HTML form; its fields arrive as strings (first value of each).
    scope.addContentTypeParser(FORM, { parseAs: "string", bodyLimit: BODY_LIMIT }, (_request, body, done) => {
      const fields: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(body as string)) if (!(key in fields)) fields[key] = value.trim();
      done(null, fields);
    });

    // A browser that posted the form gets a page, not JSON; everything else goes to the app's handler.
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error instanceof AppError ? error.status : error.validation ? 400 : (error.statusCode ?? 500);
      if (!isForm(request) || status >= 500) throw error;
      return sendPage(reply, status, renderReportFailed(formLang(request), status));
    });

    const perIp = scope.rateLimit({ max: deps.rateLimitPerIp, timeWindow: 60_000 });

    scope.post(
      "/api/v1/price-reports",
      {
        onRequest: perIp,
        bodyLimit: BODY_LIMIT,
        schema: {
          tags: ["verify"],
          summary: "Report the price of a bottle (the verification page's form): judged against the guide-price band, stored, alerted when outside",
          description:
            "Send JSON, or the page's form (application/x-www-form-urlencoded, answered with an HTML page). The band is the guide " +
            "price in force now for the code's sales region (else the national one). An unknown serial or a wrong secret is the same 404.",
          consumes: ["application/json", FORM],
          body: ReportBody,
          response: { 201: ReportAnswer },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const cents = toCents(body.price);
        if (cents === 0) throw invalid("price", "must be more than 0");
        const store = body.store?.trim() || null;
        const price = { amount: fromCents(cents), currency: body.currency ?? "CNY" }; // "1000" → "1000.00"
        const answer = await reports.report({ serial: body.serial, secret: body.secret, price, store }, request.ip);
        if (answer === null) throw notFound("no such bottle");
        const { gtin, ...result } = answer;
        if (!isForm(request)) return reply.code(201).send(result);
        const lang = body.lang ?? "zh";
        const backUrl = bottleUrl("", gtin, body.serial, lang === "en" ? { s: body.secret, lang } : { s: body.secret });
        return sendPage(reply, 201, renderThanks(lang, { ...result, price, backUrl }));
      },
    );
  });
}
