/**
 * What an EPCIS capture writes, decided from what it read (service/epcis/capture.ts loads, this
 * plans, it then writes): per event, a duplicate, a conflict, a refusal, or a new event with the
 * bottles whose histories it joins, and how the document changes what is packed in what. Pure:
 * the clock and the salts are given.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { futureRefusal } from "./custody.ts";
import { contentsChange, lifecycleStep, type EpcisEvent, type EpcisFacts } from "./epcis.ts";
import { parseItem, type ItemKey, type LocationKey } from "./gs1-ids.ts";
import { canonicalJson, type Json } from "./hash.ts";
import type { CanonicalEvent } from "./links.ts";
import { productionFirst } from "./production.ts";

/** An event the capture refuses (with `proceed`, the others are stored). */
export interface CaptureError {
  index: number;
  eventID: string;
  field: string;
  reason: string;
}

/** An event under a stored id that says something else: the whole document is a conflict (409). */
export interface CaptureConflict {
  index: number;
  id: string;
  field: string;
  message: string;
}

/** A registered location of the brand. */
export interface Party {
  id: string;
  kind: string;
  gln: string;
  gln_ext: string | null;
}

/** An EPCIS event of the brand already stored under one of the document's ids. */
export interface KnownEvent {
  epcis_id: string;
  /** Set for a stored correction (an error declaration). */
  corrects: number | null;
  declaration: Record<string, unknown> | null;
  body: Json;
}

/**
 * What is packed in what: parent → child → the event that packed it (an event id; in a plan's
 * result, -(i + 1) for the plan's i-th event, which has no id yet).
 */
export type Contents = Map<string, Map<string, number | null>>;

/** Each event's id: its eventID, else its CBV 2.0 event hash. */
export interface EventId {
  id: string;
  hashed: boolean;
}

export interface CaptureInput {
  brand: string;
  events: readonly EpcisEvent[];
  facts: readonly EpcisFacts[];
  ids: readonly EventId[];
  /** The document's `@context` (null without one). */
  context: unknown;
  known: readonly KnownEvent[];
  parties: readonly Party[];
  /** Loaded for every identifier the document names (not changed: the plan works on a copy). */
  contents: Contents;
  /** Minted bottles of the brand: identifier → serial. */
  bottleOf: ReadonlyMap<string, string>;
  /** The bottles' heads, locked. */
  heads: Iterable<{ serial: string; state: string }>;
  /** Event ids starting with this are reserved for the events stores post with their keys. */
  reservedPrefix: string;
  now: Date;
  salt: () => string;
}

/** A new event: what the ledger appends, and what the EPCIS tables keep of it. */
export interface PlannedEvent {
  index: number;
  eventID: string;
  hashedId: boolean;
  brandEventId: string;
  corrects: string | null;
  facts: EpcisFacts;
  event: EpcisEvent;
  canonical: CanonicalEvent;
  party: string | null;
  to: string | null;
  price: { amount: string; currency: string } | null;
}

export interface CapturePlan {
  receivedAt: string;
  events: PlannedEvent[];
  errors: CaptureError[];
  conflicts: CaptureConflict[];
  duplicates: number;
  /** The contents of every parent the document changed, whole (sources as in `Contents`). */
  contents: Contents;
}

/** Parties by GLN: an exact SGLN registration wins over the bare GLN. */
export function partyResolver(parties: readonly Party[]) {
  return (location: LocationKey | null): Party | null => {
    if (location === null) return null;
    return (
      parties.find((p) => p.gln === location.gln && p.gln_ext !== null && p.gln_ext === location.ext) ??
      parties.find((p) => p.gln === location.gln && p.gln_ext === null) ??
      null
    );
  };
}

/** The stable id of an error declaration stored as a correction of `eventID`. */
export function correctionId(eventID: string, declaration: Record<string, unknown>): string {
  return `${eventID}#correction:${bytesToHex(sha256(utf8ToBytes(canonicalJson(declaration as Json)))).slice(0, 32)}`;
}

