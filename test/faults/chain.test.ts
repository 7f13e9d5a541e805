/**
 * Chain trouble, with a brand posting events all along (every delivery must still get its 202):
 * the RPC endpoint refusing connections for 30 s, answering slowly, answering with JSON-RPC and HTTP
 * errors, and anchors dropped by a reorganisation (Hardhat's evm_snapshot / evm_revert): the service
 * must notice that anchored roots are gone from the chain and anchor those batches again, in order.
 */
import { expect } from "chai";
import { rpc } from "../helpers/rpc.ts";
import { JsonRpcProvider } from "ethers";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { registryAt } from "../../service/anchoring/registry.ts";
import { startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";
import { steadyIngest, type SteadyIngest } from "./support/ingest.ts";
import { checkLedger, countRequests, waitAllAnchored } from "./support/ledger.ts";
import { startRpcProxy, type RpcProxy } from "./support/rpc-proxy.ts";
import { faultSuite, tally } from "./support/suite.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

faultSuite("faults: chain trouble", function () {
  this.timeout(600_000);
  let chain: LocalChain;
  let proxy: RpcProxy;
  let stack: Stack;
  let db: pg.Pool;
  let provider: JsonRpcProvider;
  let ingest: SteadyIngest | null = null;
  let brand: BrandFixture;

  /** The registry's next seq, read from the chain itself. */
  const nextSeq = async () => Number(await registryAt(stack.runtime.chain.registry, provider).getFunction("nextSeq")());
  const anchoredCount = async () => (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state = 'anchored'")).rows[0]!.n;

  /**
   * Waits until every batch sealed by now is anchored, as recorded and on chain: anchoring has caught
   * up (events keep arriving meanwhile, so newer batches may still be open).
   */
  async function recovered(timeoutMs = 120_000): Promise<void> {
    const {
      rows: [target],
    } = await db.query<{ seq: number }>("SELECT COALESCE(MAX(seq), 0)::int AS seq FROM batches");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const {
        rows: [row],
      } = await db.query<{ open: number }>("SELECT count(*)::int AS open FROM batches WHERE seq <= $1 AND state <> 'anchored'", [target!.seq]);
      if (row!.open === 0 && (await nextSeq()) > target!.seq) return;
      if (Date.now() > deadline) throw new Error(`batches up to ${target!.seq}: ${row!.open} not anchored, the chain holds ${(await nextSeq()) - 1}`);
      await sleep(250);
    }
  }

  before(async () => {
    chain = await startLocalChain();
    proxy = await startRpcProxy(chain.url);
    // Batches every second: anchoring (a transaction each) keeps up with a slowed or failing endpoint.
    stack = await startStack({ chainUrl: proxy.url, keyIndex: 8, env: { SEAL_INTERVAL_MS: "1000" } });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    brand = await stack.createBrand({ codes: 20 });
    ingest = steadyIngest(stack.url, brand, { pauseMs: 100 });
    await ingest.delivered(5);
    await recovered();
  });
  after(async () => {
    await ingest?.stop();
    provider?.destroy();
    await db?.end();
    await stack?.stop();
    await proxy?.close();
    await chain?.stop();
  });

  // Whatever a test left the proxy doing, the next one starts with a healthy endpoint.
  afterEach(async () => {
    await proxy.setMode({ kind: "pass" });
  });

  /** Waits `ms` while ingest goes on; every delivery in that time must be acknowledged. */
  async function during(ms: number): Promise<number> {
    const before = ingest!.record.delivered;
    await sleep(ms);
    const delivered = ingest!.record.delivered - before;
    expect(ingest!.record.unexpected, "answers other than 202 while the chain was in trouble").to.deep.equal([]);
    expect(delivered, "deliveries acknowledged while the chain was in trouble").to.be.greaterThan(5);
    return delivered;
  }

  it("the RPC endpoint refuses connections for 30 s: ingest goes on, anchoring resumes afterwards", async () => {
    const anchoredBefore = await anchoredCount();
    await proxy.setMode({ kind: "refuse" });
    tally.faultsInjected++;
    await during(30_000);
    expect(await anchoredCount(), "nothing can be anchored while the RPC refuses").to.equal(anchoredBefore);
    const {
      rows: [pending],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state <> 'anchored'");
    expect(pending!.n, "sealing goes on without the chain").to.be.greaterThan(0);
    await proxy.setMode({ kind: "pass" });
    await recovered();
  });

  it("the RPC endpoint answers slowly (1.5 s a call): anchoring keeps up, slower", async () => {
    await proxy.setMode({ kind: "slow", delayMs: 1_500 });
    tally.faultsInjected++;
    const anchoredBefore = await anchoredCount();
    // One anchoring is about eight calls (root, nonce, fees, send, receipt polls, block time): 12 s or
    // more at 1.5 s a call on a loaded machine, so give it two rounds.
    await during(30_000);
    expect(await anchoredCount(), "batches anchored through the slow endpoint").to.be.greaterThan(anchoredBefore);
    await proxy.setMode({ kind: "pass" });
    await recovered();
  });

  it("the RPC endpoint fails one call in five (JSON-RPC errors and HTTP 502): anchoring gets through", async () => {
    const anchoredBefore = await anchoredCount();
    const injectedBefore = proxy.injected;
    await proxy.setMode({ kind: "errors", share: 0.1 });
    tally.faultsInjected++;
    await during(15_000);
    expect(proxy.injected - injectedBefore, "errors injected").to.be.greaterThan(5);
    expect(await anchoredCount(), "batches anchored through the failing endpoint").to.be.greaterThan(anchoredBefore);
    await proxy.setMode({ kind: "pass" });
    await recovered();
  });

  it("anchors dropped by a reorganisation (evm_snapshot / evm_revert) are detected and anchored again, in order", async () => {
    const snapshot = await rpc(chain.url, "evm_snapshot");
    const atSnapshot = await nextSeq(); // an anchor mined just after the snapshot may already count here
    // Let a few more batches be anchored, then drop them from the chain.
    const deadline = Date.now() + 60_000;
    while ((await nextSeq()) < atSnapshot + 3) {
      if (Date.now() > deadline) throw new Error("no new batches anchored");
      await sleep(200);
    }
    const beforeRevert = await nextSeq();
    expect(await rpc(chain.url, "evm_revert", [snapshot])).to.equal(true);
    tally.faultsInjected++;
    const onChainBefore = await nextSeq();
    expect(onChainBefore, "the reverted chain lost the latest anchors").to.be.lessThan(beforeRevert - 2);
    const {
      rows: [dropped],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state = 'anchored' AND seq >= $1", [onChainBefore]);
    expect(dropped!.n, "batches the database held as anchored but the chain no longer has").to.be.greaterThan(0);
    await during(3_000);
    await recovered();
    expect(await nextSeq()).to.be.greaterThan(onChainBefore + 2);
  });

  it("afterwards: every acknowledged event is in exactly one anchored batch, on a gap-free chain of batches", async () => {
    const record = await ingest!.stop();
    ingest = null;
    countRequests(record);
    await waitAllAnchored(db);
    await recovered();
    const report = await checkLedger({ db, chainUrl: chain.url, registry: stack.runtime.chain.registry, url: stack.url, brands: [brand], record });
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);
    expect(report.anchored).to.equal(report.accepted);
  });
});
