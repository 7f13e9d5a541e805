/**
 * The HTML document every public page shares: language, phone viewport, no referrer, our
 * stylesheet, the footer. Callers pass escaped content built with `html` (and, like the console,
 * may add their own stylesheets and scripts to the head).
 */
import { html, type SafeHtml } from "./html.ts";
import type { Lang } from "./lang.ts";

const FOOTER: Record<Lang, string> = {
  zh: "SealTrace 一物一码 · 记录锚定于区块链",
  en: "SealTrace · one bottle, one code · history anchored on a blockchain",
};

export function pageDocument(lang: Lang, title: string, body: SafeHtml, footerExtra: SafeHtml | "" = "", head: SafeHtml | "" = ""): string {
  return html`<!doctype html>
<html lang="${lang === "zh" ? "zh-CN" : "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · SealTrace</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/page.css">
${head}
</head>
<body>
${body}
<footer><span>${FOOTER[lang]}</span>${footerExtra}</footer>
</body>
</html>
`.value;
}