/** Nested contents (pallet → cases → bottles), breadth first, cycles ignored. */
export function contentsOf(contents: Contents, ids: string[]): string[] {
  const found: string[] = [];
  const seen = new Set(ids);
  const queue = [...ids];
  while (queue.length > 0) {
    for (const child of contents.get(queue.shift()!)?.keys() ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether two JSON values are the same (object keys in any order); a value no ledger could hold is no match. */
function sameJson(a: Json, b: Json): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}

/** Every identifier the document names: its events' EPCs and parents. */
export function namedIds(facts: readonly EpcisFacts[]): string[] {
  return [...new Set(facts.flatMap((f) => (f.parent === null ? f.epcs : [...f.epcs, f.parent])))];
}

/** The identifiers that could be bottles (serialised trade items), among those named and those packed in them. */
export function bottleCandidates(named: readonly string[], contents: Contents): Map<string, ItemKey> {
  const candidates = new Map<string, ItemKey>();
  for (const id of [...named, ...[...contents.values()].flatMap((m) => [...m.keys()])]) {
    const item = parseItem(id);
    if (item) candidates.set(id, item);
  }
  return candidates;
}

/**
 * Which bottles' histories an event joins: the bottles it covers (its own identifiers, and whatever
 * is packed in the containers it names) when it happened at a registered location (and, for a
 * shipment, went to a registered destination); never a correction's.
 */
function historyOf(
  f: EpcisFacts,
  corrects: string | null,
  change: ReturnType<typeof contentsChange> | null,
  contents: Contents,
  bottleOf: ReadonlyMap<string, string>,
  partyAt: ReturnType<typeof partyResolver>,
) {
  const covered = change !== null && "add" in change ? f.epcs : [...f.epcs, ...contentsOf(contents, f.parent === null ? f.epcs : [...f.epcs, f.parent])];
  const serials = [...new Set(covered.map((id) => bottleOf.get(id)).filter((s): s is string => s !== undefined))];
  const party = partyAt(f.location);
  const step = lifecycleStep(f, party?.kind ?? null);
  const destination = step === "warehouse_out" ? partyAt(f.destination) : null;
  const joinsHistory = corrects === null && serials.length > 0 && party !== null && (step !== "warehouse_out" || destination !== null);
  return { serials, party, step, destination, joinsHistory };
}

/** Decides, event by event in document order, what the capture stores. */
export function planCapture(input: CaptureInput): CapturePlan {
  const { known, now } = input;
  const originals = new Set(known.filter((k) => k.corrects === null).map((k) => k.epcis_id));
  const originalBody = new Map(known.filter((k) => k.corrects === null).map((k) => [k.epcis_id, k.body]));
  const corrections = new Set(known.filter((k) => k.corrects !== null && k.declaration !== null).map((k) => correctionId(k.epcis_id, k.declaration!)));
  const partyAt = partyResolver(input.parties);
  const production = productionFirst(input.heads);
  // Kept current in memory as the document's aggregations pack and unpack.
  const contents: Contents = new Map([...input.contents].map(([parent, inside]) => [parent, new Map(inside)]));
  const touchedParents = new Set<string>();

  const receivedAt = now.toISOString();
  const planned: PlannedEvent[] = [];
  const errors: CaptureError[] = [];
  // The same eventID must mean the same event: another event under a stored id is a conflict (409, nothing stored).
  const conflicts: CaptureConflict[] = [];
  let duplicates = 0;
  const seen = new Set<string>();
  input.events.forEach((event, index) => {
    const f = input.facts[index]!;
    const { id: eventID, hashed } = input.ids[index]!;
    const fail = (field: string, reason: string) => errors.push({ index, eventID, field, reason });

    let corrects: string | null = null;
    let brandEventId = eventID;
    if (f.errorDeclaration !== null && (originals.has(eventID) || seen.has(eventID))) {
      corrects = eventID;
      brandEventId = correctionId(eventID, f.errorDeclaration);
      if (corrections.has(brandEventId) || seen.has(brandEventId)) {
        duplicates++;
        return;
      }
    } else if (originals.has(eventID) || seen.has(eventID)) {
      const stored = originalBody.get(eventID);
      if (stored !== undefined && !sameJson(stored, event as Json)) {
        conflicts.push({ index, id: eventID, field: "eventID", message: "already names a different EPCIS event; send a new eventID for a new event" });
      }
      duplicates++;
      return;
    }
    if (eventID.startsWith(input.reservedPrefix)) {
      fail("eventID", `eventIDs starting with "${input.reservedPrefix}" are reserved for the events stores post with their keys`);
      return;
    }
    const future = futureRefusal(new Date(event.eventTime), now);
    if (future !== null) {
      fail("eventTime", future);
      return;
    }

    const change = corrects === null ? contentsChange(f) : null;
    const { serials, party, step, destination, joinsHistory } = historyOf(f, corrects, change, contents, input.bottleOf, partyAt);
    if (joinsHistory) {
      const waiting = production.waiting(step, serials)[0];
      if (waiting !== undefined) {
        fail("epcList", `bottle ${waiting} has not been commissioned yet`);
        return;
      }
    }
    seen.add(brandEventId);
    if (joinsHistory) production.accept(step, serials);
    if (change !== null) {
      touchedParents.add(change.parent);
      if (!contents.has(change.parent)) contents.set(change.parent, new Map());
      const inside = contents.get(change.parent)!;
      if ("add" in change) for (const child of change.add) inside.set(child, -(planned.length + 1));
      else if (change.remove === "all") inside.clear();
      else for (const child of change.remove) inside.delete(child);
    }

    const type = joinsHistory && step !== null ? step : "epcis";
    const price = type === "retail_sale" ? f.price : null;
    const canonical: CanonicalEvent = {
      brand: input.brand,
      id: brandEventId,
      type,
      codes: joinsHistory ? serials : [],
      occurredAt: event.eventTime,
      receivedAt,
      salt: input.salt(),
      epcis: event as Json,
    };
    if (input.context !== null) canonical.context = input.context as Json;
    // Bundles show the EPCIS event only as its digest (it may name other bottles): its step stays readable.
    if (f.bizStep !== null) canonical.bizStep = f.bizStep;
    if (corrects !== null) canonical.corrects = corrects;
    if (joinsHistory) canonical.party = party!.id;
    if (joinsHistory && destination !== null) canonical.to = destination.id;
    if (price !== null) canonical.price = price;
    planned.push({
      index,
      eventID,
      hashedId: hashed,
      brandEventId,
      corrects,
      facts: f,
      event,
      canonical,
      party: joinsHistory ? party!.id : null,
      to: joinsHistory ? (destination?.id ?? null) : null,
      price,
    });
  });

  const changed: Contents = new Map([...touchedParents].map((parent) => [parent, contents.get(parent) ?? new Map()]));
  return { receivedAt, events: planned, errors, conflicts, duplicates, contents: changed };
}
