/**
 * SealTrace's BullMQ on a real Redis Cluster: three masters (redis-server --cluster-enabled, joined
 * by redis-cli --cluster create), each in a temporary directory on private ports, no persistence.
 * The service (startStack, real PostgreSQL and chain) is given REDIS_CLUSTER_NODES and must
 *  - seal, anchor and send outgoing webhooks through the cluster;
 *  - keep each queue's keys in one hash slot (BullMQ's Lua scripts touch several keys at once, which a
 *    cluster refuses across slots: the prefix is a hash tag, `{QUEUE_PREFIX}`);
 *  - carry on when the master holding the queues is killed and restarted empty (the cluster is down
 *    meanwhile, then its schedules are gone): schedules rebuilt, every acknowledged event anchored once.
 * Registered only in the cluster run (SEALTRACE_CLUSTER=1, `npm run test:cluster`).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { Redis } from "ioredis";
import pg from "pg";
import { freePort, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";
import { startReceiver, type Receiver } from "../helpers/receiver.ts";
import { steadyIngest, type SteadyIngest } from "../faults/support/ingest.ts";
import { checkLedger, waitAllAnchored } from "../faults/support/ledger.ts";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CLUSTER_RUN = process.env.SEALTRACE_CLUSTER === "1";

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** One short-lived connection to one node (not the cluster client: it asks that node only). */
async function onNode<T>(port: number, body: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await body(redis);
  } finally {
    redis.disconnect();
  }
}

interface ClusterNode {
  port: number;
  busPort: number;
  dir: string;
  child: ChildProcess | null;
}

interface PrivateCluster {
  nodes: ClusterNode[];
  /** REDIS_CLUSTER_NODES for the service. */
  seeds: string;
  /** The master serving `slot`. */
  masterOf(slot: number): Promise<ClusterNode>;
  /** SIGKILL, `downMs` down, then started again with its nodes.conf (same id and slots, no data). */
  restart(node: ClusterNode, downMs: number): Promise<void>;
  waitOk(): Promise<void>;
  stop(): Promise<void>;
}

