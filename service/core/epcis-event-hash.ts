/**
 * The GS1 EPCIS 2.0 / CBV 2.0 "EPCIS Event Hash ID": a syntax-independent fingerprint of one EPCIS event,
 * `ni:///sha-256;<64 lowercase hex>?ver=CBV2.0` (RFC 6920 named information).
 *
 * The event is reduced to a canonical "pre-hash string" (property names and values concatenated without
 * separators, in the CBV canonical property order, values normalised) and that string's UTF-8 bytes are
 * hashed with SHA-256. The normative text is CBV 2.0 section "EPCIS Event Hash ID"; where it leaves room,
 * this module follows the reference implementation (RalphTro/epcis-event-hash-generator, CBV2.0 profile)
 * and its published test vectors. Rules, in the order they are applied:
 *
 * 1. The JSON/JSON-LD event becomes a tree of (name, text, children). A list value gives one child per
 *    element, all with the property's name; a scalar is a one-element list. `comment`, `rdfs:comment`
 *    and null values are dropped. Keys `prefix:local` whose prefix is known (well-known gs1/cbv/epcis/
 *    cbvmda, or the JSON-LD @context) become `{namespace}local`.
 * 2. Bare CBV words in the fields that take them (bizStep, disposition, persistentDisposition set/unset,
 *    bizTransaction/source/destination types, sensorReport type/exception/component, error reason) become
 *    their web-vocabulary URIs (`shipping` -> `https://ref.gs1.org/cbv/BizStep-shipping`); values that are
 *    CURIEs of a GS1 namespace (`cbv:BizStep-shipping`, `gs1:Temperature`) are expanded.
 * 3. The JSON shape is mapped onto the XML one the algorithm is written against: `fooList` elements are
 *    named `foo` (quantity elements `quantityElement`, input/output EPCs `epc`), `childEPCs` hold `epc`s,
 *    and bizTransaction/source/destination entries become (type, value) pairs.
 * 4. The pre-hash string is `eventType=<type>`, then the standard fields in canonical property order
 *    (each `name=value`, nested fields after their parent's name, repeated fields sorted), then `ilmd`,
 *    then user extensions found inside standard fields (prefixed by the field's name), then event-level
 *    user extensions (sorted). eventID, recordTime, errorDeclaration and certificationInfo are left out;
 *    in CBV 2.0 the `sensorElementList` wrapper name itself is not written.
 * 5. Values: timestamps (standard fields whose name contains "time") in UTC, millisecond precision,
 *    rounded half up; old CBV URNs (`urn:epcglobal:cbv:bizstep:shipping`) to web-vocabulary URIs; numbers
 *    without sign, leading or trailing zeros (as Python's Decimal prints them); EPC URIs, EPC class and
 *    pattern URIs and GS1 Digital Link URIs on any domain to the constrained canonical Digital Link
 *    (`https://id.gs1.org/01/<GTIN-14>/21/<serial>`, lot dropped when a serial is present, no query).
 *
 * Where this differs from the reference (all outside its test vectors, which all pass):
 * - Bare CBV words are expanded only in the fields that take them. The reference JSON-LD-expands the whole
 *   document and then rewrites any string anywhere that matches the tail of one expanded term, so an
 *   extension value "shipping" next to bizStep "shipping" became a URI there; here it stays "shipping".
 * - A bizTransaction/source/destination entry is always written type first, then its value, whatever the
 *   JSON key order; one without a type is its value alone. (The reference follows key order and fails on
 *   a missing type.) Other properties inside such an entry are ignored, as in the reference.
 * - null values are ignored (the reference hashes Python's "None"); an `@context` inside the event only
 *   declares prefixes (the reference would hash it as an extension); a timestamp without an offset is
 *   UTC (the reference takes the machine's zone); only ISO 8601 timestamps are recognised.
 * - EPC URIs with a 12-digit company prefix and an empty reference (grai, gdti, sgcn) convert per TDS; the
 *   reference's patterns for them expect an extra dot and leave them unconverted.
 * - Numbers are hashed as JavaScript parsed them: integers beyond 2^53 and floats of 1e16 or more written
 *   with a point or exponent can differ from Python's reading; pass such values as strings.
 * - Bounded work: a number whose written exponent is beyond +-MAX_NUMBER_EXPONENT, or an event whose numbers
 *   written out in full would add more than MAX_NUMBER_EXPANSION characters, is refused (EpcisHashInputError,
 *   naming the value's JSON path) rather than hashed; the reference would write out `1e-400000000` in full.
 * - Only the CBV 2.0 profile (`?ver=CBV2.0`); the reference's CBV 2.1 mode, its document-level
 *   "ignoreFields" and its master-data features are not implemented.
 *
 * Pure: no I/O. One event at a time; pass the document's `@context` so user namespaces resolve.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { gs1CheckDigit } from "./gtin.ts";

/** What `epcisPreHashString` accepts as context: a JSON-LD `@context` value (a URL string, an object
 * mapping prefixes to namespace IRIs, or a list of those), or a plain `{ prefix: namespace }` map. */
export type EpcisContext = string | Record<string, unknown> | ReadonlyArray<unknown>;

/** A node of the event tree: a property name, its text, and its nested properties. A `pair` node is a
 * bizTransaction/source/destination entry: its kids are the `type` node (if any) then the value node. */
interface Node {
  name: string;
  text: string;
  kids: Node[];
  pair: boolean;
}

const node = (name: string, text: string, kids: Node[] = []): Node => ({ name, text, kids, pair: false });

// ---------------------------------------------------------------------------------------------------
// Canonical property order (CBV 2.0, as the reference implementation orders it)

/** A field's sub-order: nested fields in order, or PAIRS for a list of (type, value) pairs. */
type Order = ReadonlyArray<readonly [string, Order | typeof PAIRS | null]>;
const PAIRS = "pairs";

