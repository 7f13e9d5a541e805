/**
 * REDIS_URL / REDIS_CLUSTER_NODES (service/config.ts) and the key prefix BullMQ is given
 * (service/jobs/bullmq.ts): one Redis keeps the bare prefix (existing deployments keep their keys), a
 * cluster gets it as a hash tag. The cluster itself runs in test/cluster/redis-cluster.test.ts.
 */
import { expect } from "chai";
import { ConfigError, loadConfig, parseRedisClusterNodes } from "../../service/config.ts";
import { bullPrefix } from "../../service/jobs/bullmq.ts";

describe("Redis settings: one Redis or a Redis Cluster", () => {
  it("REDIS_URL: one Redis, the bare QUEUE_PREFIX as before", () => {
    const config = loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" });
    expect(config.redis).to.deep.equal({ kind: "single", url: "redis://127.0.0.1:6379" });
    expect(bullPrefix(config.redis!, config.queuePrefix)).to.equal("sealtrace");
    expect(loadConfig({}).redis).to.equal(null);
  });

  it("REDIS_CLUSTER_NODES: seed nodes, and the prefix wrapped as a hash tag", () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: " redis-1:6379, 10.0.0.2:7000 ,[fd00::3]:6380", QUEUE_PREFIX: "acme" });
    expect(config.redis).to.deep.equal({
      kind: "cluster",
      nodes: [
        { host: "redis-1", port: 6379 },
        { host: "10.0.0.2", port: 7000 },
        { host: "fd00::3", port: 6380 },
      ],
    });
    expect(bullPrefix(config.redis!, config.queuePrefix)).to.equal("{acme}");
  });

  it("refuses malformed seeds, both settings at once, and braces in the prefix on a cluster, saying why", () => {
    expect(parseRedisClusterNodes("redis-1")).to.match(/"redis-1" is not a host:port pair/);
    expect(parseRedisClusterNodes("redis-1:0,redis-2:70000")).to.match(/"redis-1:0", "redis-2:70000" is not a host:port pair/);
    expect(parseRedisClusterNodes("redis://redis-1:6379")).to.match(/is not a host:port pair/);
    expect(parseRedisClusterNodes("[zz::1]:6379")).to.match(/is not a host:port pair/);
    expect(parseRedisClusterNodes(" , ")).to.match(/REDIS_CLUSTER_NODES is empty/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://a:6379" })).to.throw(ConfigError, /both set/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: "a:1", QUEUE_PREFIX: "{x}" })).to.throw(ConfigError, /QUEUE_PREFIX may not contain \{ or \}/);
    // One Redis does not care about braces: the prefix stays as it is.
    expect(loadConfig({ REDIS_URL: "redis://a:6379", QUEUE_PREFIX: "{x}" }).queuePrefix).to.equal("{x}");
  });
});
