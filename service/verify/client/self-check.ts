/// <reference lib="dom" />
/**
 * "Verify it yourself": the consumer page's in-browser verifier, served bundled as
 * /assets/self-check.js (see ../assets.ts). It fetches the bottle's proof bundle and re-does, one
 * visible step at a time, what `npm run verify-proof -- --rpc` does, with service/core's own code
 * (`verifyBundle`, `checkOnChain`; see verifier.ts): every hash, membership and Merkle proof, the
 * bottle's identity, the proof that its history is complete, then asks the chain's JSON-RPC
 * endpoint directly for the chain id, the registry's code, every batch's root and when the head
 * proof's batch was anchored. Nothing is taken from our server but the bundle itself, checked
 * against the chain and registry the page names (the server's configuration, shown on the page).
 *
 * The page's contract (service/verify/page.ts renders it):
 *   <section id="self-check" data-bundle-url data-rpc-url data-lang="zh|en"
 *            data-serial data-gtin (the QR code's) data-chain-id data-registry (trusted)>
 *     <button id="self-check-run"> <ol id="self-check-results"> <p id="self-check-summary">
 * Each step appends <li class="check pass|fail|pending" data-check="NAME"> (names: fetch, and
 * verifier.ts's); at the end the section gets data-verdict="pass|incomplete|fail".
 *
 * The page's CSP allows only this script ('self'), no inline styles and connections to 'self' and
 * the RPC origin: text goes in through textContent, state through classes and data attributes.
 */
import { CheckError, fetchRpc, hostOf, listReport, reason, TEXTS, verifyInBrowser, type Lang, type TrustSetting } from "./verifier.ts";

/** Pause between steps, so that each check can be seen as it passes (about a second in all). */
const PACE_MS = 40;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

const FETCH_TEXTS: Record<Lang, { fetchFailed: (why: string) => string; notJson: string; verdictBug: (why: string) => string }> = {
  zh: { fetchFailed: (why) => `无法获取证明文件：${why}`, notJson: "证明文件不是有效的 JSON", verdictBug: (why) => `核验程序出错：${why}` },
  en: {
    fetchFailed: (why) => `Could not load the proof: ${why}`,
    notJson: "the proof is not valid JSON",
    verdictBug: (why) => `The checker itself failed: ${why}`,
  },
};

/** The bundle, from our server: the only thing it is trusted to provide, and checked below. */
async function fetchBundle(url: string, lang: Lang): Promise<unknown> {
  const response = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new CheckError(TEXTS[lang].http(response.status));
  try {
    return await response.json();
  } catch {
    throw new CheckError(FETCH_TEXTS[lang].notJson);
  }
}

/** Wires the checks to the page's #self-check section. */
function attach(section: HTMLElement): void {
  const button = section.querySelector<HTMLButtonElement>("#self-check-run");
  const results = section.querySelector<HTMLOListElement>("#self-check-results");
  const summary = section.querySelector<HTMLElement>("#self-check-summary");
  if (button === null || results === null || summary === null) return;
  const data = section.dataset;
  const lang: Lang = data.lang === "en" ? "en" : "zh";
  const t = TEXTS[lang];
  const chainId = Number(data.chainId);
  const trust: TrustSetting | null =
    Number.isSafeInteger(chainId) && ADDRESS.test(data.registry ?? "") ? { chainId, registry: data.registry!, source: "server" } : null;

  let running = false;
  button.addEventListener("click", () => {
    if (running) return;
    running = true;
    button.disabled = true;
    section.setAttribute("aria-busy", "true");
    section.removeAttribute("data-verdict");
    results.replaceChildren();
    summary.textContent = lang === "zh" ? "正在核验…" : "Checking…";

    const draw = listReport(results, PACE_MS);
    const rpcUrl = data.rpcUrl ?? "";
    const finish = (verdict: "pass" | "incomplete" | "fail", text: string): void => {
      summary.textContent = text;
      section.dataset.verdict = verdict;
    };

    (async () => {
      let bundle: unknown;
      try {
        bundle = await fetchBundle(data.bundleUrl ?? "", lang);
      } catch (error) {
        const text = FETCH_TEXTS[lang].fetchFailed(reason(error, t));
        await draw({ name: "fetch", status: "fail", text });
        finish("fail", t.failed(`${text}${lang === "zh" ? "。" : "."}`, 1, 1));
        return;
      }
      const result = await verifyInBrowser(
        bundle,
        {
          lang,
          rpc: rpcUrl === "" ? null : fetchRpc(rpcUrl, lang),
          rpcHost: hostOf(rpcUrl),
          // Without the server's chain the check trusts nothing: every bundle then fails its chain step.
          trust: trust ?? { chainId: -1, registry: "0x0000000000000000000000000000000000000000", source: "server" },
          expect: { serial: data.serial || undefined, gtin: data.gtin || undefined },
          timeZone: "Asia/Shanghai",
        },
        draw,
      );
      finish(result.status === "valid" ? "pass" : result.status === "incomplete" ? "incomplete" : "fail", result.summary);
    })()
      .catch(async (error: unknown) => {
        // A bug of ours, not a verdict on the bottle: still shown as a failure, never swallowed.
        const text = FETCH_TEXTS[lang].verdictBug(reason(error, t));
        await draw({ name: "bundle", status: "fail", text });
        finish("fail", text);
      })
      .finally(() => {
        running = false;
        button.disabled = false;
        section.removeAttribute("aria-busy");
      });
  });
}

const section = document.getElementById("self-check");
if (section !== null) attach(section);