const QUANTITY_ELEMENT: Order = [
  [
    "quantityElement",
    [
      ["epcClass", null],
      ["quantity", null],
      ["uom", null],
    ],
  ],
];
const EPCS: Order = [["epc", null]];
const fields = (...names: string[]): Order => names.map((n) => [n, null] as const);

const PROPERTY_ORDER: Order = [
  ["eventTime", null],
  ["eventTimeZoneOffset", null],
  ["epcList", EPCS],
  ["parentID", null],
  ["inputEPCList", EPCS],
  ["childEPCs", EPCS],
  ["quantityList", QUANTITY_ELEMENT],
  ["childQuantityList", QUANTITY_ELEMENT],
  ["inputQuantityList", QUANTITY_ELEMENT],
  ["outputEPCList", EPCS],
  ["outputQuantityList", QUANTITY_ELEMENT],
  ["action", null],
  ["transformationID", null],
  ["bizStep", null],
  ["disposition", null],
  ["persistentDisposition", fields("set", "unset")],
  ["readPoint", fields("id")],
  ["bizLocation", fields("id")],
  ["bizTransactionList", PAIRS],
  ["sourceList", PAIRS],
  ["destinationList", PAIRS],
  [
    "sensorElementList",
    [
      [
        "sensorElement",
        [
          ["sensorMetadata", fields("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules")],
          [
            "sensorReport",
            fields(
              "type",
              "exception",
              "deviceID",
              "deviceMetadata",
              "rawData",
              "dataProcessingMethod",
              "time",
              "microorganism",
              "chemicalSubstance",
              "value",
              "component",
              "stringValue",
              "booleanValue",
              "hexBinaryValue",
              "uriValue",
              "minValue",
              "maxValue",
              "meanValue",
              "sDev",
              "percRank",
              "percValue",
              "uom",
              "coordinateReferenceSystem",
            ),
          ],
        ],
      ],
    ],
  ],
];

/** Event-level properties that never take part in the hash. */
const EXCLUDED = new Set(["eventID", "recordTime", "errorDeclaration", "certificationInfo", "type"]);
/** Lists whose entries are (type, value) pairs, and the name of each entry's value property. */
const PAIR_LISTS = new Map([
  ["bizTransactionList", "bizTransaction"],
  ["sourceList", "source"],
  ["destinationList", "destination"],
]);
const PAIR_VALUE_NAMES = new Set(PAIR_LISTS.values());

// ---------------------------------------------------------------------------------------------------
// Vocabularies: bare CBV words, CURIE namespaces, old CBV URNs

const CBV = "https://ref.gs1.org/cbv/";
const GS1_VOC = "https://ref.gs1.org/voc/";

interface Vocabulary {
  prefix: string;
  terms: ReadonlySet<string>;
}
const vocabulary = (prefix: string, terms: string): Vocabulary => ({ prefix, terms: new Set(terms.split(" ")) });

// The terms the EPCIS 2.0 JSON-LD context (ref.gs1.org/standards/epcis/[2.0.0/]epcis-context.jsonld) maps.
const BIZ_STEP = vocabulary(
  `${CBV}BizStep-`,
  "accepting arriving assembling collecting commissioning consigning " +
    "creating_class_instance cycle_counting decommissioning departing destroying disassembling dispensing encoding " +
    "entering_exiting holding inspecting installing killing loading other packing picking receiving removing " +
    "repackaging repairing replacing reserving retail_selling sampling sensor_reporting shipping staging_outbound " +
    "stock_taking stocking storing transporting unloading unpacking void_shipping",
);
const DISPOSITION = vocabulary(
  `${CBV}Disp-`,
  "active available completeness_verified completeness_inferred conformant " +
    "container_closed container_open damaged destroyed dispensed disposed encoded expired in_progress in_transit " +
    "inactive mismatch_instance mismatch_class mismatch_quantity needs_replacement no_pedigree_match non_conformant " +
    "non_sellable_other partially_dispensed recalled reserved retail_sold returned sellable_accessible " +
    "sellable_not_accessible stolen unavailable unknown",
);
const BIZ_TRANSACTION_TYPE = vocabulary(`${CBV}BTT-`, "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt");
const SOURCE_DESTINATION_TYPE = vocabulary(`${CBV}SDT-`, "owning_party possessing_party location");
const ERROR_REASON = vocabulary(`${CBV}ER-`, "did_not_occur incorrect_data");
const COMPONENT = vocabulary(
  `${CBV}Comp-`,
  "x y z axial_distance azimuth height spherical_radius polar_angle " + "elevation_angle easting northing latitude longitude altitude",
);
const SENSOR_EXCEPTION = vocabulary(GS1_VOC, "ALARM_CONDITION ERROR_CONDITION");
const MEASUREMENT_TYPE = vocabulary(
  GS1_VOC,
  "AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Radioactivity " +
    "Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum AngularVelocity " +
    "Area Capacitance Conductance Conductivity Count Density Dimensionless DoseEquivalent DoseEquivalentRate " +
    "DynamicViscosity ElectricCharge ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force " +
    "Frequency Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance LuminousFlux " +
    "LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass MassConcentration MassFlowRate " +
    "MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy MolarMass MolarVolume Power Pressure RadiantFlux " +
    "RadiantIntensity RelativeHumidity Resistance Resistivity SolidAngle SpecificVolume Speed SurfaceDensity " +
    "SurfaceTension Temperature Time Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber",
);

/** Which vocabulary a property takes, by its path of property names from the event (lists are transparent). */
const VOCABULARY_BY_PATH = new Map<string, Vocabulary>([
  ["bizStep", BIZ_STEP],
  ["disposition", DISPOSITION],
  ["persistentDisposition/set", DISPOSITION],
  ["persistentDisposition/unset", DISPOSITION],
  ["bizTransactionList/type", BIZ_TRANSACTION_TYPE],
  ["sourceList/type", SOURCE_DESTINATION_TYPE],
  ["destinationList/type", SOURCE_DESTINATION_TYPE],
  ["sensorElementList/sensorReport/type", MEASUREMENT_TYPE],
  ["sensorElementList/sensorReport/exception", SENSOR_EXCEPTION],
  ["sensorElementList/sensorReport/component", COMPONENT],
  ["errorDeclaration/reason", ERROR_REASON],
]);

