/**
 * Requests that fetch a bottle's page without a person looking at the bottle: chat and social apps
 * building a link preview, a HEAD request, a browser prefetching or prerendering a link. They get the
 * page like anyone, but must not count as consumer scans (nor open a bottle with its cap code).
 *
 * The bots are recognised by the token their User-Agent carries. WeChat is deliberately absent: its
 * QR scanner opens the page in its own browser ("MicroMessenger"), which is the consumer's own scan.
 */

/** What decides it: the method and a few request headers. */
export interface RequestTraits {
  method: string;
  userAgent: string | undefined;
  /** `Purpose` (Chrome's and Safari's older prefetch header), `Sec-Purpose` (the standard one), `X-Purpose`, `X-Moz`. */
  purpose: (string | undefined)[];
}

/** Link-preview bots, by a token of their User-Agent (compared case-insensitively). */
export const PREVIEW_BOTS = [
  "facebookexternalhit", // Facebook, Messenger, Instagram, WhatsApp's server-side fetch, iMessage
  "facebot",
  "whatsapp", // WhatsApp/2.x: the app's own preview fetch (links open in the phone's browser)
  "twitterbot",
  "slackbot", // Slackbot-LinkExpanding
  "slack-imgproxy",
  "telegrambot",
  "discordbot",
  "linkedinbot",
  "skypeuripreview",
] as const;

export type PreviewBot = (typeof PREVIEW_BOTS)[number];

/** Why a request is not a consumer's scan, or null when it is one. */
export type NotAScan = { kind: "head" } | { kind: "prefetch" } | { kind: "bot"; bot: PreviewBot };

export function notAScan(request: RequestTraits): NotAScan | null {
  if (request.method.toUpperCase() === "HEAD") return { kind: "head" };
  // `Sec-Purpose: prefetch`, `prefetch;prerender`, `Purpose: prefetch`, `X-Purpose: preview`, `X-Moz: prefetch`.
  if (request.purpose.some((value) => value !== undefined && /\b(prefetch|prerender|preview)\b/i.test(value))) return { kind: "prefetch" };
  const agent = request.userAgent?.toLowerCase();
  if (agent !== undefined) {
    const bot = PREVIEW_BOTS.find((token) => agent.includes(token));
    if (bot !== undefined) return { kind: "bot", bot };
  }
  return null;
}
