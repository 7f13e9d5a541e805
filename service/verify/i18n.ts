/**
 * The consumer page's words, in Chinese (default) and English.
 */
import type { PriceVerdict } from "../core/price.ts";
import { labels } from "../core/vocabulary.ts";
import type { Lang } from "../web/lang.ts";
import { STEP_LABELS } from "./step-labels.ts";

const zh = {
  title: "产品验证",
  genuine: "正品",
  genuineText: "这瓶酒的编码有效，其全部流通记录已在区块链上锚定，可自行核验。",
  genuinePendingText: "这瓶酒的编码有效，其流通记录已登记，正在锚定到区块链上（通常几分钟内完成），之后可自行核验。",
  notProduced: "无生产记录",
  notProducedText:
    "此编码的标签由品牌方生成，但从未登记过任何生产：没有一瓶已生产的酒使用这个编码。标签可能已泄露或被盗用，这瓶酒不能视为真品，请勿购买，并联系品牌方。",
  notProducedWarning: "此编码没有生产记录。",
  warning: "请注意",
  warningText: "编码有效，但有以下需要注意的情况：",
  notFound: "未找到",
  notFoundText: "无法验证此编码：编码不存在，或标签上的校验码不正确。编码可能被复制或输入有误，请谨慎购买并联系品牌方。",
  product: "产品",
  lot: "批次",
  produced: "生产日期",
  region: "销售区域",
  guidePrice: "官方指导价",
  history: "流通记录",
  anchored: "已上链",
  pending: "待上链",
  batch: "批次",
  block: "区块",
  tx: "交易",
  scans: "验证记录",
  scanCount: (n: number) => `消费者共验证 ${n} 次`,
  firstScan: (time: string, place: string | null) => `首次验证：${time}${place ? `，${place}` : ""}`,
  tradeScans: (n: number) => `另有售出前的验证 ${n} 次（经销商或门店）`,
  thisScan: "（含本次）",
  opened: (time: string) => `此瓶已于 ${time} 开启（瓶盖下暗码已被扫描）。`,
  soldGenuine: (time: string, store: string | null) => `正品，已于 ${time}${store ? ` 在 ${store} ` : " "}售出`,
  soldBefore: (time: string, store: string | null, times: number, buyerScan: string | null) =>
    `此瓶已于 ${time}${store ? ` 在 ${store} ` : " "}售出${times > 1 ? `（共售出 ${times} 次）` : ""}${buyerScan ? `，买家已于 ${buyerScan} 首次验证` : ""}；${
      times > 1 ? "一瓶酒只应售出一次，若有人将它作为新品卖给您，请询问原因。" : "若有人将它作为新品卖给您，它已被转卖或重新灌装。"
    }`,
  outOfRegion: (assigned: string, found: string, store: string) => `此瓶应在「${assigned}」销售，却出现在「${found}」的 ${store}（疑似窜货）。`,
  claimedBefore: (time: string) => `此瓶已于 ${time} 由其买家登记：若有人将它作为新品卖给您，它已被转卖或重新灌装。`,
  copiedCode: (a: string, b: string, hours: number, km: number) =>
    `此编码在 ${hours} 小时内先后于${a}和${b}（相距约 ${km} 公里）被验证，可能已被复制到其他瓶上。`,
  verifyYourself: "自行核验",
  verifyYourselfText: "在您的浏览器中重新计算每个哈希和默克尔证明，核对此瓶的记录完整无缺，并直接向区块链查询锚定的根，无需信任我们。",
  verifyButton: "开始核验",
  trustedChain: (chainId: number) => `核验所依据的区块链：链 ${chainId}`,
  trustedRegistry: "锚定合约",
  download: "下载证明文件",
  downloadHint: "也可用命令 npm run verify-proof -- 文件 --rpc 节点地址 独立核验。",
  noPublicRpc: (chainId: number) =>
    `浏览器内核验需要链 ${chainId} 的公共 RPC 节点，本服务未提供。浏览器仍会核对哈希与证明，但无法向区块链查询锚定的根：请下载证明，用您自己选择的节点核验。`,
  localRpc: (url: string) => `本服务以嵌入模式运行：核验所用的开发链 ${url} 只能从服务器本机访问，其他设备上的浏览器无法向它查询锚定的根。`,
  steps: STEP_LABELS.zh,
  reportPrice: "举报价格",
  reportPriceText: "您看到或支付的价格与官方指导价不符？请告诉品牌方。",
  reportPriceLabel: "价格（元）",
  reportStoreLabel: "门店（可选）",
  reportSubmit: "提交",
  reportThanks: "谢谢",
  reportThanksText: "您的价格报告已收到，品牌方会核查。",
  reportedPrice: "您报告的价格",
  priceBand: "合理价格区间",
  reportVerdicts: labels<PriceVerdict | "none">({
    below: "低于官方指导价区间。",
    within: "在官方指导价区间内。",
    above: "高于官方指导价区间。",
    other_currency: "币种与官方指导价不同，无法比较。",
    none: "此产品目前没有官方指导价。",
  }),
  backToPage: "返回验证页面",
  reportFailed: "未能提交",
  reportInvalid: "请输入有效的价格，例如 1499.00。",
  reportTooOften: "提交过于频繁，请稍后再试。",
  reportTryAgain: "请返回上一页重试。",
  switchLang: "English",
};

