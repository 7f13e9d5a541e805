/**
 * The bottle read model: what the readers of the ledger (the consumer page, the store check, the
 * ingest checks, the proof bundles, the audit routes, EPCIS query) ask of it, written once.
 *
 * - Anchored on the current registry: a link counts as anchored only if its batch is final
 *   ('anchored') on the chain and registry the service is configured with now. A batch anchored on
 *   another registry (before a move, or on a fresh development chain) is pending until the anchorer
 *   has anchored it again there (anchoring/anchorer.ts reconcile).
 * - A bottle's history: its links with their events in chain order, each a step with the party that
 *   acted; a consumer's scan is no step (it is one of the bottle's scans, read below).
 * - Its scans: consumer scans as facts for the warnings (core/warnings.ts: the copy check, the
 *   buyer's first verification).
 *
 * The SQL comes as fragments, for statements that read more in the same round trip (the consumer
 * page is one prepared statement), and as functions where the read stands alone. Fragments name
 * their table aliases; parameters are passed in as the caller numbers them ("$3").
 */
import type { ChainRef } from "../core/bundle.ts";
import { RECENT_SCANS_MS, type ScanFact, type StepFact } from "../core/warnings.ts";
import type { EventType } from "../core/vocabulary.ts";
import type { Db } from "../db/pool.ts";
import { linkBatchSql } from "../anchoring/link-tiles.ts";

// ---------------------------------------------------------------------------------------------
// Anchored on the current registry

/** Where a batch stands, as its row says (null columns: a link not yet in a batch). */
export interface BatchPlace {
  state: string | null;
  chain_id: number | null;
  registry: string | null;
}

/** The batch is recorded on the current chain and registry (anchored there, or on its way). */
export function onCurrentRegistry(batch: BatchPlace, current: ChainRef): boolean {
  return batch.chain_id === current.chainId && batch.registry === current.registry;
}

/** The batch is final on the current registry: only then are its links anchored. */
export function anchoredHere(batch: BatchPlace, current: ChainRef): boolean {
  return batch.state === "anchored" && onCurrentRegistry(batch, current);
}

/** SQL: batch `b` is final on the registry given by the parameters `chainId` and `registry` (e.g. "$1", "$2"). */
export function anchoredHereSql(b: string, chainId: string, registry: string): string {
  return `${b}.state = 'anchored' AND ${b}.chain_id = ${chainId} AND ${b}.registry = ${registry}`;
}

/**
 * SQL: the `columns` of the latest batch anchored on the current registry (parameters as in
 * anchoredHereSql); with `format2`, the latest format-2 one (the latest heads map). No row: none yet.
 */
export function latestAnchoredSql(columns: string, chainId: string, registry: string, options: { format2?: boolean } = {}): string {
  return `SELECT ${columns} FROM batches b WHERE ${anchoredHereSql("b", chainId, registry)}${options.format2 === true ? " AND b.format = 2" : ""}
          ORDER BY b.seq DESC LIMIT 1`;
}

// ---------------------------------------------------------------------------------------------
// History

/**
 * SQL: the FROM and WHERE of a bottle's history: its links `l` with their events `e` (and what
 * `joins` adds), every step but consumer scans, in no order (callers order by l.n). `serial` is
 * what l.serial equals: "$1", "c.serial", or "ANY($1::text[])" for several bottles.
 */
export function historySql(serial: string, joins = ""): string {
  return `FROM links l JOIN events e ON e.id = l.event_id AND e.brand_id = l.brand_id${joins === "" ? "" : ` ${joins}`}
          WHERE l.serial = ${serial} AND e.type <> 'consumer_scan'`;
}

/** A step as stepsJsonSql gives it: the event, its party, and its batch (null fields: none). */
export interface StepRow extends BatchPlace {
  type: EventType;
  at: string;
  party: string | null;
  partyName: string | null;
  kind: string | null;
  region: string | null;
  batch: number | null;
  block: number | null;
  blockTime: string | null;
  tx: string | null;
}