async function startPrivateCluster(masters = 3): Promise<PrivateCluster> {
  const nodes: ClusterNode[] = [];
  const launch = async (node: ClusterNode) => {
    // cluster-port: the bus port given explicitly (port + 10000 may be past 65535 for a free high port).
    node.child = spawn(
      "redis-server",
      [
        "--port",
        String(node.port),
        "--cluster-port",
        String(node.busPort),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(node.dir, "nodes.conf"),
        "--cluster-node-timeout",
        "2000",
        "--dir",
        node.dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
      ],
      { stdio: "ignore" },
    );
    await until(`redis-server :${node.port}`, async () => await onNode(node.port, async (r) => (await r.ping()) === "PONG").catch(() => false));
  };
  const kill = async (node: ClusterNode) => {
    const child = node.child;
    node.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  };
  const cluster: PrivateCluster = {
    nodes,
    get seeds() {
      return nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
    },
    async masterOf(slot) {
      const slots = await onNode(nodes[0]!.port, async (r) => await r.cluster("SLOTS"));
      const owner = slots.find(([from, to]) => slot >= from && slot <= to);
      const node = nodes.find((n) => n.port === owner?.[2]?.[1]);
      if (node === undefined) throw new Error(`no master serves slot ${slot}`);
      return node;
    },
    async restart(node, downMs) {
      await kill(node);
      await sleep(downMs);
      await launch(node);
    },
    async waitOk() {
      await until(
        "cluster_state:ok on every node",
        async () => {
          for (const node of nodes) {
            const info = await onNode(node.port, async (r) => String(await r.cluster("INFO"))).catch(() => "");
            if (!/^cluster_state:ok\b/m.test(info)) return false;
          }
          return true;
        },
        60_000,
      );
    },
    async stop() {
      for (const node of nodes) await kill(node);
      for (const node of nodes) await rm(node.dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < masters; i++) {
      const node: ClusterNode = { port: await freePort(), busPort: await freePort(), dir: await mkdtemp(join(tmpdir(), "sealtrace-rcluster-")), child: null };
      nodes.push(node);
      await launch(node);
    }
    await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"]);
    await cluster.waitOk();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Every key under `match` on each master, by SCAN. */
async function scanKeys(cluster: PrivateCluster, match: string): Promise<{ port: number; key: string }[]> {
  const found: { port: number; key: string }[] = [];
  for (const node of cluster.nodes) {
    await onNode(node.port, async (redis) => {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 1_000);
        cursor = next;
        for (const key of keys) found.push({ port: node.port, key });
      } while (cursor !== "0");
    });
  }
  return found;
}

/** `describe`, but only in the cluster run: elsewhere (npm test loads every file under test/) the file registers nothing. */
function clusterSuite(title: string, body: (this: Mocha.Suite) => void): void {
  if (CLUSTER_RUN) describe(title, body);
}

clusterSuite("cluster: BullMQ on a 3-master Redis Cluster", function () {
  this.timeout(300_000);
  let cluster: PrivateCluster;
  let chain: LocalChain;
  let stack: Stack;
  let db: pg.Pool;
  let receiver: Receiver | undefined;
  let ingest: SteadyIngest | null = null;
  let brand: BrandFixture;
  const prefix = `sealtrace-cluster-${randomBytes(4).toString("hex")}`;

  const anchoredCount = async () => (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state = 'anchored'")).rows[0]!.n;
  async function anchoredBeyond(than: number, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await anchoredCount()) <= than) {
      if (Date.now() > deadline) throw new Error(`no batch anchored beyond ${than} within ${timeoutMs} ms; ${await diagnosis()}`);
      await sleep(200);
    }
  }

  /** What a failure message says of the cluster and the queues' keys, so that a failed run explains itself. */
  async function diagnosis(): Promise<string> {
    const states = await Promise.all(
      cluster.nodes.map(async (n) => {
        const info = await onNode(n.port, async (r) => String(await r.cluster("INFO"))).catch((error: unknown) => `cluster_state:${String(error)}`);
        return `:${n.port} ${/^cluster_state:(.*)$/m.exec(info)?.[1]?.trim() ?? "?"}`;
      }),
    );
    const keys = await scanKeys(cluster, `{${prefix}}:*`).catch(() => []);
    return `nodes ${states.join(", ")}; ${keys.length} queue keys (${keys
      .filter((k) => k.key.endsWith(":repeat"))
      .map((k) => k.key)
      .join(", ")})`;
  }

  before(async () => {
    cluster = await startPrivateCluster(3);
    chain = await startLocalChain();
    // redis: false (no REDIS_URL on the shared Redis); the cluster instead.
    stack = await startStack({ chainUrl: chain.url, keyIndex: 11, redis: false, env: { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_PREFIX: prefix } });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    brand = await stack.createBrand({ codes: 16 });
    receiver = await startReceiver(stack, brand.apiKey);
  });
  after(async () => {
    await ingest?.stop();
    await db?.end();
    // Bounded: a shutdown that hangs (a wedged cluster client) fails the run, and the servers still go.
    let hung: string | null = null;
    if (stack) {
      const stopped = await Promise.race([stack.stop().then(() => true), sleep(30_000).then(() => false)]);
      if (!stopped) hung = `the service did not shut down within 30 s; ${await diagnosis()}`;
    }
    await receiver?.close();
    await chain?.stop();
    await cluster?.stop();
    if (hung !== null) throw new Error(hung);
  });

  it("webhooks → sealed → anchored → the brand's endpoint told, through the cluster; /readyz sees it", async () => {
    expect(stack.config.redis).to.deep.include({ kind: "cluster" });
    ingest = steadyIngest(stack.url, brand);
    await ingest.delivered(5);
    await anchoredBeyond(0);
    const bundle = await stack.waitAnchored(brand.codes[0]!.serial, brand.codes[0]!.secret);
    expect(bundle.links.every((l) => l.anchor !== null)).to.equal(true);
    const deadline = Date.now() + 60_000;
    while (receiver!.received.size === 0) {
      if (Date.now() > deadline) throw new Error("no batch.anchored webhook received");
      await sleep(200);
    }
    const ready = await stack.request("GET", "/readyz");
    expect(ready.status, JSON.stringify(ready.body)).to.equal(200);
  });

  it("each queue's keys share one hash slot ({QUEUE_PREFIX} hash tag), on one master", async () => {
    const keys = await scanKeys(cluster, `{${prefix}}:*`);
    const untagged = await scanKeys(cluster, `${prefix}:*`);
    expect(untagged, "keys under the bare prefix").to.deep.equal([]);
    const byQueue = new Map<string, Set<number>>();
    const ports = new Set<number>();
    for (const { port, key } of keys) {
      const queue = key.slice(`{${prefix}}:`.length).split(":")[0]!;
      const slot = await onNode(port, async (r) => Number(await r.cluster("KEYSLOT", key)));
      byQueue.set(queue, (byQueue.get(queue) ?? new Set()).add(slot));
      ports.add(port);
    }
    process.stdout.write(`      (${keys.length} keys: ${[...byQueue].map(([q, s]) => `${q} → slot ${[...s].join(",")}`).join("; ")})\n`);
    expect([...byQueue.keys()].sort()).to.include.members(["anchor", "outbox", "seal"]);
    for (const [queue, slots] of byQueue) expect([...slots], `slots of queue ${queue}`).to.have.length(1);
    expect(ports.size, "masters holding the queues' keys").to.equal(1);
  });

  it("the master holding the queues killed, down 5 s (cluster down), restarted empty: schedules rebuilt, work carries on", async () => {
    const slot = await onNode(cluster.nodes[0]!.port, async (r) => Number(await r.cluster("KEYSLOT", `{${prefix}}`)));
    const master = await cluster.masterOf(slot);
    const before = await anchoredCount();
    await cluster.restart(master, 5_000);
    await cluster.waitOk();
    // Restarted without persistence: the queues' keys are gone until the service puts them back.
    await anchoredBeyond(await anchoredCount());
    expect(await anchoredCount()).to.be.greaterThan(before);
    const schedulers = await scanKeys(cluster, `{${prefix}}:*:repeat`);
    expect(schedulers.map((s) => s.key).sort(), "job schedulers rebuilt").to.include.members([
      `{${prefix}}:anchor:repeat`,
      `{${prefix}}:outbox:repeat`,
      `{${prefix}}:seal:repeat`,
    ]);
  });

  it("afterwards: no refused delivery, every acknowledged event anchored once, every anchored batch announced", async () => {
    const record = await ingest!.stop();
    ingest = null;
    expect(record.unexpected, "answers other than 202").to.deep.equal([]);
    await waitAllAnchored(db);
    const report = await checkLedger({ db, chainUrl: chain.url, registry: stack.env.REGISTRY_ADDRESS!, url: stack.url, brands: [brand], record });
    process.stdout.write(
      `      (${record.requests} requests, ${report.accepted} events acknowledged, ${report.anchored} anchored, ` +
        `${report.batches} batches, lost ${report.lost.length}, doubled ${report.doubled.length})\n`,
    );
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);
    await receiver!.allAnnounced(db, report.batches);
  });
});
