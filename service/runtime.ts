/**
 * Resources for one process, from a validated config: database (or embedded PGlite), migrations,
 * chain client (or a local chain with a fresh registry), jobs (BullMQ or in-process), and the HTTP
 * app. main.ts runs it; the tests start it in-process.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import type { Logger } from "pino";
import { createAnchorer } from "./anchoring/anchorer.ts";
import { createChainClient, type ChainClient } from "./anchoring/chain.ts";
import { createBullJobs, createInProcessJobs, type Jobs } from "./anchoring/jobs.ts";
import { wasmKeccak256 } from "./anchoring/keccak.ts";
import { freePort, LOCAL_DEV_KEY, startLocalChain, type LocalChain } from "./anchoring/local-chain.ts";
import { deployRegistry } from "./anchoring/registry.ts";
import { createSealer } from "./anchoring/sealer.ts";
import { buildApp } from "./app.ts";
import type { Config } from "./config.ts";
import type { ChainRef } from "./core/bundle.ts";
import { useKeccak256 } from "./core/hash.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./db/embedded.ts";
import { migrate } from "./db/migrate.ts";
import { createPool, type Db } from "./db/pool.ts";
import { ensurePartitions, PARTITIONS_INTERVAL_MS, partitionsJob } from "./ledger/partitions.ts";
import { createReads, primaryOnly, type Reads } from "./db/replica.ts";
import { createMemberKeys, devMemberKeys } from "./members/keys.ts";
import { createMembersRepo } from "./members/repo.ts";
import { createMetrics } from "./metrics.ts";
import { createOutboxJobs } from "./outbox/jobs.ts";

export type Role = "all" | "http" | "worker";

export interface Runtime {
  config: Config;
  db: Db;
  /** Where the public read paths read (the replica of DATABASE_READ_URL while it keeps up, else `db`). */
  reads: Reads;
  log: Logger;
  chain: ChainClient;
  jobs: Jobs;
  app: FastifyInstance | null;
  /** The address the HTTP server listens on (null for a worker). */
  url: string | null;
  adminToken: string | null;
  embedded: { database: boolean; chain: boolean };
  stop(): Promise<void>;
}

/** A secret from the environment, or else one generated once and kept in DATA_DIR/{file}. */
async function secretFor(config: Config, given: string | null, file: string, prefix: string): Promise<string> {
  if (given !== null) return given;
  const path = join(config.dataDir, file);
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    await mkdir(config.dataDir, { recursive: true });
    const secret = `${prefix}${randomBytes(32).toString("base64url")}`;
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  }
}

async function localChainPort(): Promise<number> {
  // The conventional development port when it is free, so wallets and scripts find it.
  const probe = await new Promise<boolean>((resolve) => {
    const server = createServer()
      .once("error", () => resolve(false))
      .listen(8545, "127.0.0.1", () => server.close(() => resolve(true)));
  });
  return probe ? 8545 : await freePort();
}

