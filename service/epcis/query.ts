/**
 * EPCIS 2.0 queries (the REST binding's `GET /events` with the standard SimpleEventQuery
 * parameters): each event comes back exactly as captured, plus a `sealtrace:anchor` extension
 * carrying what is needed to check it independently (canonical event, log link, Merkle proof).
 */
import { contextPrefixes, EPCIS_CONTEXT, EPCIS_EVENT_TYPES, SEALTRACE_NS } from "../core/epcis.ts";
import type { ChainRef } from "../core/bundle.ts";
import { canonicalId, cbvName } from "../core/gs1-ids.ts";
import { readLinkPlaces, storedProof, type LinkPlace } from "../anchoring/link-tiles.ts";
import { toHex, type Hash } from "../core/hash.ts";
import { logKey } from "../core/links.ts";
import type { Db } from "../db/pool.ts";
import { anchoredHere, type BatchPlace } from "../ledger/read-model.ts";
import { decodeCursor, encodeCursor } from "../http/cursor.ts";
import { AppError } from "../http/errors.ts";

export const DEFAULT_PER_PAGE = 100;
export const MAX_PER_PAGE = 1_000;

/** The query parameters this repository supports (all values may list alternatives separated by `|`). */
export const QUERY_PARAMETERS = [
  "eventType",
  "EQ_bizStep",
  "MATCH_epc",
  "MATCH_anyEPC",
  "GE_eventTime",
  "LT_eventTime",
  "EQ_bizLocation",
  "EQ_readPoint",
  "perPage",
  "nextPageToken",
] as const;

const queryError = (field: string, message: string): AppError => new AppError(400, "QueryParameterException", message, { field });

export interface EventQuery {
  eventTypes?: string[];
  bizSteps?: string[];
  epcs?: string[];
  anyEpcs?: string[];
  from?: Date;
  before?: Date;
  bizLocations?: string[];
  readPoints?: string[];
  perPage: number;
  after: number;
}

function list(value: string): string[] {
  return value
    .split("|")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function time(field: string, value: string): Date {
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) || Number.isNaN(at.getTime()))
    throw queryError(field, `${field} must be an ISO 8601 date-time, e.g. 2026-11-20T00:00:00Z`);
  return at;
}

/** Reads the query string into a typed query; 400 QueryParameterException naming the parameter otherwise. */
export function parseEventQuery(raw: Record<string, unknown>): EventQuery {
  const query: EventQuery = { perPage: DEFAULT_PER_PAGE, after: 0 };
  for (const [name, value] of Object.entries(raw)) {
    if (!(QUERY_PARAMETERS as readonly string[]).includes(name))
      throw queryError(name, `unsupported query parameter "${name}" (supported: ${QUERY_PARAMETERS.join(", ")})`);
    if (typeof value !== "string" || value.length > 4_000) throw queryError(name, `${name} must be given once, as text`);
    switch (name) {
      case "eventType": {
        const types = list(value);
        const unknown = types.find((t) => !(EPCIS_EVENT_TYPES as readonly string[]).includes(t));
        if (unknown !== undefined) throw queryError(name, `unknown event type "${unknown}" (one of ${EPCIS_EVENT_TYPES.join(", ")})`);
        query.eventTypes = types;
        break;
      }
      case "EQ_bizStep":
        query.bizSteps = list(value).map((v) => cbvName("bizStep", v));
        break;
      case "MATCH_epc":
        query.epcs = list(value).map(canonicalId);
        break;
      case "MATCH_anyEPC":
        query.anyEpcs = list(value).map(canonicalId);
        break;
      case "GE_eventTime":
        query.from = time(name, value);
        break;
      case "LT_eventTime":
        query.before = time(name, value);
        break;
      case "EQ_bizLocation":
        query.bizLocations = list(value).map(canonicalId);
        break;
      case "EQ_readPoint":
        query.readPoints = list(value).map(canonicalId);
        break;
      case "perPage": {
        if (!/^\d{1,7}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PER_PAGE)
          throw queryError(name, `perPage must be a whole number from 1 to ${MAX_PER_PAGE}`);
        query.perPage = Number(value);
        break;
      }
      case "nextPageToken": {
        const after = decodeCursor("e", value);
        if (after === null) throw queryError(name, "nextPageToken is not a token this repository issued");
        query.after = after;
        break;
      }
    }
  }
  return query;
}