/** SQL: the bottle's steps (`serial` as in historySql) as one JSON array of StepRow, in chain order. */
export function stepsJsonSql(serial: string): string {
  return `(SELECT coalesce(json_agg(json_build_object(
                'type', e.type, 'at', e.occurred_at, 'party', e.party, 'partyName', pa.name, 'kind', pa.kind, 'region', pa.region,
                'batch', ba.seq, 'state', ba.state, 'chain_id', ba.chain_id, 'registry', ba.registry, 'block', ba.block_number,
                'blockTime', ba.block_time, 'tx', ba.tx_hash) ORDER BY l.n), '[]')
         ${historySql(
           serial,
           `LEFT JOIN parties pa ON pa.brand_id = e.brand_id AND pa.id = e.party
         LEFT JOIN batches ba ON ba.seq = ${linkBatchSql("l")}`,
         )})`;
}

/** A step of the history with its anchoring on the current registry (null: not anchored there yet). */
export interface Step extends StepFact {
  anchor: { seq: number; blockNumber: number | null; blockTime: Date | null; txHash: string | null } | null;
}

const dateOrNull = (value: string | null): Date | null => (value === null ? null : new Date(value));

/** The step a row names, with its party (a party the brand no longer lists keeps its id as name). */
export function stepFact(row: StepRow): StepFact {
  return {
    type: row.type,
    at: new Date(row.at),
    party: row.party === null ? null : { id: row.party, name: row.partyName ?? row.party, kind: row.kind ?? "", region: row.region ?? "" },
  };
}

/** The steps with their anchors: only a batch final on the current registry anchors a step. */
export function stepsOf(rows: StepRow[], current: ChainRef): Step[] {
  return rows.map((row) => ({
    ...stepFact(row),
    anchor: anchoredHere(row, current) ? { seq: row.batch!, blockNumber: row.block, blockTime: dateOrNull(row.blockTime), txHash: row.tx } : null,
  }));
}

/** The bottle's history as steps, in chain order (the store check; the page reads them in its own statement). */
export async function historyOf(db: Db, serial: string): Promise<StepFact[]> {
  const {
    rows: [row],
  } = await db.query<{ steps: StepRow[] }>(`SELECT ${stepsJsonSql("$1")} AS steps`, [serial]);
  return row!.steps.map(stepFact);
}

// ---------------------------------------------------------------------------------------------
// Scans

/** A consumer scan as read: when, and the coarse place (null: not known). */
export interface ScanRow {
  at: string | Date;
  place: string | null;
  latitude: number | null;
  longitude: number | null;
}

export function scanFact(row: ScanRow): ScanFact {
  return { at: new Date(row.at), place: row.place === null ? null : { name: row.place, latitude: row.latitude, longitude: row.longitude } };
}

/** SQL: every consumer scan of the bottle `serial` as one JSON array of ScanRow, oldest first. */
export function scansJsonSql(serial: string): string {
  return `(SELECT coalesce(json_agg(json_build_object('at', s.scanned_at, 'place', s.place, 'latitude', s.latitude, 'longitude', s.longitude) ORDER BY s.scanned_at, s.id), '[]')
         FROM scans s WHERE s.serial = ${serial})`;
}

/**
 * The scans the warnings need without the whole list: the recent ones (the copy check), and the
 * first at or after `since` however old (the buyer's first verification after the last sale).
 */
export async function recentScans(db: Db, serial: string, now: Date, since: Date | null): Promise<ScanFact[]> {
  const { rows } = await db.query<ScanRow>(
    `SELECT id, scanned_at AS at, place, latitude, longitude FROM scans WHERE serial = $1 AND scanned_at > $2
     UNION
     (SELECT id, scanned_at, place, latitude, longitude FROM scans WHERE serial = $1 AND scanned_at >= $3::timestamptz ORDER BY scanned_at, id LIMIT 1)
     ORDER BY at, id`,
    [serial, new Date(now.getTime() - RECENT_SCANS_MS), since],
  );
  return rows.map(scanFact);
}
