/**
 * npm run demo -- [--api URL] [--admin-token TOKEN] [--brand SLUG] [--bottles N] [--out FILE] [--json]
 *
 * Fills a running SealTrace with a believable baijiu supply chain: a brand, two sales regions
 * (贵州, 上海), a factory, a warehouse, distributors and stores, three products, and N minted bottle
 * codes; then posts a week of signed webhook events (production → warehouse → distributor → store →
 * sale, and a few bottles opened), waits until a sample bottle's history is anchored on chain, and
 * prints what to look at: the brand's credentials, scan URLs and a proof bundle to verify.
 *
 * Progress goes to stderr, the summary to stdout (with --json, one JSON object).
 * Exit 0: done; 1: the service refused something or did not anchor in time; 2: usage error.
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { verifyBundle, type ProofBundle } from "../service/core/bundle.ts";
import { normaliseGtin } from "../service/core/gtin.ts";
import { signWebhook } from "../service/ingest/signature.ts";
import type { BrandEventType, StoreEventType } from "../service/core/vocabulary.ts";

const USAGE = `usage: npm run demo -- [options]
  --api URL            the SealTrace service (default $SEALTRACE_URL or http://127.0.0.1:3000)
  --admin-token TOKEN  the platform admin token (default $ADMIN_TOKEN, else the file $DATA_DIR/admin-token,
                       DATA_DIR defaulting to ./data as for the embedded service)
  --brand SLUG         the new brand's slug (default demo-<6 random characters>)
  --bottles N          how many bottle codes to mint and trace, 1 to ${(10_000).toLocaleString("en")} (default 300)
  --out FILE           where to save the sample bottle's proof bundle (default: a file in the temp directory)
  --json               print the summary as one JSON object
  -h, --help           this help`;

const MAX_BOTTLES = 10_000;
const MAX_EVENTS_PER_REQUEST = 1_000;
const MAX_CODES_PER_EVENT = 1_000;
const ANCHOR_WAIT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;

class UsageError extends Error {}
class DemoError extends Error {
  /** The HTTP status that caused it; null when the service could not be reached at all. */
  readonly status: number | null | undefined;
  constructor(message: string, status?: number | null) {
    super(message);
    this.status = status;
  }
}

// ───────────────────────────── the demo's world ─────────────────────────────

const REGIONS = [
  { code: "CN-GZ", name: "贵州" },
  { code: "CN-SH", name: "上海" },
] as const;
type RegionCode = (typeof REGIONS)[number]["code"];

type PartyKind = "factory" | "warehouse" | "distributor" | "store";
interface Party {
  id: string;
  kind: PartyKind;
  name: string;
  region: RegionCode;
}

const FACTORY: Party = { id: "gz-factory-renhuai", kind: "factory", name: "仁怀茅台镇酿造一厂", region: "CN-GZ" };
const WAREHOUSE: Party = { id: "gz-wh-guiyang", kind: "warehouse", name: "贵阳成品仓储中心", region: "CN-GZ" };
const DISTRIBUTORS: Record<RegionCode, Party> = {
  "CN-GZ": { id: "gz-dist-qianxiang", kind: "distributor", name: "贵州黔香酒业商贸有限公司", region: "CN-GZ" },
  "CN-SH": { id: "sh-dist-pujiang", kind: "distributor", name: "上海浦江名酒贸易有限公司", region: "CN-SH" },
};
const STORES: Record<RegionCode, Party[]> = {
  "CN-GZ": [
    { id: "gz-store-zunyi-01", kind: "store", name: "遵义红花岗名酒行", region: "CN-GZ" },
    { id: "gz-store-guiyang-01", kind: "store", name: "贵阳南明烟酒店", region: "CN-GZ" },
    { id: "gz-store-guiyang-02", kind: "store", name: "贵阳观山湖酱酒体验店", region: "CN-GZ" },
  ],
  "CN-SH": [
    { id: "sh-store-pudong-01", kind: "store", name: "浦东陆家嘴名酒坊", region: "CN-SH" },
    { id: "sh-store-jingan-01", kind: "store", name: "静安南京西路烟酒行", region: "CN-SH" },
    { id: "sh-store-xuhui-01", kind: "store", name: "徐汇徐家汇酒类专卖店", region: "CN-SH" },
  ],
};
/** A store only the stories use: its sales fell this week, at compliant prices (the price-protection story). */
const PROTECTED_STORE: Party = { id: "gz-store-renhuai-01", kind: "store", name: "仁怀国酒文化城专卖店", region: "CN-GZ" };
/** The store whose key and console user the demo creates. */
const KEY_STORE = STORES["CN-GZ"][1]!;
const PARTIES: Party[] = [FACTORY, WAREHOUSE, ...Object.values(DISTRIBUTORS), ...Object.values(STORES).flat(), PROTECTED_STORE];

/**
 * Where consumer scans come from. A scan's place is looked up from its client IP in the brand's
 * IP-range table (PUT /api/v1/ip-places); the demo gives three loopback addresses a city each and
 * connects from them (the service sees the TCP peer's address: nothing is forged), so that two scans
 * "in 贵阳 and in 上海" are two real requests from two addresses. 127.0.0.1, your browser, has no place.
 */
const PLACES = {
  guiyang: { address: "127.0.0.2", place: "贵州 贵阳", latitude: 26.647, longitude: 106.63 },
  shanghai: { address: "127.0.0.3", place: "上海", latitude: 31.23, longitude: 121.474 },
  zunyi: { address: "127.0.0.4", place: "贵州 遵义", latitude: 27.725, longitude: 106.927 },
} as const;

/** GS1 mod-10 check digit of the first 13 digits of a GTIN-14. */
function gtinCheckDigit(body13: string): number {
  if (!/^\d{13}$/.test(body13)) throw new Error(`a GTIN-14 body is 13 digits (got "${body13}")`);
  let sum = 0;
  // From the right, weights alternate 3, 1, 3 …: for 13 digits that is 3 on even positions from the left.
  for (let i = 0; i < 13; i++) sum += Number(body13[i]) * (i % 2 === 0 ? 3 : 1);
  return (10 - (sum % 10)) % 10;
}

function gtin14(companyPrefix: string, itemReference: string): string {
  const body = `0${companyPrefix}${itemReference}`;
  const gtin = `${body}${gtinCheckDigit(body)}`;
  if (normaliseGtin(gtin) !== gtin) throw new Error(`internal: ${gtin} is not a valid GTIN-14`);
  return gtin;
}

/** Guide prices in CNY: the national one, and 上海's own (higher: freight and rents). */
interface Product {
  gtin: string;
  name: string;
  volumeMl: number;
  abv: number;
  guidePrice: Record<"national" | RegionCode, number>;
  share: number;
  tag: string;
}

