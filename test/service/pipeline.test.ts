import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { runScript } from "../helpers/run.ts";
import { lifecycle, METRICS_TOKEN, startStack, type Stack } from "../helpers/stack.ts";

/** The whole path: signed webhook → PostgreSQL → sealed batch → anchored root → verifiable bundle. */
function endToEnd(mode: string, start: () => Promise<Stack>) {
  describe(`end to end (${mode})`, function () {
    this.timeout(180_000);
    let stack: Stack;
    let dir: string;
    before(async () => {
      stack = await start();
      dir = await mkdtemp(join(tmpdir(), "sealtrace-e2e-"));
    });
    after(async () => {
      await stack?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("a signed batch of events becomes an anchored bundle that verify-proof --rpc accepts", async () => {
      const brand = await stack.createBrand({ codes: 3 });
      const serials = brand.codes.map((c) => c.serial);
      const events = lifecycle(serials);
      const posted = await stack.postEvents(brand, events);
      expect(posted.status, JSON.stringify(posted.body)).to.equal(202);
      expect(posted.body.events).to.have.length(events.length);
      for (const [i, result] of (posted.body.events as { id: string; status: string; eventHash: string; eventId: string }[]).entries()) {
        expect(result.id).to.equal(events[i]!.id);
        expect(result.status).to.equal("accepted");
        expect(result.eventHash).to.match(/^0x[0-9a-f]{64}$/);
        expect(result.eventId).to.match(/^\d+$/);
      }

      const { serial, secret } = brand.codes[0]!;
      const bundle = await stack.waitAnchored(serial, secret);
      expect(bundle.format).to.equal("sealtrace-proof/2");
      expect(bundle.serial).to.equal(serial);
      expect(bundle.gtin).to.equal(brand.gtin);
      expect(bundle.links.map((l) => l.link.n)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(bundle.events.map((e) => e.event.type)).to.deep.equal(["production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale"]);
      expect(bundle.events[0]!.eventHash).to.equal(posted.body.events[0].eventHash);
      const verdict = verifyBundle(bundle);
      expect(verdict.status, JSON.stringify(verdict)).to.equal("valid");
      expect(verdict.identityBound).to.equal(true);
      expect(verdict.completeAsOf?.seq).to.equal(bundle.head!.seq);
      expect(bundle.head!.n).to.equal(5);

      const chain = await stack.request("GET", "/api/v1/chain");
      expect(chain.status).to.equal(200);
      expect(chain.body).to.deep.equal({ chainId: 31337, registry: stack.runtime.chain.registry, rpcUrl: stack.runtime.chain.rpcUrl });
      expect(bundle.chain).to.deep.equal({ chainId: 31337, registry: stack.runtime.chain.registry });

      const anchor = bundle.batches.find((b) => b.seq === bundle.head!.seq)!;
      const batch = await stack.request("GET", `/api/v1/batches/${anchor.seq}`);
      expect(batch.status).to.equal(200);
      expect(batch.body).to.include({ seq: anchor.seq, root: anchor.root, status: "anchored", txHash: anchor.txHash, blockNumber: anchor.blockNumber });
      expect(batch.body.leafCount).to.be.at.least(1);
      expect(new Date(batch.body.blockTime).getTime()).to.be.closeTo(Date.now(), 120_000);

      const file = join(dir, "bundle.json");
      await writeFile(file, JSON.stringify(bundle));
      const verified = await runScript("scripts/verify-proof.ts", [file, "--rpc", chain.body.rpcUrl]);
      expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
      expect(verified.stdout).to.match(/^trusted: chain 31337, registry 0x[0-9a-fA-F]{40}, as named by the bundle itself/);
      expect(verified.stdout).to.match(/^VALID: bottle .*5 links, 5 anchored.*complete as of batch \d+.*roots match the chain/m);

      const metrics = String((await stack.request("GET", "/metrics", { token: METRICS_TOKEN })).body);
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
      expect(value("sealtrace_events_ingested_total")).to.equal(events.length);
      expect(value("sealtrace_batches_sealed_total")).to.be.at.least(1);
      expect(value("sealtrace_batches_anchored_total")).to.be.at.least(1);
      expect(value("sealtrace_anchor_latency_seconds_count")).to.be.at.least(1);
    });

    it("takes concurrent deliveries while sealing and anchoring run, and anchors all of them", async () => {
      const brand = await stack.createBrand({ codes: 200 });
      const groups = Array.from({ length: 10 }, (_, g) => brand.codes.slice(g * 20, g * 20 + 20));
      const posted = await Promise.all(groups.map((group) => stack.postEvents(brand, lifecycle(group.map((c) => c.serial)))));
      expect(posted.map((p) => p.status)).to.deep.equal(groups.map(() => 202));
      const bundles = await Promise.all(groups.map((group) => stack.waitAnchored(group[19]!.serial, group[19]!.secret)));
      for (const bundle of bundles) {
        expect(bundle.links).to.have.length(5);
        expect(verifyBundle(bundle).valid).to.equal(true);
      }
    });

    it("shows links as pending (anchor null) until their batch is anchored, then anchors later events too", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const { serial, secret } = brand.codes[0]!;
      const [production, ...rest] = lifecycle([serial]);
      expect((await stack.postEvents(brand, [production])).status).to.equal(202);
      const first = await stack.request("GET", `/api/v1/items/${serial}/proof?s=${secret}`);
      expect(first.status).to.equal(200);
      expect((first.body as ProofBundle).links).to.have.length(1);
      await stack.waitAnchored(serial, secret);
      expect((await stack.postEvents(brand, rest)).status).to.equal(202);
      await stack.waitAnchored(serial, secret);
      // Every link with its own proof: they were anchored in two batches (at least).
      const bundle = (await stack.request("GET", `/api/v1/items/${serial}/proof?s=${secret}&proofs=all`)).body as ProofBundle;
      expect(bundle.links).to.have.length(5);
      const verdict = verifyBundle(bundle);
      expect(verdict.valid).to.equal(true);
      expect(verdict.timesClaimed).to.deep.equal([]);
      expect(verdict.roots.length).to.be.at.least(2);
    });
  });
}

describe("pipeline", () => {
  let chain: LocalChain;
  before(async function () {
    this.timeout(60_000);
    chain = await startLocalChain();
  });
  after(async () => {
    await chain?.stop();
  });

  endToEnd("PostgreSQL, Redis and BullMQ, local chain", () => startStack({ chainUrl: chain.url, keyIndex: 1 }));
  endToEnd("PostgreSQL and in-process jobs, local chain", () => startStack({ chainUrl: chain.url, keyIndex: 2, redis: false }));
  endToEnd("embedded: PGlite, in-process jobs, its own local chain", () => startStack({ embedded: true }));

  describe("embedded restart", function () {
    this.timeout(180_000);
    it("keeps the data, and anchors sealed batches again onto the new local chain", async () => {
      const dataDir = await mkdtemp(join(tmpdir(), "sealtrace-embedded-"));
      try {
        let stack = await startStack({ embedded: true, dataDir });
        const brand = await stack.createBrand({ codes: 2 });
        const { serial, secret } = brand.codes[0]!;
        expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
        const before = await stack.waitAnchored(serial, secret);
        await stack.stop();

        stack = await startStack({ embedded: true, dataDir });
        try {
          // The brand, its codes and its history are still there…
          const after = await stack.waitAnchored(serial, secret);
          expect(after.events.map((e) => e.eventHash)).to.deep.equal(before.events.map((e) => e.eventHash));
          expect(after.links.map((l) => l.linkHash)).to.deep.equal(before.links.map((l) => l.linkHash));
          // …and anchored on the chain that runs now, where verify-proof --rpc confirms every root.
          const file = join(dataDir, "bundle.json");
          await writeFile(file, JSON.stringify(after));
          const verified = await runScript("scripts/verify-proof.ts", [file, "--rpc", stack.runtime.chain.rpcUrl]);
          expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
          // and ingest goes on where it stopped
          const more = await stack.postEvents(brand, [
            { id: "after-restart", type: "opened", codes: [serial], occurredAt: "2026-11-21T20:00:00+08:00", party: "store-pudong" },
          ]);
          expect(more.status).to.equal(202);
          expect((await stack.waitAnchored(serial, secret)).links).to.have.length(6);
        } finally {
          await stack.stop();
        }
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
