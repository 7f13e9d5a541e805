/// <reference lib="dom" />
/**
 * The browser verifiers' shared part: the consumer page's "verify it yourself" (self-check.ts) and
 * the standalone verifier (standalone.ts, built into one HTML file by scripts/build-verifier.ts).
 *
 * It decides nothing itself: core's `verifyBundle` is the single source of truth for every offline
 * check and core's `checkOnChain` for every question to the chain (over a fetch-based JSON-RPC), as
 * in `npm run verify-proof`. What it adds is presentation: each problem core finds is shown on the
 * visible step it belongs to, in Chinese or English, and the verdict is said in words:
 *
 *   valid       every link anchored, every root compared with the trusted registry, the history
 *               proven complete by a fresh head proof (format 1: completeness is not provable);
 *   incomplete  nothing wrong found, but something is not proven yet (pending links, no head proof,
 *               no root compared): never shown as a pass;
 *   invalid     a problem, or the chain could not be asked.
 *
 * Steps (data-check names): format, identity, event:<i> (i = index in bundle.events, from 0),
 * link:<n>, proof:<n> (n = the link's number, from 1), batch:<seq>, head, chain, root:<seq>, fresh.
 * Text goes in through textContent only: both pages forbid inline styles and scripts.
 */
import { verifyBundle, type Problem, type Verdict } from "../../core/bundle.ts";
import { checkOnChain, DEFAULT_MAX_AGE_SECONDS, type ChainCheck, type Rpc } from "../../core/onchain.ts";
import { timeFormat } from "../../web/time.ts";
import { STEP_LABELS } from "../step-labels.ts";

export type Lang = "zh" | "en";
export type StepStatus = "pass" | "fail" | "pending";
export type Status = "valid" | "incomplete" | "invalid";

export interface Step {
  name: string;
  status: StepStatus;
  text: string;
}

/** Receives each step as it is decided (the UI draws it, and may pause so it can be seen). */
export type Report = (step: Step) => Promise<void>;

/** The chain and registry the check trusts; `source` says where they came from, for the words. */
export interface TrustSetting {
  chainId: number;
  registry: string;
  source: "server" | "pinned" | "bundle";
  maxAgeSeconds?: number;
}

export interface RunOptions {
  lang: Lang;
  /** The chain's JSON-RPC, or null: then no root is compared and the verdict is at most incomplete. */
  rpc: Rpc | null;
  /** Who answers `rpc` (its host), for the words. */
  rpcHost: string;
  /** Null: trust the chain and registry the bundle names (the standalone verifier without pins). */
  trust: TrustSetting | null;
  /** What the page knows about the bottle from the QR code it was opened with. */
  expect?: { serial?: string; gtin?: string };
  /** How times are shown (the page: China Standard Time; the standalone verifier: UTC). */
  timeZone?: string;
  /** Now, in seconds since 1970 (tests may fix it). */
  now?: number;
}

export interface RunResult {
  status: Status;
  summary: string;
  steps: Step[];
  /** The chain and registry actually trusted (null when the bundle names none). */
  trusted: TrustSetting | null;
}

/**
 * Draws each step as it is reported: an <li class="check pass|fail|pending" data-check="NAME"> in
 * `list` (text through textContent only), then a pause of `paceMs` so each can be seen as it passes.
 */
export function listReport(list: HTMLElement, paceMs: number): Report {
  return async (step) => {
    const item = document.createElement("li");
    item.className = `check ${step.status}`;
    item.dataset.check = step.name;
    item.textContent = step.text;
    list.append(item);
    await new Promise((resolve) => setTimeout(resolve, paceMs)); // let the browser draw it before the next check
  };
}

export function short(hex: string): string {
  return hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex;
}