/** A fictitious GS1 China company prefix (690…), three products with guide prices in CNY. */
const PRODUCTS: Product[] = [
  {
    gtin: gtin14("6901234", "56001"),
    name: "黔香酱酒·经典 53%vol 500ml",
    volumeMl: 500,
    abv: 53,
    guidePrice: { national: 1499, "CN-GZ": 1499, "CN-SH": 1599 },
    share: 0.55,
    tag: "JD",
  },
  {
    gtin: gtin14("6901234", "56002"),
    name: "黔香酱酒·十五年窖藏 53%vol 500ml",
    volumeMl: 500,
    abv: 53,
    guidePrice: { national: 3999, "CN-GZ": 3999, "CN-SH": 4199 },
    share: 0.2,
    tag: "JC",
  },
  {
    gtin: gtin14("6901234", "56003"),
    name: "黔香酱酒·小酒 53%vol 100ml",
    volumeMl: 100,
    abv: 53,
    guidePrice: { national: 299, "CN-GZ": 299, "CN-SH": 319 },
    share: 0.25,
    tag: "XJ",
  },
];
/** The band around every guide price: a sale more than 5 % under or 10 % over it raises an alert. */
const BAND = { below: 0.05, above: 0.1 } as const;

// ───────────────────────────── arguments ─────────────────────────────

interface Options {
  api: string;
  adminToken: string;
  brand: string;
  bottles: number;
  out: string | null;
  json: boolean;
}

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

function randomSlug(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let suffix = "";
  for (let i = 0; i < 6; i++) suffix += alphabet[randomInt(alphabet.length)];
  return `demo-${suffix}`;
}

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