/** Namespaces known without any context (those of the EPCIS context the reference resolves against). */
const WELL_KNOWN_NAMESPACES: ReadonlyArray<readonly [string, string]> = [
  ["gs1", GS1_VOC],
  ["cbv", CBV],
  ["epcis", "https://ref.gs1.org/epcis/"],
  ["cbvmda", "urn:epcglobal:cbv:mda"],
];

const OLD_CBV_URNS: ReadonlyArray<readonly [string, string]> = [
  ["urn:epcglobal:cbv:bizstep:", `${CBV}BizStep-`],
  ["urn:epcglobal:cbv:disp:", `${CBV}Disp-`],
  ["urn:epcglobal:cbv:btt:", `${CBV}BTT-`],
  ["urn:epcglobal:cbv:sdt:", `${CBV}SDT-`],
  ["urn:epcglobal:cbv:er:", `${CBV}ER-`],
];

function addNamespaces(namespaces: Map<string, string>, context: unknown): void {
  if (Array.isArray(context)) {
    for (const entry of context) addNamespaces(namespaces, entry);
  } else if (context !== null && typeof context === "object") {
    for (const [prefix, definition] of Object.entries(context)) {
      if (prefix.startsWith("@")) continue;
      const iri =
        typeof definition === "string"
          ? definition
          : definition !== null && typeof definition === "object" && typeof (definition as { "@id"?: unknown })["@id"] === "string"
            ? (definition as { "@id": string })["@id"]
            : undefined;
      if (iri !== undefined) namespaces.set(prefix, iri);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// JSON -> tree

/** Compare strings by Unicode code point (Python's order, which the reference sorts by). UTF-16 code
 * units order the same except surrogates against U+E000..U+FFFF, which the shift below puts right. */
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i),
      y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Order of (name, text, children) tuples, as Python compares them. */
function compareNodes(a: Node, b: Node): number {
  const byName = compareCodePoints(a.name, b.name);
  if (byName !== 0) return byName;
  const byText = compareCodePoints(a.text, b.text);
  if (byText !== 0) return byText;
  for (let i = 0; i < Math.min(a.kids.length, b.kids.length); i++) {
    const byKid = compareNodes(a.kids[i] as Node, b.kids[i] as Node);
    if (byKid !== 0) return byKid;
  }
  return a.kids.length - b.kids.length;
}

const IGNORED_KEYS = new Set(["#text", "comment", "rdfs:comment", "@context"]);

class TreeBuilder {
  private readonly namespaces: Map<string, string>;

  constructor(namespaces: Map<string, string>) {
    this.namespaces = namespaces;
  }

  /** `prefix:local` with a known prefix -> `{namespace}local`. */
  key(key: string): string {
    const colon = key.indexOf(":");
    if (colon < 0) return key;
    const namespace = this.namespaces.get(key.slice(0, colon));
    return namespace === undefined ? key : `{${namespace}}${key.slice(colon + 1)}`;
  }

  /** A string value: bare CBV word -> URI where the property takes one; CURIE of a GS1 namespace -> URI. */
  value(text: string, path: string): string {
    const vocab = VOCABULARY_BY_PATH.get(path);
    if (vocab?.terms.has(text)) return vocab.prefix + text;
    const colon = text.indexOf(":");
    if (colon < 0) return text;
    const namespace = this.namespaces.get(text.slice(0, colon));
    if (namespace !== undefined && (namespace.startsWith("https://ref.gs1.org") || namespace.startsWith("https://gs1.org"))) {
      return namespace + text.slice(colon + 1);
    }
    return text;
  }

  /** Characters the event's canonical numbers add to what was written, against MAX_NUMBER_EXPANSION. */
  private expansion = 0;

  /** The node for a JSON value; its name is the caller's to set. `path` is the property names from the
   * event (lists transparent, for vocabularies); `where` the JSON path with indexes (for errors). */
  build(value: unknown, path: string, where: string): Node {
    if (Array.isArray(value)) {
      const kids: Node[] = [];
      value.forEach((v, i) => {
        if (v !== null && v !== undefined) kids.push(this.build(v, path, `${where}[${i}]`));
      });
      return node("", "", kids);
    }
    if (value !== null && typeof value === "object") {
      const object = value as Record<string, unknown>;
      const text = object["#text"];
      const result = node(
        typeof object.type === "string" ? object.type : "",
        text === undefined || text === null ? "" : this.checked(scalarText(text), `${where}.#text`),
      );
      for (const [rawKey, child] of Object.entries(object)) {
        if (IGNORED_KEYS.has(rawKey) || rawKey.startsWith("@xmlns") || child === null || child === undefined) continue;
        const built = this.build(child, path === "" ? rawKey : `${path}/${rawKey}`, where === "" ? rawKey : `${where}.${rawKey}`);
        const name = this.key(rawKey);
        if (Array.isArray(child)) {
          for (const element of built.kids) result.kids.push(node(name, element.text, element.kids));
        } else {
          result.kids.push(node(name, built.text, built.kids));
        }
      }
      // Entries of bizTransaction/source/destination lists keep their order (type first in practice); the
      // reference sorts every other object's properties as Python tuples.
      if (!Object.keys(object).some((k) => PAIR_VALUE_NAMES.has(k))) result.kids.sort(compareNodes);
      return result;
    }
    return node("", typeof value === "string" ? this.value(this.checked(value, where), path) : this.checked(scalarText(value), where));
  }

  /** `text` itself, once its canonical form (if it is a number) is known to be within the bounds. */
  private checked(text: string, where: string): string {
    const canonical = canonicalNumber(text.trim(), where);
    this.expansion += Math.max(0, canonical.length - text.length);
    if (this.expansion > MAX_NUMBER_EXPANSION) {
      throw new EpcisHashInputError(where, `the event's numbers written out in full would be more than ${MAX_NUMBER_EXPANSION} characters longer than sent`);
    }
    return text;
  }
}

function scalarText(value: unknown): string {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}

/** Map the JSON shape onto the XML one (lists, childEPCs, pairs, element names), recursively. */
function reshape(tree: Node): Node {
  const kids: Node[] = [];
  const lists = new Map<string, Node[]>();
  const childEpcs: Node[] = [];
  for (const kid of tree.kids) {
    if (!kid.pair && kid.name.endsWith("List")) {
      let elements = lists.get(kid.name);
      if (elements === undefined) lists.set(kid.name, (elements = []));
      elements.push(node(kid.name.slice(0, -4), kid.text, kid.kids));
    } else if (!kid.pair && kid.name === "childEPCs") {
      childEpcs.push(node("epc", kid.text));
    } else {
      kids.push(kid);
    }
  }
  for (const [name, elements] of lists) {
    const valueName = PAIR_LISTS.get(name);
    kids.push(valueName === undefined ? node(name, "", elements) : { ...node(name, ""), kids: elements.map((e) => toPair(e, valueName)) });
  }
  if (childEpcs.length > 0) kids.push(node("childEPCs", "", childEpcs));

  const reshaped = kids.map((kid) => (kid.pair || PAIR_LISTS.has(kid.name) ? kid : reshape(kid)));
  return node(elementName(tree), tree.text, reshaped);
}

function elementName(tree: Node): string {
  switch (tree.name) {
    case "inputEPC":
    case "outputEPC":
      return "epc";
    case "inputQuantity":
    case "outputQuantity":
    case "childQuantity":
      return "quantityElement";
    case "quantity":
      return tree.kids.length > 0 ? "quantityElement" : "quantity";
    default:
      return tree.name;
  }
}

/** A bizTransaction/source/destination entry as (type, value); other properties of the entry are dropped. */
function toPair(entry: Node, valueName: string): Node {
  const type = entry.kids.find((k) => k.name === "type");
  const value = entry.kids.find((k) => k.name === valueName) ?? (entry.kids.length === 0 && entry.text ? node(valueName, entry.text) : undefined);
  return { name: "", text: "", kids: [type, value].filter((k): k is Node => k !== undefined), pair: true };
}

// ---------------------------------------------------------------------------------------------------
// Value canonicalisation

/** A timestamp in UTC at millisecond precision (rounded half up), or the text unchanged if it is none. */
function canonicalTimestamp(text: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/.exec(text);
  if (m === null) return text;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetMinutes = m[9] === undefined ? 0 : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11] ?? 0));
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() + (month === 2 && !isLeapYear(year) ? -1 : 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || Math.abs(offsetMinutes) >= 24 * 60) return text;
  // Microsecond precision first (digits past the sixth are cut, as dateutil does), then half-up to ms.
  const micros = Number((m[7] ?? "").padEnd(6, "0").slice(0, 6));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const utc = new Date(date.getTime() - offsetMinutes * 60_000 + Math.floor((micros + 500) / 1000));
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return (
    `${pad(utc.getUTCFullYear(), 4)}-${pad(utc.getUTCMonth() + 1)}-${pad(utc.getUTCDate())}T${pad(utc.getUTCHours())}:` +
    `${pad(utc.getUTCMinutes())}:${pad(utc.getUTCSeconds())}.${pad(utc.getUTCMilliseconds(), 3)}Z`
  );
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** A number's written exponent may be at most this large either way: every double (5e-324 to 1.8e308) fits,
 * and the arithmetic below stays exact. Larger ones are refused (EpcisHashInputError). */
