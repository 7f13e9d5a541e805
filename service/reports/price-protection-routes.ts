/**
 * The price-protection report (JSON or CSV) and the brand's policy behind it.
 */
import { Type } from "@sinclair/typebox";
import { DEFAULT_POLICY } from "../core/price-protection.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { invalid } from "../http/errors.ts";
import { createPriceProtection, reportCsv } from "./price-protection.ts";

/** The longest period one report covers. */
const MAX_PERIOD_DAYS = 731;

const DateOrTime = Type.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$",
  description: "a date (midnight China Standard Time, +08:00) or an ISO 8601 date-time with an offset",
});
const ReportQuery = Type.Object(
  {
    from: DateOrTime,
    to: DateOrTime,
    currency: Type.Optional(
      Type.String({ pattern: "^[A-Z]{3}$", description: "the report's currency (default CNY): guide prices and sales in others are left out" }),
    ),
    format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("csv")])),
  },
  { additionalProperties: false },
);

const Fraction = (description: string, defaultValue: number) =>
  Type.Number({ minimum: 0, maximum: 1, description: `${description} (default ${defaultValue})` });
const PolicyBody = Type.Object(
  {
    minCompliance: Type.Optional(Fraction("share of judged sales within the band a store needs", DEFAULT_POLICY.minCompliance)),
    baseRate: Type.Optional(Fraction("compensation rate at a fall in volume near 0 %", DEFAULT_POLICY.baseRate)),
    maxRate: Type.Optional(Fraction("compensation rate at a fall of maxFall or more; at least baseRate", DEFAULT_POLICY.maxRate)),
    maxFall: Type.Optional(Fraction("fall in volume (fraction, > 0) from which maxRate applies", DEFAULT_POLICY.maxFall)),
  },
  { additionalProperties: false },
);
const Policy = Type.Object({ minCompliance: Type.Number(), baseRate: Type.Number(), maxRate: Type.Number(), maxFall: Type.Number() });

const StoreLine = Type.Object({
  party: Type.String(),
  name: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  sold: Type.Integer(),
  previousSold: Type.Integer(),
  volumeChange: Type.Union([Type.Number(), Type.Null()]),
  judged: Type.Integer(),
  within: Type.Integer(),
  excluded: Type.Integer(),
  compliance: Type.Union([Type.Number(), Type.Null()]),
  guideRevenue: Type.String(),
  rate: Type.Number(),
  compensation: Type.String(),
});
const Report = Type.Object({
  from: Type.String(),
  to: Type.String(),
  previous: Type.Object({ from: Type.String(), to: Type.String() }),
  currency: Type.String(),
  policy: Policy,
  stores: Type.Array(StoreLine),
  totals: Type.Object({ sold: Type.Integer(), previousSold: Type.Integer(), guideRevenue: Type.String(), compensation: Type.String() }),
});

const brandSecurity = [{ brandApiKey: [] }];

function instant(field: string, value: string): Date {
  // JavaScript would roll 2026-02-30 over into March: check the calendar date first.
  const [y, m, d] = value.slice(0, 10).split("-").map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  const date = new Date(value.length === 10 ? `${value}T00:00:00+08:00` : value);
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d || Number.isNaN(date.getTime())) {
    throw invalid(field, `"${value}" is not a real date`);
  }
  return date;
}

/** The period [from, to) of a report, from dates or date-times as given; 422 naming the field otherwise. */
export function reportPeriod(fromText: string, toText: string): { from: Date; to: Date } {
  const from = instant("from", fromText);
  const to = instant("to", toText);
  if (to.getTime() <= from.getTime()) throw invalid("to", "must be after from");
  if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * 86_400_000) throw invalid("to", `a report covers at most ${MAX_PERIOD_DAYS} days`);
  return { from, to };
}

export function priceProtectionRoutes(app: Api, deps: { db: Db }): void {
  const { db } = deps;
  const protection = createPriceProtection(db);

  app.get(
    "/api/v1/reports/price-protection",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["reports"],
        summary: "Price protection per store for a period: bottles sold, share sold within the band, volume change, compensation",
        description:
          "Period [from, to); the previous period is the one of equal length just before it. Per store: bottles sold " +
          "(retail_sale codes), `judged` = those with a guide price in force at the sale (store's region, else national) and " +
          "a price, both in the report's currency; compliance = within / judged (the others are `excluded`, not counted " +
          "against the store); volumeChange = (sold − previousSold) / previousSold (null when previousSold is 0). " +
          "rate = 0 unless compliance ≥ minCompliance and the volume fell; then baseRate + (maxRate − baseRate) × " +
          "min(fall / maxFall, 1). compensation = rate × guideRevenue (the guide prices in force for the bottles sold). " +
          "Money as decimal strings. ?format=csv for a CSV export.",
        security: brandSecurity,
        querystring: ReportQuery,
        response: {
          200: {
            description: "the report",
            content: { "application/json": { schema: Report }, "text/csv": { schema: Type.String() } },
          },
        },
      },
    },
    async (request, reply) => {
      const { from, to } = reportPeriod(request.query.from, request.query.to);
      const report = await protection.report(request.brand.id, from, to, request.query.currency ?? "CNY");
      void reply.header("cache-control", "private, no-store");
      if (request.query.format !== "csv") return reply.send(report);
      // named after the dates as given (a date-time's own date, in its own offset)
      const day = (given: string) => given.slice(0, 10);
      return reply
        .type("text/csv; charset=utf-8")
        .header("content-disposition", `attachment; filename="price-protection-${day(request.query.from)}-${day(request.query.to)}.csv"`)
        .send(reportCsv(report));
    },
  );

  app.get(
    "/api/v1/reports/price-protection/policy",
    {
      config: { auth: "brand" },
      schema: { tags: ["reports"], summary: "The brand's price-protection policy", security: brandSecurity, response: { 200: Policy } },
    },
    async (request) => {
      return await protection.policy(request.brand.id);
    },
  );

  app.put(
    "/api/v1/reports/price-protection/policy",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["reports"],
        summary: "Set the brand's price-protection policy (fields left out take their defaults)",
        security: brandSecurity,
        body: PolicyBody,
        response: { 200: Policy },
      },
    },
    async (request) => {
      return await protection.setPolicy(request.brand.id, request.body);
    },
  );
}