async function adminTokenFromDataDir(): Promise<string | undefined> {
  const file = join(resolve(env("DATA_DIR") ?? "data"), "admin-token");
  try {
    const token = (await readFile(file, "utf8")).trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** Parsed options, or null when --help was asked for. */
async function parseOptions(argv: string[]): Promise<Options | null> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        api: { type: "string" },
        "admin-token": { type: "string" },
        brand: { type: "string" },
        bottles: { type: "string" },
        out: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return null;

  const api = (values.api ?? env("SEALTRACE_URL") ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new UsageError(`--api must be a URL (got "${api}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--api must be an http or https URL (got "${api}")`);

  const adminToken = values["admin-token"]?.trim() || env("ADMIN_TOKEN") || (await adminTokenFromDataDir());
  if (adminToken === undefined) {
    throw new UsageError("no admin token: pass --admin-token, set ADMIN_TOKEN, or run next to the service's DATA_DIR (its admin-token file)");
  }

  const brand = values.brand ?? randomSlug();
  if (!SLUG.test(brand)) throw new UsageError(`--brand must be 2 to 63 lowercase letters, digits and dashes, starting with a letter or digit (got "${brand}")`);

  const bottlesText = values.bottles ?? "300";
  const bottles = Number(bottlesText);
  if (!/^\d+$/.test(bottlesText) || !Number.isSafeInteger(bottles) || bottles < 1 || bottles > MAX_BOTTLES) {
    throw new UsageError(`--bottles must be a whole number from 1 to ${MAX_BOTTLES} (got "${bottlesText}")`);
  }
  return { api, adminToken, brand, bottles, out: values.out ?? null, json: values.json };
}

// ───────────────────────────── HTTP ─────────────────────────────

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

function describeBody(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text;
  }
}

interface CallOptions {
  token?: string;
  body?: string;
  headers?: Record<string, string>;
  expect?: number[];
}

/** One request; any answer other than `expect` (default 2xx) is a DemoError carrying the body. */
async function call<T>(api: string, method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`${api}${path}`, { method, headers, body: options.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new DemoError(`cannot reach SealTrace at ${api} (${method} ${path}): ${reason}. Is the service running? (npm start)`, null);
  }
  const text = await response.text();
  const ok = options.expect ? options.expect.includes(response.status) : response.ok;
  if (!ok) throw new DemoError(`${method} ${path} answered ${response.status} ${response.statusText}:\n${describeBody(text)}`, response.status);
  let body: T;
  try {
    body = (text === "" ? null : JSON.parse(text)) as T;
  } catch {
    throw new DemoError(`${method} ${path} answered ${response.status} with a body that is not JSON:\n${describeBody(text)}`);
  }
  return { status: response.status, body };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

interface Delivered {
  events: { id: string; status: "accepted" | "duplicate" }[];
}

/**
 * Posts one signed delivery. Like any Standard Webhooks sender it retries a 5xx answer or a lost
 * connection a few times with the same webhook-id (freshly timestamped), which the service answers
 * as a replay if the first attempt was in fact stored: retrying is harmless. Other answers are final.
 */
async function deliver(api: string, brand: string, secret: string, body: string): Promise<{ answer: Delivered; retried: boolean }> {
  const webhookId = `msg_${randomUUID()}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const { body: answer } = await call<Delivered>(api, "POST", `/webhooks/${brand}/events`, {
        body,
        headers: signWebhook(secret, webhookId, body),
        expect: [202],
      });
      return { answer, retried: attempt > 1 };
    } catch (error) {
      const retryable = error instanceof DemoError && (error.status === null || (error.status !== undefined && error.status >= 500));
      if (!retryable || attempt === 3) throw error;
      progress(`  ${(error as Error).message.replace(/\s+/g, " ").slice(0, 300)}\n  retrying in ${attempt} s with the same webhook-id`);
      await sleep(attempt * 1_000);
    }
  }
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

// ───────────────────────────── bottles and their week ─────────────────────────────

interface Bottle {
  serial: string;
  secret: string;
  url: string;
  gtin: string;
  lot: string;
  region: RegionCode;
}

interface DemoEvent {
  id: string;
  type: BrandEventType;
  codes: string[];
  occurredAt: string;
  party: string;
  to?: string;
  price?: { amount: string; currency: string };
  data?: Record<string, unknown>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const CHINA_OFFSET = 8 * HOUR;

/** ISO 8601 in China Standard Time, whole seconds: 2026-11-14T09:30:00+08:00. */
function chinaTime(ms: number): string {
  return `${new Date(Math.floor(ms / 1_000) * 1_000 + CHINA_OFFSET).toISOString().slice(0, 19)}+08:00`;
}

/** 08:00 Beijing time on the first day of the week that ends at `now` (between 6 and 7 days ago). */
function weekStart(now: number): number {
  const midnight = Math.floor((now - 7 * DAY + CHINA_OFFSET) / DAY) * DAY - CHINA_OFFSET;
  const start = midnight + 8 * HOUR;
  return start < now - 7 * DAY ? start + DAY : start;
}

/** A random instant in [from, to]. */
function between(from: number, to: number): number {
  return from + Math.random() * Math.max(0, to - from);
}

/** A random instant in [from, to] during shop hours (10:00–21:59 in China) when the window has any. */
function shopHours(from: number, to: number): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const at = between(from, to);
    const hour = new Date(at + CHINA_OFFSET).getUTCHours();
    if (hour >= 10 && hour < 22) return at;
  }
  return between(from, to);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)]!;
}

/** How many of `total` bottles each product × region lot gets (largest remainders, so they add up). */
function lotSizes(total: number): { product: Product; region: RegionCode; count: number }[] {
  const cells = PRODUCTS.flatMap((product) => REGIONS.map((region) => ({ product, region: region.code, exact: (total * product.share) / REGIONS.length })));
  const sized = cells.map((cell) => ({ ...cell, count: Math.floor(cell.exact) }));
  let left = total - sized.reduce((sum, cell) => sum + cell.count, 0);
  for (const cell of [...sized].sort((a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)))) {
    if (left === 0) break;
    cell.count += 1;
    left -= 1;
  }
  return sized.filter((cell) => cell.count > 0).map(({ product, region, count }) => ({ product, region, count }));
}

/** Retail price near the guide price: within about ±3 %, whole yuan. */
function retailPrice(guide: number): string {
  const factor = 1 + (Math.random() * 0.06 - 0.035);
  return `${Math.round(guide * factor)}.00`;
}

interface Week {
  events: DemoEvent[];
  sold: Set<string>;
  opened: Set<string>;
  /** Each bottle's event count. */
  linksPerBottle: Map<string, number>;
}

/**
 * A week in the life of the bottles, every bottle's events strictly in order and all in the past:
 * lots bottled on day 1, into the warehouse the same day, shipped to the region's distributor by
 * the pallet, received by stores by the carton of six, most bottles sold at about the guide price,
 * and a few opened by their buyers.
 */
function planWeek(brand: string, lots: { lot: string; product: Product; region: RegionCode; bottles: Bottle[] }[], start: number, now: number): Week {
  const events: DemoEvent[] = [];
  const at = new Map<DemoEvent, number>();
  const add = (time: number, event: DemoEvent) => {
    event.occurredAt = chinaTime(time);
    events.push(event);
    at.set(event, time);
  };
  const sold = new Set<string>();
  const opened = new Set<string>();
  const linksPerBottle = new Map<string, number>();
  const count = (codes: string[]) => codes.forEach((serial) => linksPerBottle.set(serial, (linksPerBottle.get(serial) ?? 0) + 1));
  let shipmentNo = 0;
  let cartonNo = 0;

  lots.forEach(({ lot, product, region, bottles }, lotIndex) => {
    const serials = bottles.map((b) => b.serial);
    // Bottled on the first morning, one lot after another on line 3 (8:00 Beijing time onwards).
    const bottled = start + 30 * MINUTE + lotIndex * 90 * MINUTE + between(0, 20 * MINUTE);
    chunks(serials, MAX_CODES_PER_EVENT).forEach((codes, part) => {
      add(bottled + part * MINUTE, {
        id: `${brand}.prod.${lot}.${part + 1}`,
        type: "production",
        codes,
        occurredAt: "",
        party: FACTORY.id,
        data: { lot, gtin: product.gtin, line: "3号灌装线", shift: "早班" },
      });
      count(codes);
    });
    const stored = bottled + 6 * HOUR + between(0, 2 * HOUR);
    chunks(serials, MAX_CODES_PER_EVENT).forEach((codes, part) => {
      add(stored + part * MINUTE, {
        id: `${brand}.whin.${lot}.${part + 1}`,
        type: "warehouse_in",
        codes,
        occurredAt: "",
        party: WAREHOUSE.id,
        data: { lot, bin: `A-${String(lotIndex + 1).padStart(2, "0")}` },
      });
      count(codes);
    });

    // Pallets of up to 120 bottles to the lot's region's distributor over the next two days.
    const stores = STORES[region];
    for (const pallet of chunks(serials, 120)) {
      shipmentNo += 1;
      const shipped = stored + 16 * HOUR + between(0, 30 * HOUR);
      const waybill = `SF${String(1_400_000_000 + randomInt(99_999_999))}`;
      add(shipped, {
        id: `${brand}.out.${shipmentNo}`,
        type: "warehouse_out",
        codes: pallet,
        occurredAt: "",
        party: WAREHOUSE.id,
        to: DISTRIBUTORS[region].id,
        data: { carrier: "顺丰速运", waybill, lot },
      });
      count(pallet);

      // The distributor delivers cartons of six to its stores within about a day.
      for (const carton of chunks(pallet, 6)) {
        cartonNo += 1;
        const store = pick(stores);
        const received = shipped + 18 * HOUR + between(0, 24 * HOUR);
        add(received, {
          id: `${brand}.recv.${cartonNo}`,
          type: "store_receiving",
          codes: carton,
          occurredAt: "",
          party: store.id,
          data: { carton: `CTN-${lot}-${String(cartonNo).padStart(4, "0")}`, from: DISTRIBUTORS[region].id },
        });
        count(carton);

        // About nine bottles in ten sell before the week is out, in shop hours, near the guide price.
        for (const serial of carton) {
          if (Math.random() >= 0.9 && sold.size > 0) continue;
          const saleFrom = received + 2 * HOUR;
          if (saleFrom >= now - HOUR) continue;
          const saleAt = shopHours(saleFrom, now - HOUR);
          add(saleAt, {
            id: `${brand}.sale.${serial}`,
            type: "retail_sale",
            codes: [serial],
            occurredAt: "",
            party: store.id,
            price: { amount: retailPrice(product.guidePrice[store.region]), currency: "CNY" },
            data: { channel: "门店", receipt: `R${String(randomInt(1e9)).padStart(9, "0")}`, payment: pick(["微信支付", "支付宝", "银行卡"]) },
          });
          count([serial]);
          sold.add(serial);

          // One buyer in twenty opens the bottle and scans the code under the cap.
          if ((Math.random() < 0.05 || opened.size === 0) && saleAt < now - 30 * MINUTE) {
            const openedAt = between(saleAt + 20 * MINUTE, now - 10 * MINUTE);
            add(openedAt, { id: `${brand}.open.${serial}`, type: "opened", codes: [serial], occurredAt: "", party: store.id, data: { via: "瓶盖内码扫码" } });
            count([serial]);
            opened.add(serial);
          }
        }
      }
    }
  });

  // One delivery stream in time order: every bottle's events are in order, as a brand system would send them.
  events.sort((a, b) => at.get(a)! - at.get(b)!);
  return { events, sold, opened, linksPerBottle };
}

// ───────────────────────────── the stories ─────────────────────────────

/** What the demo shows, one story each: a bottle's page (or a report) and what to look for there. */
export type StoryKey =
  "shelf" | "just_bought" | "diverted" | "price_below" | "price_above" | "copied" | "opened" | "pre_queried" | "price_report" | "price_protection";

export interface Story {
  key: StoryKey;
  title: string;
  /** The page to open: a bottle's QR URL (its consumer page), or the console's report. */
  url: string;
  lookFor: string;
  /** The bottle the story is about (null for the price-protection report). */
  serial: string | null;
  /** Why the story could not be told on this machine (null: it was). */
  skipped: string | null;
}

export interface ConsoleUser {
  kind: "brand" | "store";
  party: string | null;
  username: string;
  password: string;
  landingUrl: string;
}

/** The alert kinds the stories must raise. */
const EXPECTED_ALERTS = [
  "diversion",
  "price_below",
  "price_above",
  "received_after_opened",
  "sold_after_opened",
  "sold_twice",
  "consumer_price_report",
] as const;

interface Minted {
  serial: string;
  secret: string;
  url: string;
  capCode: string;
  capUrl: string;
}

/** The loopback addresses cannot be used as a source (not Linux, or the service is not on loopback). */
class NoLoopbackSource extends Error {}

const USER_AGENT = "Mozilla/5.0 (Linux; Android 14) SealTraceDemo/1.0";

/**
 * Opens a bottle's page as a phone would, from `localAddress` when given (a loopback address the
 * brand's IP table places in a city). Answers the HTML; anything but 200 is a DemoError.
 */
async function openPage(url: string, localAddress: string | null): Promise<string> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return await new Promise<string>((done, fail) => {
    const req = request(
      target,
      {
        method: "GET",
        timeout: REQUEST_TIMEOUT_MS,
        headers: { "user-agent": USER_AGENT, "accept-language": "zh-CN,zh;q=0.9", accept: "text/html" },
        ...(localAddress === null ? {} : { localAddress }),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => {
          const text = Buffer.concat(parts).toString("utf8");
          if (res.statusCode === 200) done(text);
          else fail(new DemoError(`GET ${target.pathname} answered ${res.statusCode}:\n${describeBody(text.slice(0, 500))}`, res.statusCode));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (localAddress !== null && ["EADDRNOTAVAIL", "EINVAL", "EAFNOSUPPORT"].includes(error.code ?? "")) {
        fail(new NoLoopbackSource(`cannot connect from ${localAddress} (${error.code})`));
      } else {
        fail(new DemoError(`cannot reach ${target.origin} (GET ${target.pathname}): ${error.code ?? error.message}`, null));
      }
    });
    req.end();
  });
}

/** Whether the demo can connect from other loopback addresses: the service must be on an IPv4 loopback address. */
function loopbackService(api: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(new URL(api).hostname);
}

/** YYYY-MM-DD of an instant in China time. */
function chinaDate(ms: number): string {
  return chinaTime(ms).slice(0, 10);
}

/** Waits until the clock is in a later whole second than `since` (event times are whole seconds). */
async function nextSecond(since = Date.now()): Promise<void> {
  await sleep(Math.max(0, Math.floor(since / 1_000) * 1_000 + 1_100 - Date.now()));
}

function yuan(amount: number): string {
  return `${amount.toFixed(2)}`;
}

interface StoryContext {
  api: string;
  brand: string;
  apiKey: string;
  webhookSecret: string;
  storeKey: string;
  lotDate: string;
  /** The first product's guide prices as the service answered them: national, and 上海's. */
  guides: Record<"national" | "CN-SH", GuideSet>;
}

export interface GuideSet {
  gtin: string;
  region: string | null;
  amount: string;
  currency: string;
  band: { min: string; max: string };
}

export interface StoriesOutcome {
  stories: Story[];
  alerts: Record<string, number>;
  diversion: { serial: string; store: string; responsible: string | null; responsibleName: string | null; path: string[] };
  priceProtection: {
    from: string;
    to: string;
    apiUrl: string;
    consoleUrl: string;
    store: string;
    sold: number;
    previousSold: number;
    rate: number;
    compensation: string;
    totalCompensation: string;
  };
}

/**
 * Tells the stories with real requests: codes minted, a signed webhook delivery of their histories
 * (brand systems may date their events in the past), the store's own events with its key (within
 * the 72 hours a store may backdate), consumer scans and a cap scan from the cities' addresses, a
 * consumer price report; then reads back the alerts and the price-protection report.
 */
async function tellStories(ctx: StoryContext): Promise<StoriesOutcome> {
  const { api, brand } = ctx;
  const asBrand = { token: ctx.apiKey };
  const asStore = { token: ctx.storeKey };
  const jd = PRODUCTS[0]!;
  const t = Date.now() - MINUTE;
  const mint = async (count: number, lot: string, region: RegionCode): Promise<Minted[]> =>
    (await call<{ codes: Minted[] }>(api, "POST", "/api/v1/codes", { ...asBrand, body: json({ gtin: jd.gtin, count, lot, region }), expect: [201] })).body
      .codes;

  progress("Telling the stories …");
  const [shelf, justBought, diverted, below, copied, opened, preQueried] = (await mint(7, `JD${ctx.lotDate}GZS`, "CN-GZ")) as [
    Minted,
    Minted,
    Minted,
    Minted,
    Minted,
    Minted,
    Minted,
  ];
  const [above] = (await mint(1, `JD${ctx.lotDate}SHS`, "CN-SH")) as [Minted];
  const protectedBottles = await mint(
    20,
    `JD${chinaDate(t - 14 * DAY)
      .replaceAll("-", "")
      .slice(2)}RH`,
    "CN-GZ",
  );

  // Their histories as the brand's systems send them (one signed delivery, in time order).
  const events: (DemoEvent & { at: number })[] = [];
  let n = 0;
  const add = (at: number, type: DemoEvent["type"], codes: Minted[], party: Party, extra: Partial<DemoEvent> = {}) => {
    n += 1;
    events.push({ id: `${brand}.story.${n}`, type, codes: codes.map((c) => c.serial), occurredAt: chinaTime(at), party: party.id, at, ...extra });
  };
  const sale = (at: number, bottle: Minted, store: Party, amount: number) =>
    add(at, "retail_sale", [bottle], store, {
      price: { amount: yuan(amount), currency: "CNY" },
      data: { channel: "门店", receipt: `R${String(randomInt(1e9)).padStart(9, "0")}` },
    });
  const gzStory = [shelf, justBought, diverted, below, copied, opened, preQueried];
  add(t - 5 * DAY, "production", gzStory, FACTORY, { data: { lot: `JD${ctx.lotDate}GZS`, gtin: jd.gtin, line: "3号灌装线" } });
  add(t - 5 * DAY + 6 * HOUR, "warehouse_in", gzStory, WAREHOUSE);
  add(t - 4 * DAY, "warehouse_out", gzStory, WAREHOUSE, { to: DISTRIBUTORS["CN-GZ"].id, data: { carrier: "顺丰速运", waybill: "SF1400000001" } });
  const [zunyi] = STORES["CN-GZ"] as [Party, Party, Party];
  const [pudong, jingan] = STORES["CN-SH"] as [Party, Party, Party];
  // Diverted: allocated to 贵州, shipped to the 贵州 distributor, and yet received and sold in 上海.
  add(t - 3 * DAY, "store_receiving", [diverted], pudong, { data: { from: "unknown" } });
  sale(t - 2 * DAY, diverted, pudong, jd.guidePrice["CN-SH"]);
  // Sold under the band in 贵州, then copied, then opened: all through 遵义's store.
  add(t - 3 * DAY, "store_receiving", [below, copied, opened], zunyi);
  sale(t - 1 * DAY, below, zunyi, 1199);
  sale(t - 3 * HOUR, copied, zunyi, jd.guidePrice["CN-GZ"]);
  sale(t - 2 * DAY, opened, zunyi, 1489);
  // Over the band in 上海 (a 上海 bottle, judged against 上海's own guide price).
  add(t - 5 * DAY, "production", [above], FACTORY, { data: { lot: `JD${ctx.lotDate}SHS`, gtin: jd.gtin, line: "3号灌装线" } });
  add(t - 5 * DAY + 6 * HOUR, "warehouse_in", [above], WAREHOUSE);
  add(t - 4 * DAY, "warehouse_out", [above], WAREHOUSE, { to: DISTRIBUTORS["CN-SH"].id });
  add(t - 3 * DAY, "store_receiving", [above], jingan);
  sale(t - 1 * DAY, above, jingan, 1999);
  // Price protection: 仁怀's store sold 12 bottles the week before and 8 this week, all at the guide price.
  add(t - 14 * DAY, "production", protectedBottles, FACTORY, { data: { gtin: jd.gtin, line: "1号灌装线" } });
  add(t - 14 * DAY + 6 * HOUR, "warehouse_in", protectedBottles, WAREHOUSE);
  add(t - 13 * DAY, "warehouse_out", protectedBottles, WAREHOUSE, { to: DISTRIBUTORS["CN-GZ"].id });
  add(t - 12.5 * DAY, "store_receiving", protectedBottles, PROTECTED_STORE);
  protectedBottles.forEach((bottle, i) => {
    const at = i < 12 ? t - 12 * DAY + i * ((4 * DAY) / 12) : t - 5 * DAY + (i - 12) * ((4 * DAY) / 8);
    sale(at, bottle, PROTECTED_STORE, jd.guidePrice["CN-GZ"]);
  });
  events.sort((a, b) => a.at - b.at);
  const delivery = events.map(({ at: _at, ...event }) => event);
  await deliver(api, brand, ctx.webhookSecret, json({ events: delivery }));

  // The store's own events, with its key: received yesterday or so, one bottle sold 40 minutes ago.
  const storeEvent = (id: string, type: StoreEventType, bottle: Minted, at: number, amount?: number) => ({
    id,
    type,
    codes: [bottle.serial],
    occurredAt: chinaTime(at),
    party: KEY_STORE.id,
    ...(amount === undefined ? {} : { price: { amount: yuan(amount), currency: "CNY" } }),
  });
  await call(api, "POST", "/api/v1/store/events", {
    ...asStore,
    expect: [202],
    body: json({
      events: [
        storeEvent(`recv-${preQueried.serial}`, "store_receiving", preQueried, t - 30 * HOUR),
        storeEvent(`recv-${justBought.serial}`, "store_receiving", justBought, t - 26 * HOUR),
        storeEvent(`recv-${shelf.serial}`, "store_receiving", shelf, t - 20 * HOUR),
        storeEvent(`sale-${justBought.serial}`, "retail_sale", justBought, t - 40 * MINUTE, 1529),
      ],
    }),
  });

  // Brand IP table: which city each loopback address stands for.
  const fromCities = loopbackService(api);
  let copiedSkipped: string | null = fromCities
    ? null
    : `the service is not on a 127.x.x.x address, so the demo cannot scan from two places (it scans from ${PLACES.guiyang.address} and ${PLACES.shanghai.address})`;
  const from = async (url: string, city: keyof typeof PLACES): Promise<string> => {
    if (fromCities) {
      try {
        return await openPage(url, PLACES[city].address);
      } catch (error) {
        if (!(error instanceof NoLoopbackSource)) throw error;
        copiedSkipped = `this machine cannot connect from ${PLACES[city].address} (${error.message}); only Linux routes all of 127.0.0.0/8 to loopback`;
      }
    }
    return await openPage(url, null);
  };

  // Pre-queried: a dealer in 遵义 checks the code (an ordinary page visit) before the store sells it.
  await from(preQueried.url, "zunyi");
  await nextSecond();
  await call(api, "POST", "/api/v1/store/events", {
    ...asStore,
    expect: [202],
    body: json({ events: [storeEvent(`sale-${preQueried.serial}`, "retail_sale", preQueried, Date.now(), 1499)] }),
  });

  // Opened: its buyer in 贵阳 scans the code under the cap; then the bottle turns up again, refilled.
  await from(opened.capUrl, "guiyang");
  await nextSecond();
  const refill = Date.now();
  const guanshanhu = STORES["CN-GZ"][2]!;
  await deliver(
    api,
    brand,
    ctx.webhookSecret,
    json({
      events: [
        {
          id: `${brand}.story.refill-in`,
          type: "store_receiving",
          codes: [opened.serial],
          occurredAt: chinaTime(refill),
          party: guanshanhu.id,
          data: { from: "个人回收" },
        },
        {
          id: `${brand}.story.refill-sale`,
          type: "retail_sale",
          codes: [opened.serial],
          occurredAt: chinaTime(refill),
          party: guanshanhu.id,
          price: { amount: yuan(1499), currency: "CNY" },
        },
      ],
    }),
  );

  // Copied: the same code scanned in 贵阳 and, minutes later, in 上海: two bottles carry it.
  if (copiedSkipped === null) {
    await from(copied.url, "guiyang");
    if (copiedSkipped === null) await from(copied.url, "shanghai");
  }

  // A consumer reports the price a 贵阳 shop asks for the bottle on its shelf.
  const { body: reported } = await call<{ verdict: string }>(api, "POST", "/api/v1/price-reports", {
    body: json({ serial: shelf.serial, secret: shelf.secret, price: "1099.00", currency: "CNY", store: KEY_STORE.name }),
    expect: [201],
  });

  // Read back what the service made of it all.
  const alerts: Record<string, number> = {};
  let cursor: string | null = null;
  do {
    const page: { alerts: { kind: string }[]; nextCursor: string | null } = (
      await call<{ alerts: { kind: string }[]; nextCursor: string | null }>(
        api,
        "GET",
        `/api/v1/alerts?limit=500${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
        asBrand,
      )
    ).body;
    for (const alert of page.alerts) alerts[alert.kind] = (alerts[alert.kind] ?? 0) + 1;
    cursor = page.nextCursor;
  } while (cursor !== null);
  const missing = EXPECTED_ALERTS.filter((kind) => !alerts[kind]);
  if (missing.length > 0)
    throw new DemoError(
      `the stories should have raised these alerts, which the service does not list: ${missing.join(", ")} (GET /api/v1/alerts: ${json(alerts)})`,
    );
  const {
    body: {
      alerts: [divertedAlert],
    },
  } = await call<{
    alerts: { party: string; details: { store: string; responsible: string | null; responsibleName: string | null; path: { party: string }[] } }[];
  }>(api, "GET", `/api/v1/alerts?kind=diversion&serial=${diverted.serial}`, asBrand);
  if (divertedAlert === undefined) throw new DemoError(`no diversion alert for bottle ${diverted.serial}`);

  const period = { from: chinaDate(t - 6 * DAY), to: chinaDate(t + DAY) };
  const reportPath = `/api/v1/reports/price-protection?from=${period.from}&to=${period.to}`;
  type Line = { party: string; sold: number; previousSold: number; rate: number; compensation: string };
  const { body: report } = await call<{ stores: Line[]; totals: { compensation: string } }>(api, "GET", reportPath, asBrand);
  const line = report.stores.find((s) => s.party === PROTECTED_STORE.id);
  if (line === undefined || !(Number(line.compensation) > 0)) {
    throw new DemoError(`the price-protection report for ${period.from}–${period.to} owes ${PROTECTED_STORE.id} no compensation: ${json(line ?? null)}`);
  }

  const consoleUrl = `${api}/console/price-protection?from=${period.from}&to=${period.to}`;
  const guide = (region: RegionCode) => {
    const g = ctx.guides[region === "CN-SH" ? "CN-SH" : "national"];
    return `¥${g.amount} (band ¥${g.band.min}–${g.band.max})`;
  };
  const path = divertedAlert.details.path.map((p) => p.party);
  const story = (key: StoryKey, title: string, bottle: Minted | null, url: string, lookFor: string, skipped: string | null = null): Story => ({
    key,
    title,
    url,
    lookFor,
    serial: bottle?.serial ?? null,
    skipped,
  });
  const stories: Story[] = [
    story(
      "shelf",
      "A genuine bottle on the shelf",
      shelf,
      shelf.url,
      `genuine: produced, shipped to ${DISTRIBUTORS["CN-GZ"].name}, received by ${KEY_STORE.name} yesterday, not sold; the guide price ${guide("CN-GZ")}`,
    ),
    story(
      "just_bought",
      "A genuine bottle just bought (you are its first consumer scan after the sale)",
      justBought,
      justBought.url,
      `genuine, sold 40 minutes ago by ${KEY_STORE.name} at ¥1529 (posted with the store's own key); your visit is its first consumer scan`,
    ),
    story(
      "diverted",
      "A diverted bottle: allocated to 贵州, sold in 上海",
      diverted,
      diverted.url,
      `the out-of-region warning (贵州 → 上海, ${pudong.name}); the console's alerts name the distributor responsible, ${divertedAlert.details.responsibleName ?? "?"} (${divertedAlert.details.responsible ?? "?"}), and the path ${path.join(" → ")}`,
    ),
    story(
      "price_below",
      "A sale below the guide-price band",
      below,
      below.url,
      `sold for ¥1199 by ${zunyi.name} against the guide price ${guide("CN-GZ")}: a price_below alert in the console`,
    ),
    story(
      "price_above",
      "A sale above the guide-price band (上海's own guide price)",
      above,
      above.url,
      `sold for ¥1999 by ${jingan.name} against 上海's guide price ${guide("CN-SH")}: a price_above alert; the page shows 上海's price`,
    ),
    story(
      "copied",
      "A copied code: scanned in 贵阳 and in 上海 within the hour",
      copied,
      copied.url,
      `the copied-code warning: the same code scanned in ${PLACES.guiyang.place} and ${PLACES.shanghai.place}, some 1,500 km apart, minutes from each other`,
      copiedSkipped,
    ),
    story(
      "opened",
      "An opened bottle (cap code scanned), then received and sold again",
      opened,
      opened.url,
      `the opened warning; the console lists received_after_opened, sold_after_opened and sold_twice for it (${guanshanhu.name} took it in and sold it after its opening: a refill)`,
    ),
    story(
      "pre_queried",
      "A code pre-queried by the trade before its sale",
      preQueried,
      preQueried.url,
      `the check from ${PLACES.zunyi.place} before the sale is shown apart ("before it was sold, by the trade"), not as a consumer scan`,
    ),
    story(
      "price_report",
      "A consumer's price report",
      shelf,
      shelf.url,
      `the "report the price" form at the bottom; the demo reported ¥1099 at ${KEY_STORE.name} (${reported.verdict} the band): a consumer_price_report alert in the console`,
    ),
    story(
      "price_protection",
      "Price protection for the week",
      null,
      consoleUrl,
      `${PROTECTED_STORE.name} sold ${line.sold} bottles against ${line.previousSold} the week before, all within the band: rate ${(line.rate * 100).toFixed(1)} %, compensation ¥${line.compensation} (total ¥${report.totals.compensation}); API: ${api}${reportPath}`,
    ),
  ];
  return {
    stories,
    alerts,
    diversion: {
      serial: diverted.serial,
      store: divertedAlert.details.store,
      responsible: divertedAlert.details.responsible,
      responsibleName: divertedAlert.details.responsibleName,
      path,
    },
    priceProtection: {
      ...period,
      apiUrl: `${api}${reportPath}`,
      consoleUrl,
      store: line.party,
      sold: line.sold,
      previousSold: line.previousSold,
      rate: line.rate,
      compensation: line.compensation,
      totalCompensation: report.totals.compensation,
    },
  };
}