const en: typeof zh = {
  title: "Product verification",
  genuine: "Genuine",
  genuineText: "This bottle's code is valid and its whole history is anchored on a blockchain, where you can check it yourself.",
  genuinePendingText:
    "This bottle's code is valid and its history is recorded; it is being anchored on a blockchain (usually within minutes), after which you can check it yourself.",
  notProduced: "Not produced",
  notProducedText:
    "The brand issued this code's label, but no production was ever recorded for it: no produced bottle carries this code. The label may have been leaked or stolen. This bottle cannot be taken as authentic: do not buy it, and contact the brand.",
  notProducedWarning: "No production is recorded for this code.",
  warning: "Warning",
  warningText: "The code is valid, but note the following:",
  notFound: "Not found",
  notFoundText:
    "This code cannot be verified: it does not exist, or the check code on the label is wrong. The code may have been copied or mistyped: be careful buying, and contact the brand.",
  product: "Product",
  lot: "Lot",
  produced: "Produced",
  region: "Sales region",
  guidePrice: "Official guide price",
  history: "History",
  anchored: "anchored",
  pending: "pending",
  batch: "batch",
  block: "block",
  tx: "transaction",
  scans: "Verifications",
  scanCount: (n: number) => `Verified ${n} time${n === 1 ? "" : "s"} by consumers`,
  firstScan: (time: string, place: string | null) => `First on ${time}${place ? ` in ${place}` : ""}`,
  tradeScans: (n: number) => `plus ${n} check${n === 1 ? "" : "s"} before it was sold (by the trade)`,
  thisScan: " (including this one)",
  opened: (time: string) => `This bottle was opened on ${time} (the code under its cap was scanned).`,
  soldGenuine: (time: string, store: string | null) => `Genuine, sold on ${time}${store ? ` at ${store}` : ""}`,
  soldBefore: (time: string, store: string | null, times: number, buyerScan: string | null) =>
    `This bottle was sold on ${time}${store ? ` at ${store}` : ""}${times > 1 ? ` (sold ${times} times)` : ""}${buyerScan ? `, first verified by its buyer on ${buyerScan}` : ""}. ${
      times > 1 ? "A bottle is sold once: if it is offered to you as new, ask why." : "If it is offered to you as new, it has been resold or refilled."
    }`,
  outOfRegion: (assigned: string, found: string, store: string) =>
    `This bottle is meant for sale in "${assigned}" but turned up in "${found}" at ${store} (possible diversion).`,
  claimedBefore: (time: string) => `Registered by its buyer on ${time}: if it is offered to you as new, it has been resold or refilled.`,
  copiedCode: (a: string, b: string, hours: number, km: number) =>
    `This code was verified in ${a} and in ${b} (about ${km} km apart) within ${hours} hours: it may have been copied onto other bottles.`,
  verifyYourself: "Verify it yourself",
  verifyYourselfText:
    "Your browser recomputes every hash and Merkle proof, checks that no part of this bottle's history was left out, and asks the blockchain for the anchored roots directly: no need to trust us.",
  verifyButton: "Verify",
  trustedChain: (chainId: number) => `Checked against chain ${chainId}`,
  trustedRegistry: "registry",
  download: "Download the proof",
  downloadHint: "Or check it independently with npm run verify-proof -- FILE --rpc RPC_URL.",
  noPublicRpc: (chainId: number) =>
    `The in-browser check needs a public RPC of chain ${chainId}, and this service offers none. Your browser still checks the hashes and proofs, but cannot ask the blockchain for the anchored roots: download the proof and check it with an RPC of your choice.`,
  localRpc: (url: string) =>
    `This service runs in embedded mode: the development chain ${url} the check uses is reachable only from the server's own machine, so a browser on any other device cannot ask it for the anchored roots.`,
  steps: STEP_LABELS.en,
  reportPrice: "Report the price",
  reportPriceText: "Was the price you saw or paid out of line with the official guide price? Tell the brand.",
  reportPriceLabel: "Price (CNY)",
  reportStoreLabel: "Store (optional)",
  reportSubmit: "Send",
  reportThanks: "Thank you",
  reportThanksText: "Your price report has been received; the brand will look into it.",
  reportedPrice: "The price you reported",
  priceBand: "Accepted range",
  reportVerdicts: {
    below: "It is below the official guide-price range.",
    within: "It is within the official guide-price range.",
    above: "It is above the official guide-price range.",
    other_currency: "It is in another currency than the guide price, so it cannot be compared.",
    none: "This product has no official guide price at the moment.",
  },
  backToPage: "Back to the verification page",
  reportFailed: "Not sent",
  reportInvalid: "Enter a valid price, e.g. 1499.00.",
  reportTooOften: "Too many reports from here; try again later.",
  reportTryAgain: "Go back and try again.",
  switchLang: "中文",
};

export type Messages = typeof zh;
export const MESSAGES: Record<Lang, Messages> = { zh, en };
