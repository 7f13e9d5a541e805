/**
 * One validated, typed configuration from the environment. With no DATABASE_URL, REDIS_URL or
 * CHAIN_RPC_URL the service runs embedded: PGlite under DATA_DIR, jobs in-process, a local chain.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { parseCidrList, type Cidr } from "./core/destinations.ts";
import { parseMemberHashKey, parseMemberKeys, type MemberKeyConfig } from "./members/keys.ts";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/**
 * Which X-Forwarded-For entries to believe (TRUST_PROXY). Never the client's own: the address used is
 * the right-most one not written by a trusted proxy (proxy-addr semantics, as Fastify applies them).
 *  - `false`: no proxy; the address of the TCP peer.
 *  - `{ hops }`: that many proxies in front (1: one proxy, which appends the client's address).
 *  - `{ proxies }`: the proxies' addresses or CIDR ranges (or proxy-addr's names loopback, linklocal,
 *    uniquelocal); every hop from one of them is trusted, the first other one is the client.
 */
export type TrustProxy = false | { hops: number } | { proxies: string[] };

const PROXY_RANGE_NAMES = ["loopback", "linklocal", "uniquelocal"];

/** One TRUST_PROXY list entry: an IP address, an address/prefix, or one of proxy-addr's range names. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address, bits, ...rest] = entry.split("/");
  const version = isIP(address ?? "");
  if (version === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/** TRUST_PROXY's value; `true` (trust whatever the client wrote) is refused. */
export function parseTrustProxy(raw: string | null): TrustProxy | string {
  const value = raw?.trim().toLowerCase() ?? "";
  if (["", "0", "false", "no"].includes(value)) return false;
  const forms =
    "give the number of proxies in front of SealTrace (TRUST_PROXY=1: one reverse proxy that appends the client's address " +
    "to X-Forwarded-For) or a comma-separated list of the proxies' addresses or CIDR ranges (e.g. TRUST_PROXY=10.0.0.0/8,127.0.0.1); " +
    "leave it unset (false) when clients connect directly";
  if (["true", "yes", "on"].includes(value)) {
    return (
      `TRUST_PROXY=${raw} would trust the left-most X-Forwarded-For entry, which any client can write (it would choose its own IP ` +
      `for rate limits, scan counts and scan places): ${forms}`
    );
  }
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    return hops <= 32 ? { hops } : `TRUST_PROXY must be a number of proxies from 0 to 32 (got "${raw}")`;
  }
  const proxies = value.split(",").map((entry) => entry.trim());
  const bad = proxies.filter((entry) => !isProxyEntry(entry));
  if (bad.length > 0) return `TRUST_PROXY: ${bad.map((b) => `"${b}"`).join(", ")} is not an IP address or CIDR range; ${forms}`;
  return { proxies };
}

/** One Redis Cluster seed node (REDIS_CLUSTER_NODES entry). */
export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where BullMQ keeps its queues: one Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES, seed
 * nodes from which the client learns the rest of the cluster).
 */
export type RedisTarget = { kind: "single"; url: string } | { kind: "cluster"; nodes: RedisNode[] };

/** REDIS_CLUSTER_NODES's value: comma-separated host:port seeds ([v6]:port for IPv6), or a message saying what is wrong. */
export function parseRedisClusterNodes(raw: string): RedisNode[] | string {
  const entries = raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const nodes: RedisNode[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(entry);
    const port = Number(match?.[3]);
    if (match === null || port < 1 || port > 65_535 || (match[1] !== undefined && isIP(match[1]) !== 6)) bad.push(entry);
    else nodes.push({ host: match[1] ?? match[2]!, port });
  }
  const form = "give the cluster's seed nodes as comma-separated host:port pairs, e.g. REDIS_CLUSTER_NODES=redis-1:6379,redis-2:6379,redis-3:6379";
  if (bad.length > 0) return `REDIS_CLUSTER_NODES: ${bad.map((b) => `"${b}"`).join(", ")} is not a host:port pair; ${form}`;
  if (nodes.length === 0) return `REDIS_CLUSTER_NODES is empty; ${form}`;
  return nodes;
}