// ───────────────────────────── the run ─────────────────────────────

export interface Summary {
  api: string;
  brand: string;
  apiKey: string;
  webhookSecret: string;
  bottles: number;
  lots: number;
  events: number;
  eventsByType: Record<string, number>;
  requests: number;
  verificationUrls: string[];
  sample: {
    serial: string;
    secret: string;
    links: number;
    batches: number[];
    proofUrl: string;
    bundleFile: string;
  };
  /** rpcUrl: null when the service offers no public RPC (PUBLIC_RPC_URL unset with CHAIN_RPC_URL set). */
  chain: { chainId: number; registry: string; rpcUrl: string | null };
  verifyCommand: string;
  /** The guide prices set: each product's national one and 上海's. */
  guidePrices: GuideSet[];
  stories: Story[];
  /** The brand's alerts by kind once the stories are told. */
  alerts: Record<string, number>;
  diversion: StoriesOutcome["diversion"];
  priceProtection: StoriesOutcome["priceProtection"];
  /** Where and how to sign in to the console: the brand's code is its slug. */
  console: { signInUrl: string; brandCode: string; users: ConsoleUser[] };
  /** The key of the store the store user works in (sts_…; shown only here). */
  storeKey: { party: string; key: string };
}

async function run(options: Options): Promise<Summary> {
  const { api, brand } = options;
  const now = Date.now() - 5 * MINUTE;

  progress(`Creating brand "${brand}" at ${api} …`);
  const { body: created } = await call<{ slug: string; apiKey: string; webhookSecret: string }>(api, "POST", "/api/v1/admin/brands", {
    token: options.adminToken,
    body: json({ slug: brand, name: `黔香酱酒（演示 ${brand}）` }),
    expect: [201],
  });
  const { apiKey, webhookSecret } = created;
  const asBrand = { token: apiKey };

  for (const region of REGIONS) {
    await call(api, "PUT", `/api/v1/regions/${region.code}`, { ...asBrand, body: json({ name: region.name }) });
  }
  for (const party of PARTIES) {
    await call(api, "PUT", `/api/v1/parties/${party.id}`, { ...asBrand, body: json({ kind: party.kind, name: party.name, region: party.region }) });
  }
  for (const product of PRODUCTS) {
    await call(api, "PUT", `/api/v1/products/${product.gtin}`, {
      ...asBrand,
      body: json({ name: product.name, volumeMl: product.volumeMl, abv: product.abv }),
    });
  }
  progress(`  ${REGIONS.length} regions, ${PARTIES.length} parties, ${PRODUCTS.length} products`);

  // Guide prices, national and 上海's own, in force since a month ago (so every sale of the demo is judged).
  const guidePrices: GuideSet[] = [];
  const validFrom = new Date(now - 30 * DAY).toISOString();
  for (const product of PRODUCTS) {
    for (const region of [null, "CN-SH"] as const) {
      const amount = yuan(product.guidePrice[region ?? "national"]);
      const { body } = await call<GuideSet>(api, "PUT", `/api/v1/products/${product.gtin}/guide-price`, {
        ...asBrand,
        expect: [201],
        body: json({ amount, currency: "CNY", ...BAND, validFrom, ...(region === null ? {} : { region }) }),
      });
      guidePrices.push({ gtin: product.gtin, region: body.region, amount: body.amount, currency: body.currency, band: body.band });
    }
  }
  const guideOf = (region: string | null) => guidePrices.find((g) => g.gtin === PRODUCTS[0]!.gtin && g.region === region)!;
  await call(api, "PUT", "/api/v1/ip-places", {
    ...asBrand,
    body: json({ places: Object.values(PLACES).map((p) => ({ cidr: `${p.address}/32`, place: p.place, latitude: p.latitude, longitude: p.longitude })) }),
  });

  // The store's key, and the console's users: the brand's manager and that store's clerk.
  const {
    body: { storeKey },
  } = await call<{ storeKey: string }>(api, "POST", `/api/v1/parties/${KEY_STORE.id}/store-keys`, { ...asBrand, expect: [201] });
  const users: ConsoleUser[] = [];
  for (const user of [
    { kind: "brand", party: null, username: "manager", displayName: "品牌经理", admin: true },
    { kind: "store", party: KEY_STORE.id, username: "nanming", displayName: KEY_STORE.name, admin: false },
  ] as const) {
    const password = randomBytes(12).toString("base64url");
    await call(api, "POST", "/api/v1/users", { ...asBrand, expect: [201], body: json({ ...user, party: user.party ?? undefined, password }) });
    users.push({
      kind: user.kind,
      party: user.party,
      username: user.username,
      password,
      landingUrl: `${api}${user.party === null ? "/console/overview" : `/console/stores/${user.party}`}`,
    });
  }
  progress(`  guide prices for ${PRODUCTS.length} products (national and 上海), IP places, a store key and ${users.length} console users`);

  // One lot per product and region, bottled on the week's first day: e.g. JD261115GZ.
  const start = weekStart(now);
  const day = chinaTime(start);
  const lotDate = `${day.slice(2, 4)}${day.slice(5, 7)}${day.slice(8, 10)}`;
  const lots: { lot: string; product: Product; region: RegionCode; bottles: Bottle[] }[] = [];
  for (const { product, region, count } of lotSizes(options.bottles)) {
    const lot = `${product.tag}${lotDate}${region.slice(3)}`;
    const { body } = await call<{ codes: { serial: string; secret: string; url: string }[] }>(api, "POST", "/api/v1/codes", {
      ...asBrand,
      body: json({ gtin: product.gtin, count, lot, region }),
      expect: [201],
    });
    if (body.codes.length !== count) throw new DemoError(`POST /api/v1/codes minted ${body.codes.length} codes, not ${count}`);
    lots.push({ lot, product, region, bottles: body.codes.map((c) => ({ ...c, gtin: product.gtin, lot, region })) });
  }
  const bottles = lots.flatMap((l) => l.bottles);
  progress(`  minted ${bottles.length} bottle codes in ${lots.length} lots`);

  const week = planWeek(brand, lots, start, now);
  const batches = chunks(week.events, MAX_EVENTS_PER_REQUEST);
  let accepted = 0;
  for (const [i, events] of batches.entries()) {
    const { answer, retried } = await deliver(api, brand, webhookSecret, json({ events }));
    if (!Array.isArray(answer?.events) || answer.events.length !== events.length) {
      throw new DemoError(`POST /webhooks/${brand}/events answered for ${answer?.events?.length ?? 0} events, not ${events.length}`);
    }
    // After a retry, events the lost first attempt stored come back as duplicates: they were delivered.
    accepted += answer.events.filter((e) => e.status === "accepted" || retried).length;
    progress(`  posted events ${i * MAX_EVENTS_PER_REQUEST + 1}–${i * MAX_EVENTS_PER_REQUEST + events.length} of ${week.events.length}`);
  }
  if (accepted !== week.events.length) throw new DemoError(`only ${accepted} of ${week.events.length} events were accepted (the rest were duplicates)`);

  const told = await tellStories({ api, brand, apiKey, webhookSecret, storeKey, lotDate, guides: { national: guideOf(null), "CN-SH": guideOf("CN-SH") } });

  // The sample: a bottle with its whole story (opened if any was), then a few others across lots.
  const sample = bottles.find((b) => week.opened.has(b.serial)) ?? bottles.find((b) => week.sold.has(b.serial)) ?? bottles[0]!;
  const others = lots
    .map((l) => l.bottles.find((b) => b !== sample && week.sold.has(b.serial)) ?? l.bottles.find((b) => b !== sample))
    .filter((b) => b !== undefined);
  const shown = [sample, ...others].slice(0, 5);

  progress(`Waiting for bottle ${sample.serial}'s ${week.linksPerBottle.get(sample.serial)} links to be anchored on chain …`);
  const proofPath = `/api/v1/items/${encodeURIComponent(sample.serial)}/proof?s=${encodeURIComponent(sample.secret)}`;
  const deadline = Date.now() + ANCHOR_WAIT_MS;
  let bundle: ProofBundle;
  for (;;) {
    bundle = (await call<ProofBundle>(api, "GET", proofPath)).body;
    const pending = bundle.links.filter((l) => l.anchor === null).length;
    if (bundle.links.length > 0 && pending === 0) break;
    if (Date.now() >= deadline) {
      throw new DemoError(
        `bottle ${sample.serial}: ${pending} of ${bundle.links.length} links are still not anchored after ${ANCHOR_WAIT_MS / 1_000} s; are the service's workers running and is the chain reachable? (see GET ${api}/readyz)`,
      );
    }
    await sleep(500);
  }
  const expectedLinks = week.linksPerBottle.get(sample.serial) ?? 0;
  if (bundle.links.length !== expectedLinks)
    throw new DemoError(`bottle ${sample.serial} has ${bundle.links.length} links, not the ${expectedLinks} its events make`);
  const verdict = verifyBundle(bundle);
  if (!verdict.valid) {
    throw new DemoError(`the proof bundle of bottle ${sample.serial} does not verify:\n${verdict.problems.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`);
  }

  const { body: chain } = await call<{ chainId: number; registry: string; rpcUrl: string | null }>(api, "GET", "/api/v1/chain");
  const bundleFile = resolve(options.out ?? join(tmpdir(), `sealtrace-${brand}-${sample.serial}.json`));
  try {
    await writeFile(bundleFile, `${JSON.stringify(bundle, null, 2)}\n`);
  } catch (error) {
    throw new DemoError(`cannot save the proof bundle to ${bundleFile}: ${(error as Error).message}`);
  }

  const eventsByType: Record<string, number> = {};
  for (const event of week.events) eventsByType[event.type] = (eventsByType[event.type] ?? 0) + 1;
  return {
    api,
    brand,
    apiKey,
    webhookSecret,
    bottles: bottles.length,
    lots: lots.length,
    events: week.events.length,
    eventsByType,
    requests: batches.length,
    verificationUrls: shown.map((b) => b.url),
    sample: {
      serial: sample.serial,
      secret: sample.secret,
      links: bundle.links.length,
      batches: verdict.roots.map((r) => r.seq),
      proofUrl: `${api}${proofPath}`,
      bundleFile,
    },
    chain,
    // Pinned: the verifier trusts the chain and registry it is told, not the ones the bundle names.
    verifyCommand: `npm run verify-proof -- ${shellQuote(bundleFile)} --rpc ${chain.rpcUrl === null ? "RPC_URL" : shellQuote(chain.rpcUrl)} --chain-id ${chain.chainId} --registry ${chain.registry}`,
    guidePrices,
    stories: told.stories,
    alerts: told.alerts,
    diversion: told.diversion,
    priceProtection: told.priceProtection,
    console: { signInUrl: `${api}/console/sign-in?brand=${brand}`, brandCode: brand, users },
    storeKey: { party: KEY_STORE.id, key: storeKey },
  };
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

function printSummary(s: Summary): void {
  const types = Object.entries(s.eventsByType)
    .map(([type, n]) => `${n} ${type}`)
    .join(", ");
  const lines = [
    "",
    `SealTrace demo ready at ${s.api}`,
    `  brand:          ${s.brand}`,
    `  API key:        ${s.apiKey}`,
    `  webhook secret: ${s.webhookSecret}`,
    `  bottles:        ${s.bottles} in ${s.lots} lots`,
    `  events:         ${s.events} posted in ${s.requests} signed request${s.requests === 1 ? "" : "s"} (${types})`,
    `  chain:          ${s.chain.chainId}, registry ${s.chain.registry}, RPC ${s.chain.rpcUrl ?? "none offered (set PUBLIC_RPC_URL): use an RPC of your own for RPC_URL"}`,
    "",
    "Guide prices (national, and 上海's own):",
    ...s.guidePrices.map((g) => `  ${g.gtin} ${(g.region ?? "national").padEnd(8)} ¥${g.amount}, band ¥${g.band.min}–${g.band.max}`),
    "",
    "The stories: open each URL (a bottle's QR code opens the same page on a phone); look for what follows it.",
    ...s.stories.flatMap((story, i) => [
      `${String(i + 1).padStart(2)}. ${story.title}`,
      `    ${story.url}`,
      story.skipped === null ? `    look for: ${story.lookFor}` : `    skipped: ${story.skipped}`,
    ]),
    "",
    `Alerts raised (GET ${s.api}/api/v1/alerts, or the console's alerts page): ${Object.entries(s.alerts)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(", ")}`,
    `  diversion of ${s.diversion.serial}: responsible ${s.diversion.responsibleName ?? "?"} (${s.diversion.responsible ?? "?"}), path ${s.diversion.path.join(" → ")}`,
    "",
    `Console: ${s.console.signInUrl}`,
    `  brand code: ${s.console.brandCode}`,
    ...s.console.users.map((u) => `  ${u.kind === "brand" ? "brand user" : `store user (${u.party})`}: username ${u.username}  password ${u.password}`),
    `  store key of ${s.storeKey.party}: ${s.storeKey.key}`,
    "",
    "More bottles of the week (their verification pages):",
    ...s.verificationUrls.map((url) => `  ${url}`),
    "",
    `Proof bundle of bottle ${s.sample.serial} (${s.sample.links} links, anchored in batch${s.sample.batches.length === 1 ? "" : "es"} ${s.sample.batches.join(", ")}):`,
    `  ${s.sample.proofUrl}`,
    `  saved to ${s.sample.bundleFile}; verify it independently against the chain with:`,
    `  ${s.verifyCommand}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function main(argv: string[]): Promise<number> {
  const options = await parseOptions(argv);
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const summary = await run(options);
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else printSummary(summary);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`demo: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`demo: ${error instanceof Error && !(error instanceof DemoError) ? (error.stack ?? error.message) : (error as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
