/**
 * A whole SealTrace stack for integration tests, on the real services: a database of its own on the
 * local PostgreSQL, a BullMQ prefix of its own on the local Redis, and a registry of its own on a
 * real local chain. Nothing is shared between stacks, so tests never depend on each other.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, JsonRpcProvider, Mnemonic, NonceManager, Wallet } from "ethers";
import { Redis } from "ioredis";
import pg from "pg";
import type { Logger } from "pino";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { deployRegistry } from "../../service/anchoring/registry.ts";
import { loadConfig, type Config } from "../../service/config.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { signWebhook } from "../../service/ingest/signature.ts";
import { gs1CheckDigit } from "../../service/core/gtin.ts";
import { createLogger } from "../../service/log.ts";
import { startRuntime, type Role, type Runtime } from "../../service/runtime.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
/** GET /metrics answers only with it (Authorization: Bearer …). */
export const METRICS_TOKEN = "test-metrics-token-0123456789";
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";

/** Hardhat's funded development account #i (the local chain funds 20 of them). */
export function devKey(i: number): string {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(HARDHAT_MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey;
}

export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sealtrace_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function deployTestRegistry(rpcUrl: string, key: string): Promise<string> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  try {
    return (await deployRegistry(new NonceManager(new Wallet(key, provider)))).address;
  } finally {
    provider.destroy();
  }
}

export interface BrandFixture {
  slug: string;
  apiKey: string;
  webhookSecret: string;
  gtin: string;
  codes: { serial: string; secret: string; url: string; capCode: string; capUrl: string }[];
}

export interface Stack {
  runtime: Runtime;
  url: string;
  config: Config;
  env: Record<string, string>;
  request(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  createBrand(options?: { codes?: number }): Promise<BrandFixture>;
  postEvents(brand: { slug: string; webhookSecret: string }, events: unknown[], webhookId?: string): Promise<{ status: number; body: any }>;
  waitAnchored(serial: string, secret: string, timeoutMs?: number): Promise<ProofBundle>;
  stop(): Promise<void>;
}

let brandCounter = 0;

/** A GTIN-14 with a correct check digit, from 13 digits. */
export function gtinFrom(digits13: string): string {
  return digits13 + gs1CheckDigit(digits13);
}

export interface StackOptions {
  chainUrl?: string;
  keyIndex?: number;
  redis?: boolean;
  role?: Role;
  embedded?: boolean;
  dataDir?: string;
  env?: Record<string, string>;
  /** Where the stack logs (silent by default). */
  log?: Logger;
}

/**
 * A stack's environment: its own data directory, and unless embedded its own database, registry and
 * Redis prefix; `cleanup` removes them. startStack runs SealTrace in this process on it; the fault
 * tests run it as separate processes.
 */
export async function stackEnv(options: StackOptions = {}): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step();
  };
  try {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "sealtrace-stack-")));
    if (!options.dataDir) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // The tests' webhook receivers listen on 127.0.0.1: exactly that address is allowed, nothing else private.
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      PORT: "0",
      SEAL_INTERVAL_MS: "200",
      LOG_LEVEL: "silent",
      ADMIN_TOKEN,
      METRICS_TOKEN,
      WEBHOOK_ALLOW_PRIVATE: "127.0.0.1/32",
    };
    if (!options.embedded) {
      // A database of its own on the shared PostgreSQL, unless the stack is given one (a private server: the cluster tests).
      let databaseUrl = options.env?.DATABASE_URL;
      if (databaseUrl === undefined) {
        const db = await createDatabase();
        cleanups.push(() => db.drop());
        databaseUrl = db.url;
      }
      const key = devKey(options.keyIndex ?? 1);
      Object.assign(env, {
        DATABASE_URL: databaseUrl,
        // Required with a shared database: every process of the stack derives the same labels and CSRF tokens.
        LABEL_SECRET: randomBytes(32).toString("hex"),
        // Likewise the members' phone keys (docs/MEMBERS.md).
        MEMBER_KEYS: `k1:${randomBytes(32).toString("base64")}`,
        MEMBER_HASH_KEY: randomBytes(32).toString("base64"),
        CHAIN_RPC_URL: options.chainUrl!,
        // The test chain has no key in its URL: the pages may offer it (PUBLIC_RPC_URL never defaults to it).
        PUBLIC_RPC_URL: options.chainUrl!,
        ANCHOR_PRIVATE_KEY: key,
        REGISTRY_ADDRESS: await deployTestRegistry(options.chainUrl!, key),
      });
      if (options.redis !== false) {
        const prefix = `sealtrace-test-${randomBytes(4).toString("hex")}`;
        Object.assign(env, { REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix });
        cleanups.push(async () => {
          const redis = new Redis(TEST_REDIS_URL);
          const keys = await redis.keys(`${prefix}:*`);
          if (keys.length > 0) await redis.del(...keys);
          redis.disconnect();
        });
      }
    }
    Object.assign(env, options.env ?? {});
    return { env, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** JSON requests to a running SealTrace at `url`. */
export function httpClient(url: string): Stack["request"] {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["content-type"] ??= "application/json";
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    }
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: response.status, body: parsed as any, headers: response.headers };
  };
}