const zh = {
  formatOk: (format: string, serial: string, events: number, links: number) =>
    `证明文件格式正确（${format}）：瓶号 ${serial}，${events} 个事件，${links} 环记录`,
  formatBad: "证明文件格式不正确",
  identityOk: (brand: string, gtin: string, lot: string | null, serial: string) =>
    `第 1 环锁定此瓶的身份：品牌 ${brand}，GTIN ${gtin}${lot === null ? "" : `，批次 ${lot}`}，瓶号 ${serial}`,
  identityQr: "，与二维码一致",
  identityBad: "此瓶的身份有误",
  identityUnbound: "身份未锁定：此瓶的记录链始于格式 2 之前，第 1 环未包含品牌、GTIN 和批次",
  otherGtin: (found: string, qr: string) => `证明文件的 GTIN（${found}）与二维码的 GTIN（${qr}）不同`,
  otherSerial: (found: string, qr: string) => `证明文件是瓶 ${found} 的，而此页面是瓶 ${qr} 的`,
  eventOk: (k: number, type: string, member: boolean) =>
    `事件 ${k}（${type}）：内容与其哈希一致${member ? "，成员证明表明它包含此瓶（不显示其他瓶号）" : "，并列出此瓶"}`,
  eventBad: (k: number, type: string) => `事件 ${k}（${type}）有误`,
  linkOk: (n: number, type: string) => (n === 1 ? `第 1 环（${type}）：哈希正确，是记录链的开端` : `第 ${n} 环（${type}）：哈希正确，紧接第 ${n - 1} 环`),
  linkBad: (n: number) => `第 ${n} 环有误`,
  proofOk: (n: number, seq: number) => `第 ${n} 环的默克尔证明通向批次 ${seq} 的记录根`,
  proofPending: (n: number) => `第 ${n} 环尚未上链`,
  proofByHead: (n: number, seq: number) => `第 ${n} 环由完整性证明覆盖（记于批次 ${seq}；此证明文件未附其单独的默克尔证明）`,
  proofBad: (n: number) => `第 ${n} 环的锚定有误`,
  batchOk: (seq: number, format: number) =>
    format === 2 ? `批次 ${seq} 的根同时承诺其记录和所有瓶的最新一环（头部映射）` : `批次 ${seq}（格式 1）的根只承诺其记录`,
  batchBad: (seq: number) => `批次 ${seq} 有误`,
  headOk: (seq: number, time: string | null, n: number) =>
    `记录完整，截至批次 ${seq}${time === null ? "" : `（锚定于 ${time}）`}：其头部映射记录此瓶的最后一环为第 ${n} 环，没有记录被略去`,
  headNone: "完整性尚未证明：还没有已上链的批次记录此瓶的最后一环",
  headFormat1: "格式 1：无法证明记录完整（无法表明没有记录被略去）",
  headPartial: "完整性只证明到较早的一环：其后的记录在之后的批次中上链",
  headUnbound: "完整性未证明：此瓶的记录链始于格式 2 之前",
  headBad: "完整性证明有误",
  chainOk: (host: string, chainId: number, registry: string) => `区块链节点 ${host} 是链 ${chainId}，合约 ${short(registry)} 在该链上，与证明文件所指一致`,
  chainBad: (host: string) => `区块链节点 ${host}：核对失败`,
  chainUnreachable: (host: string, why: string) => `无法查询区块链节点 ${host}：${why}`,
  chainSkipped: "证明文件没有指明区块链，无法向链上核对",
  rootOk: (seq: number, registry: string) => `链上合约 ${short(registry)} 登记的批次 ${seq} 的根与证明一致`,
  rootBad: (seq: number) => `批次 ${seq} 的根与链上不符`,
  freshOk: (seq: number, time: string, block: number, latest: number) => `链上记录：批次 ${seq} 于 ${time} 上链（区块 ${block}）；合约的最新批次为 ${latest}`,
  freshBad: (seq: number) => `批次 ${seq} 的完整性证明已过期或无法在链上找到`,
  noRpc: "没有区块链节点：链上的根未核对",
  valid: (n: number, seq: number | null, time: string | null) =>
    seq === null
      ? `全部 ${n} 项检查通过：证明文件所示的记录均已上链，但此瓶的记录始于证明格式 2 之前，无法证明没有记录被略去。`
      : `全部 ${n} 项检查通过：此瓶的完整记录（截至批次 ${seq}${time === null ? "" : `，锚定于 ${time}`}）与链上一致。`,
  incomplete: (reasons: string[]) => `核验尚未完成：${reasons.join("；")}。目前未发现问题，但这不是“通过”；请几秒后再核验。`,
  pendingLinks: (k: number) => `${k} 环记录尚未上链`,
  notComplete: "记录的完整性尚未得到证明",
  rootsNone: "链上的根未核对",
  failed: (first: string, failed: number, total: number) => `核验未通过（${total} 项中 ${failed} 项失败）。${first}`,
  rootsUnchecked: "链上的根未能核对。",
  http: (status: number) => `服务器返回 ${status}`,
  network: "连接失败（网络错误，或节点拒绝此页面的请求）",
  timeout: "超时",
  rpcError: (message: string) => `节点返回错误：${message}`,
  rpcBadAnswer: "节点的回答无法识别",
  sep: "：",
  join: "；",
  expected: (e: string, f: string) => `（应为 ${e}，实为 ${f}）`,
};