export async function startRuntime(config: Config, options: { role: Role; log: Logger }): Promise<Runtime> {
  const { role, log } = options;
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch((error: unknown) => log.warn({ err: error }, "shutdown step failed"));
    cleanups.length = 0;
  };
  try {
    // Every hash this process computes (ingest, bundles, sealing) with the WebAssembly keccak256.
    useKeccak256(await wasmKeccak256());
    let databaseUrl = config.databaseUrl;
    let embeddedDb: EmbeddedDatabase | null = null;
    if (databaseUrl === null) {
      embeddedDb = await startEmbeddedDatabase(config.dataDir);
      cleanups.push(() => embeddedDb!.stop());
      databaseUrl = embeddedDb.url;
      log.info({ dataDir: config.dataDir }, "embedded database (PGlite) started");
    }
    await migrate(databaseUrl, log);
    // PGlite is one database session: its socket server interleaves the protocol messages of
    // concurrent connections, so the embedded database gets exactly one connection at a time.
    const db = createPool(databaseUrl, log, embeddedDb ? 1 : 10);
    cleanups.push(() => db.end());
    // This month's and the next month's partitions, before serving (the migration made them for its
    // month; a database started again after months without a worker needs them now). Failing here
    // (a lock not granted in time) is not fatal: the ids stay in a month that exists, scans fall in
    // the default partition, and the worker's job tries again.
    await ensurePartitions(db).catch((error: unknown) => log.warn({ err: error }, "could not create the coming partitions at start-up"));

    let rpcUrl = config.chainRpcUrl;
    let privateKey = config.anchorPrivateKey;
    let registry = config.registryAddress;
    let localChain: LocalChain | null = null;
    if (rpcUrl === null) {
      localChain = await startLocalChain({ port: await localChainPort() });
      cleanups.push(() => localChain!.stop());
      rpcUrl = localChain.url;
      privateKey = LOCAL_DEV_KEY;
      const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
      try {
        registry = (await deployRegistry(new NonceManager(new Wallet(privateKey, provider)))).address;
      } finally {
        provider.destroy();
      }
      log.info({ rpcUrl, registry }, "local chain started with a new AnchorRegistry");
    }

    const metrics = createMetrics(async () => {
      const { rows } = await db.query<{ count: number }>("SELECT count(*)::int AS count FROM links WHERE id > links_sealed_through() AND batch_seq IS NULL");
      return rows[0]!.count;
    });
    // The read replica serves HTTP answers only: workers (sealer, anchorer, outbox) read what they write.
    let reads: Reads = primaryOnly(db);
    if (config.databaseReadUrl !== null && role !== "worker") {
      const replica = createPool(config.databaseReadUrl, log, 10, { applicationName: "sealtrace-reads", connectionTimeoutMillis: 2_000 });
      cleanups.push(() => replica.end());
      reads = await createReads({
        primary: db,
        replica,
        maxLagMs: config.replicaMaxLagMs,
        log: log.child({ component: "replica" }),
        registry: metrics.registry,
      });
      cleanups.push(() => reads.close());
      log.info(reads.status(), "read replica configured");
    }
    const chain = createChainClient({
      rpcUrl,
      privateKey: privateKey!,
      registry: registry!,
      metrics,
      maxFeePerGas: BigInt(config.anchorMaxFeeGwei) * 10n ** 9n,
      deployBlock: config.registryDeployBlock,
    });
    cleanups.push(() => chain.close());
    const chainRef = async (): Promise<ChainRef> => ({ chainId: await chain.chainId(), registry: chain.registry });

    const runsWorkers = role !== "http";
    const sealer = createSealer({ db, maxLinks: config.sealMaxLinks, log: log.child({ component: "sealer" }), metrics });
    const anchorer = runsWorkers
      ? createAnchorer({
          db,
          chain,
          confirmations: config.confirmations,
          replaceAfterMs: config.anchorReplaceAfterMs,
          log: log.child({ component: "anchorer" }),
          metrics,
        })
      : null;
    const processors = {
      sealer,
      anchorer,
      sealIntervalMs: config.sealIntervalMs,
      sealMaxLinks: config.sealMaxLinks,
      partitions: partitionsJob(db, log.child({ component: "partitions" })),
      partitionsIntervalMs: PARTITIONS_INTERVAL_MS,
      log: log.child({ component: "jobs" }),
    };
    const jobs = config.redis !== null ? createBullJobs({ ...processors, redis: config.redis, prefix: config.queuePrefix }) : createInProcessJobs(processors);
    cleanups.push(() => jobs.close());
    if (role === "http" && config.redis === null) {
      log.warn("HTTP-only without REDIS_URL or REDIS_CLUSTER_NODES: no worker can be told to seal; run `npm start` instead, or set one of them");
    }

    // A fresh local chain holds none of the batches anchored before a restart: say so before serving.
    if (localChain !== null) await anchorer?.reconcile();

    const adminToken = await secretFor(config, config.adminToken, "admin-token", "adm_");
    const labelSecret = await secretFor(config, config.labelSecret, "label-secret", "");
    // Embedded mode's member keys come from a secret kept under DATA_DIR (config.ts requires real ones with DATABASE_URL).
    const memberKeys = config.memberKeys ?? devMemberKeys(await secretFor(config, null, "member-secret", ""));
    let app: FastifyInstance | null = null;
    let url: string | null = null;
    if (role !== "worker") {
      app = await buildApp({
        db,
        reads,
        log,
        metrics,
        adminToken,
        labelSecret,
        memberKeys,
        publicBaseUrl: () => config.publicBaseUrl ?? url ?? `http://${config.host}:${config.port}`,
        // Never CHAIN_RPC_URL (it may carry a provider's key): PUBLIC_RPC_URL, else the local chain, else none.
        publicRpc:
          config.publicRpcUrl !== null
            ? { kind: "public", url: config.publicRpcUrl }
            : localChain !== null
              ? { kind: "local", url: localChain.url }
              : { kind: "none" },
        metricsToken: config.metricsToken,
        chain: chainRef,
        linksAdded: (count) => jobs.linksAdded(count),
        pingRedis: config.redis !== null ? () => jobs.ping() : null,
        pingChain: () => chain.blockNumber(),
        trustProxy: config.trustProxy,
        rateLimitPerIp: config.rateLimitPerIp,
        rateLimitPerBottle: config.rateLimitPerBottle,
        scansPerBottlePerHour: config.scansPerBottlePerHour,
        console: { explorerUrl: config.explorerUrl, secureCookies: config.consoleSecureCookies, sessionHours: config.consoleSessionHours },
        bundleCache: config.bundleCache,
        webhookAllowPrivate: config.webhookAllowPrivate,
      });
      cleanups.push(() => app!.close());
      const address = await app.listen({ port: config.port, host: config.host });
      url = address.replace("[::1]", "localhost");
    }
    if (runsWorkers) await jobs.startWorkers();
    // Outgoing webhooks (service/outbox): run by every worker, alongside sealing and anchoring.
    if (runsWorkers) {
      const outbox = createOutboxJobs({
        db,
        log: log.child({ component: "outbox" }),
        redis: config.redis,
        prefix: config.queuePrefix,
        allowPrivate: config.webhookAllowPrivate,
      });
      cleanups.push(() => outbox.close());
      await outbox.start();
      // Members' housekeeping (docs/MEMBERS.md): forget expired codes and sessions, and move phone
      // ciphertexts to the current MEMBER_KEYS key. Idempotent, so several workers may run it.
      const members = createMembersRepo(db, createMemberKeys(memberKeys));
      const memberLog = log.child({ component: "members" });
      const housekeeping = setInterval(() => {
        void (async () => {
          await members.sweep();
          const moved = await members.reencrypt();
          if (moved > 0) memberLog.info({ moved }, "members' phone numbers re-encrypted under the current key");
        })().catch((error: unknown) => memberLog.warn({ err: error }, "members' housekeeping failed; it runs again in a minute"));
      }, 60_000);
      housekeeping.unref();
      cleanups.push(() => clearInterval(housekeeping));
    }

    return {
      config,
      db,
      reads,
      log,
      chain,
      jobs,
      app,
      url,
      adminToken,
      embedded: { database: embeddedDb !== null, chain: localChain !== null },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
