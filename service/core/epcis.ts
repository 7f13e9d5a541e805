/**
 * EPCIS 2.0 events in SealTrace's terms: what an event is about (identifiers, normalised), where it
 * happened, and which bottle lifecycle step it is, if any. Pure; the capture feature applies it.
 *
 * The mapping (BIZ_STEPS below; docs/EPCIS.md has the table):
 *   bizStep commissioning  → production
 *   bizStep shipping       → warehouse_out (to: the destination location)
 *   bizStep receiving      → store_receiving at a store, warehouse_in anywhere else
 *   bizStep retail_selling → retail_sale (price: the `sealtrace:price` extension, if given)
 *   anything else (storing, packing, unpacking, inspecting, other event types…) → a generic step
 *   ("epcis") recorded in the bottle's history without changing its state.
 * Packing (AggregationEvent ADD) and unpacking (DELETE) change what is inside a case, so later
 * events naming the case cover its bottles.
 */
import { canonicalId, cbvName, parseItem, parseLocation, type ItemKey, type LocationKey } from "./gs1-ids.ts";
import { isAmount } from "./price.ts";
import { BRAND_EVENT_TYPES, type BrandEventType } from "./vocabulary.ts";

/** The namespace of SealTrace's EPCIS extension fields (bind a prefix to it in `@context`). */
export const SEALTRACE_NS = "https://ns.sealtrace.dev/epcis/";
/** The EPCIS 2.0 JSON-LD context every document starts from. */
export const EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
export const EPCIS_EVENT_TYPES = ["ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"] as const;

export type EpcisEvent = Record<string, unknown> & { type: string; eventTime: string };

/** The EPCIS bizStep (its CBV name) that is a brand event type, and where: only at a store, or only elsewhere. */
interface BizStepRule {
  bizStep: string;
  at?: "store" | "elsewhere";
}

/** Which EPCIS events are each brand event type's lifecycle step; null: none is. */
const BIZ_STEPS = {
  production: { bizStep: "commissioning" },
  warehouse_in: { bizStep: "receiving", at: "elsewhere" },
  warehouse_out: { bizStep: "shipping" },
  store_receiving: { bizStep: "receiving", at: "store" },
  retail_sale: { bizStep: "retail_selling" },
  opened: null,
} as const satisfies Record<BrandEventType, BizStepRule | null>;

/** The brand event types an EPCIS event can be. */
export type LifecycleStep = { [T in BrandEventType]: (typeof BIZ_STEPS)[T] extends null ? never : T }[BrandEventType];
const LIFECYCLE_STEPS = BRAND_EVENT_TYPES.filter((type): type is LifecycleStep => BIZ_STEPS[type] !== null);

/** What SealTrace reads from one EPCIS event. */
export interface EpcisFacts {
  eventType: string;
  action: string | null;
  bizStep: string | null;
  readPoint: string | null;
  bizLocation: string | null;
  /** Canonical ids of epcList, childEPCs, inputEPCList and outputEPCList (what MATCH_epc searches). */
  epcs: string[];
  /** Canonical parentID. */
  parent: string | null;
  /** Serialised trade items among `epcs` (bottle candidates). */
  items: ItemKey[];
  /** The event's own location (bizLocation, else readPoint), parsed. */
  location: LocationKey | null;
  /** The `location` destination of a shipment (else the owning or possessing party), parsed. */
  destination: LocationKey | null;
  price: { amount: string; currency: string } | null;
  errorDeclaration: Record<string, unknown> | null;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);
const idOf = (value: unknown): string | null => {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === "string" ? id : null;
};

/** Prefix → namespace IRI bindings declared in a document's `@context` (objects inside it). */
export function contextPrefixes(context: unknown): Map<string, string> {
  const prefixes = new Map<string, string>();
  for (const entry of Array.isArray(context) ? context : [context]) {
    if (typeof entry !== "object" || entry === null) continue;
    for (const [prefix, iri] of Object.entries(entry as Record<string, unknown>)) if (typeof iri === "string") prefixes.set(prefix, iri);
  }
  return prefixes;
}