export const MAX_NUMBER_EXPONENT = 1_000;
/** The canonical numbers of one event may together be at most this many characters longer than written:
 * `1e-999` is six characters but a thousand in fixed-point notation, and a document of such numbers must not
 * become gigabytes of pre-hash string. */
export const MAX_NUMBER_EXPANSION = 65_536;
const DECIMAL_PRECISION = 28;

/** A value the event hash refuses to canonicalise (a number too large to write out), with its JSON path in the event. */
export class EpcisHashInputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "EpcisHashInputError";
    this.field = field;
  }
}

/** The parts of a decimal number, as Python's Decimal() reads it: `[sign] [digits] [. digits] [e [sign] digits]`,
 * digits optionally grouped with single underscores, surrounding whitespace allowed. */
interface Decimal {
  negative: boolean;
  /** Integer and fraction digits, underscores removed. */
  integer: string;
  fraction: string;
  /** The written exponent's digits (underscores removed, no sign), and its sign. */
  exponentDigits: string;
  exponentNegative: boolean;
}

/** What JavaScript's `\s` matches (and `String.prototype.trim` removes). */
function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * A decimal's parts, or null when `text` is none. One pass, no backtracking: each character is looked at
 * a bounded number of times, whatever the input (the regular expression this replaces was quadratic on
 * leading whitespace).
 */
