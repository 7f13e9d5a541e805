/// <reference lib="dom" />
/**
 * The standalone verifier's page script: scripts/build-verifier.ts inlines it (bundled with
 * service/core and verifier.ts, nothing else) into dist/sealtrace-verifier.html, one file anyone
 * can host or open from disk, whose SHA-256 the README publishes. It reads a bundle file picked by
 * the user (FileReader: nothing is uploaded), asks the JSON-RPC URL the user typed, and trusts the
 * chain id and registry the user pinned, or else, said plainly, those the bundle names.
 *
 * Markup contract (the build's template): form#verify with input#bundle-file, #rpc-url, #chain-id,
 * #registry, #max-age; section#verifier with #trusted, ol#results and #summary. Each step appends
 * <li class="check pass|fail|pending" data-check="NAME">; at the end section#verifier gets
 * data-verdict="valid|incomplete|invalid" (or "error" when the form is not filled in right: no
 * verdict). Elements with data-t="KEY" take their words from WORDS.
 * The file's CSP allows this inline script and style only (by hash), and connections anywhere (the
 * RPC is the user's choice): text goes in through textContent, state through classes and data.
 */
import { DEFAULT_MAX_AGE_SECONDS } from "../../core/onchain.ts";
import { fetchRpc, hostOf, listReport, short, TEXTS, verifyInBrowser, type Lang, type TrustSetting } from "./verifier.ts";

const PACE_MS = 25;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

const WORDS: Record<Lang, Record<string, string>> = {
  en: {
    title: "SealTrace proof verifier",
    intro:
      "Checks a bottle's SealTrace proof file in this browser, with no server of ours: every hash and proof is recomputed here, and the chain is asked directly. The file is read here and never uploaded.",
    fileLabel: "Proof file (.json)",
    rpcLabel: "Chain JSON-RPC URL",
    rpcHint: "A node of the chain the proof names, e.g. a public RPC endpoint. Only this address is contacted.",
    trustLegend: "What to trust (recommended)",
    chainLabel: "Chain id",
    registryLabel: "Registry contract address",
    trustHint:
      "Left empty, they are taken from the proof file itself: pin them to the values the brand publishes, or a forged history anchored on another registry would pass.",
    maxAgeLabel: "Completeness proof may be this old (seconds)",
    run: "Verify",
    result: "Result",
    footer: "SealTrace standalone verifier · compare this file's SHA-256 with the one the README publishes",
    switchLang: "中文",
    running: "Checking…",
    noFile: "Pick a proof file first.",
    badRpc: "Type the chain's JSON-RPC URL (http:// or https://).",
    badChainId: "The chain id must be a whole number.",
    badRegistry: "The registry address must be 0x followed by 40 hex digits.",
    badMaxAge: "The age must be a whole number of seconds.",
    notJson: "The file is not valid JSON",
    unreadable: "The file could not be read",
    trusted: "Trusted:",
    trustedPinned: "(pinned by you)",
    trustedBundle: "(taken from the proof file: pin it)",
    trustedNone: "Nothing to trust: the proof names no chain and none was typed.",
    verdictValid: "Valid",
    verdictIncomplete: "Incomplete",
    verdictInvalid: "Invalid",
  },
  zh: {
    title: "SealTrace 证明核验工具",
    intro: "在本浏览器中核验一瓶酒的 SealTrace 证明文件，无需经过我们的服务器：每个哈希和证明都在此重新计算，并直接向区块链查询。文件只在本地读取，不会上传。",
    fileLabel: "证明文件（.json）",
    rpcLabel: "区块链 JSON-RPC 地址",
    rpcHint: "证明文件所指区块链的节点，例如公共 RPC 地址。只会连接这个地址。",
    trustLegend: "信任的对象（建议填写）",
    chainLabel: "链 ID",
    registryLabel: "锚定合约地址",
    trustHint: "留空时取自证明文件本身：请填写品牌方公布的值，否则锚定在其他合约上的伪造记录也能通过。",
    maxAgeLabel: "完整性证明的最长时效（秒）",
    run: "开始核验",
    result: "核验结果",
    footer: "SealTrace 独立核验工具 · 请将此文件的 SHA-256 与 README 公布的值核对",
    switchLang: "English",
    running: "正在核验…",
    noFile: "请先选择证明文件。",
    badRpc: "请输入区块链的 JSON-RPC 地址（http:// 或 https://）。",
    badChainId: "链 ID 必须是整数。",
    badRegistry: "合约地址必须是 0x 加 40 位十六进制数字。",
    badMaxAge: "时效必须是整数秒。",
    notJson: "文件不是有效的 JSON",
    unreadable: "无法读取文件",
    trusted: "所信任的：",
    trustedPinned: "（由您指定）",
    trustedBundle: "（取自证明文件：请指定）",
    trustedNone: "没有可信任的对象：证明文件未指明区块链，也未填写。",
    verdictValid: "有效",
    verdictIncomplete: "未完成",
    verdictInvalid: "无效",
  },
};

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
};

