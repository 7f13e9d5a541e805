/**
 * The small page a browser gets back after posting the verification page's "report the price"
 * form: thanks, how the price compares with the guide price, and a link back to the bottle's page.
 * Every value goes through the escaping `html` template.
 */
import { MESSAGES, type Messages } from "../verify/i18n.ts";
import { html, type SafeHtml } from "../web/html.ts";
import type { Lang } from "../web/lang.ts";
import { pageDocument } from "../web/layout.ts";
import { formatMoney } from "../web/money.ts";
import type { PriceReportAnswer } from "./price-reports.ts";

const layout = (lang: Lang, title: string, body: SafeHtml): string => pageDocument(lang, title, body);

export function renderThanks(lang: Lang, report: PriceReportAnswer & { price: { amount: string; currency: string }; backUrl: string }): string {
  const m: Messages = MESSAGES[lang];
  return layout(
    lang,
    m.reportThanks,
    html`<header class="verdict verdict-genuine" role="status">
<h1>${m.reportThanks}</h1>
<p>${m.reportThanksText}</p>
</header>
<main>
<section class="card" data-verdict="${report.verdict ?? "none"}">
<dl>
<dt>${m.reportedPrice}</dt><dd>${formatMoney(report.price)}</dd>
${report.guide ? html`<dt>${m.guidePrice}</dt><dd>${formatMoney(report.guide)}</dd>` : ""}
${report.band ? html`<dt>${m.priceBand}</dt><dd>${report.band.min} – ${report.band.max}</dd>` : ""}
</dl>
<p>${m.reportVerdicts[report.verdict ?? "none"]}</p>
<p><a href="${report.backUrl}">${m.backToPage}</a></p>
</section>
</main>`,
  );
}

/** The page for a form post that could not be taken: unknown code or wrong secret (404), bad input, too many. */
export function renderReportFailed(lang: Lang, status: number): string {
  const m: Messages = MESSAGES[lang];
  const reason = status === 404 ? m.notFoundText : status === 429 ? m.reportTooOften : status === 400 || status === 422 ? m.reportInvalid : m.reportTryAgain;
  return layout(
    lang,
    m.reportFailed,
    html`<header class="verdict ${status === 404 ? "verdict-notfound" : "verdict-warning"}" role="alert">
<h1>${m.reportFailed}</h1>
<p>${reason}</p>
</header>
<main>
<section class="card"><p>${m.reportTryAgain}</p></section>
</main>`,
  );
}
