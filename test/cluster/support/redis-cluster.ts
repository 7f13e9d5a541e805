/**
 * A 3-master Redis Cluster of the test's own, as a user would run one on three machines: each
 * `redis-server --cluster-enabled` in a temporary directory on private ports (no persistence), joined by
 * `redis-cli --cluster create`. The shared Redis on 6379 is never touched; `stop()` kills the nodes and
 * removes their directories.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "../../../service/anchoring/local-chain.ts";
import { until } from "../../faults/support/servers.ts";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One short-lived connection to one node (not the cluster client: it asks that node only). */
export async function onNode<T>(port: number, body: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await body(redis);
  } finally {
    redis.disconnect();
  }
}

export interface ClusterNode {
  port: number;
  busPort: number;
  dir: string;
  child: ChildProcess | null;
}

export interface PrivateCluster {
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

export async function startPrivateCluster(masters = 3): Promise<PrivateCluster> {
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
export async function scanKeys(cluster: PrivateCluster, match: string): Promise<{ port: number; key: string }[]> {
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
