/**
 * Members (issue 20, docs/MEMBERS.md): the pure rules. A member is one mobile phone number per brand
 * (One ID, normalised to E.164), shown masked everywhere; levels come from points and the brand's
 * thresholds; one-time codes expire and allow few tries; the consent text is versioned and names the
 * brand, the store and the purpose; and a bottle may be claimed once, only after a genuine scan of a
 * sold bottle. No I/O: the keys, the database and the SMS sender are service/members/'s.
 */
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/mobile";
import { sha256 } from "@noble/hashes/sha2.js";

/** Numbers without a country code are read as Chinese (+86). */
export const DEFAULT_PHONE_REGION: CountryCode = "CN";

/**
 * The E.164 form of a mobile number typed by a person ("138 0013 8000", "+86 138-0013-8000",
 * "008613800138000"), or null when it is no valid mobile number: a one-time code goes by SMS, and one
 * person is one number, so fixed lines, short codes and invalid numbers are refused.
 */
export function normalisePhone(input: string, region: CountryCode = DEFAULT_PHONE_REGION): string | null {
  const text = input.trim();
  if (text.length === 0 || text.length > 40 || !/^[+0-9 ()./-]+$/.test(text)) return null;
  // "00" is the international prefix in China (and most of the world): read it as "+".
  const typed = text.startsWith("00") ? `+${text.slice(2)}` : text;
  const phone = parsePhoneNumberFromString(typed, region);
  if (phone === undefined || !phone.isValid()) return null;
  const type = phone.getType();
  if (type !== "MOBILE" && type !== "FIXED_LINE_OR_MOBILE") return null;
  return phone.number;
}

/**
 * How a phone number is shown: its national number with all but the first three and last four digits
 * starred (a Chinese mobile 13800138000 becomes 138****8000), after its country code when not +86.
 */
export function maskPhone(e164: string): string {
  const phone = parsePhoneNumberFromString(e164);
  const national = phone?.nationalNumber ?? e164.replace(/[^0-9]/g, "");
  const keep = national.length >= 9 ? [3, 4] : [Math.min(2, national.length), Math.min(2, Math.max(0, national.length - 2))];
  const [head, tail] = keep as [number, number];
  const starred = national.slice(0, head) + "*".repeat(Math.max(4, national.length - head - tail)) + national.slice(national.length - tail);
  return phone === undefined || phone.countryCallingCode === "86" ? starred : `+${phone.countryCallingCode} ${starred}`;
}

/** The default points earned per claimed bottle (brand setting memberPointsPerBottle). */
export const DEFAULT_POINTS_PER_BOTTLE = 10;
/** The default level thresholds: level 1 from 0 points, level 2 from 100, level 3 from 500 (brand setting memberLevelPoints). */
export const DEFAULT_LEVEL_POINTS: readonly number[] = [0, 100, 500];
export const MAX_LEVELS = 10;

/** Why a list of level thresholds is unusable, or null: it starts at 0, rises strictly, has 1 to MAX_LEVELS entries. */
export function levelPointsProblem(points: readonly number[]): string | null {
  if (points.length < 1 || points.length > MAX_LEVELS) return `must list 1 to ${MAX_LEVELS} thresholds`;
  if (points[0] !== 0) return "must start at 0 (the level every member starts at)";
  for (let i = 1; i < points.length; i++) {
    if (!(points[i]! > points[i - 1]!)) return "must rise strictly (each level needs more points than the one before)";
  }
  return null;
}

/** The member's level (1-based) for `points` under thresholds `levelPoints` (ascending, first 0). */
export function levelOf(points: number, levelPoints: readonly number[] = DEFAULT_LEVEL_POINTS): number {
  let level = 1;
  levelPoints.forEach((threshold, i) => {
    if (points >= threshold) level = i + 1;
  });
  return level;
}

/** One-time codes: six digits, valid five minutes, five tries each. */
export const CODE_DIGITS = 6;
export const CODE_TTL_MS = 5 * 60_000;
export const CODE_MAX_ATTEMPTS = 5;
/** Codes sent within an hour, at most: to one phone number, from one IP address, for one bottle. */
export const SENDS_PER_PHONE_PER_HOUR = 5;
export const SENDS_PER_IP_PER_HOUR = 10;
export const SENDS_PER_BOTTLE_PER_HOUR = 5;

/** A code from `random` (uniform bytes): 6 digits, leading zeros kept, with no modulo bias. */
export function oneTimeCode(random: (n: number) => Uint8Array): string {
  // 32-bit draws below the largest multiple of 10^6 are uniform modulo 10^6.
  const limit = Math.floor(0x1_0000_0000 / 1e6) * 1e6;
  for (;;) {
    const bytes = random(4);
    const value = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    if (value < limit) return String(value % 1e6).padStart(CODE_DIGITS, "0");
  }
}

