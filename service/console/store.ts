/**
 * A store's views: stock on hand per product with low-stock warnings against the threshold the
 * store sets, sales by week and month with its best sellers, and the scan box that checks a bottle
 * (service/store's check, the same as GET /api/v1/store/check) before receiving or selling it.
 * A store user sees only its own store; the brand's users see every store of the brand.
 */
import type { FastifyInstance } from "fastify";
import { parseBottleUrl } from "../core/bottle-url.ts";
import { AMOUNT_PATTERN, fromCents, isAmount, toCents } from "../core/price.ts";
import type { Db } from "../db/pool.ts";
import { AppError } from "../http/errors.ts";
import { createStoreCheck, type CheckResult, type Intent } from "../store/check.ts";
import { html, type SafeHtml } from "../web/html.ts";
import { formatMoney } from "../web/money.ts";
import { MEMBER_MESSAGES } from "./members-i18n.ts";
import { periodStart } from "./periods.ts";
import { bestSellers, salesSeries } from "./sales.ts";
import { createStoreData, MAX_LOW_STOCK } from "./store-data.ts";
import { card, chart, consolePage, csrfField, notice, table, type Ctx } from "./view.ts";
import type { Web } from "./web.ts";

type Store = { id: string; name: string; region: string };

/** The serial in what was scanned: a bottle's QR link (…/01/{gtin}/21/{serial}?s=…) or the code itself. */
export function scannedSerial(input: string): string {
  return parseBottleUrl(input)?.serial ?? input.trim();
}

/** For a brand user looking at a store: the store's own views, under the brand's navigation. */
export function storeNav(ctx: Ctx, store: Store): SafeHtml | "" {
  if (ctx.user?.kind !== "brand") return "";
  const base = `/console/stores/${encodeURIComponent(store.id)}`;
  const here = ctx.url.pathname;
  const items = [
    [base, ctx.m.nav.stock],
    [`${base}/sales`, ctx.m.nav.storeSales],
    [`${base}/check`, ctx.m.nav.check],
    [`${base}/members`, MEMBER_MESSAGES[ctx.lang].nav],
  ] as const;
  return html`<nav class="sub-nav" aria-label="${store.name}"><ul>${items.map(([href, label]) => html`<li><a href="${href}"${href === here ? html` aria-current="page"` : ""}>${label}</a></li>`)}</ul></nav>`;
}

function checkResult(ctx: Ctx, result: CheckResult): SafeHtml {
  const { m } = ctx;
  if (!result.authentic) {
    return html`<section class="check-result check-bad" id="check-result" data-authentic="false" role="status" aria-live="polite"><h2>${m.notAuthentic}</h2></section>`;
  }
  const ok = result.warnings.length === 0;
  const price = result.price;
  return html`<section class="check-result ${ok ? "check-ok" : "check-warn"}" id="check-result" data-authentic="true" data-warnings="${result.warnings.length}" role="status" aria-live="polite">
<h2>${ok ? m.authentic : html`${m.authentic} · ${m.attention}`}</h2>
<dl class="facts">
<dt>${m.product}</dt><dd>${result.product.name ?? result.product.gtin}</dd>
<dt>${m.bottle}</dt><dd>${result.serial}</dd>
<dt>${m.state}</dt><dd>${m.states[result.state] ?? result.state}</dd>
<dt>${m.region}</dt><dd>${result.region.ok ? m.regionOk : m.regionWrong} (${result.region.assigned ?? "—"} / ${result.region.store})</dd>
${price.guide === null ? "" : html`<dt>${m.guidePrice}</dt><dd>${formatMoney(price.guide)}${price.band ? html` <span class="muted">(${m.band} ${price.band.min}–${price.band.max})</span>` : ""}</dd>`}
${price.verdict === null ? "" : html`<dt>${m.price}</dt><dd data-verdict="${price.verdict}">${m.verdicts[price.verdict] ?? price.verdict}</dd>`}
</dl>
${ok ? html`<p>${m.noProblems}</p>` : html`<ul class="warnings">${result.warnings.map((w) => html`<li data-warning="${w.kind}">${w.message}</li>`)}</ul>`}
</section>`;
}

