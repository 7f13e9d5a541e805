/**
 * GS1 identifiers as EPCIS writes them: EPC URNs (TDS 2.x pure identities) and GS1 Digital Link
 * URIs on any host. Both spellings of one thing normalise to the same canonical Digital Link on
 * id.gs1.org, so a bottle, a case or a location is one key whichever way a partner wrote it.
 */
import { normaliseGtin } from "./gtin.ts";

/** The GS1 mod-10 check digit of a string of digits (weights 3,1,3,… from the right). */
export function gs1CheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) sum += Number(digits[digits.length - 1 - i]) * (i % 2 === 0 ? 3 : 1);
  return String((10 - (sum % 10)) % 10);
}

/** TDS percent-escapes a few characters in URN serials; Digital Links percent-encode. */
function decodeComponent(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

export interface ItemKey {
  gtin: string;
  serial: string;
}

const SGTIN_URN = /^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.(.{1,60})$/;
const SSCC_URN = /^urn:epc:id:sscc:(\d{6,12})\.(\d{5,11})$/;
const SGLN_URN = /^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.(.{1,40})$/;
const PGLN_URN = /^urn:epc:id:pgln:(\d{6,12})\.(\d{0,6})$/;

/** The path of a GS1 Digital Link URI (any host), or null when `uri` is not one. */
function digitalLinkPath(uri: string): string | null {
  if (!/^https?:\/\//i.test(uri)) return null;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  return url.pathname;
}

/** A serialised trade item (SGTIN): `urn:epc:id:sgtin:…` or a Digital Link `/01/{gtin}/21/{serial}`. */
export function parseItem(id: string): ItemKey | null {
  const urn = SGTIN_URN.exec(id);
  if (urn) {
    const [, prefix, itemRef, serial] = urn as unknown as [string, string, string, string];
    if (prefix.length + itemRef.length !== 13) return null;
    const body = itemRef[0]! + prefix + itemRef.slice(1);
    const decoded = decodeComponent(serial);
    return decoded === null ? null : { gtin: body + gs1CheckDigit(body), serial: decoded };
  }
  const path = digitalLinkPath(id);
  const dl = path === null ? null : /\/01\/(\d{8,14})\/21\/([^/]{1,80})$/.exec(path);
  if (!dl) return null;
  const gtin = normaliseGtin(dl[1]!);
  const serial = decodeComponent(dl[2]!);
  return gtin === null || serial === null ? null : { gtin, serial };
}

export interface LocationKey {
  gln: string;
  /** The SGLN extension, or null for the location as a whole ("0" in a URN, absent in a Digital Link). */
  ext: string | null;
}

/** A location (SGLN) or party (PGLN): `urn:epc:id:sgln:…`, `urn:epc:id:pgln:…`, a Digital Link `/414/{gln}[/254/{ext}]` or `/417/{gln}`, or a bare GLN-13. */
export function parseLocation(id: string): LocationKey | null {
  const urn = SGLN_URN.exec(id) ?? PGLN_URN.exec(id);
  if (urn) {
    const [, prefix, locationRef] = urn as unknown as [string, string, string];
    if (prefix.length + locationRef.length !== 12) return null;
    const body = prefix + locationRef;
    const ext = urn[3] === undefined || urn[3] === "0" ? null : decodeComponent(urn[3]);
    return { gln: body + gs1CheckDigit(body), ext };
  }
  if (/^\d{13}$/.test(id)) return id.slice(12) === gs1CheckDigit(id.slice(0, 12)) ? { gln: id, ext: null } : null;
  const path = digitalLinkPath(id);
  const dl = path === null ? null : /\/(?:414|417)\/(\d{13})(?:\/254\/([^/]{1,40}))?$/.exec(path);
  if (!dl || dl[1]!.slice(12) !== gs1CheckDigit(dl[1]!.slice(0, 12))) return null;
  const ext = dl[2] === undefined ? null : decodeComponent(dl[2]);
  return { gln: dl[1]!, ext: ext === "0" ? null : ext };
}

/**
 * One spelling per identifier, for storage and matching: SGTINs, SSCCs and SGLNs become Digital
 * Links on id.gs1.org, other Digital Links move to id.gs1.org without their query, anything else
 * (other URNs, private URIs) is kept exactly.
 */
export function canonicalId(id: string): string {
  const item = parseItem(id);
  if (item) return `https://id.gs1.org/01/${item.gtin}/21/${encodeURIComponent(item.serial)}`;
  const sscc = SSCC_URN.exec(id);
  if (sscc) {
    const [, prefix, serialRef] = sscc as unknown as [string, string, string];
    if (prefix.length + serialRef.length === 17) {
      const body = serialRef[0]! + prefix + serialRef.slice(1);
      return `https://id.gs1.org/00/${body}${gs1CheckDigit(body)}`;
    }
  }
  if (SGLN_URN.test(id) || PGLN_URN.test(id)) {
    const location = parseLocation(id);
    if (location) return `https://id.gs1.org/${id.startsWith("urn:epc:id:pgln:") ? "417" : "414"}/${location.gln}${location.ext === null ? "" : `/254/${encodeURIComponent(location.ext)}`}`;
  }
  const path = digitalLinkPath(id);
  const key = path === null ? null : /\/(00|01|253|255|414|417|8003|8004|8006|8010|8017|8018)\/([^/]+)(\/.*)?$/.exec(path);
  if (key) {
    const value = key[1] === "01" ? normaliseGtin(key[2]!) ?? key[2]! : key[2]!;
    return `https://id.gs1.org/${key[1]}/${value}${key[3] ?? ""}`;
  }
  return id;
}

const CBV_PREFIXES: Record<string, string[]> = {
  bizStep: ["urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-"],
  disposition: ["urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", "https://gs1.org/voc/Disp-"],
};

/** A CBV value's bare name (`shipping`) whether written bare, as a CBV 1.x URN or as a GS1 web-vocabulary URI; other values unchanged. */
export function cbvName(kind: "bizStep" | "disposition", value: string): string {
  for (const prefix of CBV_PREFIXES[kind]!) if (value.startsWith(prefix)) return value.slice(prefix.length);
  return value;
}
