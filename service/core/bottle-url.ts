/**
 * A bottle's URL, the one its QR code holds: a GS1 Digital Link, `{base}/01/{gtin}/21/{serial}`,
 * with the QR secret (`?s=`) or the code under the cap (`?o=`), and the page's language when it is
 * not the default. Built here for the labels and the price report's link back, and parsed here for
 * the console's scan box, so the three agree on one shape.
 */

/** What a bottle URL carries besides the bottle: its QR secret or its cap code, and maybe `lang=en`. */
export type BottleQuery = ({ s: string } | { o: string }) & { lang?: "en" };

export interface ParsedBottleUrl {
  gtin: string;
  serial: string;
  /** The QR secret (`?s=`), null when absent. */
  s: string | null;
  /** The code under the cap (`?o=`), null when absent. */
  o: string | null;
}

/** `{base}/01/{gtin}/21/{serial}?s=…` (or `?o=…`), each part percent-encoded; trailing slashes of `base` ignored, "" for a relative URL. */
export function bottleUrl(base: string, gtin: string, serial: string, query: BottleQuery): string {
  const root = base.replace(/\/+$/, "");
  const [key, value] = "s" in query ? ["s", query.s] : ["o", query.o];
  const lang = query.lang === "en" ? "&lang=en" : "";
  return `${root}/01/${encodeURIComponent(gtin)}/21/${encodeURIComponent(serial)}?${key}=${encodeURIComponent(value)}${lang}`;
}

// GS1 Digital Link allows the qualifiers 22 (variant) and 10 (lot) between the GTIN and the serial.
const BOTTLE_PATH = /\/01\/([^/?#\s]+)(?:\/(?:22|10)\/[^/?#\s]+)*\/21\/([^/?#\s]+)(?:\?([^#\s]*))?/;

/** A path segment decoded, or as it is when it is not valid percent-encoding. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The bottle in a scanned or pasted text holding a bottle URL (absolute or relative, with or without
 * its query), or null when the text holds none.
 */
export function parseBottleUrl(text: string): ParsedBottleUrl | null {
  const match = BOTTLE_PATH.exec(text);
  if (match === null) return null;
  const query = new URLSearchParams(match[3] ?? "");
  return { gtin: decoded(match[1]!), serial: decoded(match[2]!), s: query.get("s"), o: query.get("o") };
}