function scanDecimal(text: string): Decimal | null {
  let i = 0;
  let end = text.length;
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  while (end > i && isSpace(text.charCodeAt(end - 1))) end--;
  /** `\d(_?\d)*` from i: the digits without underscores, and where they end; null if there is no digit at i. */
  const digitsAt = (from: number): [string, number] | null => {
    if (from >= end || !isDigit(text.charCodeAt(from))) return null;
    let at = from + 1;
    let grouped = false;
    while (at < end) {
      const c = text.charCodeAt(at);
      if (isDigit(c)) at++;
      else if (c === 0x5f && at + 1 < end && isDigit(text.charCodeAt(at + 1))) {
        grouped = true;
        at += 2;
      } else break;
    }
    const digits = text.slice(from, at);
    return [grouped ? digits.replaceAll("_", "") : digits, at];
  };
  let negative = false;
  const sign = text.charCodeAt(i);
  if (sign === 0x2b || sign === 0x2d) {
    negative = sign === 0x2d;
    i++;
  }
  const integer = digitsAt(i);
  if (integer !== null) i = integer[1];
  let fraction: [string, number] | null = null;
  if (i < end && text.charCodeAt(i) === 0x2e) {
    fraction = digitsAt(i + 1);
    i = fraction === null ? i + 1 : fraction[1];
  }
  if (integer === null && fraction === null) return null;
  let exponentDigits = "";
  let exponentNegative = false;
  if (i < end && (text.charCodeAt(i) | 0x20) === 0x65) {
    let at = i + 1;
    const c = text.charCodeAt(at);
    if (c === 0x2b || c === 0x2d) {
      exponentNegative = c === 0x2d;
      at++;
    }
    const exponent = digitsAt(at);
    if (exponent === null) return null;
    [exponentDigits, i] = exponent;
  }
  if (i !== end) return null;
  return { negative, integer: integer?.[0] ?? "", fraction: fraction?.[0] ?? "", exponentDigits, exponentNegative };
}

/** The written exponent as a number; throws when it is beyond MAX_NUMBER_EXPONENT. */
function exponentOf(decimal: Decimal, field: string): number {
  const digits = decimal.exponentDigits.replace(/^0+/, "");
  if (digits.length > String(MAX_NUMBER_EXPONENT).length || Number(digits) > MAX_NUMBER_EXPONENT) {
    throw new EpcisHashInputError(field, `a number's exponent must be between -${MAX_NUMBER_EXPONENT} and ${MAX_NUMBER_EXPONENT}`);
  }
  return decimal.exponentNegative ? -Number(digits) : Number(digits);
}

/** A number written the way the reference writes it (Python Decimal: integral values via
 * to_integral_value(), others normalized in fixed-point notation); anything else unchanged.
 * Throws EpcisHashInputError for an exponent beyond MAX_NUMBER_EXPONENT. */
export function canonicalNumber(text: string, field = "(event)"): string {
  const m = scanDecimal(text);
  if (m === null) return text;
  const negative = m.negative;
  let exponent = exponentOf(m, field) - m.fraction.length;
  let digits = (m.integer + m.fraction).replace(/^0+/, "") || "0";

  // Whether the digits right of the point (exponent < 0) are all zeros: an integral value.
  const integral = exponent >= 0 || !/[1-9]/.test(digits.slice(Math.max(0, digits.length + exponent)));
  if (integral) {
    if (exponent < 0) {
      digits = digits.slice(0, exponent) || "0";
      exponent = 0;
    }
    return (negative ? "-" : "") + pythonDecimalString(digits, exponent);
  }
  // normalize(): round to the context precision (half even), then drop trailing zeros.
  if (digits.length > DECIMAL_PRECISION) {
    const drop = digits.length - DECIMAL_PRECISION;
    const kept = BigInt(digits.slice(0, DECIMAL_PRECISION));
    const rest = digits.slice(DECIMAL_PRECISION);
    const half = "5".padEnd(drop, "0");
    const roundUp = rest > half || (rest === half && kept % 2n === 1n);
    digits = String(roundUp ? kept + 1n : kept);
    exponent += drop + (digits.length > DECIMAL_PRECISION ? 1 : 0);
    if (digits.length > DECIMAL_PRECISION) digits = digits.slice(0, DECIMAL_PRECISION);
  }
  const trailing = /0*$/.exec(digits)?.[0].length ?? 0;
  if (trailing > 0 && trailing < digits.length) {
    digits = digits.slice(0, -trailing);
    exponent += trailing;
  }
  const sign = negative ? "-" : "";
  if (exponent >= 0) return sign + digits + "0".repeat(exponent);
  const point = digits.length + exponent;
  return point > 0 ? `${sign}${digits.slice(0, point)}.${digits.slice(point)}` : `${sign}0.${"0".repeat(-point)}${digits}`;
}

/** str() of a Python Decimal with these coefficient digits and exponent (sign handled by the caller). */
function pythonDecimalString(digits: string, exponent: number): string {
  const leftDigits = exponent + digits.length;
  const dotPlace = exponent <= 0 && leftDigits > -6 ? leftDigits : 1;
  let result: string;
  if (dotPlace <= 0) result = `0.${"0".repeat(-dotPlace)}${digits}`;
  else if (dotPlace >= digits.length) result = digits + "0".repeat(dotPlace - digits.length);
  else result = `${digits.slice(0, dotPlace)}.${digits.slice(dotPlace)}`;
  const shown = leftDigits - dotPlace;
  return shown === 0 ? result : `${result}E${shown > 0 ? "+" : "-"}${Math.abs(shown)}`;
}

/** Every value outside timestamps: old CBV URNs, numbers, GS1 identifiers. */
function canonicalValue(text: string): string {
  let value = text;
  for (const [urn, uri] of OLD_CBV_URNS) value = value.replaceAll(urn, uri);
  value = canonicalNumber(value);
  return canonicalGs1DigitalLink(value) ?? value;
}

// ---------------------------------------------------------------------------------------------------
// GS1 identifiers -> constrained canonical GS1 Digital Link

/** Company prefix (6 to 12 digits) '.' reference, together `total` digits. */
function partition(total: number): string {
  const options: string[] = [];
  for (let prefix = 6; prefix <= 12; prefix++) options.push(String.raw`\d{${prefix}}\.` + (total > prefix ? String.raw`\d{${total - prefix}}` : ""));
  return `(${options.join("|")})`;
}

