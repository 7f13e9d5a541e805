/**
 * Reorganisations, stuck transactions and capped log queries, on a real local Hardhat chain
 * (issue 16, point 11):
 * - a batch is final only CONFIRMATIONS blocks deep: before that the batch endpoint says
 *   "confirming" and is not cached; a reorganisation after it was final (evm_snapshot / evm_revert)
 *   re-anchors it and every endpoint told of it gets a `batch.reanchored` correction with the new
 *   transaction and block;
 * - a final anchor a reorganisation moves to another block (the same transaction, mined again) is
 *   noticed from its block hash, recorded in its new block, and corrected the same way;
 * - a transaction stuck under a risen base fee is replaced (same nonce, fees +20 %), the stored signed
 *   transaction with it, and the batch is anchored exactly once;
 * - the anchor's transaction is found through an RPC endpoint that refuses eth_getLogs ranges of more
 *   than 1,000 blocks, 20,000 blocks after it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { rpc } from "../helpers/rpc.ts";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { JsonRpcProvider, Transaction, keccak256, toUtf8Bytes } from "ethers";
import { Webhook } from "standardwebhooks";
import { pino } from "pino";
import { createAnchorer } from "../../service/anchoring/anchorer.ts";
import { createChainClient } from "../../service/anchoring/chain.ts";
import { createSealer } from "../../service/anchoring/sealer.ts";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { registryAt } from "../../service/anchoring/registry.ts";
import type { Hash } from "../../service/core/hash.ts";
import { createMetrics } from "../../service/metrics.ts";
import { createOutboxRepo } from "../../service/outbox/repo.ts";
import { deployTestRegistry, devKey, lifecycle, startChainStack, type ChainStack } from "../helpers/stack.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A webhook receiver that keeps what it was sent, with the signature checked. */
async function startReceiver() {
  const received: { path: string; json: any; verified: boolean }[] = [];
  const secrets = new Map<string, string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string") headers[name] = value;
      let verified = false;
      try {
        new Webhook(secrets.get(request.url ?? "")!).verify(body, headers);
        verified = true;
      } catch {
        /* recorded unverified */
      }
      received.push({ path: request.url ?? "", json: JSON.parse(body), verified });
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secrets,
    of: (type: string) => received.filter((r) => r.json?.type === type),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface BatchDbRow {
  seq: number;
  state: string;
  tx_hash: string | null;
  raw_tx: string | null;
  block_number: number | null;
}

describe("anchoring through reorganisations, stuck transactions and capped log queries", function () {
  this.timeout(240_000);

  describe("a batch final only CONFIRMATIONS deep, corrected after a reorganisation", () => {
    let env: ChainStack;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      env = await startChainStack({ keyIndex: 3, env: { CONFIRMATIONS: "3" } });
      receiver = await startReceiver();
    });
    after(async () => {
      await receiver?.close();
      await env?.stop();
    });

    const batchRow = async (seq: number) =>
      (await env.db.query<BatchDbRow>("SELECT seq, state, tx_hash, raw_tx, block_number FROM batches WHERE seq = $1", [seq])).rows[0];

    it("is not cached before it is final, and a reorganisation after it was final sends batch.reanchored with the new transaction", async () => {
      const { stack, chain } = env;
      const brand = await stack.createBrand({ codes: 2 });
      const created = await stack.request("POST", "/api/v1/endpoints", {
        token: brand.apiKey,
        body: { url: `${receiver.base}/hooks/anchors`, types: ["batch.anchored"] },
      });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      receiver.secrets.set("/hooks/anchors", created.body.secret);

      // The chain to go back to, then empty blocks that the reorganisation will take away again (so the
      // anchor lands at another height, with another fee, after it).
      const snapshot = await rpc(chain.url, "evm_snapshot");
      await rpc(chain.url, "hardhat_mine", ["0xa"]);
      expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);

      // Mined (automine) but 1 block deep of 3: confirming, shown with its transaction, not cached.
      const confirming = await waitFor("the anchor mined, fewer than 3 blocks deep", async () => {
        const row = await batchRow(1);
        return row?.state === "sent" && row.block_number !== null && row;
      });
      const early = await stack.request("GET", "/api/v1/batches/1");
      expect(early.body).to.include({ status: "confirming", txHash: confirming.tx_hash, blockNumber: confirming.block_number });
      expect(early.headers.get("cache-control")).to.not.match(/immutable|max-age=[1-9]/);
      expect(early.headers.get("etag")).to.equal(null);
      await sleep(1_000);
      expect(receiver.of("batch.anchored"), "no batch.anchored before the batch is final").to.deep.equal([]);

      // Three blocks deep: final, cached, announced.
      await rpc(chain.url, "hardhat_mine", ["0x3"]);
      const first = await waitFor("batch.anchored", () => receiver.of("batch.anchored")[0]);
      expect(first.verified).to.equal(true);
      expect(first.json.data).to.include({ seq: 1, txHash: confirming.tx_hash, blockNumber: confirming.block_number });
      const final = await stack.request("GET", "/api/v1/batches/1");
      expect(final.body).to.include({ status: "anchored", txHash: confirming.tx_hash });
      expect(final.headers.get("cache-control")).to.match(/immutable/);
      const oldEtag = final.headers.get("etag");

      // A reorganisation deeper than CONFIRMATIONS: the anchor's block is gone.
      expect(await rpc(chain.url, "evm_revert", [snapshot])).to.equal(true);
      const again = await waitFor("the batch anchored again", async () => {
        const row = await batchRow(1);
        return row?.block_number !== null && row?.block_number !== confirming.block_number && row;
      });
      await rpc(chain.url, "hardhat_mine", ["0x3"]);
      const correction = await waitFor("batch.reanchored", () => receiver.of("batch.reanchored")[0]);
      expect(correction.verified).to.equal(true);
      const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
      try {
        const logs = await registryAt(stack.runtime.chain.registry, provider).queryFilter(
          registryAt(stack.runtime.chain.registry, provider).filters.BatchAnchored!(1),
        );
        expect(logs, "exactly one anchor of batch 1 on the chain as it is now").to.have.length(1);
        const now = logs[0]!;
        expect(now.transactionHash).to.not.equal(confirming.tx_hash);
        expect(correction.json.data).to.deep.include({
          seq: 1,
          txHash: now.transactionHash,
          blockNumber: now.blockNumber,
          chainId: 31337,
          registry: stack.runtime.chain.registry,
        });
        expect(correction.json.data.supersedes).to.include({ txHash: confirming.tx_hash, blockNumber: confirming.block_number });
        expect(again.tx_hash).to.equal(now.transactionHash);
        const fresh = await stack.request("GET", "/api/v1/batches/1");
        expect(fresh.body).to.include({ status: "anchored", txHash: now.transactionHash, blockNumber: now.blockNumber });
        expect(fresh.headers.get("etag")).to.not.equal(oldEtag);
      } finally {
        provider.destroy();
      }
      expect(receiver.of("batch.anchored"), "batch.anchored is sent once; corrections follow as batch.reanchored").to.have.length(1);
    });
  });

  describe("a final anchor moved to another block by a reorganisation", () => {
    let env: ChainStack;
    before(async () => {
      // HTTP only: this test runs the sealer, the anchorer and the fan-out itself, one step at a time.
      env = await startChainStack({ keyIndex: 6, role: "http" });
    });
    after(async () => {
      await env?.stop();
    });

    it("is noticed from its block hash, though the registry still holds the root, and corrected with the new block", async () => {
      const { stack, chain, db } = env;
      const log = pino({ level: "silent" });
      const metrics = createMetrics(async () => 0);
      const sealer = createSealer({ db: stack.runtime.db, maxLinks: 100_000, log, metrics });
      const anchorer = createAnchorer({ db: stack.runtime.db, chain: stack.runtime.chain, confirmations: 1, log, metrics, replaceAfterMs: 60_000 });
      const outbox = createOutboxRepo(stack.runtime.db);
      const brand = await stack.createBrand({ codes: 1 });
      // The endpoint's row itself (nothing is sent in this test: the fan-out's deliveries are what it reads).
      await db.query(
        `INSERT INTO endpoints (brand_id, url, types, secret, last_alert_id, last_batch_seq)
         VALUES ((SELECT id FROM brands WHERE slug = $1), 'https://hooks.example.com/anchors', ARRAY['batch.anchored'], 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdA==', 0, 0)`,
        [brand.slug],
      );

      const snapshot = await rpc(chain.url, "evm_snapshot");
      expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)).slice(0, 1))).status).to.equal(202);
      await waitFor("a sealed batch", async () => (await sealer.sealAll()).length > 0 || (await db.query("SELECT 1 FROM batches")).rowCount);
      expect(await anchorer.anchorPending()).to.equal(1);
      await outbox.fanOut();
      const {
        rows: [before],
      } = await db.query<{ tx_hash: string; block_number: number }>("SELECT tx_hash, block_number FROM batches WHERE seq = 1");
      const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
      try {
        const raw = Transaction.from((await provider.getTransaction(before!.tx_hash))!).serialized;
        // The chain goes back, grows other blocks, and mines the very same transaction higher up.
        expect(await rpc(chain.url, "evm_revert", [snapshot])).to.equal(true);
        await rpc(chain.url, "hardhat_mine", ["0x5"]);
        await rpc(chain.url, "eth_sendRawTransaction", [raw]);
        const moved = (await provider.getTransactionReceipt(before!.tx_hash))!;
        expect(moved.blockNumber).to.not.equal(before!.block_number);
        expect(Number(await registryAt(stack.runtime.chain.registry, provider).getFunction("nextSeq")()), "the registry still holds batch 1").to.equal(2);

        await anchorer.anchorPending();
        const {
          rows: [after],
        } = await db.query<{ state: string; tx_hash: string; block_number: number }>("SELECT state, tx_hash, block_number FROM batches WHERE seq = 1");
        expect(after, "recorded in its new block").to.deep.equal({ state: "anchored", tx_hash: before!.tx_hash, block_number: moved.blockNumber });
        const {
          rows: [hash],
        } = await db.query<{ block_hash: string }>("SELECT block_hash FROM batches WHERE seq = 1");
        expect(hash!.block_hash).to.equal(moved.blockHash.toLowerCase());
        await outbox.fanOut();
        const { rows: deliveries } = await db.query<{ event_type: string; payload: any }>("SELECT event_type, payload FROM deliveries ORDER BY id");
        expect(deliveries.map((d) => d.event_type)).to.deep.equal(["batch.anchored", "batch.reanchored"]);
        expect(deliveries[1]!.payload.data).to.deep.include({ seq: 1, txHash: before!.tx_hash, blockNumber: moved.blockNumber });
        expect(deliveries[1]!.payload.data.supersedes).to.include({ txHash: before!.tx_hash, blockNumber: before!.block_number });
        // Nothing more to correct: the next fan-out sends nothing again.
        expect(await outbox.fanOut()).to.equal(0);
      } finally {
        provider.destroy();
      }
    });
  });

  describe("a stuck anchor transaction", () => {
    let env: ChainStack;
    before(async () => {
      env = await startChainStack({ keyIndex: 4, env: { ANCHOR_REPLACE_AFTER_MS: "1000" } });
    });
    after(async () => {
      await rpc(env.chain.url, "evm_setAutomine", [true]).catch(() => undefined);
      await env?.stop();
    });

    it("is replaced with the same nonce and fees at least 20 % higher, stored before it is sent, and the batch is anchored once", async () => {
      const { stack, chain, db } = env;
      await rpc(chain.url, "evm_setAutomine", [false]);
      const brand = await stack.createBrand({ codes: 1 });
      expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)).slice(0, 1))).status).to.equal(202);
      const sent = await waitFor("the anchor transaction sent", async () => {
        const {
          rows: [row],
        } = await db.query<BatchDbRow>("SELECT seq, state, tx_hash, raw_tx, block_number FROM batches WHERE seq = 1");
        return row?.state === "sent" && row.raw_tx !== null && row;
      });
      const original = Transaction.from(sent.raw_tx!);
      // The network's base fee jumps above what the transaction offers: it cannot be mined.
      await rpc(chain.url, "hardhat_setNextBlockBaseFeePerGas", [`0x${(original.maxFeePerGas! * 10n).toString(16)}`]);
      await rpc(chain.url, "evm_mine");
      expect(await rpc(chain.url, "eth_getTransactionReceipt", [original.hash])).to.equal(null);

      const replaced = await waitFor("the stored transaction replaced", async () => {
        const {
          rows: [row],
        } = await db.query<BatchDbRow>("SELECT seq, state, tx_hash, raw_tx, block_number FROM batches WHERE seq = 1");
        return row?.tx_hash !== original.hash && row?.raw_tx !== null && row;
      });
      const replacement = Transaction.from(replaced.raw_tx!);
      // What a restarted worker would send is the replacement itself.
      expect(replacement.hash).to.equal(replaced.tx_hash);
      expect(replacement.nonce).to.equal(original.nonce);
      expect(replacement.data).to.equal(original.data);
      expect(replacement.maxFeePerGas! * 100n >= original.maxFeePerGas! * 120n, "maxFeePerGas +20 %").to.equal(true);
      expect(replacement.maxPriorityFeePerGas! * 100n >= original.maxPriorityFeePerGas! * 120n, "maxPriorityFeePerGas +20 %").to.equal(true);
      expect(replacement.maxFeePerGas! <= 500n * 10n ** 9n, "within ANCHOR_MAX_FEE_GWEI").to.equal(true);

      // Blocks again (mined one by one: with automine on, Hardhat refuses any transaction while one is
      // pending): whichever replacement the network holds by then (a later one pays more) is mined.
      const anchored = await waitFor("the batch anchored", async () => {
        const {
          rows: [row],
        } = await db.query<BatchDbRow>("SELECT seq, state, tx_hash, raw_tx, block_number FROM batches WHERE seq = 1");
        if (row?.state === "anchored") return row;
        await rpc(chain.url, "evm_mine");
        return null;
      });
      const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
      try {
        const registry = registryAt(stack.runtime.chain.registry, provider);
        const logs = await registry.queryFilter(registry.filters.BatchAnchored!(1));
        expect(logs, "one anchor of batch 1").to.have.length(1);
        expect(logs[0]!.transactionHash).to.equal(anchored.tx_hash);
        expect(anchored.tx_hash).to.not.equal(original.hash);
        expect(await provider.getTransactionReceipt(original.hash!)).to.equal(null);
        expect(Number(await registry.getFunction("nextSeq")())).to.equal(2);
      } finally {
        provider.destroy();
      }
    });
  });

  describe("finding the anchor's transaction through an endpoint that caps eth_getLogs ranges", () => {
    const CAP = 1_000;
    let chain: LocalChain;
    let proxy: { url: string; refused: number; widest: number; close(): Promise<void> };

    /** Forwards JSON-RPC, but answers eth_getLogs over more than CAP blocks with an error, as providers do. */
    async function startCappingProxy(target: string) {
      const state = { refused: 0, widest: 0 };
      const block = async (tag: string): Promise<number> =>
        /^0x[0-9a-f]+$/i.test(tag) ? Number(tag) : tag === "earliest" ? 0 : Number(await rpc(target, "eth_blockNumber"));
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on(
          "end",
          () =>
            void (async () => {
              const body = Buffer.concat(chunks).toString();
              const call = JSON.parse(body) as { id: unknown; method: string; params: { fromBlock?: string; toBlock?: string }[] };
              if (call.method === "eth_getLogs") {
                const from = await block(call.params[0]?.fromBlock ?? "latest");
                const to = await block(call.params[0]?.toBlock ?? "latest");
                if (to - from + 1 > CAP) {
                  state.refused++;
                  res
                    .writeHead(200, { "content-type": "application/json" })
                    .end(JSON.stringify({ jsonrpc: "2.0", id: call.id, error: { code: -32005, message: `query exceeds max block range ${CAP}` } }));
                  return;
                }
                state.widest = Math.max(state.widest, to - from + 1);
              }
              const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
              res.writeHead(upstream.status, { "content-type": "application/json" }).end(await upstream.text());
            })().catch(() => res.destroy()),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        get refused() {
          return state.refused;
        },
        get widest() {
          return state.widest;
        },
        async close() {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    }

    before(async () => {
      chain = await startLocalChain();
      proxy = await startCappingProxy(chain.url);
    });
    after(async () => {
      await proxy?.close();
      await chain?.stop();
    });

    it("pages its queries backwards in bounded ranges and finds the anchor 20,000 blocks back", async () => {
      const key = devKey(5);
      const registry = await deployTestRegistry(chain.url, key);
      const client = createChainClient({ rpcUrl: proxy.url, privateKey: key, registry, metrics: createMetrics(async () => 0) });
      try {
        const signed = await client.signAnchor(1, keccak256(toUtf8Bytes("batch one")) as Hash, 1);
        await client.broadcast(signed.rawTx);
        expect(await client.waitForConfirmations(signed.txHash, 1, 10_000)).to.not.equal(null);
        await rpc(chain.url, "hardhat_mine", [`0x${(20_000).toString(16)}`]);
        expect(await client.findAnchorTx(1)).to.equal(signed.txHash);
        expect(proxy.widest, "no accepted query wider than the cap").to.be.at.most(CAP);
        expect(await client.findAnchorTx(2), "a seq never anchored").to.equal(null);
      } finally {
        client.close();
      }
    });
  });
});