/** A brand with two regions, a factory, a warehouse, a distributor, a store, a product and `codes` minted codes. */
export async function createBrandWith(request: Stack["request"], { codes = 3 }: { codes?: number } = {}): Promise<BrandFixture> {
  const slug = `brand-${process.pid}-${++brandCounter}-${randomBytes(2).toString("hex")}`;
  const created = await request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: { slug, name: "贵州茅台酒股份有限公司 (test)" } });
  if (created.status !== 201) throw new Error(`create brand: ${created.status} ${JSON.stringify(created.body)}`);
  const { apiKey, webhookSecret } = created.body as { apiKey: string; webhookSecret: string };
  const put = async (path: string, body: unknown) => {
    const r = await request("PUT", path, { token: apiKey, body });
    if (r.status !== 200) throw new Error(`PUT ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await put("/api/v1/regions/CN-GZ", { name: "贵州" });
  await put("/api/v1/regions/CN-SH", { name: "上海" });
  await put("/api/v1/parties/factory-zunyi", { kind: "factory", name: "茅台镇酒厂", region: "CN-GZ" });
  await put("/api/v1/parties/wh-guiyang", { kind: "warehouse", name: "贵阳仓", region: "CN-GZ" });
  await put("/api/v1/parties/dist-shanghai", { kind: "distributor", name: "上海经销商", region: "CN-SH" });
  await put("/api/v1/parties/store-pudong", { kind: "store", name: "浦东专卖店", region: "CN-SH" });
  const gtin = gtinFrom("0690123456789");
  await put(`/api/v1/products/${gtin}`, { name: "飞天茅台 53%vol 500ml", volumeMl: 500, abv: 53 });
  if (codes === 0) return { slug, apiKey, webhookSecret, gtin, codes: [] };
  const minted = await request("POST", "/api/v1/codes", { token: apiKey, body: { gtin, count: codes, lot: "2026-11-A", region: "CN-SH" } });
  if (minted.status !== 201) throw new Error(`mint: ${minted.status} ${JSON.stringify(minted.body)}`);
  return { slug, apiKey, webhookSecret, gtin, codes: minted.body.codes };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const { env, cleanup } = await stackEnv(options);
  let runtime: Runtime;
  try {
    runtime = await startRuntime(loadConfig(env), {
      role: options.role ?? "all",
      log: options.log ?? createLogger((process.env.TEST_LOG_LEVEL ?? "silent") as "silent"),
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
  const config = runtime.config;
  const url = runtime.url!;
  const request = httpClient(url);

  const stack: Stack = {
    runtime,
    url,
    config,
    env,
    request,
    createBrand: (brandOptions) => createBrandWith(request, brandOptions),
    async postEvents(brand, events, webhookId = `msg_${randomBytes(8).toString("hex")}`) {
      const body = JSON.stringify({ events });
      const response = await fetch(`${url}/webhooks/${brand.slug}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", ...signWebhook(brand.webhookSecret, webhookId, body) },
        body,
      });
      return { status: response.status, body: await response.json() };
    },
    async waitAnchored(serial, secret, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // Fresh: a cached bundle may prove its head in an earlier batch than the latest.
        const r = await request("GET", `/api/v1/items/${serial}/proof?s=${encodeURIComponent(secret)}`, { headers: { "cache-control": "no-cache" } });
        const bundle = r.body as ProofBundle;
        // Every link anchored, and the latest anchored heads map holding the last one (the bundle is complete).
        if (r.status === 200 && bundle.links.every((l) => l.anchor !== null) && bundle.head?.n === bundle.links.length) return bundle;
        if (Date.now() > deadline) throw new Error(`bottle ${serial} not anchored in ${timeoutMs} ms: ${JSON.stringify(r.body).slice(0, 500)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await runtime.stop();
      await cleanup();
    },
  };
  return stack;
}

/** A bottle's ordinary life over the past week, as webhook events, ending with a sale an hour ago. */
export function lifecycle(serials: string[], prefix = randomBytes(3).toString("hex")): Record<string, unknown>[] {
  const ago = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString().replace("Z", "+00:00");
  return [
    { id: `${prefix}-prod`, type: "production", codes: serials, occurredAt: ago(7 * 24), party: "factory-zunyi", data: { line: 3 } },
    { id: `${prefix}-whin`, type: "warehouse_in", codes: serials, occurredAt: ago(6 * 24), party: "wh-guiyang" },
    { id: `${prefix}-whout`, type: "warehouse_out", codes: serials, occurredAt: ago(5 * 24), party: "wh-guiyang", to: "dist-shanghai" },
    { id: `${prefix}-recv`, type: "store_receiving", codes: serials, occurredAt: ago(3 * 24), party: "store-pudong" },
    ...serials.map((serial, i) => ({
      id: `${prefix}-sale-${i}`,
      type: "retail_sale",
      codes: [serial],
      occurredAt: ago(1),
      party: "store-pudong",
      price: { amount: "1499.00", currency: "CNY" },
    })),
  ];
}

/** A local chain, a stack on it, and a pool on the stack's database: what most service tests need. */
export interface ChainStack {
  chain: LocalChain;
  stack: Stack;
  db: pg.Pool;
  stop(): Promise<void>;
}

export async function startChainStack(options: Omit<Parameters<typeof startStack>[0] & object, "chainUrl">): Promise<ChainStack> {
  const chain = await startLocalChain();
  try {
    const stack = await startStack({ ...options, chainUrl: chain.url });
    const db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    return {
      chain,
      stack,
      db,
      async stop() {
        await db.end();
        await stack.stop();
        await chain.stop();
      },
    };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}
