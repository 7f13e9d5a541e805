/**
 * The brand's everyday views: overview (events, bottles by state, alerts by kind, anchoring health),
 * sales by region and week, alerts (diversion with the responsible party and the bottle's path),
 * store price compliance, and the price-protection report with its CSV export.
 */
import type { FastifyInstance } from "fastify";
import { ALERT_KINDS } from "../core/vocabulary.ts";
import type { Db } from "../db/pool.ts";
import { invalid } from "../http/errors.ts";
import { createPriceProtection, reportCsv, type PriceProtectionReport } from "../reports/price-protection.ts";
import { reportPeriod } from "../reports/price-protection-routes.ts";
import { html, type SafeHtml } from "../web/html.ts";
import { localDate, periodStart } from "./periods.ts";
import { bestSellers, salesByRegion, salesSeries } from "./sales.ts";
import { card, chart, consolePage, notice, percent, table, time, type Ctx } from "./view.ts";
import type { Web } from "./web.ts";

/** Pending links older than this make anchoring "delayed". */
const DELAYED_MS = 10 * 60_000;
const ALERTS_SHOWN = 100;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A stat tile: a label and a number, with a stable hook for tests and styles. */
const stat = (id: string, label: string, value: string | number): SafeHtml =>
  html`<div class="stat"><dt>${label}</dt><dd id="${id}" data-value="${value}">${value}</dd></div>`;

/** The report per store, what matters most first (a phone shows the first columns). */
function protectionTable(ctx: Ctx, report: PriceProtectionReport, regions: Map<string, string>): SafeHtml {
  const { m } = ctx;
  return table(
    m.nav.protection,
    [m.store, m.compensation, m.rate, m.compliance, m.sold, m.previousSold, m.volumeChange, m.judged, m.within, m.guideRevenue, m.region],
    [
      ...report.stores.map((s) => [
        s.name,
        s.compensation,
        percent(s.rate),
        percent(s.compliance),
        s.sold,
        s.previousSold,
        percent(s.volumeChange),
        s.judged,
        s.within,
        s.guideRevenue,
        s.region === null ? null : (regions.get(s.region) ?? s.region),
      ]),
      [
        html`<strong>${m.totals}</strong>`,
        html`<strong>${report.totals.compensation}</strong>`,
        null,
        null,
        report.totals.sold,
        report.totals.previousSold,
        null,
        null,
        null,
        report.totals.guideRevenue,
        null,
      ],
    ],
    { numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9], id: "protection-table" },
  );
}

/** The path a diverted bottle took, as an ordered list of holders. */
function pathList(ctx: Ctx, path: unknown): SafeHtml | string {
  if (!Array.isArray(path) || path.length === 0) return "—";
  return html`<ol class="path">${path.map((step: { name?: string; party?: string; region?: string; type?: string; at?: string }) => html`<li>${step.name ?? step.party ?? "?"} <span class="muted">(${step.region ?? "?"} · ${ctx.m.states[step.type ?? ""] ?? step.type ?? ""}${step.at ? html` · ${time(ctx, new Date(step.at))}` : ""})</span></li>`)}</ol>`;
}

/** An alert's details other than a diversion's, as "key: value" pairs. */
function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => `${k}: ${v ?? "—"}`)
    .join(" · ");
}

