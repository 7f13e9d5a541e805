/**
 * What a consumer must be warned about, from a bottle's history and its consumer scans.
 * Pure rules; the page and the store API show what these return.
 */

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
  type: string;
  at: Date;
  party: { id: string; name: string; kind: string; region: string } | null;
}

export type Warning =
  | { kind: "not_produced" }
  | { kind: "opened"; at: Date }
  | { kind: "sold_before"; at: Date; store: string | null; times: number }
  | { kind: "out_of_region"; assigned: string; found: string; store: string }
  | { kind: "copied_code"; first: string; second: string; hours: number; km: number };

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

/** A sale this long before the scan means the bottle is offered again (a buyer scans within a day). */
export const RESALE_AFTER_MS = 24 * 3_600_000;
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

export function warningsFor(input: {
  steps: StepFact[];
  openedAt: Date | null;
  assignedRegion: string | null;
  scans: ScanFact[];
  now: Date;
}): Warning[] {
  const warnings: Warning[] = [];
  // A minted code without a production step was never put on a produced bottle (EPCIS commissioning is a production step too).
  if (!input.steps.some((s) => s.type === "production")) warnings.push({ kind: "not_produced" });
  if (input.openedAt !== null) warnings.push({ kind: "opened", at: input.openedAt });
  const sales = input.steps.filter((s) => s.type === "retail_sale");
  const lastSale = sales.at(-1);
  if (lastSale && (sales.length > 1 || input.now.getTime() - lastSale.at.getTime() > RESALE_AFTER_MS)) {
    warnings.push({ kind: "sold_before", at: lastSale.at, store: lastSale.party?.name ?? null, times: sales.length });
  }
  if (input.assignedRegion !== null) {
    const outside = input.steps.find((s) => (s.type === "store_receiving" || s.type === "retail_sale")
      && s.party !== null && s.party.kind === "store" && s.party.region !== input.assignedRegion);
    if (outside?.party) warnings.push({ kind: "out_of_region", assigned: input.assignedRegion, found: outside.party.region, store: outside.party.name });
  }
  const copied = copiedCode(input.scans);
  if (copied) warnings.push(copied);
  return warnings;
}