/** Company prefix '.' reference of 1..(total - prefix length) characters of `char`. */
function variablePartition(total: number, char: string): string {
  const options: string[] = [];
  for (let prefix = 6; prefix <= 12; prefix++) options.push(String.raw`\d{${prefix}}\.${char}{1,${total - prefix}}`);
  return `(${options.join("|")})`;
}

// Characters TDS allows in EPC URI serials (GS1 AI encodable character set 82, %-escaped where needed).
const CHAR82 = String.raw`(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!')(*+,.0-9:;=A-Za-z_-])`;
const CHAR39 = String.raw`(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])`;
const DL = "https://id.gs1.org/";

/** Split `cp.ref` into its parts. */
const split = (pair: string): [string, string] => {
  const dot = pair.indexOf(".");
  return [pair.slice(0, dot), pair.slice(dot + 1)];
};
/** GTIN-14 from an SGTIN-style partition: indicator digit, company prefix, item reference, check digit. */
const gtin14 = (pair: string): string => {
  const [prefix, reference] = split(pair);
  const body = reference.slice(0, 1) + prefix + reference.slice(1);
  return body + gs1CheckDigit(body);
};
/** Company prefix and reference run together, plus the check digit (GLN, GRAI, GDTI, GCN, GSRN, GSIN...). */
const withCheckDigit = (pair: string): string => {
  const [prefix, reference] = split(pair);
  return prefix + reference + gs1CheckDigit(prefix + reference);
};

type Conversion = readonly [RegExp, (m: RegExpExecArray) => string];
const g = (m: RegExpExecArray, i: number): string => m[i] ?? "";

const EPC_CONVERSIONS: readonly Conversion[] = [
  [new RegExp(`^urn:epc:id:sgtin:${partition(13)}\\.(${CHAR82}{1,20})$`), (m) => `${DL}01/${gtin14(g(m, 1))}/21/${g(m, 2)}`],
  [
    new RegExp(`^urn:epc:id:sscc:${partition(17)}$`),
    (m) => {
      const [prefix, reference] = split(g(m, 1));
      const body = reference.slice(0, 1) + prefix + reference.slice(1);
      return `${DL}00/${body}${gs1CheckDigit(body)}`;
    },
  ],
  [
    new RegExp(`^urn:epc:id:sgln:${partition(12)}\\.(${CHAR82}{1,20})$`),
    (m) => `${DL}414/${withCheckDigit(g(m, 1))}${g(m, 2) === "0" ? "" : `/254/${g(m, 2)}`}`,
  ],
  [new RegExp(`^urn:epc:id:grai:${partition(12)}\\.(${CHAR82}{1,16})$`), (m) => `${DL}8003/0${withCheckDigit(g(m, 1))}${g(m, 2)}`],
  [new RegExp(`^urn:epc:id:giai:${variablePartition(30, CHAR82)}$`), (m) => `${DL}8004/${g(m, 1).replace(".", "")}`],
  [new RegExp(`^urn:epc:id:gsrn:${partition(17)}$`), (m) => `${DL}8018/${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:id:gsrnp:${partition(17)}$`), (m) => `${DL}8017/${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:id:gdti:${partition(12)}\\.(${CHAR82}{0,19})$`), (m) => `${DL}253/${withCheckDigit(g(m, 1))}${g(m, 2)}`],
  [new RegExp(`^urn:epc:id:cpi:${variablePartition(30, CHAR39)}\\.(\\d{1,12})$`), (m) => `${DL}8010/${g(m, 1).replace(".", "")}/8011/${g(m, 2)}`],
  [new RegExp(`^urn:epc:id:sgcn:${partition(12)}\\.(\\d{1,12})$`), (m) => `${DL}255/${withCheckDigit(g(m, 1))}${g(m, 2)}`],
  [new RegExp(`^urn:epc:id:ginc:${variablePartition(30, CHAR82)}$`), (m) => `${DL}401/${g(m, 1).replace(".", "")}`],
  [new RegExp(`^urn:epc:id:gsin:${partition(16)}$`), (m) => `${DL}402/${withCheckDigit(g(m, 1))}`],
  [
    new RegExp(`^urn:epc:id:itip:${partition(13)}\\.(\\d{2})\\.(\\d{2})\\.(${CHAR82}{1,20})$`),
    (m) => `${DL}8006/${gtin14(g(m, 1))}${g(m, 2)}${g(m, 3)}/21/${g(m, 4)}`,
  ],
  [new RegExp(`^urn:epc:id:upui:${partition(13)}\\.(${CHAR82}{1,28})$`), (m) => `${DL}01/${gtin14(g(m, 1))}/235/${g(m, 2)}`],
  [new RegExp(`^urn:epc:id:pgln:${partition(12)}$`), (m) => `${DL}417/${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:class:lgtin:${partition(13)}\\.(${CHAR82}{1,20})$`), (m) => `${DL}01/${gtin14(g(m, 1))}/10/${g(m, 2)}`],
  [new RegExp(`^urn:epc:idpat:sgtin:${partition(13)}\\.\\*$`), (m) => `${DL}01/${gtin14(g(m, 1))}`],
  [new RegExp(`^urn:epc:idpat:grai:${partition(12)}\\.\\*$`), (m) => `${DL}8003/0${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:idpat:gdti:${partition(12)}\\.\\*$`), (m) => `${DL}253/${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:idpat:sgcn:${partition(12)}\\.\\*$`), (m) => `${DL}255/${withCheckDigit(g(m, 1))}`],
  [new RegExp(`^urn:epc:idpat:cpi:${variablePartition(30, CHAR39)}\\.\\*$`), (m) => `${DL}8010/${g(m, 1).replace(".", "")}`],
  [new RegExp(`^urn:epc:idpat:itip:${partition(13)}\\.(\\d{2})\\.(\\d{2})\\.\\*$`), (m) => `${DL}8006/${gtin14(g(m, 1))}${g(m, 2)}${g(m, 3)}`],
  [new RegExp(`^urn:epc:idpat:upui:${partition(13)}\\.\\*$`), (m) => `${DL}01/${gtin14(g(m, 1))}`],
];