/** The value of SealTrace extension field `name`, written with any prefix bound to SEALTRACE_NS (or the full IRI). */
function extension(event: EpcisEvent, name: string, prefixes: Map<string, string>): unknown {
  for (const [key, value] of Object.entries(event)) {
    if (key === `${SEALTRACE_NS}${name}`) return value;
    const colon = key.indexOf(":");
    if (colon > 0 && key.slice(colon + 1) === name && prefixes.get(key.slice(0, colon)) === SEALTRACE_NS) return value;
  }
  return undefined;
}

function priceOf(value: unknown): { amount: string; currency: string } | null {
  const price = value as { amount?: unknown; currency?: unknown } | null;
  if (typeof price !== "object" || price === null) return null;
  if (typeof price.amount !== "string" || !isAmount(price.amount)) return null;
  if (typeof price.currency !== "string" || !/^[A-Z]{3}$/.test(price.currency)) return null;
  return { amount: price.amount, currency: price.currency };
}

function destinationOf(event: EpcisEvent): LocationKey | null {
  const list = Array.isArray(event.destinationList) ? (event.destinationList as { type?: unknown; destination?: unknown }[]) : [];
  const byType = (type: string) =>
    list.find((d) => typeof d?.type === "string" && cbvName("sourceDestType", d.type) === type && typeof d.destination === "string");
  const chosen = byType("location") ?? byType("owning_party") ?? byType("possessing_party");
  return chosen ? parseLocation(chosen.destination as string) : null;
}

export function epcisFacts(event: EpcisEvent, prefixes: Map<string, string> = new Map()): EpcisFacts {
  const raw = [...strings(event.epcList), ...strings(event.childEPCs), ...strings(event.inputEPCList), ...strings(event.outputEPCList)];
  const epcs = [...new Set(raw.map(canonicalId))];
  const items = raw.map(parseItem).filter((item): item is ItemKey => item !== null);
  const readPoint = idOf(event.readPoint);
  const bizLocation = idOf(event.bizLocation);
  const where = bizLocation ?? readPoint;
  const declaration = event.errorDeclaration;
  return {
    eventType: event.type,
    action: typeof event.action === "string" ? event.action : null,
    bizStep: typeof event.bizStep === "string" ? cbvName("bizStep", event.bizStep) : null,
    readPoint: readPoint === null ? null : canonicalId(readPoint),
    bizLocation: bizLocation === null ? null : canonicalId(bizLocation),
    epcs,
    parent: typeof event.parentID === "string" ? canonicalId(event.parentID) : null,
    items: [...new Map(items.map((i) => [`${i.gtin}/${i.serial}`, i])).values()],
    location: where === null ? null : parseLocation(where),
    destination: destinationOf(event),
    price: priceOf(extension(event, "price", prefixes)),
    errorDeclaration: typeof declaration === "object" && declaration !== null && !Array.isArray(declaration) ? (declaration as Record<string, unknown>) : null,
  };
}

/**
 * The lifecycle step an event is for its bottles, given the kind of party at its location, or
 * null for a generic step. Packing and unpacking are never lifecycle steps, whatever the bizStep.
 */
export function lifecycleStep(facts: EpcisFacts, partyKind: string | null): LifecycleStep | null {
  if (facts.eventType === "AggregationEvent" && facts.action !== "OBSERVE") return null;
  if (facts.action === "DELETE") return null;
  const atStore = partyKind === "store";
  return (
    LIFECYCLE_STEPS.find((type) => {
      const rule: BizStepRule = BIZ_STEPS[type];
      return rule.bizStep === facts.bizStep && (rule.at === undefined || (rule.at === "store") === atStore);
    }) ?? null
  );
}

/** How an AggregationEvent changes a parent's contents: children added or removed (all when none are named). */
export function contentsChange(facts: EpcisFacts): { parent: string; add: string[] } | { parent: string; remove: string[] | "all" } | null {
  if (facts.eventType !== "AggregationEvent" || facts.parent === null) return null;
  if (facts.action === "ADD") return { parent: facts.parent, add: facts.epcs };
  if (facts.action === "DELETE") return { parent: facts.parent, remove: facts.epcs.length === 0 ? "all" : facts.epcs };
  return null;
}
