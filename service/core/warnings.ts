/**
 * What a consumer must be warned about, from a bottle's history and its consumer scans.
 * Pure rules; the page and the store API show what these return.
 */

import type { EventType } from "./vocabulary.ts";

export interface Place {
  name: string;
  latitude: number | null;
  longitude: number | null;
}

export interface ScanFact {
  at: Date;
  place: Place | null;
}

export interface StepFact {
  type: EventType;
  at: Date;
  party: { id: string; name: string; kind: string; region: string } | null;
}

export type Warning =
  | { kind: "not_produced" }
  | { kind: "opened"; at: Date }
  /**
   * Sold, and now offered again: sold more than once (`times` > 1), or its buyer verified it (`buyerScan`,
   * the first consumer scan after the last sale) longer than BUYER_WINDOW_MS ago, so whoever scans now is
   * someone else, later. `buyerScan` is null unless that window has closed (for a second sale, the first
   * scan after it may well be the scan now).
   */
  | { kind: "sold_before"; at: Date; store: string | null; times: number; buyerScan: Date | null }
  | { kind: "out_of_region"; assigned: string; found: string; store: string }
  | { kind: "copied_code"; first: string; second: string; hours: number; km: number }
  /**
   * Registered by its buyer as a member (a `claimed` step, issue 20), and the one looking now is not that
   * member: a claimed bottle offered as new has been resold or refilled.
   */
  | { kind: "claimed"; at: Date };

/**
 * What the page says about a bottle as a whole. `not_produced`: the brand minted the code (its label was
 * printed) but no production was ever recorded for it, so no genuine bottle carries it: a leaked or stolen
 * label. It outranks every other warning; `genuine` only when there is no warning at all.
 */
export type Verdict = "genuine" | "warning" | "not_produced";

export function verdictOf(warnings: readonly Warning[]): Verdict {
  if (warnings.some((w) => w.kind === "not_produced")) return "not_produced";
  return warnings.length === 0 ? "genuine" : "warning";
}

/**
 * The buyer's window: the first consumer scan after the (last) retail sale is its buyer's, whenever it
 * comes (a gift, a bottle kept for a festival), and so are the scans within this long after it (the
 * buyer showing it to the family). A scan after the window is someone else's, later.
 */
export const BUYER_WINDOW_MS = 24 * 3_600_000;
/** Consumer scans this recent are checked for a copied code (and shown as the page's recent scans). */
export const RECENT_SCANS_MS = 7 * 86_400_000;
/** Two scans farther apart than this, sooner than COPY_WINDOW_MS, cannot be one bottle. */
export const COPY_DISTANCE_KM = 300;
export const COPY_WINDOW_MS = 24 * 3_600_000;

/** Great-circle distance in kilometres (haversine). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

type LocatedScan = ScanFact & { place: Place & { latitude: number; longitude: number } };

/**
 * The first pair of scans too far apart in too short a time to be one physical bottle.
 *
 * Linear in the scans (after sorting them) plus the distinct places: a distance depends only on the
 * two places, so each pair of places is measured once, when the second of them first turns up in the
 * window (the copy check read every pair of a week's scans before: quadratic in a bottle's scans).
 * `latest` holds, for each place scanned within COPY_WINDOW_MS before the scan at hand, its latest
 * scan, oldest first; its places are pairwise within COPY_DISTANCE_KM (a farther pair returns).
 */
export function copiedCode(scans: ScanFact[]): Extract<Warning, { kind: "copied_code" }> | null {
  const located = scans
    .filter((s): s is LocatedScan => s.place !== null && s.place.latitude !== null && s.place.longitude !== null)
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  const latest = new Map<string, LocatedScan>();
  for (const b of located) {
    for (const [key, a] of latest) {
      if (b.at.getTime() - a.at.getTime() <= COPY_WINDOW_MS) break;
      latest.delete(key);
    }
    const key = `${b.place.latitude},${b.place.longitude}`;
    if (!latest.delete(key)) {
      for (const a of latest.values()) {
        const km = distanceKm(a.place, b.place);
        if (km > COPY_DISTANCE_KM) {
          const ms = b.at.getTime() - a.at.getTime();
          return { kind: "copied_code", first: a.place.name, second: b.place.name, hours: Math.round((ms / 3_600_000) * 10) / 10, km: Math.round(km) };
        }
      }
    }
    latest.set(key, b);
  }
  return null;
}

