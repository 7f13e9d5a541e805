/**
 * Times as people in China read them: China Standard Time (UTC+8 all year, no daylight saving),
 * day and minute, in either language. Every page, the console and the store check's messages show
 * times this way.
 */
import type { Lang } from "./lang.ts";

export const CHINA_TIME_ZONE = "Asia/Shanghai";

// Built once: constructing an Intl.DateTimeFormat costs far more than formatting with one.
const TIME_FORMATS: Record<Lang, Intl.DateTimeFormat> = {
  zh: new Intl.DateTimeFormat("zh-CN", {
    timeZone: CHINA_TIME_ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }),
  en: new Intl.DateTimeFormat("en-GB", {
    timeZone: CHINA_TIME_ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }),
};

/** A time as the pages show it, in China Standard Time. */
export function formatTime(date: Date, lang: Lang): string {
  return TIME_FORMATS[lang].format(date);
}
