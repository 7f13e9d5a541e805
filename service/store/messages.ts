/**
 * The store check's warnings as `{kind, message}`, in Chinese (default) or English: the kinds are
 * stable for programs, the messages are for the shop assistant.
 */
import type { Warning } from "../core/warnings.ts";
import type { Lang } from "../web/lang.ts";
import { formatTime as time } from "../web/time.ts";

export type { Lang };

export interface StoreWarning {
  kind: string;
  message: string;
}

/** Facts about a bottle's life that a shop must know before taking it in or selling it. */
export type LifecycleFact =
  | { kind: "already_sold"; at: Date; times: number }
  | { kind: "not_received_here" }
  | { kind: "received_elsewhere"; at: Date }
  | { kind: "already_received_here"; at: Date }
  | { kind: "never_shipped" }
  | { kind: "wrong_region"; assigned: string; store: string }
  | { kind: "price_below_band" | "price_above_band"; price: string; min: string; max: string; deviation: number };

const percent = (fraction: number): string => `${fraction > 0 ? "+" : ""}${Math.round(fraction * 1000) / 10}%`;

function zh(w: Warning | LifecycleFact): string {
  switch (w.kind) {
    case "opened":
      return `此瓶已于 ${time(w.at, "zh")} 开启（瓶盖下暗码已被扫描或已登记开瓶），不可作为新品收货或销售。`;
    case "sold_before":
      return `此瓶已于 ${time(w.at, "zh")}${w.store ? `在 ${w.store}` : ""}售出${w.times > 1 ? `（共售出 ${w.times} 次）` : ""}${w.buyerScan ? `，买家已于 ${time(w.buyerScan, "zh")} 首次验证` : ""}，不是新品。`;
    case "out_of_region":
      return `此瓶应在「${w.assigned}」销售，却曾由「${w.found}」的 ${w.store} 收货或售出（疑似窜货）。`;
    case "copied_code":
      return `此编码在 ${w.hours} 小时内先后于${w.first}和${w.second}（相距约 ${w.km} 公里）被验证，可能已被复制。`;
    case "not_produced":
      return "此编码没有生产记录：标签从未用于已生产的酒瓶。";
    case "claimed":
      return `此瓶已于 ${time(w.at, "zh")} 由其买家登记为会员购买，不是新品：再次收货或销售会触发预警。`;
    case "already_sold":
      return `此瓶已于 ${time(w.at, "zh")} 售出${w.times > 1 ? `（共售出 ${w.times} 次）` : ""}。`;
    case "not_received_here":
      return "本店没有此瓶的收货记录：请先登记收货，或查明来源。";
    case "received_elsewhere":
      return `此瓶最近一次于 ${time(w.at, "zh")} 由另一家门店收货。`;
    case "already_received_here":
      return `本店已于 ${time(w.at, "zh")} 收过此瓶。`;
    case "never_shipped":
      return "此瓶没有仓库出库发货记录。";
    case "wrong_region":
      return `此瓶的销售区域是「${w.assigned}」，本店在「${w.store}」。`;
    case "price_below_band":
      return `价格 ${w.price} 低于指导价区间 ${w.min}–${w.max}（${percent(w.deviation)}）。`;
    case "price_above_band":
      return `价格 ${w.price} 高于指导价区间 ${w.min}–${w.max}（${percent(w.deviation)}）。`;
  }
}

function en(w: Warning | LifecycleFact): string {
  switch (w.kind) {
    case "opened":
      return `Opened on ${time(w.at, "en")} (the code under its cap was scanned, or an opening was recorded): do not take it in or sell it as new.`;
    case "sold_before":
      return `Sold on ${time(w.at, "en")}${w.store ? ` at ${w.store}` : ""}${w.times > 1 ? ` (sold ${w.times} times)` : ""}${w.buyerScan ? `, first verified by its buyer on ${time(w.buyerScan, "en")}` : ""}: it is not a new bottle.`;
    case "out_of_region":
      return `Meant for sale in "${w.assigned}" but received or sold by ${w.store} in "${w.found}" (possible diversion).`;
    case "copied_code":
      return `Verified in ${w.first} and in ${w.second} (about ${w.km} km apart) within ${w.hours} hours: the code may have been copied.`;
    case "not_produced":
      return "No production is recorded for this code: its label was never put on a produced bottle.";
    case "claimed":
      return `Registered by its buyer (a member) on ${time(w.at, "en")}: it is not a new bottle, and receiving or selling it again raises an alert.`;
    case "already_sold":
      return `Already sold on ${time(w.at, "en")}${w.times > 1 ? ` (sold ${w.times} times)` : ""}.`;
    case "not_received_here":
      return "Your store has no receiving of this bottle on record: record it first, or find out where it came from.";
    case "received_elsewhere":
      return `Last received by another store, on ${time(w.at, "en")}.`;
    case "already_received_here":
      return `Your store already received this bottle on ${time(w.at, "en")}.`;
    case "never_shipped":
      return "No shipment out of a warehouse is recorded for this bottle.";
    case "wrong_region":
      return `This bottle's sales region is "${w.assigned}"; your store is in "${w.store}".`;
    case "price_below_band":
      return `The price ${w.price} is below the guide-price band ${w.min}–${w.max} (${percent(w.deviation)}).`;
    case "price_above_band":
      return `The price ${w.price} is above the guide-price band ${w.min}–${w.max} (${percent(w.deviation)}).`;
  }
}

export function storeWarning(w: Warning | LifecycleFact, lang: Lang): StoreWarning {
  return { kind: w.kind, message: lang === "zh" ? zh(w) : en(w) };
}
