/**
 * The two languages every page and message of SealTrace speaks, and how a request chooses one:
 * an explicit choice (a `?lang=` or the console's cookie) first, else the browser's first
 * Accept-Language, else Chinese.
 */
export type Lang = "zh" | "en";

export function pickLang(choice: string | undefined, acceptLanguage: string | undefined): Lang {
  if (choice === "en" || choice === "zh") return choice;
  const first = (acceptLanguage ?? "").split(",")[0]?.trim().toLowerCase() ?? "";
  return first.startsWith("en") ? "en" : "zh";
}
