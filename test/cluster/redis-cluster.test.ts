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
import { expect } from "chai";
import pg from "pg";
import { startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";
import { startReceiver, type Receiver } from "../helpers/receiver.ts";
import { steadyIngest, type SteadyIngest } from "../faults/support/ingest.ts";
import { anchoredBatches, anchoredBeyond, checkLedger, waitAllAnchored } from "../faults/support/ledger.ts";
import { startEngines, type Engines } from "./support/engines.ts";
import { onNode, scanKeys, type PrivateCluster } from "./support/redis-cluster.ts";
import { clusterSuite } from "./support/suite.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

clusterSuite("cluster: BullMQ on a 3-master Redis Cluster", function () {
  this.timeout(300_000);
  let engines: Engines;
  let cluster: PrivateCluster;
  let stack: Stack;
  let db: pg.Pool;
  let receiver: Receiver | undefined;
  let ingest: SteadyIngest | null = null;
  let brand: BrandFixture;
  let prefix: string;

  const anchoredCount = () => anchoredBatches(db);

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
    engines = await startEngines({ redisCluster: true });
    cluster = engines.redis!;
    prefix = engines.env.QUEUE_PREFIX!;
    // redis: false (no REDIS_URL on the shared Redis); the cluster instead.
    stack = await startStack({ chainUrl: engines.chain.url, keyIndex: 11, redis: false, env: engines.env });
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
    await engines?.stop();
    if (hung !== null) throw new Error(hung);
  });

  it("webhooks → sealed → anchored → the brand's endpoint told, through the cluster; /readyz sees it", async () => {
    expect(stack.config.redis).to.deep.include({ kind: "cluster" });
    ingest = steadyIngest(stack.url, brand);
    await ingest.delivered(5);
    await anchoredBeyond(db, 0, 90_000, diagnosis);
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
    await anchoredBeyond(db, await anchoredCount(), 90_000, diagnosis);
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
    const report = await checkLedger({ db, chainUrl: engines.chain.url, registry: stack.env.REGISTRY_ADDRESS!, url: stack.url, brands: [brand], record });
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