export function brandRoutes(scope: FastifyInstance, web: Web, deps: { db: Db }): void {
  const { data } = web;
  const protection = createPriceProtection(deps.db);

  scope.get("/overview", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const now = new Date();
    const brandId = user.brand.id;
    const [events, states, alerts, anchoring] = await Promise.all([
      data.eventCounts(brandId, now),
      data.bottlesByState(brandId),
      data.alertsByKind(brandId, periodStart("day", now, 29)),
      data.anchoring(brandId),
    ]);
    const oldest = anchoring.oldestPending;
    const health =
      anchoring.lastBatch === null && anchoring.pendingLinks === 0
        ? "idle"
        : oldest !== null && now.getTime() - oldest.getTime() > DELAYED_MS
          ? "delayed"
          : "ok";
    const last = anchoring.lastBatch;
    const lastAt = last === null ? null : (last.anchoredAt ?? last.sealedAt);
    const minutes = (at: Date) => Math.floor((now.getTime() - at.getTime()) / 60_000);
    const body = html`<dl class="stats">
${stat("events-today", m.eventsToday, events.today)}
${stat("events-week", m.eventsWeek, events.week)}
${stat("pending-links", m.pendingLinks, anchoring.pendingLinks)}
</dl>
${card(
  "anchoring",
  m.anchoring,
  html`<p><span class="badge badge-${health}" id="anchoring-health" data-health="${health}">${m.health[health]}</span></p>
<dl class="facts">
<dt>${m.lastBatch}</dt><dd id="last-batch">${last === null ? m.none : html`#${last.seq} · ${m.batchStates[last.state]} · ${time(ctx, lastAt)}`}</dd>
<dt>${m.age}</dt><dd>${lastAt === null ? "—" : m.ago(minutes(lastAt))}</dd>
<dt>${m.pendingLinks}</dt><dd>${anchoring.pendingLinks}</dd>
<dt>${m.oldestPending}</dt><dd>${oldest === null ? m.none : html`${time(ctx, oldest)} (${m.ago(minutes(oldest))})`}</dd>
</dl>
<p><a href="/console/batches">${m.nav.batches}</a></p>`,
)}
${chart(ctx, "chart-states", m.bottlesByState, { type: "doughnut", labels: states.map((s) => m.states[s.key] ?? s.key), series: [{ label: m.bottles, data: states.map((s) => s.count) }] }, m.state)}
${chart(ctx, "chart-alerts", m.alertsByKind, { type: "bar", horizontal: true, labels: alerts.map((a) => m.alertKinds[a.key] ?? a.key), series: [{ label: m.count, data: alerts.map((a) => a.count) }] }, m.kind)}`;
    return web.send(reply, consolePage(ctx, m.nav.overview, body));
  });

  scope.get("/sales", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const now = new Date();
    const [byRegion, byWeek, best] = await Promise.all([
      salesByRegion(deps.db, user.brand.id, periodStart("week", now, 11)),
      salesSeries(deps.db, user.brand.id, null, "week", 12, now),
      bestSellers(deps.db, user.brand.id, null, periodStart("day", now, 29)),
    ]);
    const body = html`${chart(ctx, "chart-regions", m.salesByRegion, { type: "bar", labels: byRegion.map((r) => r.name ?? r.region ?? m.unknown), series: [{ label: m.bottles, data: byRegion.map((r) => r.bottles) }] }, m.region)}
${chart(ctx, "chart-weeks", m.salesByWeek, { type: "bar", labels: byWeek.map((w) => w.period), series: [{ label: m.bottles, data: byWeek.map((w) => w.bottles) }] }, m.weekOf)}
${card(
  "best",
  m.bestSellers,
  best.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.bestSellers,
        [m.product, "GTIN", m.bottles],
        best.map((b) => [b.name ?? b.gtin, b.gtin, b.bottles]),
        { numeric: [2] },
      ),
)}`;
    return web.send(reply, consolePage(ctx, m.nav.sales, body));
  });

  scope.get<{ Querystring: { kind?: string } }>("/alerts", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const kind = request.query.kind ?? "diversion";
    if (!(ALERT_KINDS as readonly string[]).includes(kind)) throw invalid("kind", `not an alert kind: ${kind}`);
    const alerts = await data.alerts(user.brand.id, kind, ALERTS_SHOWN);
    const filter = html`<form class="inline-form" method="get" action="/console/alerts">
<label for="kind">${m.kind}</label>
<select id="kind" name="kind">${ALERT_KINDS.map((k) => html`<option value="${k}"${k === kind ? html` selected` : ""}>${m.alertKinds[k] ?? k}</option>`)}</select>
<button type="submit">${m.show}</button>
</form>`;
    let body: SafeHtml;
    if (kind === "diversion") {
      const regions = new Map((await data.regions(user.brand.id)).map((r) => [r.code, r.name]));
      const byResponsible = await data.diversionsByResponsible(user.brand.id);
      const region = (code: unknown) => (typeof code === "string" ? (regions.get(code) ?? code) : "—");
      body = html`${filter}
${chart(ctx, "chart-responsible", m.diversionsByResponsible, { type: "bar", horizontal: true, labels: byResponsible.map((r) => r.name ?? r.party ?? m.unknown), series: [{ label: m.count, data: byResponsible.map((r) => r.count) }] }, m.responsible)}
${card(
  "alert-list",
  m.alertKinds.diversion,
  alerts.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.alertKinds.diversion,
        [m.responsible, m.store, m.assigned, m.found, m.path, m.time, m.bottle],
        alerts.map((a) => [
          html`<strong>${(a.details.responsibleName as string | null) ?? (a.details.responsible as string | null) ?? m.unknown}</strong>`,
          a.partyName ?? a.party,
          region(a.details.assigned),
          region(a.details.found),
          pathList(ctx, a.details.path),
          time(ctx, a.createdAt),
          a.serial,
        ]),
        { id: "alerts-table" },
      ),
)}`;
    } else {
      body = html`${filter}
${card(
  "alert-list",
  m.alertKinds[kind] ?? kind,
  alerts.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.alertKinds[kind] ?? kind,
        [m.time, m.bottle, m.party, m.details],
        alerts.map((a) => [time(ctx, a.createdAt), a.serial, a.partyName ?? a.party, detailsText(a.details)]),
        { id: "alerts-table" },
      ),
)}`;
    }
    return web.send(reply, consolePage(ctx, m.alertsTitle, body));
  });

  scope.get("/compliance", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const now = new Date();
    const [report, regionList] = await Promise.all([
      protection.report(user.brand.id, periodStart("day", now, 29), periodStart("day", now, -1), "CNY"),
      data.regions(user.brand.id),
    ]);
    const regions = new Map(regionList.map((r) => [r.code, r.name]));
    const judged = report.stores.filter((s) => s.judged > 0);
    const body = html`<p class="muted">${m.complianceNote}</p>
${chart(
  ctx,
  "chart-compliance",
  m.complianceTitle,
  {
    type: "bar",
    horizontal: true,
    labels: judged.map((s) => s.name),
    series: [
      { label: m.within, data: judged.map((s) => s.within) },
      { label: `${m.judged} − ${m.within}`, data: judged.map((s) => s.judged - s.within) },
    ],
  },
  m.store,
)}
${card(
  "compliance-stores",
  m.nav.stores,
  table(
    m.complianceTitle,
    [m.store, m.compliance, m.sold, m.judged, m.within, m.excluded, m.region],
    report.stores.map((s) => [
      s.name,
      percent(s.compliance),
      s.sold,
      s.judged,
      s.within,
      s.excluded,
      s.region === null ? null : (regions.get(s.region) ?? s.region),
    ]),
    { numeric: [1, 2, 3, 4, 5], id: "compliance-table" },
  ),
)}`;
    return web.send(reply, consolePage(ctx, m.complianceTitle, body));
  });

  /** The report's period from the form: dates (China time), by default the last 28 days up to today. */
  function period(query: { from?: string; to?: string }): { fromText: string; toText: string; from: Date; to: Date } {
    const now = new Date();
    const fromText = query.from || localDate(periodStart("day", now, 27));
    const toText = query.to || localDate(periodStart("day", now, -1));
    if (!DATE.test(fromText)) throw invalid("from", "a date, YYYY-MM-DD");
    if (!DATE.test(toText)) throw invalid("to", "a date, YYYY-MM-DD");
    return { fromText, toText, ...reportPeriod(fromText, toText) };
  }

  scope.get<{ Querystring: { from?: string; to?: string } }>("/price-protection", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    let report: PriceProtectionReport | null = null;
    let error: SafeHtml | "" = "";
    let fromText = request.query.from ?? "";
    let toText = request.query.to ?? "";
    try {
      const p = period(request.query);
      ({ fromText, toText } = p);
      report = await protection.report(user.brand.id, p.from, p.to, "CNY");
    } catch (e) {
      const failure = e as { status?: number; field?: string; message: string };
      if (failure.status !== 422) throw e;
      error = notice("error", m.checkInput(failure.field === "from" ? m.from : m.to, failure.message));
    }
    const csv = `/console/price-protection.csv?${new URLSearchParams({ from: fromText, to: toText })}`;
    const body = html`<form class="inline-form" method="get" action="/console/price-protection">
<label for="from">${m.from}</label> <input id="from" name="from" type="date" required value="${fromText}">
<label for="to">${m.to}</label> <input id="to" name="to" type="date" required value="${toText}">
<button type="submit">${m.makeReport}</button>
</form>
${
  report === null
    ? ""
    : html`<p class="muted">${m.protectionPeriod(fromText, toText)}</p>
<p><a class="button-link" id="protection-csv" href="${csv}" download>${m.downloadCsv}</a></p>
${protectionTable(ctx, report, new Map((await data.regions(user.brand.id)).map((r) => [r.code, r.name])))}`
}`;
    return web.send(reply, consolePage(ctx, m.nav.protection, body, error), error === "" ? 200 : 422);
  });

  scope.get<{ Querystring: { from?: string; to?: string } }>("/price-protection.csv", async (request, reply) => {
    const user = web.brandUser(request);
    const { from, to, fromText, toText } = period(request.query);
    const report = await protection.report(user.brand.id, from, to, "CNY");
    return reply
      .type("text/csv; charset=utf-8")
      .header("cache-control", "private, no-store")
      .header("content-disposition", `attachment; filename="price-protection-${fromText}-${toText}.csv"`)
      .send(reportCsv(report));
  });
}
