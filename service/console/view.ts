/**
 * The console's page shell and building blocks, server-rendered with the escaping `html` template:
 * skip link, header with the user and sign-out, navigation for brand or store users, tables with
 * headers in scrollable regions, and charts. A chart is a <canvas data-chart="…JSON…"> that
 * /console/assets/console.js draws with Chart.js (no inline script: the CSP allows only our own
 * files), always followed by a table of the same numbers for screen readers and keyboards.
 */
import { html, type SafeHtml } from "../web/html.ts";
import type { Lang } from "../web/lang.ts";
import { pageDocument } from "../web/layout.ts";
import { formatTime } from "../web/time.ts";
import type { ConsoleMessages } from "./i18n.ts";
import { MEMBER_MESSAGES } from "./members-i18n.ts";
import type { ConsoleUser } from "./users.ts";

/** What every console page is rendered with. */
export interface Ctx {
  lang: Lang;
  m: ConsoleMessages;
  user: ConsoleUser | null;
  /** The CSRF token for this page's forms. */
  csrf: string;
  /** The request's path and query, for the navigation's current page and the language switch. */
  url: URL;
}

export interface ChartSpec {
  type: "bar" | "line" | "doughnut";
  labels: string[];
  series: { label: string; data: number[] }[];
  /** Horizontal bars (long labels such as store names read better). */
  horizontal?: boolean;
}

type Cell = string | number | SafeHtml | null;

export const time = (ctx: Ctx, at: Date | null): string => (at === null ? "—" : formatTime(at, ctx.lang));
export const percent = (fraction: number | null): string => (fraction === null ? "—" : `${Math.round(fraction * 1000) / 10}%`);

function navItems(ctx: Ctx): { href: string; label: string }[] {
  const { m, user } = ctx;
  if (user === null) return [];
  if (user.kind === "store") {
    const base = `/console/stores/${encodeURIComponent(user.store!.id)}`;
    return [
      { href: base, label: m.nav.stock },
      { href: `${base}/sales`, label: m.nav.storeSales },
      { href: `${base}/check`, label: m.nav.check },
      { href: `${base}/members`, label: MEMBER_MESSAGES[ctx.lang].nav },
    ];
  }
  const items = [
    ["overview", m.nav.overview],
    ["sales", m.nav.sales],
    ["alerts", m.nav.alerts],
    ["compliance", m.nav.compliance],
    ["price-protection", m.nav.protection],
    ["codes", m.nav.codes],
    ["webhooks", m.nav.webhooks],
    ["batches", m.nav.batches],
    ["stores", m.nav.stores],
    ["members", MEMBER_MESSAGES[ctx.lang].nav],
  ].map(([path, label]) => ({ href: `/console/${path}`, label: label! }));
  if (user.admin) items.push({ href: "/console/users", label: m.nav.users });
  return items;
}

/** The same URL with the other language. */
function switchUrl(ctx: Ctx): string {
  const url = new URL(ctx.url);
  url.searchParams.set("lang", ctx.lang === "zh" ? "en" : "zh");
  return `${url.pathname}${url.search}`;
}

export function consolePage(ctx: Ctx, title: string, body: SafeHtml, status: SafeHtml | "" = ""): string {
  const { m, user } = ctx;
  const here = ctx.url.pathname;
  const items = navItems(ctx);
  // The longest matching prefix is the current section (a store's sales page is not its stock page).
  const current = items.filter((i) => here === i.href || here.startsWith(`${i.href}/`)).sort((a, b) => b.href.length - a.href.length)[0];
  const header = html`<a class="skip-link" href="#main">${m.skip}</a>
<header class="console-header">
<div class="console-bar">
<a class="console-home" href="/console">SealTrace · ${user === null ? m.console : user.brand.name}</a>
${
  user === null
    ? ""
    : html`<span class="console-user">${m.signedInAs(user.displayName ?? user.username)}${user.store ? html` · ${user.store.name}` : ""}</span>
<form class="sign-out" method="post" action="/console/sign-out"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button type="submit" class="button-secondary">${m.signOut}</button></form>`
}
</div>
${items.length === 0 ? "" : html`<nav class="console-nav" aria-label="${m.mainNav}"><ul>${items.map((i) => html`<li><a href="${i.href}"${i === current ? html` aria-current="page"` : ""}>${i.label}</a></li>`)}</ul></nav>`}
</header>`;
  const main = html`<main id="main" class="console" tabindex="-1">
<h1>${title}</h1>
${status}
${body}
</main>`;
  const charts = body.value.includes("data-chart=");
  const head = html`<link rel="stylesheet" href="/console/assets/console.css">${
    charts
      ? html`
<script type="module" src="/console/assets/console.js"></script>`
      : ""
  }`;
  return pageDocument(
    ctx.lang,
    title,
    html`${header}
${main}`,
    html`<a href="${switchUrl(ctx)}" hreflang="${ctx.lang === "zh" ? "en" : "zh"}" lang="${ctx.lang === "zh" ? "en" : "zh"}">${m.switchLang}</a>`,
    head,
  );
}

/** A status line after a form was sent (role=status) or an error (role=alert). */
export function notice(kind: "ok" | "error", text: string): SafeHtml {
  return html`<p class="notice notice-${kind}" role="${kind === "ok" ? "status" : "alert"}">${text}</p>`;
}

/** A table with a caption and column headers, in a region that scrolls sideways on a phone. */
export function table(caption: string, head: string[], rows: Cell[][], options: { numeric?: number[]; id?: string } = {}): SafeHtml {
  const numeric = new Set(options.numeric ?? []);
  const cell = (value: Cell, i: number) => html`<td${numeric.has(i) ? html` class="num"` : ""}>${value ?? "—"}</td>`;
  return html`<div class="table-wrap" role="region" aria-label="${caption}" tabindex="0">
<table${options.id ? html` id="${options.id}"` : ""}>
<caption>${caption}</caption>
<thead><tr>${head.map((h, i) => html`<th scope="col"${numeric.has(i) ? html` class="num"` : ""}>${h}</th>`)}</tr></thead>
<tbody>${rows.map((row) => html`<tr>${row.map(cell)}</tr>`)}</tbody>
</table>
</div>`;
}

/** A chart and, under it, the table of its numbers (the chart's text alternative). */
export function chart(ctx: Ctx, id: string, title: string, spec: ChartSpec, labelHeader: string): SafeHtml {
  const total = spec.series.reduce((sum, s) => sum + s.data.reduce((a, b) => a + b, 0), 0);
  const rows = spec.labels.map((label, i) => [label, ...spec.series.map((s) => s.data[i] ?? 0)]);
  const numeric = spec.series.map((_, i) => i + 1);
  return html`<section class="card chart-card" aria-labelledby="${id}-h">
<h2 id="${id}-h">${title}</h2>
${
  spec.labels.length === 0
    ? html`<p class="muted">${ctx.m.noData}</p>`
    : html`<div class="chart-box"><canvas id="${id}" data-chart="${JSON.stringify(spec)}" data-expected-total="${total}" role="img" aria-label="${title}"></canvas></div>
${table(ctx.m.tableOf(title), [labelHeader, ...spec.series.map((s) => s.label)], rows, { numeric, id: `${id}-table` })}`
}
</section>`;
}

/** A card with a heading. */
export function card(id: string, title: string, body: SafeHtml): SafeHtml {
  return html`<section class="card" aria-labelledby="${id}-h">
<h2 id="${id}-h">${title}</h2>
${body}
</section>`;
}

/** The hidden CSRF field every form carries. */
export const csrfField = (ctx: Ctx): SafeHtml => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
