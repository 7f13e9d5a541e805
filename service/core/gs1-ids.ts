/**
 * GS1 identifiers as EPCIS writes them: EPC URNs (TDS 2.x pure identities) and GS1 Digital Link
 * URIs on any host. Both spellings of one thing normalise to the same canonical Digital Link on
 * id.gs1.org, so a bottle, a case or a location is one key whichever way a partner wrote it. The
 * URN conversion itself is the event hash's (epcis-event-hash.ts); this file reads keys out of it.
 */
import { canonicalGs1DigitalLink } from "./epcis-event-hash.ts";
import { gs1CheckDigit, normaliseGtin } from "./gtin.ts";

function decodeComponent(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

/**
 * One spelling per identifier, for storage and matching: EPC URNs (ids and classes) and Digital
 * Links on any host become the canonical Digital Link on id.gs1.org (the conversion the CBV 2.0
 * event hash defines); anything else (private URIs, uuids) is kept exactly.
 */
export function canonicalId(id: string): string {
  return canonicalGs1DigitalLink(id) ?? id;
}

export interface ItemKey {
  gtin: string;
  serial: string;
}

/** A serialised trade item (SGTIN): `urn:epc:id:sgtin:…` or a Digital Link `/01/{gtin}/21/{serial}` on any host. */
export function parseItem(id: string): ItemKey | null {
  const match = /^https:\/\/id\.gs1\.org\/01\/(\d{14})\/21\/([^/?#]+)$/.exec(canonicalGs1DigitalLink(id) ?? "");
  if (!match || normaliseGtin(match[1]!) !== match[1]) return null;
  const serial = decodeComponent(match[2]!);
  return serial === null ? null : { gtin: match[1]!, serial };
}

export interface LocationKey {
  gln: string;
  /** The SGLN extension, or null for the location as a whole ("0" in a URN, absent in a Digital Link). */
  ext: string | null;
}

/** A location (SGLN) or party (PGLN): `urn:epc:id:sgln:…`, `urn:epc:id:pgln:…`, a Digital Link `/414/{gln}[/254/{ext}]` or `/417/{gln}`, or a bare GLN-13. */
export function parseLocation(id: string): LocationKey | null {
  const glnOk = (gln: string) => gln.slice(12) === gs1CheckDigit(gln.slice(0, 12));
  if (/^\d{13}$/.test(id)) return glnOk(id) ? { gln: id, ext: null } : null;
  const match = /^https:\/\/id\.gs1\.org\/(?:414|417)\/(\d{13})(?:\/254\/([^/?#]+))?$/.exec(canonicalGs1DigitalLink(id) ?? "");
  if (!match || !glnOk(match[1]!)) return null;
  if (match[2] === undefined) return { gln: match[1]!, ext: null };
  const ext = decodeComponent(match[2]);
  return ext === null ? null : { gln: match[1]!, ext: ext === "0" ? null : ext };
}

const CBV_PREFIXES: Record<string, string[]> = {
  bizStep: ["urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-"],
  disposition: ["urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", "https://gs1.org/voc/Disp-"],
  sourceDestType: ["urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-", "https://gs1.org/voc/SDT-"],
};

/** A CBV value's bare name (`shipping`) whether written bare, as a CBV 1.x URN or as a GS1 web-vocabulary URI; other values unchanged. */
export function cbvName(kind: "bizStep" | "disposition" | "sourceDestType", value: string): string {
  for (const prefix of CBV_PREFIXES[kind]!) if (value.startsWith(prefix)) return value.slice(prefix.length);
  return value;
}
