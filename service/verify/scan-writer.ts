/**
 * Writes consumers' visits (a `consumer_scan`, or an `opened` with the cap code) to the bottles'
 * chains, many visits per transaction (group commit, core/group-commit.ts): each page waits until the
 * COMMIT of the group holding its visit has returned, so a page that says "this scan was counted"
 * always names a durable scan, and a group that fails fails every page in it (after one retry).
 *
 * Rules kept from the one-visit-per-transaction writer: one IP's scans of a bottle within
 * RESCAN_WINDOW count once (also when they land in the same group); a bottle is opened once; the
 * visits to one bottle are appended in the order they were submitted; heads are locked in serial
 * order (lockHeads), as every writer of the ledger does. And a bottle records at most
 * `scansPerHour` consumer scans within SCAN_CAP_WINDOW (also when they land in the same group): past
 * it, a visit is answered but not written, so no one can grow a bottle's chain (and its page's read)
 * without bound. Times are the database's (the transaction's `now()`), the clock the rules compare with.
 */
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { createGroupCommit } from "../core/group-commit.ts";
import { randomSalt, type CanonicalEvent } from "../core/links.ts";
import type { Place, ScanFact } from "../core/warnings.ts";
import type { Db, Tx } from "../db/pool.ts";
import { appendEvents, lockHeadsAt, type NewEvent } from "../ledger/append.ts";

/** Consumer scans from one IP within this window count once (a page reload is not a new scan). */
export const RESCAN_WINDOW = "10 minutes";
/** The window of SCANS_PER_BOTTLE_PER_HOUR: at most that many consumer scans of a bottle are recorded within it. */
export const SCAN_CAP_WINDOW = "1 hour";

/** SQL: whether the IP hashed `ipHash` scanned the bottle `serial` within RESCAN_WINDOW (the page asks; the writer asks again, locked). */
export const rescanSql = (serial: string, ipHash: string): string =>
  `EXISTS (SELECT 1 FROM scans s WHERE s.serial = ${serial} AND s.ip_hash = ${ipHash} AND s.scanned_at > now() - interval '${RESCAN_WINDOW}')`;
/** SQL: how many consumer scans the bottle `serial` recorded within SCAN_CAP_WINDOW. */
export const capWindowScansSql = (serial: string): string =>
  `(SELECT count(*)::int FROM scans s WHERE s.serial = ${serial} AND s.scanned_at > now() - interval '${SCAN_CAP_WINDOW}')`;

/** Groups are at most this large; past QUEUE_LIMIT waiting visits, visitors are asked to retry. */
const GROUP_LIMIT = 256;
const QUEUE_LIMIT = 4_096;

/** A consumer's visit to a bottle's page, to be recorded. */
export type Visit = {
  serial: string;
  brandId: number;
  brandSlug: string;
  /** The place of the visitor's IP in the brand's table. */
  place: Place | null;
  /**
   * What the page read, unlocked: the head's n, whether this IP had scanned the bottle within the
   * window, and how many scans the bottle recorded within SCAN_CAP_WINDOW. Those answers still hold
   * while n is unchanged, since a counted scan always appends a link (the count can only have fallen).
   */
  seen: { n: number; rescan: boolean; lastHour: number };
} & ({ kind: "consumer_scan"; ipHash: Buffer } | { kind: "opened" });

export interface VisitOutcome {
  /** True if this visit was written (false: the same IP within the window, the bottle's scans capped, or a bottle already opened). */
  counted: boolean;
  /** The time of the group's events. */
  at: Date;
  /** The consumer scans of this bottle the group wrote, up to and including this visit's. */
  scans: ScanFact[];
  /**
   * For a cap scan: when the bottle was opened, if the page's read did not know it yet (by this visit,
   * by an earlier one in the group, or by a group that committed after the read).
   */
  opening: { at: Date } | null;
}

type ScanVisit = Visit & { kind: "consumer_scan" };

const keyOf = (serial: string, ipHash: Buffer) => `${serial}:${ipHash.toString("hex")}`;