type Texts = typeof zh;

const en: Texts = {
  formatOk: (format, serial, events, links) => `The proof is well-formed (${format}): bottle ${serial}, ${events} events, ${links} links`,
  formatBad: "The proof is malformed",
  identityOk: (brand, gtin, lot, serial) =>
    `Link 1 binds the bottle's identity: brand ${brand}, GTIN ${gtin}${lot === null ? "" : `, lot ${lot}`}, serial ${serial}`,
  identityQr: ", as on the QR code",
  identityBad: "The bottle's identity is wrong",
  identityUnbound: "Identity not bound: this bottle's chain began before format 2, so link 1 does not commit to its brand, GTIN and lot",
  otherGtin: (found, qr) => `the proof's GTIN (${found}) is not the QR code's (${qr})`,
  otherSerial: (found, qr) => `the proof is for bottle ${found}, but this page is for bottle ${qr}`,
  eventOk: (k, type, member) =>
    `Event ${k} (${type}): content matches its hash${member ? "; its membership proof shows it names this bottle (without showing the others)" : ", and it lists this bottle"}`,
  eventBad: (k, type) => `Event ${k} (${type}) is wrong`,
  linkOk: (n, type) => (n === 1 ? `Link 1 (${type}): hash correct, starts the chain` : `Link ${n} (${type}): hash correct, follows link ${n - 1}`),
  linkBad: (n) => `Link ${n} is wrong`,
  proofOk: (n, seq) => `Link ${n}'s Merkle proof leads to batch ${seq}'s links root`,
  proofPending: (n) => `Link ${n} is not anchored yet`,
  proofByHead: (n, seq) =>
    `Link ${n} is covered by the completeness proof (sealed in batch ${seq}, by the proof's account: its own Merkle proof is not included)`,
  proofBad: (n) => `Link ${n}'s anchor is wrong`,
  batchOk: (seq, format) =>
    format === 2
      ? `Batch ${seq}'s root commits to its links and to every bottle's last link (the heads map)`
      : `Batch ${seq} (format 1) commits to its links only`,
  batchBad: (seq) => `Batch ${seq} is wrong`,
  headOk: (seq, time, n) =>
    `Complete as of batch ${seq}${time === null ? "" : `, anchored at ${time}`}: its heads map records link ${n} as this bottle's last, so no link was left out`,
  headNone: "Completeness not proven: no anchored batch records this bottle's last link yet",
  headFormat1: "Format 1: completeness not proven (nothing shows that no link was left out)",
  headPartial: "Completeness proven only up to an earlier link: later links were anchored in later batches",
  headUnbound: "Completeness not proven: this bottle's chain began before format 2",
  headBad: "The completeness proof is wrong",
  chainOk: (host, chainId, registry) =>
    `The chain node at ${host} is chain ${chainId}, registry ${short(registry)} is a contract there, and the proof names the same`,
  chainBad: (host) => `The chain node at ${host}: the check failed`,
  chainUnreachable: (host, why) => `Could not ask the chain node at ${host}: ${why}`,
  chainSkipped: "The proof names no chain, so nothing could be compared with one",
  rootOk: (seq, registry) => `The root of batch ${seq} registered on chain (contract ${short(registry)}) matches the proof`,
  rootBad: (seq) => `The root of batch ${seq} does not match the chain`,
  freshOk: (seq, time, block, latest) => `On chain: batch ${seq} was anchored at ${time} (block ${block}); the registry's latest batch is ${latest}`,
  freshBad: (seq) => `Batch ${seq}'s completeness proof is stale or not found on chain`,
  noRpc: "No chain node: the roots on chain were not compared",
  valid: (n, seq, time) =>
    seq === null
      ? `All ${n} checks passed: what the proof shows was anchored, but this bottle's history began before proof format 2, so nothing proves that no link was left out.`
      : `All ${n} checks passed: this bottle's whole history, complete as of batch ${seq}${time === null ? "" : ` (anchored at ${time})`}, matches the chain.`,
  incomplete: (reasons) =>
    `Incomplete, not verified yet: ${reasons.join("; ")}. Nothing wrong was found, but this is not a pass: check again in a few seconds.`,
  pendingLinks: (k) => `${k} link${k === 1 ? " is" : "s are"} not anchored yet`,
  notComplete: "the history is not yet proven complete",
  rootsNone: "no root was compared with the chain",
  failed: (first, failed, total) => `Verification failed: ${failed} of ${total} checks did not pass. ${first}`,
  rootsUnchecked: "The roots on chain could not be checked.",
  http: (status) => `the server answered ${status}`,
  network: "could not connect (a network error, or the node refuses requests from this page)",
  timeout: "timed out",
  rpcError: (message) => `the node answered with an error: ${message}`,
  rpcBadAnswer: "the node's answer was not understood",
  sep: ": ",
  join: "; ",
  expected: (e, f) => ` (expected ${e}, found ${f})`,
};

