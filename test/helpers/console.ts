/**
 * For the console's tests: a cookie-keeping HTTP client that signs in like a browser would (CSRF
 * token from the page, session cookie), and a demo brand built through the real APIs with a known
 * history, together with the numbers the console should show for it, computed from that history.
 */
import { expect } from "chai";
import { periodStart } from "../../service/console/periods.ts";
import { gtinFrom, type BrandFixture, type Stack } from "./stack.ts";

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
  location: string | null;
  setCookies: string[];
}

export interface ConsoleClient {
  cookies: Map<string, string>;
  get(path: string): Promise<Answer>;
  post(path: string, fields: Record<string, string>, options?: { csrf?: boolean }): Promise<Answer>;
  /** The CSRF token of the page at `path` (the hidden _csrf field of its first form). */
  csrf(path?: string): Promise<string>;
  /** Signs in as `user` of the brand `user.brand` (its slug). */
  signIn(user: ConsoleUserFixture): Promise<Answer>;
}

/** A console user's credentials: usernames are unique within a brand, so signing in names the brand. */
export interface ConsoleUserFixture {
  brand: string;
  username: string;
  password: string;
}

export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (match === null) throw new Error("no _csrf field on the page");
  return match[1]!;
}

export function consoleClient(baseUrl: string): ConsoleClient {
  const cookies = new Map<string, string>();
  const send = async (method: string, path: string, body?: string): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (cookies.size > 0) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body, redirect: "manual" });
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";");
      const [name, value] = [pair!.slice(0, pair!.indexOf("=")), pair!.slice(pair!.indexOf("=") + 1)];
      const expired =
        value === "" || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split("=")[1]!) < Date.now()));
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
    return { status: response.status, text: await response.text(), headers: response.headers, location: response.headers.get("location"), setCookies };
  };
  const client: ConsoleClient = {
    cookies,
    get: (path) => send("GET", path),
    async post(path, fields, options = {}) {
      const form = new URLSearchParams(fields);
      if (options.csrf !== false && !form.has("_csrf")) form.set("_csrf", await client.csrf());
      return await send("POST", path, form.toString());
    },
    async csrf(path = "/console/sign-in") {
      const page = await send("GET", path);
      return csrfOf(page.text);
    },
    async signIn(user) {
      return await client.post("/console/sign-in", { brand: user.brand, username: user.username, password: user.password });
    },
  };
  return client;
}

// ───────────────────────────── the demo brand ─────────────────────────────

export interface DemoBrand {
  brand: BrandFixture;
  gtins: { feitian: string; wangzi: string };
  codes: { serial: string; secret: string; gtin: string }[];
  events: { id: string; type: string; codes: string[]; occurredAt: string; party: string; to?: string; price?: { amount: string; currency: string } }[];
  users: { admin: ConsoleUserFixture; pudong: ConsoleUserFixture; guiyang: ConsoleUserFixture };
  /** The webhook endpoint subscribed to diversions before the history was posted, when one was asked for. */
  endpointId: string | null;
}

/** What the console should show for a demo brand, computed here from its events (not by the service). */
export interface Expected {
  eventsToday: number;
  eventsWeek: number;
  states: Record<string, number>;
  alerts: Record<string, number>;
  salesByRegion: Record<string, number>;
  salesByWeek: number[];
  storeSalesByWeek: Record<string, number[]>;
  storeSalesByMonth: Record<string, number[]>;
  stock: Record<string, Record<string, { received: number; sold: number; onHand: number }>>;
  diversionsByResponsible: Record<string, number>;
  /** Per store, sales of the last 30 days judged against the guide price, and those within its band. */
  compliance: Record<string, { judged: number; within: number }>;
  /** Bottles per product (GTIN) the store sold in the last 30 days. */
  bestSellers: Record<string, Record<string, number>>;
}

const PASSWORD = "correct horse battery staple";
let demoCounter = 0;

async function ok(r: Promise<{ status: number; body: unknown }>, status: number, what: string): Promise<any> {
  const answer = await r;
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).to.equal(status);
  return answer.body;
}

/**
 * A brand with two regions, a distributor and a store in each, two products and 18 bottles, and 40
 * days of history: production, shipping, receiving, sales across several weeks (one below the
 * guide price), and two Shanghai bottles received and one sold by the Guiyang store (diversion).
 * With `webhookUrl`, an endpoint subscribed to diversions is added first, so it gets their deliveries.
 */