/** Appends the group's visits in the caller's transaction; one outcome (or an Error for that visit alone) per visit. */
async function appendVisits(tx: Tx, visits: Visit[], scansPerHour: number): Promise<(VisitOutcome | Error)[]> {
  const { heads, now: at } = await lockHeadsAt(tx, visits);
  // Where a link was appended since the page read, whether the IP scanned within the window, and
  // the bottle's scans within the cap's window, are asked again, locked.
  const stale = visits.filter((v) => v.kind === "consumer_scan" && heads.get(v.serial)?.n !== v.seen.n) as ScanVisit[];
  const recent = new Set<string>();
  const lastHour = new Map<string, number>();
  if (stale.length > 0) {
    const { rows } = await tx.query<{ serial: string; ip_hash: Buffer; rescan: boolean; last_hour: number }>({
      name: "scan-recent-3",
      text: `SELECT t.serial, t.ip_hash, ${rescanSql("t.serial", "t.ip_hash")} AS rescan, ${capWindowScansSql("t.serial")} AS last_hour
         FROM unnest($1::text[], $2::bytea[]) AS t(serial, ip_hash)`,
      values: [stale.map((v) => v.serial), stale.map((v) => v.ipHash)],
    });
    for (const row of rows) {
      if (row.rescan) recent.add(keyOf(row.serial, row.ip_hash));
      lastHour.set(row.serial, row.last_hour);
    }
  }

  const iso = at.toISOString();
  const counted = new Set<string>();
  const openings = new Map<string, { at: Date }>();
  const groupScans = new Map<string, ScanFact[]>();
  // Per brand, its events and, aligned with them, the scan each one is (null for an opening).
  const byBrand = new Map<number, { events: NewEvent[]; scans: (ScanVisit | null)[] }>();
  const outcomes = visits.map((visit): VisitOutcome | Error => {
    const head = heads.get(visit.serial);
    if (head === undefined) return new Error(`code ${visit.serial} is gone`);
    let write: boolean;
    if (visit.kind === "opened") {
      write = head.openedAt === null && !openings.has(visit.serial);
    } else {
      const key = keyOf(visit.serial, visit.ipHash);
      const fresh = head.n === visit.seen.n;
      const before = fresh ? visit.seen.lastHour : (lastHour.get(visit.serial) ?? 0);
      const capped = before + (groupScans.get(visit.serial)?.length ?? 0) >= scansPerHour;
      write = !counted.has(key) && !(fresh ? visit.seen.rescan : recent.has(key)) && !capped;
      counted.add(key);
    }
    if (write) {
      const canonical: CanonicalEvent = {
        brand: visit.brandSlug,
        id: `${visit.kind}-${randomUUID()}`,
        type: visit.kind,
        codes: [visit.serial],
        occurredAt: iso,
        receivedAt: iso,
        salt: randomSalt(),
      };
      if (visit.place !== null) canonical.place = visit.place.name;
      if (visit.kind === "opened") canonical.by = "consumer";
      const brand = byBrand.get(visit.brandId) ?? { events: [], scans: [] };
      byBrand.set(visit.brandId, brand);
      brand.events.push({ canonical, brandEventId: canonical.id as string, occurredAt: iso, party: null, to: null, price: null, data: null });
      if (visit.kind === "opened") {
        openings.set(visit.serial, { at });
        brand.scans.push(null);
      } else {
        brand.scans.push(visit);
        groupScans.set(visit.serial, [...(groupScans.get(visit.serial) ?? []), { at, place: visit.place }]);
      }
    }
    return {
      counted: write,
      at,
      scans: visit.kind === "consumer_scan" ? [...(groupScans.get(visit.serial) ?? [])] : [],
      opening: visit.kind !== "opened" ? null : (openings.get(visit.serial) ?? (head.openedAt === null ? null : { at: head.openedAt })),
    };
  });

  const rows = {
    brand: [] as number[],
    serial: [] as string[],
    event: [] as number[],
    place: [] as (string | null)[],
    lat: [] as (number | null)[],
    lon: [] as (number | null)[],
    ip: [] as Buffer[],
  };
  for (const [brandId, { events, scans }] of byBrand) {
    const written = await appendEvents(tx, brandId, null, iso, events, heads);
    scans.forEach((visit, i) => {
      if (visit === null) return;
      rows.brand.push(brandId);
      rows.serial.push(visit.serial);
      rows.event.push(written.events[i]!.id);
      rows.place.push(visit.place?.name ?? null);
      rows.lat.push(visit.place?.latitude ?? null);
      rows.lon.push(visit.place?.longitude ?? null);
      rows.ip.push(visit.ipHash);
    });
  }
  if (rows.serial.length > 0) {
    await tx.query({
      name: "scan-insert",
      text: `INSERT INTO scans (brand_id, serial, event_id, scanned_at, place, latitude, longitude, ip_hash)
       SELECT t.brand_id, t.serial, t.event_id, $3, t.place, t.lat, t.lon, t.ip_hash
         FROM unnest($8::bigint[], $1::text[], $2::bigint[], $4::text[], $5::float8[], $6::float8[], $7::bytea[]) AS t(brand_id, serial, event_id, place, lat, lon, ip_hash)`,
      values: [rows.serial, rows.event, iso, rows.place, rows.lat, rows.lon, rows.ip, rows.brand],
    });
  }
  return outcomes;
}

export function createScanWriter(db: Db, log: FastifyBaseLogger, options: { scansPerHour: number }) {
  // The writer keeps its connection while visits keep coming: checking one out for every group would
  // queue each group behind the pages' reads waiting for the pool.
  let held: Tx | null = null;
  const release = (error?: Error) => {
    held?.release(error);
    held = null;
  };
  async function write(visits: Visit[]): Promise<(VisitOutcome | Error)[]> {
    held ??= await db.connect();
    try {
      await held.query("BEGIN");
      const outcomes = await appendVisits(held, visits, options.scansPerHour);
      await held.query("COMMIT");
      return outcomes;
    } catch (error) {
      // A connection that cannot even roll back is dropped, not reused.
      await held.query("ROLLBACK").then(
        () => undefined,
        (broken: Error) => release(broken),
      );
      throw error;
    }
  }
  const group = createGroupCommit<Visit, VisitOutcome>(
    async (visits) => {
      try {
        return await write(visits);
      } catch (error) {
        // A lost connection, a deadlock: once more, on a fresh connection. If the failed COMMIT had in
        // fact committed, the rules above write nothing twice (the IP's scan is within the window now,
        // the bottle is opened).
        log.warn({ err: error, visits: visits.length }, "a group of consumer visits failed; retrying it once");
        release(error as Error);
        return await write(visits);
      }
    },
    { maxGroup: GROUP_LIMIT, maxQueue: QUEUE_LIMIT, idle: () => release() },
  );
  return {
    /** Resolves once the visit's group is committed; rejects (QueueFull, or the group's error) when it is not recorded. */
    record: (visit: Visit) => group.submit(visit),
    drain: () => group.drain(),
  };
}

export type ScanWriter = ReturnType<typeof createScanWriter>;