interface Row {
  event_id: number;
  epcis_id: string;
  body: Record<string, unknown>;
  context: unknown;
  canonical: Record<string, unknown>;
  event_hash: Buffer;
  log: LinkRow | null;
  bottles: string[] | null;
  corrections: CorrectionRow[] | null;
}
interface LinkRow extends BatchPlace {
  id: number;
  n: number;
  prev: string;
  link_hash: string;
  leaf: string;
  seq: number | null;
  proof: string | null;
  root: string | null;
  format: 1 | 2 | null;
  links_root: string | null;
  heads_root: string | null;
  heads_depth: number | null;
  tx_hash: string | null;
  block_number: number | null;
  block_time: string | null;
}
interface CorrectionRow {
  event_id: number;
  epcis_id: string;
  body: Record<string, unknown>;
  canonical: Record<string, unknown>;
  event_hash: string;
  log: LinkRow | null;
}

const hex = (column: string) => `'0x' || encode(${column}, 'hex')`;
const LINK_JSON = (
  alias: string,
  batch: string,
) => `jsonb_build_object('id', ${alias}.id, 'n', ${alias}.n, 'prev', ${hex(`${alias}.prev`)}, 'link_hash', ${hex(`${alias}.link_hash`)}, 'leaf', ${hex(`${alias}.leaf`)},
  'seq', ${batch}.seq, 'proof', ${hex(`${alias}.proof`)}, 'root', ${hex(`${batch}.root`)}, 'tx_hash', ${batch}.tx_hash,
  'format', ${batch}.format, 'links_root', ${hex(`${batch}.links_root`)}, 'heads_root', ${hex(`${batch}.heads_root`)}, 'heads_depth', ${batch}.heads_depth,
  'block_number', ${batch}.block_number, 'block_time', ${batch}.block_time,
  'state', ${batch}.state, 'chain_id', ${batch}.chain_id, 'registry', ${batch}.registry)`;

/**
 * The canonical event without the EPCIS event a format-1 event carries (the caller has that already:
 * it is the returned event). A format-2 event carries only its digest (core/commitments.ts
 * epcisDigest), which stays.
 */
function withoutEpcis(canonical: Record<string, unknown>): Record<string, unknown> {
  return typeof canonical.epcis === "string" ? canonical : Object.fromEntries(Object.entries(canonical).filter(([key]) => key !== "epcis"));
}

/** The log's link with its batch joined: `b.seq` is the link's batch (link_batch, migration 0010). */
const LOG_LINK = `SELECT ${LINK_JSON("l", "b")} FROM links l LEFT JOIN batches b ON b.seq = link_batch(l.id, l.batch_seq)`;

/**
 * Proofs of links sealed with tiles (migration 0010) are cut from them; older ones are in the row.
 * Only an anchoring on the current registry counts: one on another is pending until anchored again.
 */
function anchorOf(key: string, eventHash: Hash, log: LinkRow | null, places: ReadonlyMap<number, LinkPlace>, current: ChainRef) {
  if (log === null) return null;
  const anchored = log.seq !== null && anchoredHere(log, current);
  const proof = storedProof(log.proof === null ? null : Buffer.from(log.proof.slice(2), "hex"), places.get(log.id)) ?? [];
  return {
    link: { serial: key, n: log.n, event: eventHash, prev: log.prev },
    linkHash: log.link_hash,
    leaf: log.leaf,
    anchor: anchored
      ? {
          seq: log.seq,
          root: log.root,
          proof,
          // A format-2 root is node(linksRoot, headsRoot, headsDepth): the proof leads to linksRoot.
          ...(log.format === 2 ? { format: 2, linksRoot: log.links_root, headsRoot: log.heads_root, headsDepth: log.heads_depth } : { format: 1 }),
          txHash: log.tx_hash,
          blockNumber: log.block_number,
          blockTime: log.block_time === null ? null : new Date(log.block_time).toISOString(),
        }
      : null,
  };
}

/**
 * `source`: the database, or a function giving the one each answer reads (the replica while it keeps
 * up: service/db/replica.ts); an answer's statements all read the database it was given.
 */