export async function createDemoBrand(stack: Stack, options: { now?: Date; webhookUrl?: string } = {}): Promise<DemoBrand> {
  const now = options.now ?? new Date();
  const brand = await stack.createBrand({ codes: 0 });
  const key = brand.apiKey;
  const put = (path: string, body: unknown) => ok(stack.request("PUT", path, { token: key, body }), 200, `PUT ${path}`);
  await put("/api/v1/parties/dist-guiyang", { kind: "distributor", name: "贵州黔香商贸", region: "CN-GZ" });
  await put("/api/v1/parties/store-guiyang", { kind: "store", name: "贵阳南明烟酒店", region: "CN-GZ" });
  const feitian = brand.gtin;
  const wangzi = gtinFrom("0690123456790");
  await put(`/api/v1/products/${wangzi}`, { name: "茅台王子酒 53%vol 500ml", volumeMl: 500, abv: 53 });
  await ok(
    stack.request("PUT", `/api/v1/products/${feitian}/guide-price`, {
      token: key,
      body: { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1, validFrom: "2020-01-01T00:00:00+08:00" },
    }),
    201,
    "guide price",
  );

  const mint = async (gtin: string, count: number, lot: string) =>
    (await ok(stack.request("POST", "/api/v1/codes", { token: key, body: { gtin, count, lot } }), 201, "mint")).codes.map(
      (c: { serial: string; secret: string }) => ({ serial: c.serial, secret: c.secret, gtin }),
    );
  const endpointId: string | null =
    options.webhookUrl === undefined
      ? null
      : (await ok(stack.request("POST", "/api/v1/endpoints", { token: key, body: { url: options.webhookUrl, types: ["diversion"] } }), 201, "endpoint")).id;
  const f = await mint(feitian, 12, "FT-1");
  const w = await mint(wangzi, 6, "WZ-1");
  const s = (list: { serial: string }[]) => list.map((c) => c.serial);

  const at = (daysAgo: number, hoursAgo = 0) => new Date(now.getTime() - daysAgo * 86_400_000 - hoursAgo * 3_600_000).toISOString();
  const p = `demo${++demoCounter}`;
  const cny = (amount: string) => ({ amount, currency: "CNY" });
  const shanghaiF = f.slice(0, 8);
  const guizhouF = f.slice(8);
  const events: DemoBrand["events"] = [
    { id: `${p}-prod-f`, type: "production", codes: s(f), occurredAt: at(40), party: "factory-zunyi" },
    { id: `${p}-prod-w`, type: "production", codes: s(w), occurredAt: at(40), party: "factory-zunyi" },
    { id: `${p}-whin`, type: "warehouse_in", codes: [...s(f), ...s(w)], occurredAt: at(39), party: "wh-guiyang" },
    { id: `${p}-out-sh`, type: "warehouse_out", codes: [...s(shanghaiF), ...s(w)], occurredAt: at(38), party: "wh-guiyang", to: "dist-shanghai" },
    { id: `${p}-out-gz`, type: "warehouse_out", codes: s(guizhouF), occurredAt: at(38), party: "wh-guiyang", to: "dist-guiyang" },
    { id: `${p}-recv-pd-f`, type: "store_receiving", codes: s(shanghaiF.slice(0, 6)), occurredAt: at(35), party: "store-pudong" },
    { id: `${p}-recv-pd-w`, type: "store_receiving", codes: s(w.slice(0, 5)), occurredAt: at(35), party: "store-pudong" },
    { id: `${p}-recv-gy`, type: "store_receiving", codes: s(guizhouF), occurredAt: at(34), party: "store-guiyang" },
    // two Shanghai bottles leak to Guiyang: diversion, the Shanghai distributor responsible
    { id: `${p}-recv-gy-leak`, type: "store_receiving", codes: s(shanghaiF.slice(6, 8)), occurredAt: at(30), party: "store-guiyang" },
    { id: `${p}-sale-1`, type: "retail_sale", codes: [shanghaiF[0]!.serial], occurredAt: at(20), party: "store-pudong", price: cny("1499.00") },
    { id: `${p}-sale-2`, type: "retail_sale", codes: [shanghaiF[1]!.serial], occurredAt: at(13), party: "store-pudong", price: cny("1200.00") },
    {
      id: `${p}-sale-3`,
      type: "retail_sale",
      codes: [shanghaiF[2]!.serial, shanghaiF[3]!.serial],
      occurredAt: at(0, 1),
      party: "store-pudong",
      price: cny("1499.00"),
    },
    { id: `${p}-sale-4`, type: "retail_sale", codes: [w[0]!.serial], occurredAt: at(2), party: "store-pudong" },
    { id: `${p}-sale-5`, type: "retail_sale", codes: [guizhouF[0]!.serial], occurredAt: at(6), party: "store-guiyang", price: cny("1520.00") },
    { id: `${p}-sale-6`, type: "retail_sale", codes: [shanghaiF[6]!.serial], occurredAt: at(0, 2), party: "store-guiyang", price: cny("1499.00") },
  ];
  await ok(stack.postEvents(brand, events), 202, "events");

  const users = {
    admin: { brand: brand.slug, username: `${brand.slug}-admin`, password: PASSWORD },
    pudong: { brand: brand.slug, username: `${brand.slug}-pudong`, password: PASSWORD },
    guiyang: { brand: brand.slug, username: `${brand.slug}-guiyang`, password: PASSWORD },
  };
  await ok(
    stack.request("POST", "/api/v1/users", {
      token: key,
      body: { username: users.admin.username, password: users.admin.password, kind: "brand", admin: true, displayName: "王经理" },
    }),
    201,
    "admin user",
  );
  await ok(
    stack.request("POST", "/api/v1/users", {
      token: key,
      body: { username: users.pudong.username, password: users.pudong.password, kind: "store", party: "store-pudong" },
    }),
    201,
    "pudong user",
  );
  await ok(
    stack.request("POST", "/api/v1/users", {
      token: key,
      body: { username: users.guiyang.username, password: users.guiyang.password, kind: "store", party: "store-guiyang" },
    }),
    201,
    "guiyang user",
  );
  return { brand, gtins: { feitian, wangzi }, codes: [...f, ...w], events, users, endpointId };
}