export function storeRoutes(scope: FastifyInstance, web: Web, deps: { db: Db }): void {
  const stores = createStoreData(deps.db);
  const checks = createStoreCheck(deps.db);

  async function stockPage(ctx: Ctx, store: Store, brandId: number, status: SafeHtml | "" = ""): Promise<string> {
    const { m } = ctx;
    const [stock, threshold] = await Promise.all([stores.stock(brandId, store.id), stores.lowStockThreshold(brandId, store.id)]);
    const low = stock.filter((s) => s.onHand <= threshold);
    const base = `/console/stores/${encodeURIComponent(store.id)}`;
    const body = html`${storeNav(ctx, store)}
${card(
  "low-stock",
  m.lowStock,
  html`${
    low.length === 0
      ? html`<p id="low-stock-none">${m.noLowStock}</p>`
      : html`<p>${m.lowStockText(threshold)}</p>
<ul class="warnings" id="low-stock-list">${low.map((s) => html`<li data-gtin="${s.gtin}" data-on-hand="${s.onHand}">${s.name ?? s.gtin}: ${m.onHand} ${s.onHand}</li>`)}</ul>`
  }
<form method="post" action="${base}/threshold" class="inline-form">
${csrfField(ctx)}
<label for="threshold">${m.threshold}</label>
<input id="threshold" name="threshold" type="number" min="0" max="${MAX_LOW_STOCK}" step="1" required value="${threshold}">
<button type="submit">${m.save}</button>
</form>`,
)}
${chart(ctx, "chart-stock", m.onHand, { type: "bar", horizontal: true, labels: stock.map((s) => s.name ?? s.gtin), series: [{ label: m.onHand, data: stock.map((s) => s.onHand) }] }, m.product)}
${card(
  "stock",
  m.stockTitle,
  html`<p class="muted">${m.stockNote}</p>
${
  stock.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.stockTitle,
        [m.product, m.onHand, m.received, m.sold, "GTIN"],
        stock.map((s) => [s.name ?? s.gtin, s.onHand, s.received, s.sold, s.gtin]),
        { numeric: [1, 2, 3], id: "stock-table" },
      )
}`,
)}`;
    return consolePage(ctx, `${m.stockTitle} · ${store.name}`, body, status);
  }

  scope.get<{ Params: { party: string }; Querystring: { saved?: string } }>("/stores/:party", async (request, reply) => {
    const { user, store } = await web.storeAccess(request, request.params.party);
    const ctx = web.ctx(request, reply);
    return web.send(reply, await stockPage(ctx, store, user.brand.id, request.query.saved === "1" ? notice("ok", ctx.m.saved) : ""));
  });

  scope.post<{ Params: { party: string } }>("/stores/:party/threshold", { preHandler: scope.csrfProtection }, async (request, reply) => {
    const { user, store } = await web.storeAccess(request, request.params.party);
    const text = web.form(request).threshold ?? "";
    try {
      if (!/^\d{1,7}$/.test(text)) throw new AppError(422, "invalid", `a whole number from 0 to ${MAX_LOW_STOCK}`, { field: "threshold" });
      await stores.setLowStockThreshold(user.brand.id, store.id, Number(text));
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 422) throw error;
      const ctx = web.ctx(request, reply);
      return web.send(reply, await stockPage(ctx, store, user.brand.id, notice("error", ctx.m.checkInput(ctx.m.threshold, error.message))), 422);
    }
    return reply.redirect(`/console/stores/${encodeURIComponent(store.id)}?saved=1`, 303);
  });

  scope.get<{ Params: { party: string } }>("/stores/:party/sales", async (request, reply) => {
    const { user, store } = await web.storeAccess(request, request.params.party);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const now = new Date();
    const [weeks, months, best] = await Promise.all([
      salesSeries(deps.db, user.brand.id, store.id, "week", 12, now),
      salesSeries(deps.db, user.brand.id, store.id, "month", 12, now),
      bestSellers(deps.db, user.brand.id, store.id, periodStart("day", now, 29)),
    ]);
    const body = html`${storeNav(ctx, store)}
${chart(ctx, "chart-weeks", m.storeSalesWeek, { type: "bar", labels: weeks.map((w) => w.period), series: [{ label: m.bottles, data: weeks.map((w) => w.bottles) }] }, m.weekOf)}
${chart(ctx, "chart-months", m.storeSalesMonth, { type: "line", labels: months.map((w) => w.period.slice(0, 7)), series: [{ label: m.bottles, data: months.map((w) => w.bottles) }] }, m.month)}
${chart(ctx, "chart-best", m.bestSellers, { type: "bar", horizontal: true, labels: best.map((b) => b.name ?? b.gtin), series: [{ label: m.bottles, data: best.map((b) => b.bottles) }] }, m.product)}`;
    return web.send(reply, consolePage(ctx, `${m.nav.storeSales} · ${store.name}`, body));
  });

  scope.get<{ Params: { party: string }; Querystring: { code?: string; intent?: string; price?: string } }>("/stores/:party/check", async (request, reply) => {
    const { user, store } = await web.storeAccess(request, request.params.party);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const code = (request.query.code ?? "").trim().slice(0, 2_048);
    const intent: Intent = request.query.intent === "sale" ? "sale" : "receiving";
    const priceText = (request.query.price ?? "").trim();
    let result: SafeHtml | "" = "";
    let status: SafeHtml | "" = "";
    if (priceText !== "" && !isAmount(priceText)) {
      status = notice("error", m.checkInput(m.price, "e.g. 1499.00"));
    } else if (code !== "") {
      const serial = scannedSerial(code).slice(0, 64);
      const price = priceText === "" ? null : { amount: fromCents(toCents(priceText)), currency: "CNY" };
      const storeRef = { keyId: 0, brandId: user.brand.id, brandSlug: user.brand.slug, party: store.id, name: store.name, region: store.region };
      result = checkResult(ctx, await checks.check(storeRef, serial, { price, intent, lang: ctx.lang }));
    }
    const body = html`${storeNav(ctx, store)}
<section class="card" aria-labelledby="scan-h">
<h2 id="scan-h">${m.checkTitle}</h2>
<p class="muted">${m.checkIntro}</p>
<form method="get" action="/console/stores/${encodeURIComponent(store.id)}/check" class="stacked-form scan-box">
<p><label for="scan-code">${m.code}</label>
<input id="scan-code" name="code" type="text" inputmode="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="2048" required autofocus value="${code}"></p>
<fieldset><legend>${m.intent}</legend>
<label><input type="radio" name="intent" value="receiving"${intent === "receiving" ? html` checked` : ""}> ${m.intents.receiving}</label>
<label><input type="radio" name="intent" value="sale"${intent === "sale" ? html` checked` : ""}> ${m.intents.sale}</label>
</fieldset>
<p><label for="scan-price">${m.price}</label>
<input id="scan-price" name="price" type="text" inputmode="decimal" pattern="${AMOUNT_PATTERN}" maxlength="15" autocomplete="off" value="${priceText}"></p>
<p><button type="submit">${m.checkButton}</button></p>
</form>
</section>
${result}`;
    return web.send(reply, consolePage(ctx, `${m.checkTitle} · ${store.name}`, body, status), status === "" ? 200 : 422);
  });
}