export function createEpcisQuery(source: Db | (() => Db), chain: () => Promise<ChainRef>) {
  const pick = (): Db => (typeof source === "function" ? source() : source);
  async function load(db: Db, brand: { id: number; slug: string }, where: string[], params: unknown[], limit: number) {
    const key = logKey(brand.slug);
    const { rows } = await db.query<Row>(
      `SELECT x.event_id, x.epcis_id, x.body, x.context, e.canonical, e.event_hash,
              (${LOG_LINK} WHERE l.event_id = x.event_id AND l.serial = $2) AS log,
              (SELECT array_agg(l.serial ORDER BY l.serial) FROM links l WHERE l.event_id = x.event_id AND l.serial <> $2) AS bottles,
              (SELECT jsonb_agg(jsonb_build_object('event_id', c.event_id, 'epcis_id', c.epcis_id, 'body', c.body, 'canonical', ce.canonical, 'event_hash', ${hex("ce.event_hash")},
                        'log', (${LOG_LINK} WHERE l.event_id = c.event_id AND l.serial = $2)) ORDER BY c.event_id)
                 FROM epcis_events c JOIN events ce ON ce.id = c.event_id AND ce.brand_id = c.brand_id WHERE c.brand_id = x.brand_id AND c.corrects = x.event_id) AS corrections
         FROM epcis_events x JOIN events e ON e.id = x.event_id AND e.brand_id = x.brand_id
        WHERE x.brand_id = $1 AND x.corrects IS NULL ${where.map((w) => `AND ${w}`).join(" ")}
        ORDER BY x.event_id LIMIT ${limit}`,
      [brand.id, key, ...params],
    );
    const current = await chain();
    const logs = rows.flatMap((row) => [row.log, ...(row.corrections ?? []).map((c) => c.log)]);
    const places = await readLinkPlaces(
      db,
      logs.filter((log) => log !== null && log.seq !== null && log.proof === null).map((log) => log!.id),
    );
    const withAnchor = rows.map((row) => {
      const eventHash = toHex(row.event_hash);
      const canonical = withoutEpcis(row.canonical);
      return {
        id: row.event_id,
        context: row.context,
        event: {
          ...row.body,
          "sealtrace:anchor": {
            eventHash,
            canonical,
            // A format-2 canonical event holds the digest of this event with its document's @context.
            ...(typeof canonical.epcis === "string" ? { context: row.context ?? null } : {}),
            chain: { chainId: current.chainId, registry: current.registry },
            log: anchorOf(key, eventHash, row.log, places, current),
            bottles: row.bottles ?? [],
            corrections: (row.corrections ?? []).map((c) => {
              return {
                errorDeclaration: c.body.errorDeclaration,
                eventHash: c.event_hash,
                canonical: withoutEpcis(c.canonical),
                log: anchorOf(key, c.event_hash as Hash, c.log, places, current),
              };
            }),
          },
        },
      };
    });
    return withAnchor;
  }

  /** `@context` for results: the EPCIS context, SealTrace's prefix, and every prefix the captured documents declared. */
  function contextFor(contexts: unknown[]): unknown[] {
    const prefixes: Record<string, string> = {};
    for (const context of contexts) for (const [prefix, iri] of contextPrefixes(context)) if (!(prefix in prefixes)) prefixes[prefix] = iri;
    prefixes.sealtrace = SEALTRACE_NS;
    return [EPCIS_CONTEXT, prefixes];
  }

  return {
    async events(brand: { id: number; slug: string }, query: EventQuery) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: (p: string) => string, value: unknown) => {
        params.push(value);
        where.push(sql(`$${params.length + 2}`));
      };
      if (query.eventTypes) add((p) => `x.event_type = ANY(${p}::text[])`, query.eventTypes);
      if (query.bizSteps) add((p) => `x.biz_step = ANY(${p}::text[])`, query.bizSteps);
      if (query.epcs) add((p) => `x.epcs && ${p}::text[]`, query.epcs);
      if (query.anyEpcs) add((p) => `(x.epcs && ${p}::text[] OR x.parent = ANY(${p}::text[]))`, query.anyEpcs);
      if (query.from) add((p) => `x.event_time >= ${p}`, query.from);
      if (query.before) add((p) => `x.event_time < ${p}`, query.before);
      if (query.bizLocations) add((p) => `x.biz_location = ANY(${p}::text[])`, query.bizLocations);
      if (query.readPoints) add((p) => `x.read_point = ANY(${p}::text[])`, query.readPoints);
      if (query.after > 0) add((p) => `x.event_id > ${p}`, query.after);
      const rows = await load(pick(), brand, where, params, query.perPage + 1);
      const page = rows.slice(0, query.perPage);
      return {
        document: {
          "@context": contextFor(page.map((r) => r.context)),
          type: "EPCISQueryDocument",
          schemaVersion: "2.0",
          creationDate: new Date().toISOString(),
          epcisBody: { queryResults: { queryName: "SimpleEventQuery", resultsBody: { eventList: page.map((r) => r.event) } } },
        },
        nextPageToken: rows.length > query.perPage ? encodeCursor("e", page.at(-1)!.id) : null,
      };
    },

    async event(brand: { id: number; slug: string }, eventID: string) {
      const rows = await load(pick(), brand, ["x.epcis_id = $3"], [eventID], 1);
      if (rows.length === 0) return null;
      return {
        "@context": contextFor([rows[0]!.context]),
        type: "EPCISQueryDocument",
        schemaVersion: "2.0",
        creationDate: new Date().toISOString(),
        epcisBody: { queryResults: { queryName: "SimpleEventQuery", resultsBody: { eventList: [rows[0]!.event] } } },
      };
    },
  };
}

export type EpcisQuery = ReturnType<typeof createEpcisQuery>;
