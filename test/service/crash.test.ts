/**
 * A worker killed around sending its anchor transaction recovers without a double anchor or a gap.
 * The worker runs as a real process whose RPC goes through a proxy; the proxy SIGKILLs it at the
 * exact moment the transaction is (or is about to be) sent, before the worker can record anything.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import pg from "pg";
import { freePort, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { registryAt } from "../../service/anchoring/registry.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { ROOT } from "../helpers/run.ts";
import { lifecycle, startStack, type Stack } from "../helpers/stack.ts";

type Moment = "after-send" | "before-send";

/** A JSON-RPC proxy that kills `victim()` when it sees eth_sendRawTransaction. */
async function killingProxy(
  target: string,
  moment: Moment,
  victim: () => ChildProcess | null,
): Promise<{ url: string; kills: number; close(): Promise<void> }> {
  const state = { kills: 0 };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const isSend = body.includes("eth_sendRawTransaction");
    if (isSend && moment === "before-send") {
      state.kills++;
      victim()?.kill("SIGKILL");
      res.destroy();
      return;
    }
    const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await upstream.text();
    if (isSend) {
      state.kills++;
      victim()?.kill("SIGKILL");
      res.destroy();
      return;
    }
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(text);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    get kills() {
      return state.kills;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function startWorker(env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["service/main.ts", "--worker"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal === "SIGKILL" ? 137 : code)));
  return { child, exited };
}

describe("crash recovery of the anchorer", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  before(async () => {
    chain = await startLocalChain();
  });
  after(async () => {
    await chain?.stop();
  });

  for (const moment of ["after-send", "before-send"] as Moment[]) {
    it(`a worker SIGKILLed ${moment === "after-send" ? "right after sending" : "just before sending"} the anchor transaction recovers with no double anchor and no gap`, async () => {
      let stack: Stack | null = null;
      let worker: ReturnType<typeof startWorker> | null = null;
      const proxy = await killingProxy(chain.url, moment, () => worker?.child ?? null);
      const db = { pool: null as pg.Pool | null };
      try {
        // HTTP only in-process; the sealer and anchorer run in separate worker processes.
        stack = await startStack({ chainUrl: chain.url, keyIndex: moment === "after-send" ? 5 : 6, role: "http" });
        db.pool = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
        const brand = await stack.createBrand({ codes: 4 });
        expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);

        worker = startWorker({ ...stack.env, CHAIN_RPC_URL: proxy.url });
        expect(await worker.exited, "the worker was killed").to.equal(137);
        expect(proxy.kills).to.equal(1);
        const {
          rows: [sent],
        } = await db.pool.query<{ seq: number; state: string; tx_hash: string }>("SELECT seq, state, tx_hash FROM batches ORDER BY seq");
        expect(sent).to.include({ seq: 1, state: "sent" });

        // More events arrive while no worker runs; then a healthy worker takes over.
        const more = await stack.createBrand({ codes: 2 });
        expect((await stack.postEvents(more, lifecycle(more.codes.map((c) => c.serial)))).status).to.equal(202);
        worker = startWorker(stack.env);
        const bundle = await stack.waitAnchored(brand.codes[0]!.serial, brand.codes[0]!.secret, 90_000);
        await stack.waitAnchored(more.codes[0]!.serial, more.codes[0]!.secret, 90_000);

        const { rows: batches } = await db.pool.query<{ seq: number; state: string; tx_hash: string }>("SELECT seq, state, tx_hash FROM batches ORDER BY seq");
        expect(batches.map((b) => b.state).every((s) => s === "anchored")).to.equal(true);
        expect(batches.map((b) => b.seq)).to.deep.equal(batches.map((_, i) => i + 1));
        // The transaction recorded before the crash is the one that anchored batch 1: never a second one.
        expect(batches[0]!.tx_hash).to.equal(sent!.tx_hash);

        const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
        try {
          const registry = registryAt(stack.runtime.chain.registry, provider);
          const logs = await registry.queryFilter(registry.filters.BatchAnchored!(), 0, "latest");
          const seqs = logs.map((log) => Number(registry.interface.parseLog(log)!.args.seq));
          expect(seqs, "one BatchAnchored per batch, in order").to.deep.equal(batches.map((b) => b.seq));
          expect(Number(await registry.getFunction("nextSeq")())).to.equal(batches.length + 1);
        } finally {
          provider.destroy();
        }
        expect(verifyBundle(bundle).valid).to.equal(true);
      } finally {
        worker?.child.kill("SIGTERM");
        await worker?.exited;
        await db.pool?.end();
        await stack?.stop();
        await proxy.close();
      }
    });
  }
});