const DL_KEYS = "01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai";
/** An http(s) URI whose path holds a GS1 primary key (or is a 10-character compressed one). */
const DIGITAL_LINK = new RegExp(String.raw`^https?:(?:\/\/[^\/?#]*)?(?:[^?#]*\/(?:${DL_KEYS})\/\d{4}[^\/]|\/[A-Za-z_-]{10}$)`);
const SHORT_NAMES: ReadonlyArray<readonly [string, string]> = [
  ["gtin", "01"],
  ["itip", "8006"],
  ["cpid", "8010"],
  ["gln", "414"],
  ["party", "417"],
  ["gsrnp", "8017"],
  ["gsrn", "8018"],
  ["gcn", "255"],
  ["sscc", "00"],
  ["gdti", "253"],
  ["ginc", "401"],
  ["gsin", "402"],
  ["grai", "8003"],
  ["giai", "8004"],
  ["cpv", "22"],
  ["lot", "10"],
  ["ser", "21"],
];
// The reference writes "id.gs1.org" with unescaped dots in these patterns; kept so for identical results.
const ON_CANONICAL_DOMAIN = /^https:\/\/id.gs1.org\/(?:01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)\/\d{4}[^/]/;
const PRIMARY_KEYS = ["00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018"];
const C = String.raw`[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]`;
const CPV_LAST = new RegExp(String.raw`^https:\/\/id.gs1.org\/(?:8006\/\d{18}|01\/\d{14})\/22\/${C}{0,20}$`);
const CPV_INSIDE = new RegExp(String.raw`^https:\/\/id.gs1.org\/(?:8006\/\d{18}|01\/\d{14})\/22\/[\x2F${C.slice(1, -1)}]{0,20}$`);
const LOT_AND_SERIAL = new RegExp(String.raw`^https:\/\/id.gs1.org\/(?:8006\/\d{18}|01\/\d{14})\/10\/${C}{0,20}\/21\/${C}{0,20}$`);
const CPI = String.raw`[\x23\x2D\x2F\x30-\x39\x41-\x5A]`;
const CANONICAL_FORMS = [
  String.raw`00\/\d{18}`,
  String.raw`01\/\d{14}\/21\/${C}{0,20}`,
  String.raw`01\/\d{14}\/10\/${C}{0,20}`,
  String.raw`01\/\d{14}`,
  String.raw`01\/\d{14}\/235\/${C}{0,28}`,
  String.raw`253\/\d{13}${C}{0,17}`,
  String.raw`255\/\d{13}\d{0,12}`,
  String.raw`401\/${C}{0,30}`,
  String.raw`402\/\d{17}`,
  String.raw`414\/\d{13}`,
  String.raw`414\/\d{13}\/254\/${C}{0,20}`,
  String.raw`417\/\d{13}`,
  String.raw`8003\/\d{14}${C}{0,16}`,
  String.raw`8004\/${C}{0,30}`,
  String.raw`8006\/\d{18}\/21\/${C}{0,20}`,
  String.raw`8006\/\d{18}\/10\/${C}{0,20}`,
  String.raw`8006\/\d{18}`,
  String.raw`8010\/${CPI}{0,30}\/8011\/\d{0,12}`,
  String.raw`8010\/${CPI}{0,30}`,
  String.raw`8017\/\d{18}`,
  String.raw`8018\/\d{18}`,
];
const CANONICAL_DIGITAL_LINK = new RegExp(String.raw`^https:\/\/id.gs1.org\/(?:${CANONICAL_FORMS.join("|")})$`);

/**
 * The constrained canonical GS1 Digital Link URI for an EPC URI, EPC class URI, EPC pattern URI or GS1
 * Digital Link URI (on any domain, with short names, a query string, a CPV or a lot next to a serial);
 * undefined for anything else. Company-prefix length comes from the partition in the EPC URI.
 */
