/**
 * Times as people in China read them: China Standard Time (UTC+8 all year, no daylight saving),
 * day and minute, in either language. Every page, the console and the store check's messages show
 * times this way.
 */
import type { Lang } from "./lang.ts";

export const CHINA_TIME_ZONE = "Asia/Shanghai";

/** Day and minute, 24-hour, in the given language and time zone (the verifier shows UTC when asked to). */
export function timeFormat(lang: Lang, timeZone: string = CHINA_TIME_ZONE): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
}

// Built once: constructing an Intl.DateTimeFormat costs far more than formatting with one.
const TIME_FORMATS: Record<Lang, Intl.DateTimeFormat> = { zh: timeFormat("zh"), en: timeFormat("en") };

/** A time as the pages show it, in China Standard Time. */
export function formatTime(date: Date, lang: Lang): string {
  return TIME_FORMATS[lang].format(date);
}
