/**
 * The consumer verification page, server-rendered. Every value from the database goes through the
 * escaping `html` template; the only script is /assets/self-check.js (the in-browser verifier).
 */
import { AMOUNT_PATTERN } from "../core/price.ts";
import { publicRpcUrl, type PublicRpc } from "../core/public-rpc.ts";
import { verdictOf, type SaleFact, type Verdict, type Warning } from "../core/warnings.ts";
import { html, shortHash, type SafeHtml } from "../web/html.ts";
import type { Lang } from "../web/lang.ts";
import { pageDocument } from "../web/layout.ts";
import { formatMoney } from "../web/money.ts";
import { formatTime } from "../web/time.ts";
import type { Bottle, ScanSummary, Step } from "./bottles.ts";
import { MESSAGES, type Messages } from "./i18n.ts";

export interface PageModel {
  lang: Lang;
  /** The page's own URL with `lang` switched, for the language link. */
  switchUrl: string;
  bottle:
    | (Bottle & {
        steps: Step[];
        scans: ScanSummary;
        warnings: Warning[];
        scanned: boolean;
        proofUrl: string;
        /** The last retail sale as the verdict sees it (core/warnings.ts saleOf); null when the bottle was never sold. */
        sale: SaleFact | null;
        guide: { amount: string; currency: string; band: { min: string; max: string } } | null;
        /** The RPC the in-browser check may use (never the service's own CHAIN_RPC_URL). */
        rpc: PublicRpc;
        /** The chain and registry the self-check trusts (the server's), and the explorer that shows the registry. */
        chain: { chainId: number; registry: string };
        explorerUrl: string | null;
        /** The GTIN of the QR code the page was opened with (the self-check compares the bundle's with it). */
        qrGtin: string;
        /** The QR secret the page was opened with: the "report the price" form posts it back (absent: no form). */
        reportSecret?: string | undefined;
        /** The members' claim offer (service/members/page.ts), shown after a genuine scan of a sold, unclaimed bottle. */
        memberOffer?: SafeHtml | "";
      })
    | null;
}

function warningText(w: Warning, m: Messages, lang: Lang): string {
  switch (w.kind) {
    case "not_produced":
      return m.notProducedWarning;
    case "opened":
      return m.opened(formatTime(w.at, lang));
    case "sold_before":
      return m.soldBefore(formatTime(w.at, lang), w.store, w.times, w.buyerScan === null ? null : formatTime(w.buyerScan, lang));
    case "out_of_region":
      return m.outOfRegion(w.assigned, w.found, w.store);
    case "copied_code":
      return m.copiedCode(w.first, w.second, w.hours, w.km);
    case "claimed":
      return m.claimedBefore(formatTime(w.at, lang));
  }
}

function layout(lang: Lang, m: Messages, switchUrl: string, body: SafeHtml): string {
  return pageDocument(lang, m.title, body, html`<a href="${switchUrl}" hreflang="${lang === "zh" ? "en" : "zh"}">${m.switchLang}</a>`);
}