/** What a typed code is, if it can be one: digits only (spaces dropped), exactly CODE_DIGITS of them. */
export function typedCode(input: string): string | null {
  const code = input.replace(/\s+/g, "");
  return new RegExp(`^[0-9]{${CODE_DIGITS}}$`).test(code) ? code : null;
}

/** What a stored code's state says about a try with it, before its hash is compared. */
export type CodeState = "usable" | "expired" | "used" | "exhausted";

export function codeState(code: { expiresAt: Date; usedAt: Date | null; attempts: number }, now: Date): CodeState {
  if (code.usedAt !== null) return "used";
  if (code.attempts >= CODE_MAX_ATTEMPTS) return "exhausted";
  if (now.getTime() >= code.expiresAt.getTime()) return "expired";
  return "usable";
}

/** Which send limit a new code would break, or null. `counts`: codes sent within the last hour. */
export type SendLimit = "phone" | "ip" | "bottle";

export function sendLimitReached(counts: { phone: number; ip: number; bottle: number | null }): SendLimit | null {
  if (counts.phone >= SENDS_PER_PHONE_PER_HOUR) return "phone";
  if (counts.ip >= SENDS_PER_IP_PER_HOUR) return "ip";
  if (counts.bottle !== null && counts.bottle >= SENDS_PER_BOTTLE_PER_HOUR) return "bottle";
  return null;
}

/** The consent text's version: a change of its wording is a new version (and old consents keep theirs). */
export const CONSENT_VERSION = "members-consent/1";
export type ConsentLang = "zh" | "en";

/**
 * The consent text, in full, as shown beside its (unticked) checkbox: who (the brand), which store,
 * what for, what is kept, for how long, and how to withdraw. Its SHA-256 is recorded with the consent.
 */
export function consentText(lang: ConsentLang, brand: string, store: string | null): string {
  if (lang === "zh") {
    const shop = store === null ? "" : `（购买门店：${store}）`;
    return (
      `我同意${brand}${shop}为会员服务处理我的手机号码：用于识别我的会员身份、登记我购买的这瓶酒、计算积分与会员等级，` +
      `以及在我同意时联系我。${brand}只以加密形式保存手机号码，并保存我选填的生日月份；不会用于其他目的。` +
      `我可以随时在会员页面撤回同意或退出会员，退出后我的个人信息将被删除。`
    );
  }
  const shop = store === null ? "" : ` (the store that sold it: ${store})`;
  return (
    `I agree that ${brand}${shop} processes my mobile number for its membership: to identify me as a member, ` +
    `register this bottle to me, count my points and level, and contact me where I agree to it. ${brand} keeps the ` +
    `number only encrypted, with the birthday month if I give it, and uses them for nothing else. I can withdraw this ` +
    `consent or leave at any time on the member page; leaving erases my personal data.`
  );
}

/** The consent record: the text's version and the SHA-256 (hex) of the exact text shown. */
export function consentRecord(lang: ConsentLang, brand: string, store: string | null): { version: string; sha256: string; text: string } {
  const text = consentText(lang, brand, store);
  const digest = sha256(new TextEncoder().encode(text));
  return { version: CONSENT_VERSION, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""), text };
}

/** What the claim rule needs to know about a bottle, read under its lock. */
export interface ClaimFacts {
  /** The page's verdict for the bottle (core/warnings.ts verdictOf), from the scan that offered the claim. */
  verdict: "genuine" | "warning" | "not_produced";
  /** Its latest retail sale, if any. */
  sale: { at: Date; store: string | null } | null;
  /** Whether it is claimed already. */
  claimed: boolean;
  /** Whether it was opened (its cap code scanned) before the latest sale: then the sale sold an opened bottle. */
  openedBeforeSale: boolean;
}

export type ClaimRefusal = "not_genuine" | "not_sold" | "already_claimed";

/**
 * Whether a bottle may be claimed: once, and only a genuine bottle that was sold (a genuine scan: no
 * warning on the page; a sold bottle: a retail sale recorded).
 */
export function claimRefusal(facts: ClaimFacts): ClaimRefusal | null {
  if (facts.claimed) return "already_claimed";
  if (facts.sale === null) return "not_sold";
  if (facts.verdict !== "genuine" || facts.openedBeforeSale) return "not_genuine";
  return null;
}

/** The member reference a `claimed` event carries: hex HMAC-SHA256(refKey, serial) computed by the service. */
export const MEMBER_REF_PATTERN = /^[0-9a-f]{64}$/;
