/**
 * Crashes: the worker (sealer and anchorer, a real `--worker` process on BullMQ) is SIGKILLed twenty
 * times at random points of sealing and anchoring while a brand keeps posting events. Half the kills
 * come at a random moment (often inside a sealing transaction), half at an exact RPC call of the
 * anchorer: just before or just after its transaction is sent, while it waits for the receipt, while
 * it reads the registry. Then a healthy worker takes over, and every acknowledged event must be in
 * exactly one anchored batch, seqs on chain must run without gaps or repeats, and bundles verify.
 */
import { expect } from "chai";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { startStack, type Stack } from "../helpers/stack.ts";
import { steadyIngest, type SteadyIngest } from "./support/ingest.ts";
import { checkLedger, countRequests, waitAllAnchored } from "./support/ledger.ts";
import { spawnService, type ServiceProcess } from "./support/process.ts";
import { startRpcProxy, type HookVerdict, type RpcProxy } from "./support/rpc-proxy.ts";
import { faultSuite, seededRandom, tally } from "./support/suite.ts";

const KILLS = 20;
/** RPC calls of the anchorer a kill can be aimed at, and on which side of the call it falls. */
const AIMS: { method: string; verdict: Exclude<HookVerdict, "forward"> }[] = [
  { method: "eth_sendRawTransaction", verdict: "kill-before" },
  { method: "eth_sendRawTransaction", verdict: "kill-after" },
  { method: "eth_getTransactionReceipt", verdict: "kill-after" },
  { method: "eth_call", verdict: "kill-after" },
  { method: "eth_getTransactionCount", verdict: "kill-before" },
  { method: "eth_getBlockByNumber", verdict: "kill-before" },
];

faultSuite("faults: worker crashes", function () {
  this.timeout(600_000);
  let chain: LocalChain;
  let proxy: RpcProxy;
  let stack: Stack;
  let db: pg.Pool;
  let ingest: SteadyIngest | null = null;
  let worker: ServiceProcess | null = null;

  before(async () => {
    chain = await startLocalChain();
    proxy = await startRpcProxy(chain.url);
    // HTTP in the test's process; sealing and anchoring only in worker processes.
    stack = await startStack({ chainUrl: chain.url, keyIndex: 7, role: "http" });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
  });
  after(async () => {
    await ingest?.stop();
    await worker?.stop();
    await db?.end();
    await stack?.stop();
    await proxy?.close();
    await chain?.stop();
  });

  it(`${KILLS} SIGKILLs of the worker while sealing and anchoring under steady ingest: every event in exactly one anchored batch`, async () => {
    const random = seededRandom("crash");
    const brand = await stack.createBrand({ codes: 24 });
    ingest = steadyIngest(stack.url, brand);
    await ingest.delivered(5);

    const kills: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const victim = spawnService({ ...stack.env, CHAIN_RPC_URL: proxy.url }, ["--worker"]);
      worker = victim;
      let aim: string;
      if (i % 2 === 0) {
        const delay = 800 + Math.floor(random() * 2_500);
        aim = `${delay} ms after start`;
        setTimeout(() => victim.child.kill("SIGKILL"), delay);
      } else {
        const target = AIMS[Math.floor(random() * AIMS.length)]!;
        const occurrence = 1 + Math.floor(random() * 2);
        aim = `${target.verdict} ${target.method} #${occurrence}`;
        let seen = 0;
        proxy.onCall((call) => {
          if (call.method !== target.method || ++seen !== occurrence) return "forward";
          victim.child.kill("SIGKILL");
          return target.verdict;
        });
        // A call that never comes (nothing left to anchor at that moment): kill it anyway.
        setTimeout(() => victim.child.kill("SIGKILL"), 12_000);
      }
      expect(await victim.exited, `worker ${i + 1} (${aim}) was killed; it wrote:\n${victim.output().slice(-3_000)}`).to.equal(137);
      proxy.onCall(null);
      kills.push(aim);
      tally.faultsInjected++;
    }

    // A healthy worker takes over while events still arrive; then ingest stops and it catches up.
    worker = spawnService({ ...stack.env, CHAIN_RPC_URL: proxy.url }, ["--worker"]);
    await ingest.delivered(20);
    const record = await ingest.stop();
    ingest = null;
    countRequests(record);
    await waitAllAnchored(db, 180_000);

    const report = await checkLedger({ db, chainUrl: chain.url, registry: stack.runtime.chain.registry, url: stack.url, brands: [brand], record });
    const {
      rows: [sent],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches");
    console.log(`      kills: ${kills.join(" · ")}\n      ${record.delivered} deliveries, ${report.accepted} events, ${sent!.n} batches`);
    expect(record.unexpected, "answers other than 202").to.deep.equal([]);
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);
    expect(report.anchored).to.equal(report.accepted);
    expect(report.batches).to.be.greaterThan(1);
  });
});