export function renderPage(model: PageModel): string {
  const { lang } = model;
  const m = MESSAGES[lang];
  const b = model.bottle;
  if (b === null) {
    return layout(
      lang,
      m,
      model.switchUrl,
      html`<header class="verdict verdict-notfound" role="status">
<h1>${m.notFound}</h1>
<p>${m.notFoundText}</p>
</header>
<main></main>`,
    );
  }

  const production = b.steps.find((s) => s.type === "production");
  const verdictKind: Verdict = verdictOf(b.warnings);
  // The page claims an anchored history only when there is one and every step of it is anchored.
  const allAnchored = b.steps.length > 0 && b.steps.every((s) => s.anchor !== null);
  const headline: Record<Verdict, { css: string; title: string; text: string }> = {
    genuine: { css: "verdict-genuine", title: m.genuine, text: allAnchored ? m.genuineText : m.genuinePendingText },
    warning: { css: "verdict-warning", title: m.warning, text: m.warningText },
    not_produced: { css: "verdict-notproduced", title: m.notProduced, text: m.notProducedText },
  };
  const { css, title, text } = headline[verdictKind];
  const reasons = b.warnings.filter((w) => w.kind !== "not_produced");
  // Genuine and sold: this is its buyer's scan (or one within the buyer's window), so the sale is good news, not a warning.
  const saleLine =
    verdictKind === "genuine" && b.sale !== null && !b.sale.resold
      ? html`<p class="sale" data-sold="${b.sale.at.toISOString()}">${m.soldGenuine(formatTime(b.sale.at, lang), b.sale.store)}</p>`
      : "";
  const verdict = html`<header class="verdict ${css}" role="status" data-verdict="${verdictKind}">
<p class="brand">${b.brandName}</p>
<h1>${title}</h1>
${saleLine}
<p>${text}</p>
${reasons.length === 0 ? "" : html`<ul class="reasons">${reasons.map((w) => html`<li data-warning="${w.kind}">${warningText(w, m, lang)}</li>`)}</ul>`}
</header>`;

  const product = html`<section class="card product" aria-labelledby="product-h">
<h2 id="product-h">${m.product}</h2>
<dl>
<dt>${m.product}</dt><dd>${b.product?.name ?? b.gtin}</dd>
<dt>GTIN</dt><dd>${b.gtin}</dd>
${b.lot === null ? "" : html`<dt>${m.lot}</dt><dd>${b.lot}</dd>`}
${production ? html`<dt>${m.produced}</dt><dd>${formatTime(production.at, lang)}</dd>` : ""}
${b.region === null ? "" : html`<dt>${m.region}</dt><dd>${b.region.name}</dd>`}
${b.guide === null ? "" : html`<dt>${m.guidePrice}</dt><dd data-guide-price="${b.guide.amount}">${formatMoney(b.guide)} <span class="muted">(${b.guide.band.min}–${b.guide.band.max})</span></dd>`}
</dl>
</section>`;

  const scans = b.scans;
  const scanSection = html`<section class="card scans" aria-labelledby="scans-h">
<h2 id="scans-h">${m.scans}</h2>
<p data-scan-count="${scans.consumer}">${m.scanCount(scans.consumer)}${b.scanned ? m.thisScan : ""}</p>
${scans.first ? html`<p>${m.firstScan(formatTime(scans.first.at, lang), scans.first.place?.name ?? null)}</p>` : ""}
${scans.beforeSale > 0 ? html`<p class="muted">${m.tradeScans(scans.beforeSale)}</p>` : ""}
</section>`;

  const timeline = html`<section class="card history" aria-labelledby="history-h">
<h2 id="history-h">${m.history}</h2>
<ol class="timeline">
${b.steps.map(
  (s) => html`<li class="step ${s.anchor ? "anchored" : "pending"}" data-step="${s.type}">
<span class="step-type">${m.steps[s.type] ?? s.type}</span>
<time datetime="${s.at.toISOString()}">${formatTime(s.at, lang)}</time>
${s.party ? html`<span class="place">${s.party.name}</span>` : ""}
<span class="anchor">${
    s.anchor
      ? html`${m.anchored} · ${m.batch} ${s.anchor.seq}${s.anchor.blockNumber === null ? "" : html` · ${m.block} ${s.anchor.blockNumber}`}${s.anchor.blockTime ? html` · ${formatTime(s.anchor.blockTime, lang)}` : ""}${s.anchor.txHash ? html` · ${m.tx} <span title="${s.anchor.txHash}">${shortHash(s.anchor.txHash)}</span>` : ""}`
      : m.pending
  }</span>
</li>`,
)}
</ol>
</section>`;

  const registry =
    b.explorerUrl === null
      ? html`<code title="${b.chain.registry}">${shortHash(b.chain.registry)}</code>`
      : html`<a href="${b.explorerUrl}/address/${b.chain.registry}" rel="noopener noreferrer" title="${b.chain.registry}"><code>${shortHash(b.chain.registry)}</code></a>`;
  const selfCheck = html`<section id="self-check" class="card" data-bundle-url="${b.proofUrl}" data-rpc-url="${publicRpcUrl(b.rpc) ?? ""}" data-lang="${lang}"
 data-serial="${b.serial}" data-gtin="${b.qrGtin}" data-chain-id="${b.chain.chainId}" data-registry="${b.chain.registry}" aria-labelledby="self-check-h">
<h2 id="self-check-h">${m.verifyYourself}</h2>
<p class="muted">${m.verifyYourselfText}</p>
<p class="trust" id="self-check-trust">${m.trustedChain(b.chain.chainId)} · ${m.trustedRegistry} ${registry}</p>
${
  b.rpc.kind === "none"
    ? html`<p id="self-check-rpc" data-rpc="none">${m.noPublicRpc(b.chain.chainId)}</p>`
    : b.rpc.kind === "local"
      ? html`<p id="self-check-rpc" data-rpc="local">${m.localRpc(b.rpc.url)}</p>`
      : ""
}
<button id="self-check-run" type="button">${m.verifyButton}</button>
<a id="self-check-download" href="${b.proofUrl}" download="${b.serial}.sealtrace-proof.json">${m.download}</a>
<ol id="self-check-results" aria-live="polite"></ol>
<p id="self-check-summary" aria-live="polite"></p>
<p class="muted">${m.downloadHint}</p>
</section>
<script type="module" src="/assets/self-check.js"></script>`;

  // A plain form (the page runs no inline script, and its CSP allows posting only to our own origin).
  const reportForm = b.reportSecret
    ? html`<section class="card report-price" aria-labelledby="report-h">
<h2 id="report-h">${m.reportPrice}</h2>
<p class="muted">${m.reportPriceText}</p>
<form method="post" action="/api/v1/price-reports">
<input type="hidden" name="serial" value="${b.serial}">
<input type="hidden" name="secret" value="${b.reportSecret}">
<input type="hidden" name="lang" value="${lang}">
<p><label for="report-price">${m.reportPriceLabel}</label><br>
<input id="report-price" name="price" type="text" inputmode="decimal" pattern="${AMOUNT_PATTERN}" maxlength="15" size="12" required autocomplete="off"></p>
<p><label for="report-store">${m.reportStoreLabel}</label><br>
<input id="report-store" name="store" type="text" maxlength="100" size="20" autocomplete="off"></p>
<button type="submit">${m.reportSubmit}</button>
</form>
</section>`
    : "";

  return layout(
    lang,
    m,
    model.switchUrl,
    html`${verdict}
<main>
${b.memberOffer ?? ""}
${product}
${scanSection}
${b.steps.length > 0 ? timeline : ""}
${b.proofUrl ? selfCheck : ""}
${reportForm}
</main>`,
  );
}