/**
 * The bottle's retail sale as a consumer's verdict sees it: the last sale, at which store, how many sales
 * there were, and the buyer's first verification (the first consumer scan at or after that sale; scans
 * before it are the trade's pre-queries and never the buyer's). `resold`: sold more than once, or the
 * buyer's window closed before `now`. A scan being recorded at `now` that is the first after the sale is
 * the buyer's whether or not `scans` already holds it: with no scan after the sale, nobody else has scanned.
 */
export interface SaleFact {
  at: Date;
  store: string | null;
  times: number;
  buyerScan: Date | null;
  resold: boolean;
}

export function saleOf(input: { steps: StepFact[]; scans: ScanFact[]; now: Date }): SaleFact | null {
  const sales = input.steps.filter((s) => s.type === "retail_sale");
  const last = sales.at(-1);
  if (last === undefined) return null;
  let buyerScan: Date | null = null;
  for (const scan of input.scans) {
    if (scan.at.getTime() >= last.at.getTime() && (buyerScan === null || scan.at.getTime() < buyerScan.getTime())) buyerScan = scan.at;
  }
  const windowClosed = buyerScan !== null && input.now.getTime() - buyerScan.getTime() > BUYER_WINDOW_MS;
  return { at: last.at, store: last.party?.name ?? null, times: sales.length, buyerScan, resold: sales.length > 1 || windowClosed };
}

/**
 * The warnings for a look at the bottle at `now`. `scans`: the bottle's consumer scans (with the one being
 * recorded now, if any), at least those of the last RECENT_SCANS_MS and the first after the last sale;
 * only the recent ones are checked for a copy.
 */
export function warningsFor(input: {
  steps: StepFact[];
  openedAt: Date | null;
  assignedRegion: string | null;
  scans: ScanFact[];
  now: Date;
  /** Whether the one looking is the member who claimed the bottle (their member session): no `claimed` warning for them. */
  viewerClaimed?: boolean;
}): Warning[] {
  const warnings: Warning[] = [];
  // A minted code without a production step was never put on a produced bottle (EPCIS commissioning is a production step too).
  if (!input.steps.some((s) => s.type === "production")) warnings.push({ kind: "not_produced" });
  if (input.openedAt !== null) warnings.push({ kind: "opened", at: input.openedAt });
  const sale = saleOf(input);
  if (sale?.resold) {
    const closed = sale.buyerScan !== null && input.now.getTime() - sale.buyerScan.getTime() > BUYER_WINDOW_MS;
    warnings.push({ kind: "sold_before", at: sale.at, store: sale.store, times: sale.times, buyerScan: closed ? sale.buyerScan : null });
  }
  if (input.assignedRegion !== null) {
    const outside = input.steps.find(
      (s) =>
        (s.type === "store_receiving" || s.type === "retail_sale") && s.party !== null && s.party.kind === "store" && s.party.region !== input.assignedRegion,
    );
    if (outside?.party) warnings.push({ kind: "out_of_region", assigned: input.assignedRegion, found: outside.party.region, store: outside.party.name });
  }
  const copied = copiedCode(input.scans.filter((s) => input.now.getTime() - s.at.getTime() < RECENT_SCANS_MS));
  if (copied) warnings.push(copied);
  const claimed = input.steps.find((s) => s.type === "claimed");
  if (claimed !== undefined && input.viewerClaimed !== true) warnings.push({ kind: "claimed", at: claimed.at });
  return warnings;
}