const REGION_OF_STORE: Record<string, string> = { "store-pudong": "CN-SH", "store-guiyang": "CN-GZ" };

/** The numbers the console should show for the demo brand at `now`, from its events alone. */
export function expectedFor(demo: DemoBrand, now = new Date()): Expected {
  const today = periodStart("day", now).getTime();
  const week = periodStart("week", now).getTime();
  const weeks = Array.from({ length: 12 }, (_, i) => periodStart("week", now, 11 - i).getTime());
  const months = Array.from({ length: 12 }, (_, i) => periodStart("month", now, 11 - i).getTime());
  const bucket = (starts: number[], at: number) => starts.findLastIndex((start) => at >= start);
  const expected: Expected = {
    eventsToday: 0,
    eventsWeek: 0,
    states: {},
    alerts: {},
    salesByRegion: {},
    salesByWeek: weeks.map(() => 0),
    storeSalesByWeek: {},
    storeSalesByMonth: {},
    stock: {},
    diversionsByResponsible: {},
    compliance: {},
    bestSellers: {},
  };
  const lastMonth = periodStart("day", now, 29).getTime();
  const last = new Map<string, string>(demo.codes.map((c) => [c.serial, "minted"]));
  const gtinOf = new Map(demo.codes.map((c) => [c.serial, c.gtin]));
  for (const event of [...demo.events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt))) {
    const t = Date.parse(event.occurredAt);
    if (t >= week && t <= now.getTime()) expected.eventsWeek++;
    if (t >= today && t <= now.getTime()) expected.eventsToday++;
    for (const serial of event.codes) last.set(serial, event.type);
    if (event.type === "store_receiving" || event.type === "retail_sale") {
      const stock = (expected.stock[event.party] ??= {});
      for (const serial of event.codes) {
        const line = (stock[gtinOf.get(serial)!] ??= { received: 0, sold: 0, onHand: 0 });
        if (event.type === "store_receiving") line.received++;
        else line.sold++;
        line.onHand = line.received - line.sold;
      }
    }
    if (event.type !== "retail_sale") continue;
    const n = event.codes.length;
    if (t >= weeks[0]!) {
      expected.salesByRegion[REGION_OF_STORE[event.party]!] = (expected.salesByRegion[REGION_OF_STORE[event.party]!] ?? 0) + n;
      expected.salesByWeek[bucket(weeks, t)]! += n;
    }
    const byWeek = (expected.storeSalesByWeek[event.party] ??= weeks.map(() => 0));
    if (t >= weeks[0]!) byWeek[bucket(weeks, t)]! += n;
    const byMonth = (expected.storeSalesByMonth[event.party] ??= months.map(() => 0));
    if (t >= months[0]!) byMonth[bucket(months, t)]! += n;
    if (t < lastMonth) continue;
    const best = (expected.bestSellers[event.party] ??= {});
    for (const serial of event.codes) best[gtinOf.get(serial)!] = (best[gtinOf.get(serial)!] ?? 0) + 1;
    // Only 飞天 has a guide price: 1499.00 CNY, from −5 % to +10 %, i.e. 1424.05 to 1648.90.
    const line = (expected.compliance[event.party] ??= { judged: 0, within: 0 });
    if (event.price === undefined || gtinOf.get(event.codes[0]!) !== demo.gtins.feitian) continue;
    line.judged += n;
    if (Number(event.price.amount) >= 1424.05 && Number(event.price.amount) <= 1648.9) line.within += n;
  }
  for (const state of last.values()) expected.states[state] = (expected.states[state] ?? 0) + 1;
  // The checks' verdicts on this history: two Shanghai bottles received in Guiyang (one alert per
  // bottle and store, the Shanghai distributor responsible), and one sale at 1200 < 1499 × 0.95.
  expected.alerts = { diversion: 2, price_below: 1 };
  expected.diversionsByResponsible = { "dist-shanghai": 2 };
  return expected;
}