function readFile(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("read error"));
    reader.readAsText(file);
  });
}

let lang: Lang = (navigator.language ?? "").toLowerCase().startsWith("zh") ? "zh" : "en";

function applyLang(): void {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll<HTMLElement>("[data-t]")) {
    const text = WORDS[lang][element.dataset.t ?? ""];
    if (text !== undefined) element.textContent = text;
  }
  document.title = WORDS[lang].title!;
}

/** The words and the verdict for one run; the form's values are read when it is submitted. */
async function run(): Promise<void> {
  const w = WORDS[lang];
  const section = byId("verifier");
  const results = byId<HTMLOListElement>("results");
  const summary = byId("summary");
  const trusted = byId("trusted");
  const verdictLine = byId("verdict");
  section.removeAttribute("data-verdict");
  results.replaceChildren();
  trusted.replaceChildren();
  verdictLine.textContent = "";
  const stop = (text: string): void => {
    summary.textContent = text;
    section.dataset.verdict = "error";
  };

  const file = byId<HTMLInputElement>("bundle-file").files?.[0];
  const rpcUrl = byId<HTMLInputElement>("rpc-url").value.trim();
  const chainText = byId<HTMLInputElement>("chain-id").value.trim();
  const registryText = byId<HTMLInputElement>("registry").value.trim();
  const maxAgeText = byId<HTMLInputElement>("max-age").value.trim();
  if (file === undefined) return stop(w.noFile!);
  if (!/^https?:\/\/./i.test(rpcUrl)) return stop(w.badRpc!);
  if (chainText !== "" && !/^[0-9]{1,15}$/.test(chainText)) return stop(w.badChainId!);
  if (registryText !== "" && !ADDRESS.test(registryText)) return stop(w.badRegistry!);
  if (maxAgeText !== "" && !/^[0-9]{1,9}$/.test(maxAgeText)) return stop(w.badMaxAge!);
  summary.textContent = w.running!;

  let bundle: unknown;
  try {
    const text = await readFile(file);
    try {
      bundle = JSON.parse(text);
    } catch {
      return stop(`${w.notJson} (${file.name}).`);
    }
  } catch (error) {
    return stop(`${w.unreadable}: ${(error as Error).message}`);
  }

  // What is trusted, said first: pinned by the user, or (said so) taken from the bundle.
  const named = typeof bundle === "object" && bundle !== null ? (bundle as { chain?: { chainId?: unknown; registry?: unknown } }).chain : undefined;
  const chainId = chainText !== "" ? Number(chainText) : Number.isSafeInteger(named?.chainId) ? (named!.chainId as number) : null;
  const registry = registryText !== "" ? registryText : typeof named?.registry === "string" ? named.registry : null;
  let trust: TrustSetting | null = null;
  if (chainId !== null && registry !== null) {
    trust = {
      chainId,
      registry,
      source: chainText !== "" && registryText !== "" ? "pinned" : "bundle",
      maxAgeSeconds: maxAgeText === "" ? DEFAULT_MAX_AGE_SECONDS : Number(maxAgeText),
    };
    const part = (label: string, value: string, pinned: boolean): HTMLElement => {
      const span = document.createElement("span");
      span.className = pinned ? "pinned" : "unpinned";
      span.textContent = `${label} ${value} ${pinned ? w.trustedPinned : w.trustedBundle}`;
      span.title = value;
      return span;
    };
    const label = document.createElement("strong");
    label.textContent = w.trusted!;
    trusted.append(
      label,
      document.createElement("br"),
      part(w.chainLabel!, String(chainId), chainText !== ""),
      document.createElement("br"),
      part(w.registryLabel!, short(registry), registryText !== ""),
    );
  } else {
    trusted.textContent = w.trustedNone!;
  }

  const draw = listReport(results, PACE_MS);
  const result = await verifyInBrowser(bundle, { lang, rpc: fetchRpc(rpcUrl, lang), rpcHost: hostOf(rpcUrl), trust, timeZone: "UTC" }, draw);
  verdictLine.textContent = result.status === "valid" ? w.verdictValid! : result.status === "incomplete" ? w.verdictIncomplete! : w.verdictInvalid!;
  summary.textContent = result.summary;
  section.dataset.verdict = result.status;
}

function start(): void {
  applyLang();
  const form = byId<HTMLFormElement>("verify");
  const button = byId<HTMLButtonElement>("run");
  let running = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (running) return;
    running = true;
    button.disabled = true;
    byId("verifier").setAttribute("aria-busy", "true");
    run()
      .catch((error: unknown) => {
        byId("summary").textContent = `${TEXTS[lang].failed((error as Error).message ?? String(error), 1, 1)}`;
        byId("verifier").dataset.verdict = "invalid";
      })
      .finally(() => {
        running = false;
        button.disabled = false;
        byId("verifier").removeAttribute("aria-busy");
      });
  });
  byId<HTMLButtonElement>("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    applyLang();
  });
}

start();