export interface Config {
  databaseUrl: string | null;
  /** BullMQ's Redis (REDIS_URL) or Redis Cluster (REDIS_CLUSTER_NODES); null: in-process jobs. */
  redis: RedisTarget | null;
  /**
   * A PostgreSQL streaming replica of DATABASE_URL the public read paths read from (service/db/replica.ts);
   * null: every read goes to the primary.
   */
  databaseReadUrl: string | null;
  /** Past this replay lag (ms) the replica is not read: reads go to the primary until it catches up. */
  replicaMaxLagMs: number;
  chainRpcUrl: string | null;
  anchorPrivateKey: string | null;
  registryAddress: string | null;
  confirmations: number;
  /** An anchor transaction not mined this long after it was sent is replaced with a 20 % higher fee. */
  anchorReplaceAfterMs: number;
  /** The highest maxFeePerGas an anchor transaction (or its replacement) may offer, in gwei. */
  anchorMaxFeeGwei: number;
  /** The block the registry was deployed in: searches of its logs go no further back. */
  registryDeployBlock: number;
  sealIntervalMs: number;
  sealMaxLinks: number;
  adminToken: string | null;
  /** Key from which bottle secrets and cap codes are derived (so label files can be exported again). */
  labelSecret: string | null;
  /**
   * The members' phone keys (MEMBER_KEYS: AES-256-GCM, the first encrypting; MEMBER_HASH_KEY: the
   * lookup HMAC); null in embedded mode, which derives development keys under DATA_DIR (docs/MEMBERS.md).
   */
  memberKeys: MemberKeyConfig | null;
  /**
   * The chain RPC the public is told to check roots with (pages, CSP, GET /api/v1/chain). Never
   * CHAIN_RPC_URL, which may carry a provider's key: null offers none (embedded mode offers the local chain).
   */
  publicRpcUrl: string | null;
  /** Bearer token GET /metrics requires; null: /metrics is not served. */
  metricsToken: string | null;
  port: number;
  host: string;
  publicBaseUrl: string | null;
  dataDir: string;
  logLevel: LogLevel;
  /** Which X-Forwarded-For entries to believe behind reverse proxies (scan places, rate limits, scan counts). */
  trustProxy: TrustProxy;
  /** Public pages and proofs per client IP per minute, and consumer pages per bottle per minute. */
  rateLimitPerIp: number;
  rateLimitPerBottle: number;
  /** Consumer scans recorded per bottle per hour at most; past it the page answers but records nothing. */
  scansPerBottlePerHour: number;
  /**
   * BullMQ key prefix, so several deployments (or test runs) can share one Redis. On a Redis Cluster
   * the queues use it wrapped in braces (a hash tag: service/jobs/bullmq.ts), so it may not contain any.
   */
  queuePrefix: string;
  /** A chain explorer (Etherscan-like: {url}/tx/{hash}, {url}/block/{n}) the console links batches to. */
  explorerUrl: string | null;
  /** Whether console cookies are Secure (HTTPS only); off only for plain-http development. */
  consoleSecureCookies: boolean;
  /** How long a console sign-in lasts. */
  consoleSessionHours: number;
  /** Bounds of the HTTP process's proof bundle cache (service/verify/bundle-cache.ts); 0 entries: none. */
  bundleCache: { maxEntries: number; maxBytes: number };
  /**
   * Private address blocks that outgoing webhooks may go to (WEBHOOK_ALLOW_PRIVATE); empty, the
   * default: public addresses only (service/core/destinations.ts).
   */
  webhookAllowPrivate: Cidr[];
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const MAKE_LABEL_SECRET = "generate one once with `openssl rand -hex 32` and keep it (e.g. LABEL_SECRET=… in .env)";

const LOG_LEVELS: LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | null => {
    const value = env[name]?.trim();
    return value ? value : null;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = text(name)?.toLowerCase();
    if (raw === undefined || raw === null) return fallback;
    if (["1", "true", "yes"].includes(raw)) return true;
    if (["0", "false", "no"].includes(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  const url = (name: string, protocols: string[]): string | null => {
    const raw = text(name);
    if (raw === null) return null;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) problems.push(`${name} must be a ${protocols.join(" or ")} URL (got "${parsed.protocol}")`);
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return raw;
  };

  const anchorPrivateKey = text("ANCHOR_PRIVATE_KEY");
  if (anchorPrivateKey !== null && !/^0x[0-9a-fA-F]{64}$/.test(anchorPrivateKey)) {
    problems.push("ANCHOR_PRIVATE_KEY must be 0x followed by 64 hex digits");
  }
  const registryAddress = text("REGISTRY_ADDRESS");
  if (registryAddress !== null && !/^0x[0-9a-fA-F]{40}$/.test(registryAddress)) {
    problems.push("REGISTRY_ADDRESS must be 0x followed by 40 hex digits");
  }
  const logLevel = (text("LOG_LEVEL") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  const adminToken = text("ADMIN_TOKEN");
  if (adminToken !== null && adminToken.length < 16) problems.push("ADMIN_TOKEN must be at least 16 characters");
  const allowPrivate = parseCidrList(text("WEBHOOK_ALLOW_PRIVATE") ?? "");
  for (const problem of allowPrivate.problems) problems.push(`WEBHOOK_ALLOW_PRIVATE: ${problem} (a comma-separated list such as 10.20.0.0/16,fd00::/8)`);
  const labelSecret = text("LABEL_SECRET");
  if (labelSecret !== null && labelSecret.length < 32) problems.push(`LABEL_SECRET must be at least 32 characters; ${MAKE_LABEL_SECRET}`);
  // With a shared database, every process (and every container recreated later) must derive the same
  // labels and CSRF tokens: a secret generated into one container's DATA_DIR cannot be that.
  if (labelSecret === null && text("DATABASE_URL") !== null) {
    problems.push(
      `DATABASE_URL is set, so LABEL_SECRET must be set too, the same for every process and kept for good ` +
        `(changing it makes existing lots' label files unexportable); ${MAKE_LABEL_SECRET}`,
    );
  }
  // Members' phone numbers (docs/MEMBERS.md): like LABEL_SECRET, every process of a shared database
  // must hold the same keys, and losing them loses every member's contact (and lookup).
  const memberKeysRaw = text("MEMBER_KEYS");
  const memberHashRaw = text("MEMBER_HASH_KEY");
  const memberKeyList = memberKeysRaw === null ? null : parseMemberKeys(memberKeysRaw);
  const memberHashKey = memberHashRaw === null ? null : parseMemberHashKey(memberHashRaw);
  if (typeof memberKeyList === "string") problems.push(memberKeyList);
  if (typeof memberHashKey === "string") problems.push(memberHashKey);
  if ((memberKeysRaw === null) !== (memberHashRaw === null)) problems.push("MEMBER_KEYS and MEMBER_HASH_KEY are set together or not at all");
  if (text("DATABASE_URL") !== null && (memberKeysRaw === null || memberHashRaw === null)) {
    problems.push(
      "DATABASE_URL is set, so MEMBER_KEYS and MEMBER_HASH_KEY must be set too, the same for every process and kept for good " +
        '(they encrypt and match members\' phone numbers): MEMBER_KEYS="k1:$(openssl rand -base64 32)" MEMBER_HASH_KEY="$(openssl rand -base64 32)"',
    );
  }
  const memberKeys: MemberKeyConfig | null =
    Array.isArray(memberKeyList) && Buffer.isBuffer(memberHashKey) ? { keys: memberKeyList, hashKey: memberHashKey } : null;
  const metricsToken = text("METRICS_TOKEN");
  if (metricsToken !== null && metricsToken.length < 16) problems.push("METRICS_TOKEN must be at least 16 characters");

  const trustProxy = parseTrustProxy(text("TRUST_PROXY"));
  if (typeof trustProxy === "string") problems.push(trustProxy);

  const redisUrl = url("REDIS_URL", ["redis:", "rediss:"]);
  const clusterRaw = text("REDIS_CLUSTER_NODES");
  const clusterNodes = clusterRaw === null ? null : parseRedisClusterNodes(clusterRaw);
  if (typeof clusterNodes === "string") problems.push(clusterNodes);
  if (clusterRaw !== null && redisUrl !== null) {
    problems.push("REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a Redis Cluster, not both");
  }
  const redis: RedisTarget | null = Array.isArray(clusterNodes)
    ? { kind: "cluster", nodes: clusterNodes }
    : redisUrl !== null
      ? { kind: "single", url: redisUrl }
      : null;
  const queuePrefix = text("QUEUE_PREFIX") ?? "sealtrace";
  if (redis?.kind === "cluster" && /[{}]/.test(queuePrefix)) {
    problems.push(
      `QUEUE_PREFIX may not contain { or } with REDIS_CLUSTER_NODES (got "${queuePrefix}"): SealTrace wraps it in braces itself, ` +
        "so that each queue's keys share one hash slot",
    );
  }

  const config: Config = {
    databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
    redis,
    databaseReadUrl: url("DATABASE_READ_URL", ["postgres:", "postgresql:"]),
    replicaMaxLagMs: int("REPLICA_MAX_LAG_MS", 5_000, 100, 3_600_000),
    chainRpcUrl: url("CHAIN_RPC_URL", ["http:", "https:", "ws:", "wss:"]),
    anchorPrivateKey,
    registryAddress,
    confirmations: int("CONFIRMATIONS", 1, 1, 1_000),
    anchorReplaceAfterMs: int("ANCHOR_REPLACE_AFTER_MS", 180_000, 1_000, 86_400_000),
    anchorMaxFeeGwei: int("ANCHOR_MAX_FEE_GWEI", 500, 1, 1_000_000),
    registryDeployBlock: int("REGISTRY_DEPLOY_BLOCK", 0, 0, Number.MAX_SAFE_INTEGER),
    sealIntervalMs: int("SEAL_INTERVAL_MS", 2_000, 50, 3_600_000),
    sealMaxLinks: int("SEAL_MAX_LINKS", 100_000, 1, 4_000_000),
    adminToken,
    labelSecret,
    memberKeys,
    publicRpcUrl: url("PUBLIC_RPC_URL", ["http:", "https:"]),
    metricsToken,
    port: int("PORT", 3000, 0, 65_535),
    host: text("HOST") ?? "127.0.0.1",
    publicBaseUrl: url("PUBLIC_BASE_URL", ["http:", "https:"]),
    dataDir: resolve(text("DATA_DIR") ?? "data"),
    logLevel,
    queuePrefix,
    trustProxy: typeof trustProxy === "string" ? false : trustProxy,
    rateLimitPerIp: int("RATE_LIMIT_PER_IP", 120, 1, 1_000_000),
    rateLimitPerBottle: int("RATE_LIMIT_PER_BOTTLE", 30, 1, 1_000_000),
    scansPerBottlePerHour: int("SCANS_PER_BOTTLE_PER_HOUR", 60, 1, 1_000_000),
    explorerUrl: url("EXPLORER_URL", ["http:", "https:"])?.replace(/\/+$/, "") ?? null,
    // Secure by default; the embedded development mode (no DATABASE_URL) defaults to plain http.
    consoleSecureCookies: bool("CONSOLE_SECURE_COOKIES", text("DATABASE_URL") !== null),
    consoleSessionHours: int("CONSOLE_SESSION_HOURS", 12, 1, 24 * 30),
    webhookAllowPrivate: allowPrivate.cidrs,
    bundleCache: { maxEntries: int("BUNDLE_CACHE_ENTRIES", 20_000, 0, 10_000_000), maxBytes: int("BUNDLE_CACHE_MIB", 64, 1, 65_536) * 1024 * 1024 },
  };
  if (config.chainRpcUrl !== null && config.anchorPrivateKey === null) {
    problems.push("CHAIN_RPC_URL is set, so ANCHOR_PRIVATE_KEY (the funded key that anchors) must be set too");
  }
  if (config.chainRpcUrl !== null && config.registryAddress === null) {
    problems.push("CHAIN_RPC_URL is set, so REGISTRY_ADDRESS must be set too (deploy one with `npm run deploy`)");
  }
  if (config.chainRpcUrl === null && config.registryAddress !== null) {
    problems.push("REGISTRY_ADDRESS is set without CHAIN_RPC_URL");
  }
  if (config.databaseReadUrl !== null && config.databaseUrl === null) {
    problems.push("DATABASE_READ_URL is set without DATABASE_URL: a read replica needs the primary it replicates (the embedded database has none)");
  }
  if (config.databaseReadUrl !== null && config.databaseReadUrl === config.databaseUrl) {
    problems.push("DATABASE_READ_URL is the same as DATABASE_URL: point it at a streaming replica of DATABASE_URL, or leave it unset");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