export function canonicalGs1DigitalLink(uri: string): string | undefined {
  if (!uri.includes(".")) return undefined;
  if (uri.startsWith("urn:epc:")) {
    for (const [pattern, convert] of EPC_CONVERSIONS) {
      const m = pattern.exec(uri);
      if (m !== null) return convert(m);
    }
    return undefined;
  }
  if (!DIGITAL_LINK.test(uri)) return undefined;
  let link = uri.includes("?") ? uri.slice(0, uri.indexOf("?")) : uri;
  for (const [name, ai] of SHORT_NAMES) link = link.replaceAll(`/${name}/`, `/${ai}/`);
  if (!ON_CANONICAL_DOMAIN.test(link)) {
    const key = PRIMARY_KEYS.find((k) => link.includes(`/${k}/`));
    if (key !== undefined) link = "https://id.gs1.org" + link.slice(link.indexOf(`/${key}/`));
  }
  if (!/^https:\/\/id.gs1.org\/01\/\d{14}/.test(link)) {
    if (/^https:\/\/id.gs1.org\/01\/\d{13}/.test(link)) link = link.replaceAll("/01/", "/01/0");
    else if (/^https:\/\/id.gs1.org\/01\/\d{12}/.test(link)) link = link.replaceAll("/01/", "/01/00");
    else if (/^https:\/\/id.gs1.org\/01\/\d{8}/.test(link)) link = link.replaceAll("/01/", "/01/000000");
  }
  // Drop a CPV (AI 22), then a lot when a serial is present: only the finest identification level counts.
  const afterCpv = link.slice(link.indexOf("/22/") + 4);
  if (CPV_LAST.test(link)) {
    link = link.slice(0, link.indexOf("/22/"));
  } else if (CPV_INSIDE.test(link)) {
    const slash = afterCpv.indexOf("/");
    link = link.slice(0, link.indexOf("/22/")) + (slash < 0 ? afterCpv.slice(-1) : afterCpv.slice(slash));
  }
  if (LOT_AND_SERIAL.test(link)) {
    const afterLot = link.slice(link.indexOf("/10/") + 4);
    link = link.slice(0, link.indexOf("/10/")) + afterLot.slice(afterLot.indexOf("/"));
  }
  return CANONICAL_DIGITAL_LINK.test(link) ? link : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Pre-hash string

const isTimeName = (name: string): boolean => {
  const lower = name.toLowerCase();
  return lower.includes("time") && !lower.includes("offset");
};
const isUserExtension = (n: Node): boolean => !n.pair && n.name.includes("{") && n.name.includes("/}");
const sortStrings = (values: string[]): string[] => values.sort(compareCodePoints);
const remove = (list: Node[], item: Node): void => {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
};

/**
 * The standard fields of `kids` in `order`, each `name=value` followed by its nested fields; repeated
 * fields sorted. Fields written in full are removed from `kids`: what stays is for the extension passes.
 */
function orderedFields(kids: Node[], order: Order): string {
  let out = "";
  for (const [name, sub] of order) {
    const values: string[] = [];
    for (const kid of kids.filter((k) => !k.pair && k.name === name)) {
      const text = field(kid, sub);
      if (text) values.push(text);
      if (kid.kids.length === 0) remove(kids, kid);
    }
    out += sortStrings(values).join("");
  }
  return out;
}

function field(kid: Node, sub: Order | typeof PAIRS | null): string {
  let nested = "";
  if (sub === PAIRS) {
    if (kid.kids.length > 0 && kid.kids.every((k) => k.pair)) {
      nested = generic(kid.kids);
      kid.kids.length = 0;
    }
  } else if (sub !== null) {
    nested = orderedFields(kid.kids, sub);
  }
  let value = "";
  if (kid.text) {
    const text = kid.text.trim();
    const canonical = isTimeName(kid.name) ? canonicalTimestamp(text) : canonicalValue(text);
    if (canonical) value = `=${canonical}`;
  }
  if (!value && !nested) return "";
  return (kid.name === "sensorElementList" ? "" : kid.name) + value + nested;
}

/** Fields outside the canonical order (ilmd, user extensions): `name=value` + nested, siblings sorted. */
function generic(kids: readonly Node[]): string {
  const values = kids.map((kid) => {
    if (kid.pair) return generic(kid.kids);
    const text = kid.text.trim();
    return kid.name + (text ? `=${canonicalValue(text)}` : "") + generic(kid.kids);
  });
  // Pair entries (type, value) keep their order; everything else is sorted.
  const keepOrder = kids.some((k) => !k.pair && PAIR_VALUE_NAMES.has(k.name));
  return (kids.length > 1 && !keepOrder ? sortStrings(values) : values).join("");
}

/** User extensions inside standard fields, each prefixed by the path of standard field names above it. */
function fieldExtensions(kids: readonly Node[], order: Order): string {
  let out = "";
  for (const [name, sub] of order) {
    if (sub === null || sub === PAIRS) continue;
    for (const kid of kids.filter((k) => !k.pair && k.name === name)) {
      const inner = fieldExtensions(kid.kids, sub);
      if (inner) out += name + inner;
    }
  }
  const direct = kids.filter(isUserExtension);
  return direct.length > 0 ? out + generic(direct) : out;
}

function eventTree(event: Record<string, unknown>, context: EpcisContext | undefined): Node {
  const namespaces = new Map(WELL_KNOWN_NAMESPACES);
  addNamespaces(namespaces, context);
  addNamespaces(namespaces, event["@context"]);
  namespaces.set("gs1", GS1_VOC); // as the reference does (EPCIS 2.1 rule): gs1 always means the GS1 vocabulary
  for (const [key, value] of Object.entries(event)) {
    if (key.startsWith("@xmlns:") && typeof value === "string") namespaces.set(key.slice(7), value);
  }
  const tree = reshape(new TreeBuilder(namespaces).build(event, "", ""));
  return { ...tree, name: typeof event.type === "string" ? event.type : "" };
}

/**
 * The canonical pre-hash string of one EPCIS 2.0 JSON/JSON-LD event, as it appears in
 * `epcisBody.eventList`. `context` is the document's `@context` (or a `{ prefix: namespace }` map), used
 * to expand user-extension prefixes; an `@context` on the event itself is honoured too.
 */
export function epcisPreHashString(event: Record<string, unknown>, context?: EpcisContext): string {
  const tree = eventTree(event, context);
  const kids = tree.kids;
  const standard = orderedFields(kids, PROPERTY_ORDER);

  const ilmd = kids.filter((k) => k.name === "ilmd");
  for (const k of ilmd) remove(kids, k);

  let inFields = "";
  for (const [name, sub] of PROPERTY_ORDER) {
    if (sub === null || sub === PAIRS) continue;
    for (const kid of kids.filter((k) => !k.pair && k.name === name)) {
      const inner = fieldExtensions(kid.kids, sub);
      if (inner) {
        inFields += (name === "sensorElementList" ? "" : name) + inner;
        remove(kids, kid);
      }
    }
  }
  const eventLevel = kids.filter((k) => !EXCLUDED.has(k.name));
  return `eventType=${tree.name}${standard}${ilmd.length > 0 ? generic(ilmd) : ""}${inFields}${eventLevel.length > 0 ? generic(eventLevel) : ""}`;
}

/** The EPCIS Event Hash ID of `event`: `ni:///sha-256;<64 lowercase hex>?ver=CBV2.0`. */
export function epcisEventHash(event: Record<string, unknown>, context?: EpcisContext): string {
  return `ni:///sha-256;${bytesToHex(sha256(utf8ToBytes(epcisPreHashString(event, context))))}?ver=CBV2.0`;
}