export const TEXTS: Record<Lang, Texts> = { zh, en };

/**
 * Core's problems in Chinese, for the ones a consumer is likely to meet (tampering, truncation,
 * another registry, staleness). Anything else is shown as core says it, in English.
 */
const ZH_PROBLEMS: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^the event's content does not match its hash/, () => "内容与其哈希不符（事件被改动过）"],
  [/^the membership proof does not show that the event names bottle (.+)$/, (m) => `成员证明不能表明此事件包含瓶 ${m[1]}`],
  [/^a format-2 event needs this bottle's membership proof/, () => "缺少此瓶的成员证明"],
  [/^the event does not list serial (.+)$/, (m) => `事件没有列出瓶号 ${m[1]}`],
  [/^the event is not part of the bottle's chain of links/, () => "不属于此瓶的记录链"],
  [/^the event appears twice/, () => "事件重复出现"],
  [/^events must be in the order of the links/, () => "事件的顺序与记录链不符（顺序被打乱）"],
  [/^a bundle holds one event per link/, () => "事件数与记录环数不符"],
  [
    /^link (\d+) claims batch (\d+) without a proof, and the head proof \(batch (\d+)\) does not cover it/,
    (m) => `第 ${m[1]} 环自称在批次 ${m[2]} 中，但没有其默克尔证明，而完整性证明（批次 ${m[3]}）不涵盖它`,
  ],
  [/^a link without a Merkle proof of its own needs the head proof/, () => "此环没有单独的默克尔证明，而证明文件缺少完整性证明"],
  [
    /^link (\d+) is in batch (\d+), after batch (\d+), whose heads map already records link (\d+)/,
    (m) => `第 ${m[1]} 环自称在批次 ${m[2]} 中，但批次 ${m[3]} 的头部映射已记录到第 ${m[4]} 环`,
  ],
  [/^an anchor must be/, () => "锚定信息格式不正确"],
  [
    /^link (\d+) is shown as pending, but batch (\d+)'s heads map records link (\d+)/,
    (m) => `第 ${m[1]} 环被标为尚未上链，但批次 ${m[2]} 的头部映射已记录到第 ${m[3]} 环：它早已上链`,
  ],
  [/^the link is for another bottle/, () => "属于另一瓶"],
  [/^links are out of order or have a gap/, () => "序号不连续（记录有缺失或顺序被打乱）"],
  [/^the first link does not commit to this bottle's/, () => "第 1 环与证明文件所写的品牌、GTIN、批次或瓶号不符（文件头被改动过）"],
  [/^prev is not the previous link's linkHash/, () => "没有连到上一环（记录链断开）"],
  [/^the link's content does not match its linkHash/, () => "内容与其哈希不符"],
  [/^the link points at an event the bundle does not contain/, () => "指向的事件不在证明文件中"],
  [/^two links point at the same event/, () => "两环指向同一事件"],
  [/^link (\d+) is anchored but link (\d+) before it is not/, (m) => `第 ${m[1]} 环已上链，但其前的第 ${m[2]} 环尚未上链`],
  [/^batch (\d+) is not among the bundle's batches/, (m) => `证明文件中没有批次 ${m[1]}`],
  [/^the Merkle proof does not lead from the link's leaf to batch (\d+)'s links root/, (m) => `默克尔证明无法从此环通向批次 ${m[1]} 的记录根`],
  [
    /^link (\d+) is in batch (\d+), but batch (\d+)'s heads map ends this bottle's history at link (\d+)/,
    (m) => `第 ${m[1]} 环在批次 ${m[2]} 中，但批次 ${m[3]} 的头部映射表明此瓶的记录止于第 ${m[4]} 环`,
  ],
  [/^the root is not node\(linksRoot, headsRoot, headsDepth\)/, () => "批次的根与其记录根和头部根不符"],
  [/^batch (\d+) is not used by any link or by the head proof/, (m) => `批次 ${m[1]} 未被任何一环或完整性证明使用`],
  [/^batch (\d+) is listed twice/, (m) => `批次 ${m[1]} 重复出现`],
  [/^the head proof does not lead to batch (\d+)'s heads root/, (m) => `完整性证明无法通向批次 ${m[1]} 的头部根`],
  [
    /^batch (\d+)'s heads map records link (\d+) as this bottle's last, but the bundle stops at link (\d+)/,
    (m) => `批次 ${m[1]} 的头部映射记录此瓶的最后一环为第 ${m[2]} 环，而证明文件只到第 ${m[3]} 环：有记录被略去`,
  ],
  [/^batch (\d+)'s heads map records another link (\d+)/, (m) => `批次 ${m[1]} 的头部映射所记录的第 ${m[2]} 环与证明文件不同`],
  [/^the bundle names another chain than the one trusted/, () => "证明文件指明的区块链与所信任的不同"],
  [/^the bundle names another registry than the one trusted/, () => "证明文件指明的合约与所信任的不同"],
  [/^the RPC serves another chain than the one trusted/, () => "节点所在的区块链与所信任的不同"],
  [/^no contract is deployed at (\S+) on chain (\d+)/, (m) => `链 ${m[2]} 上的地址 ${short(m[1]!)} 没有合约`],
  [/^the registry holds no root for batch (\d+)/, (m) => `链上合约没有批次 ${m[1]} 的根`],
  [/^the registry holds a different root for batch (\d+)/, (m) => `链上登记的批次 ${m[1]} 的根与证明文件不同：记录可能被篡改`],
  [/^the registry has no BatchAnchored event for batch (\d+)/, (m) => `链上合约没有批次 ${m[1]} 的上链记录`],
  [
    /^stale: the registry has held batch (\d+) .* since (\S+), longer than (\d+) s/,
    (m) => `已过期：合约自 ${m[2]} 起已有更新的批次 ${m[1]}，超过 ${m[3]} 秒，此后可能新增了记录；请重新获取证明文件`,
  ],
];

function problemText(problem: Problem, t: Texts, lang: Lang): string {
  let message = problem.message;
  if (lang === "zh") {
    for (const [pattern, words] of ZH_PROBLEMS) {
      const match = pattern.exec(message);
      if (match) {
        message = words(match);
        break;
      }
    }
  }
  const shown = (value: string) => (/^0x[0-9a-fA-F]{40,}$/.test(value) ? short(value) : value);
  return problem.expected !== undefined && problem.found !== undefined ? message + t.expected(shown(problem.expected), shown(problem.found)) : message;
}

/** A failure the user should read: a network problem, an HTTP status, a JSON-RPC error. */
export class CheckError extends Error {}

export function reason(error: unknown, t: Texts): string {
  if (error instanceof CheckError) return error.message;
  if (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")) return t.timeout;
  if (error instanceof TypeError) return t.network; // what fetch throws for refused connections, CORS, CSP
  return error instanceof Error ? error.message : String(error);
}

const RPC_TIMEOUT_MS = 10_000;

type Obj = Record<string, unknown>;
const isObject = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);

/** core/onchain.ts's `Rpc` over plain fetch (no ethers in the browser): JSON-RPC 2.0, one call a request. */
export function fetchRpc(url: string, lang: Lang): Rpc {
  const t = TEXTS[lang];
  let id = 0;
  return async (method, params) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
    });
    if (!response.ok) throw new CheckError(t.http(response.status));
    let answer: unknown;
    try {
      answer = await response.json();
    } catch {
      throw new CheckError(t.rpcBadAnswer);
    }
    if (isObject(answer) && isObject(answer.error)) throw new CheckError(t.rpcError(String(answer.error.message ?? answer.error.code)));
    if (!isObject(answer) || !("result" in answer)) throw new CheckError(t.rpcBadAnswer);
    return answer.result;
  };
}

export function hostOf(url: string): string {
  try {
    return new URL(url, globalThis.location?.href).host || url;
  } catch {
    return url;
  }
}

/** Which visible step shows a problem `verifyBundle` found at `path`. */
function stepOf(path: string, bundle: Obj): string {
  const event = /^events\[(\d+)\]/.exec(path);
  if (event) return `event:${event[1]}`;
  if (/^links\[0\]\.link\.prev$/.test(path)) return "identity";
  const link = /^links\[(\d+)\](\.anchor)?/.exec(path);
  if (link) return `${link[2] ? "proof" : "link"}:${Number(link[1]) + 1}`;
  const batch = /^batches\[(\d+)\]/.exec(path);
  if (batch) {
    const entry = Array.isArray(bundle.batches) ? bundle.batches[Number(batch[1])] : undefined;
    return isObject(entry) && Number.isSafeInteger(entry.seq) ? `batch:${entry.seq as number}` : "format";
  }
  if (path === "links" || path === "index" || path.startsWith("head")) return "head";
  return "format";
}

/** The type of the event a link points at, for the words. */
function eventTypes(bundle: Obj): Map<unknown, unknown> {
  const types = new Map<unknown, unknown>();
  if (Array.isArray(bundle.events)) {
    for (const entry of bundle.events) if (isObject(entry) && isObject(entry.event)) types.set(entry.eventHash, entry.event.type);
  }
  return types;
}

/** One run of the check: what every step reads, and how it reports. */
interface Run {
  options: RunOptions;
  lang: Lang;
  t: Texts;
  verdict: Verdict;
  obj: Obj;
  emit: (name: string, status: StepStatus, text: string) => Promise<void>;
  time: (value: string | number | null | undefined) => string | null;
  typeName: (type: unknown) => string;
  details: (problems: Problem[]) => string;
}

/** The bundle's steps, in order, and the problems each shows (core's, and what the QR code tells). */
interface BundleSteps {
  names: string[];
  byStep: Map<string, Problem[]>;
  /** Problems only the page can find (the QR code's bottle): they make the verdict invalid. */
  extra: Problem[];
  events: unknown[];
  links: unknown[];
  batches: Obj[];
  /** The bundle could not even be read: one format step, nothing else. */
  shapeOnly: boolean;
}

/** What the chain said about the registry the check trusts. */
interface ChainSteps {
  trusted: TrustSetting | null;
  onChain: ChainCheck | null;
  chainFailed: boolean;
}

/**
 * Checks `bundle` and reports every step in order. Never throws: a network error becomes a failing
 * step with its reason.
 */
export async function verifyInBrowser(bundle: unknown, options: RunOptions, report: Report): Promise<RunResult> {
  const { lang } = options;
  const t = TEXTS[lang];
  const steps: Step[] = [];
  const emit = async (name: string, status: StepStatus, text: string): Promise<void> => {
    const step = { name, status, text };
    steps.push(step);
    await report(step);
  };
  const time = (value: string | number | null | undefined): string | null => {
    if (value === null || value === undefined) return null;
    const date = new Date(typeof value === "number" ? value * 1000 : value);
    if (Number.isNaN(date.getTime())) return null;
    // As the consumer page shows times (service/web/time.ts formatTime); UTC is said so.
    const zone = options.timeZone ?? "UTC";
    return timeFormat(lang, zone).format(date) + (zone === "UTC" ? " UTC" : "");
  };
  // The page's step names, mid-sentence ("event 2 (shipped)"): with a small first letter.
  const typeName = (type: unknown): string => {
    const label = typeof type === "string" ? STEP_LABELS[lang][type] : undefined;
    return label === undefined ? (typeof type === "string" ? type : "?") : label.charAt(0).toLowerCase() + label.slice(1);
  };
  const details = (problems: Problem[]): string => problems.map((p) => problemText(p, t, lang)).join(t.join);

  const verdict: Verdict = verifyBundle(bundle);
  const obj: Obj = isObject(bundle) ? bundle : {};
  const run: Run = { options, lang, t, verdict, obj, emit, time, typeName, details };

  const plan = bundleSteps(run);
  await reportBundleSteps(run, plan);
  const chain = await reportChainSteps(run, plan.shapeOnly);
  const status = statusOf(run, plan, chain, steps);
  return { status, summary: summaryOf(run, plan, chain, steps, status), steps, trusted: chain.trusted };
}

/** The steps, in order, and the problems each shows. */
function bundleSteps({ options, t, verdict, obj }: Run): BundleSteps {
  const extra: Problem[] = [];
  const names: string[] = ["format"];
  const events = Array.isArray(obj.events) ? obj.events : [];
  const links = Array.isArray(obj.links) ? obj.links : [];
  const batches = (Array.isArray(obj.batches) ? obj.batches : []).filter((b): b is Obj => isObject(b) && Number.isSafeInteger(b.seq));
  const shapeOnly = verdict.linkCount === 0 && verdict.problems.length > 0;
  if (!shapeOnly) {
    names.push("identity", ...events.map((_, i) => `event:${i}`), ...links.map((_, i) => `link:${i + 1}`), ...links.map((_, i) => `proof:${i + 1}`));
    names.push(...new Set(batches.map((b) => `batch:${b.seq as number}`)), "head");
  }
  const byStep = new Map<string, Problem[]>(names.map((name) => [name, []]));
  for (const problem of verdict.problems) {
    const step = shapeOnly ? "format" : stepOf(problem.path, obj);
    (byStep.get(step) ?? byStep.get("format")!).push(problem);
  }
  // What the page knows from the QR code: the bundle must be this bottle's, with this GTIN.
  if (!shapeOnly && options.expect?.gtin && obj.gtin !== options.expect.gtin) {
    const p = { path: "gtin", message: t.otherGtin(String(obj.gtin), options.expect.gtin) };
    extra.push(p);
    byStep.get("identity")!.push(p);
  }
  if (!shapeOnly && options.expect?.serial && obj.serial !== options.expect.serial) {
    const p = { path: "serial", message: t.otherSerial(String(obj.serial), options.expect.serial) };
    extra.push(p);
    byStep.get("identity")!.push(p);
  }
  return { names, byStep, extra, events, links, batches, shapeOnly };
}

/** Reports the bundle's own steps: format, identity, events, links, proofs, batches, head. */
async function reportBundleSteps(run: Run, plan: BundleSteps): Promise<void> {
  const { options, t, verdict, obj, emit, time, typeName, details } = run;
  const { names, byStep, events, links, batches } = plan;
  const types = eventTypes(obj);
  for (const name of names) {
    const problems = byStep.get(name)!;
    const fail = (headline: string) => emit(name, "fail", headline + t.sep + details(problems));
    const [kind, arg] = name.split(":") as [string, string | undefined];
    const i = Number(arg);
    switch (kind) {
      case "format":
        if (problems.length > 0) await fail(t.formatBad);
        else await emit(name, "pass", t.formatOk(String(obj.format), String(obj.serial), events.length, links.length));
        break;
      case "identity":
        if (problems.length > 0) await fail(t.identityBad);
        else if (!verdict.identityBound) await emit(name, "pending", t.identityUnbound);
        else
          await emit(
            name,
            "pass",
            t.identityOk(String(obj.brand), String(obj.gtin), typeof obj.lot === "string" ? obj.lot : null, String(obj.serial)) +
              (options.expect?.gtin ? t.identityQr : ""),
          );
        break;
      case "event": {
        const entry = events[i];
        const type = typeName(isObject(entry) && isObject(entry.event) ? entry.event.type : undefined);
        if (problems.length > 0) await fail(t.eventBad(i + 1, type));
        else await emit(name, "pass", t.eventOk(i + 1, type, isObject(entry) && isObject(entry.member)));
        break;
      }
      case "link": {
        const entry = links[i - 1];
        const type = typeName(isObject(entry) && isObject(entry.link) ? types.get(entry.link.event) : undefined);
        if (problems.length > 0) await fail(t.linkBad(i));
        else await emit(name, "pass", t.linkOk(i, type));
        break;
      }
      case "proof": {
        const entry = links[i - 1];
        const anchor = isObject(entry) ? entry.anchor : undefined;
        if (problems.length > 0) await fail(t.proofBad(i));
        else if (verdict.pending.includes(i) || !isObject(anchor)) await emit(name, "pending", t.proofPending(i));
        else if (verdict.timesClaimed.includes(i)) await emit(name, "pass", t.proofByHead(i, anchor.seq as number));
        else await emit(name, "pass", t.proofOk(i, anchor.seq as number));
        break;
      }
      case "batch": {
        const batch = batches.find((b) => b.seq === i);
        if (problems.length > 0) await fail(t.batchBad(i));
        else await emit(name, "pass", t.batchOk(i, batch?.format === 2 ? 2 : 1));
        break;
      }
      case "head": {
        const complete = verdict.completeAsOf;
        if (problems.length > 0) await fail(t.headBad);
        else if (complete !== null) {
          const head = obj.head as { n: number };
          await emit(name, "pass", t.headOk(complete.seq, time(complete.blockTime), head.n));
        } else if (verdict.format === 1) await emit(name, "pending", t.headFormat1);
        else if (!isObject(obj.head)) await emit(name, "pending", t.headNone);
        else if (!verdict.identityBound) await emit(name, "pending", t.headUnbound);
        else await emit(name, "pending", `${t.headPartial} (${verdict.notes.filter((n) => n.startsWith("completeness")).join(t.join)})`);
        break;
      }
    }
  }
}

/** The chain, asked directly, about the registry the check trusts: chain, root:<seq>, fresh. */
async function reportChainSteps({ options, t, verdict, obj, emit, time, details }: Run, shapeOnly: boolean): Promise<ChainSteps> {
  const chainRef =
    isObject(obj.chain) && Number.isSafeInteger(obj.chain.chainId) && typeof obj.chain.registry === "string"
      ? { chainId: obj.chain.chainId as number, registry: obj.chain.registry }
      : null;
  const trusted: TrustSetting | null = options.trust ?? (chainRef === null ? null : { ...chainRef, source: "bundle" });
  let onChain: ChainCheck | null = null;
  let chainFailed = false;
  if (shapeOnly) {
    // Nothing to compare: the bundle could not even be read.
  } else if (options.rpc === null) {
    await emit("chain", "pending", t.noRpc);
  } else if (chainRef === null || trusted === null) {
    chainFailed = true;
    await emit("chain", "fail", t.chainSkipped);
  } else {
    const trust = {
      chainId: trusted.chainId,
      registry: trusted.registry,
      maxAgeSeconds: trusted.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
      now: options.now ?? Date.now() / 1000,
    };
    try {
      onChain = await checkOnChain(options.rpc, trust, chainRef, verdict);
    } catch (error) {
      chainFailed = true;
      await emit("chain", "fail", t.chainUnreachable(options.rpcHost, reason(error, t)));
    }
    if (onChain !== null) {
      const chainProblems = onChain.problems.filter((p) => p.path.startsWith("chain."));
      if (chainProblems.length > 0) await emit("chain", "fail", t.chainBad(options.rpcHost) + t.sep + details(chainProblems));
      else await emit("chain", "pass", t.chainOk(options.rpcHost, trust.chainId, trust.registry));
      if (chainProblems.length === 0) {
        for (const { seq, paths } of verdict.roots.slice(0, onChain.rootsChecked)) {
          const rootProblems = onChain.problems.filter((p) => p.path === paths.join(", "));
          if (rootProblems.length > 0) await emit(`root:${seq}`, "fail", t.rootBad(seq) + t.sep + details(rootProblems));
          else await emit(`root:${seq}`, "pass", t.rootOk(seq, trust.registry));
        }
      }
      const headProblems = onChain.problems.filter((p) => p.path === "head.seq");
      const anchored = onChain.completeAsOf;
      if (headProblems.length > 0) await emit("fresh", "fail", t.freshBad(verdict.completeAsOf?.seq ?? 0) + t.sep + details(headProblems));
      else if (anchored !== null) await emit("fresh", "pass", t.freshOk(anchored.seq, time(anchored.blockTime)!, anchored.blockNumber, onChain.latestSeq));
    }
  }
  return { trusted, onChain, chainFailed };
}

/** Whether every root was compared with the trusted registry, and none differed. */
function rootsCompared({ verdict }: Run, { onChain }: ChainSteps): boolean {
  return onChain !== null && onChain.problems.length === 0 && onChain.rootsChecked === verdict.roots.length && verdict.roots.length > 0;
}

/** The verdict: core's, made stricter by what only the chain and the page can tell. */
function statusOf(run: Run, plan: BundleSteps, chain: ChainSteps, steps: Step[]): Status {
  const { verdict } = run;
  const { onChain, chainFailed } = chain;
  if (verdict.status === "invalid" || plan.extra.length > 0 || chainFailed || (onChain?.problems.length ?? 0) > 0 || steps.some((s) => s.status === "fail"))
    return "invalid";
  if (verdict.status === "incomplete" || !rootsCompared(run, chain)) return "incomplete";
  return "valid";
}

/** The verdict in words. */
function summaryOf(run: Run, plan: BundleSteps, chain: ChainSteps, steps: Step[], status: Status): string {
  const { lang, t, verdict, time } = run;
  const compared = rootsCompared(run, chain);
  if (status === "valid") {
    const anchored = chain.onChain?.completeAsOf ?? null;
    return t.valid(steps.length, verdict.completeAsOf?.seq ?? null, anchored === null ? null : time(anchored.blockTime));
  }
  if (status === "incomplete") {
    const reasons: string[] = [];
    if (verdict.pending.length > 0) reasons.push(t.pendingLinks(verdict.pending.length));
    if (verdict.completeAsOf === null && verdict.identityBound) reasons.push(t.notComplete);
    if (!compared) reasons.push(t.rootsNone);
    return t.incomplete(reasons);
  }
  const failed = steps.filter((s) => s.status === "fail");
  const first = failed[0]?.text ?? t.formatBad;
  const end = /[.。!！?？]$/.test(first) ? first : first + (lang === "zh" ? "。" : ".");
  return t.failed(end, failed.length, steps.length) + (compared || plan.shapeOnly ? "" : (lang === "zh" ? "" : " ") + t.rootsUnchecked);
}
