/**
 * The engines a cluster test runs SealTrace on, started as a user would on separate machines: a local
 * chain, and as asked a PostgreSQL primary with a streaming replica (replication.ts) and a 3-master
 * Redis Cluster (redis-cluster.ts). `env` holds the settings that point SealTrace at them, for a stack
 * in the test's process (startStack) or for service processes (stackEnv + spawnService) alike.
 */
import { randomBytes } from "node:crypto";
import { startLocalChain, type LocalChain } from "../../../service/anchoring/local-chain.ts";
import { startPrivateCluster, type PrivateCluster } from "./redis-cluster.ts";
import { startReplication, type Replication } from "./replication.ts";

export interface Engines {
  chain: LocalChain;
  /** The primary and its replica (null unless asked for). */
  replication: Replication | null;
  /** The Redis Cluster (null unless asked for). */
  redis: PrivateCluster | null;
  /** DATABASE_URL and DATABASE_READ_URL (replication), REDIS_CLUSTER_NODES and QUEUE_PREFIX (the cluster). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startEngines(options: { replication?: boolean; redisCluster?: boolean }): Promise<Engines> {
  const started: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of started.reverse()) await step().catch(() => undefined);
  };
  try {
    const env: Record<string, string> = {};
    let replication: Replication | null = null;
    let redis: PrivateCluster | null = null;
    if (options.replication) {
      replication = await startReplication();
      started.push(() => replication!.destroy());
      Object.assign(env, { DATABASE_URL: replication.primary.url, DATABASE_READ_URL: replication.replica.url });
    }
    if (options.redisCluster) {
      redis = await startPrivateCluster(3);
      started.push(() => redis!.stop());
      // The service's prefix becomes the hash tag {QUEUE_PREFIX}: one slot per queue.
      Object.assign(env, { REDIS_CLUSTER_NODES: redis.seeds, QUEUE_PREFIX: `sealtrace-cluster-${randomBytes(4).toString("hex")}` });
    }
    const chain = await startLocalChain();
    started.push(() => chain.stop());
    return { chain, replication, redis, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
