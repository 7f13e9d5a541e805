/**
 * The fault suite's frame: it runs only in `npm run test:faults` (or when a test/faults file is named
 * on the command line), never in the ordinary `npm test`, which loads every file under test/; and it
 * keeps the tally printed as a table at the end of the run.
 */

/** True in the fault run: SEALTRACE_FAULTS=1 (the npm script) or a test/faults file given by name. */
export const FAULT_RUN = process.env.SEALTRACE_FAULTS === "1" || process.argv.some((arg) => /test[\\/]faults[\\/]/.test(arg));

/** `describe`, but only in the fault run: elsewhere the file registers nothing. */
export function faultSuite(title: string, body: (this: Mocha.Suite) => void): void {
  if (FAULT_RUN) describe(title, body);
}

/**
 * A reproducible random source: FAULT_SEED=<n> replays a run (the seed is printed), else a fresh seed.
 * mulberry32, enough to pick kill points and delays.
 */
export function seededRandom(name: string): () => number {
  const seed = process.env.FAULT_SEED !== undefined ? Number(process.env.FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(`      (${name}: FAULT_SEED=${seed})\n`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface Tally {
  faultsInjected: number;
  requestsSent: number;
  eventsAccepted: number;
  eventsAnchored: number;
  lost: number;
  doubled: number;
  /** 5xx answers, except the 503 + Retry-After that a PostgreSQL outage is meant to give. */
  serverErrors: number;
  /** 503 + Retry-After while PostgreSQL was down. */
  unavailable: number;
}

/** What every fault test adds to; printed once, after the whole run. */
export const tally: Tally = { faultsInjected: 0, requestsSent: 0, eventsAccepted: 0, eventsAnchored: 0, lost: 0, doubled: 0, serverErrors: 0, unavailable: 0 };

/** The table printed at the end of the fault run. */
export function summaryTable(t: Tally): string {
  return table([
    ["faults injected", t.faultsInjected],
    ["requests sent", t.requestsSent],
    ["events accepted", t.eventsAccepted],
    ["events anchored", t.eventsAnchored],
    ["lost", t.lost],
    ["doubled", t.doubled],
    ["5xx", t.serverErrors],
    ["503 + Retry-After (PostgreSQL down)", t.unavailable],
  ]);
}

/** A two-column table in plain text: names on the left, values on the right (numbers right-aligned, text left-aligned). */
export function table(rows: [string, number | string][]): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  const values = rows.map(([, v]) => (typeof v === "number" ? v.toLocaleString("en-US") : v));
  const valueWidth = Math.max(...values.map((v) => v.length));
  const line = `+-${"-".repeat(width)}-+-${"-".repeat(valueWidth)}-+`;
  const cell = (v: number | string, text: string) => (typeof v === "number" ? text.padStart(valueWidth) : text.padEnd(valueWidth));
  return [line, ...rows.map(([name, v], i) => `| ${name.padEnd(width)} | ${cell(v, values[i]!)} |`), line].join("\n");
}

if (FAULT_RUN) {
  // A root-level hook: runs once, after every fault test.
  after(() => {
    process.stdout.write(`\nSealTrace fault suite\n${summaryTable(tally)}\n`);
  });
}
