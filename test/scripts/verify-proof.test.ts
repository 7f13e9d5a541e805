import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider, NonceManager, Wallet, type Contract } from "ethers";
import { deployRegistry, registryAt } from "../../service/anchoring/registry.ts";
import { LOCAL_CHAIN_ID, LOCAL_DEV_KEY, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { fromHex, keccak256, toHex } from "../../service/core/hash.ts";
import { clone, sealedHistory, type SealedHistory } from "../helpers/bottle.ts";
import { runScript } from "../helpers/run.ts";

const SCRIPT = "scripts/verify-proof.ts";

describe("npm run verify-proof", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let provider: JsonRpcProvider;
  let registry: Contract;
  let registryAddress: string;
  let dir: string;
  let history: SealedHistory;
  let files = 0;

  async function write(bundle: unknown): Promise<string> {
    const file = join(dir, `bundle-${++files}.json`);
    await writeFile(file, typeof bundle === "string" ? bundle : JSON.stringify(bundle, null, 2));
    return file;
  }

  async function verify(bundle: unknown, ...args: string[]) {
    return await runScript(SCRIPT, [await write(bundle), ...args]);
  }

  before(async () => {
    chain = await startLocalChain();
    provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    const signer = new NonceManager(new Wallet(LOCAL_DEV_KEY, provider));
    registryAddress = (await deployRegistry(signer)).address;
    registry = registryAt(registryAddress, signer);
    history = sealedHistory({ chainId: LOCAL_CHAIN_ID, registry: registryAddress });
    for (const batch of history.batches) await (await registry.getFunction("anchor")(batch.seq, batch.tree.root, batch.leafCount)).wait();
    dir = await mkdtemp(join(tmpdir(), "sealtrace-verify-"));
  });

  after(async () => {
    provider?.destroy();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("a valid bundle", () => {
    it("offline: exit 0 and a one-line verdict", async () => {
      const { code, stdout } = await verify(history.bundle);
      expect(code).to.equal(0);
      expect(stdout.trim().split("\n")).to.have.length(1);
      expect(stdout).to.match(/^VALID: bottle MT2026A0000001, 5 links, 5 anchored; in batches 1, 2; roots not checked on chain/);
    });

    it("with --rpc: checks every root against the registry", async () => {
      const { code, stdout } = await verify(history.bundle, "--rpc", chain.url);
      expect(code, stdout).to.equal(0);
      expect(stdout).to.match(/roots match the chain/);
    });

    it("reports pending links without failing", async () => {
      const pending = sealedHistory({ chainId: LOCAL_CHAIN_ID, registry: registryAddress }, { pendingFrom: 5 }).bundle;
      // batch 1 of this new history is not on chain, so check offline only
      const { code, stdout } = await verify(pending);
      expect(code).to.equal(0);
      expect(stdout).to.match(/4 anchored; .*1 pending \(n = 5\)/);
    });

    it("--json prints the verdict as JSON", async () => {
      const { code, stdout } = await verify(history.bundle, "--json", "--rpc", chain.url);
      expect(code).to.equal(0);
      const verdict = JSON.parse(stdout) as { valid: boolean; checkedOnChain: boolean; linkCount: number };
      expect(verdict).to.include({ valid: true, checkedOnChain: true, linkCount: 5 });
    });
  });

  describe("an invalid bundle: exit 1 with each reason", () => {
    let bundle: ProofBundle;
    beforeEach(() => { bundle = clone(history.bundle); });

    it("an edited event field", async () => {
      bundle.events[4]!.event.price = "99.00 CNY";
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(1);
      expect(stdout).to.match(/^INVALID: bottle MT2026A0000001/);
      expect(stdout).to.match(/events\[4\]\.eventHash: the event's content does not match its hash \(an event field was changed\) \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
    });

    it("an edited proof element", async () => {
      const proof = bundle.links[1]!.anchor!.proof;
      proof[1] = toHex(keccak256(fromHex(proof[1]!)));
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(1);
      expect(stdout).to.match(/links\[1\]\.anchor\.proof: the Merkle proof does not lead from the leaf to the root/);
    });

    it("links out of order", async () => {
      [bundle.links[3], bundle.links[4]] = [bundle.links[4]!, bundle.links[3]!];
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(1);
      expect(stdout).to.include("links[3].link.n: links are out of order or have a gap (expected 4, found 5)");
      expect(stdout).to.include("links[3].link.prev: prev is not the previous link's linkHash");
    });

    it("a gap in the links", async () => {
      bundle.links.splice(1, 1);
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(1);
      expect(stdout).to.include("links[1].link.n: links are out of order or have a gap (expected 2, found 3)");
    });

    it("a link whose event does not list the serial", async () => {
      const forged = sealedHistory({ chainId: LOCAL_CHAIN_ID, registry: registryAddress }, {
        editEvents: (events) => { events[2]!.codes = ["MT2026A0000777"]; },
      }).bundle;
      const { code, stdout } = await verify(forged);
      expect(code).to.equal(1);
      expect(stdout).to.include("links[2].link.event: the linked event (events[2]) does not list serial MT2026A0000001");
    });

    it("with --rpc: a root the registry does not hold", async () => {
      // A self-consistent bundle for batches 7 and 8, which were never anchored.
      const unanchored = sealedHistory({ chainId: LOCAL_CHAIN_ID, registry: registryAddress }, { firstSeq: 7 }).bundle;
      expect((await verify(unanchored)).code, "offline it is consistent").to.equal(0);
      const { code, stdout } = await verify(unanchored, "--rpc", chain.url);
      expect(code).to.equal(1);
      expect(stdout).to.match(/links\[0\]\.anchor, links\[1\]\.anchor, links\[2\]\.anchor: the registry holds no root for batch 7/);
    });

    it("with --rpc: a root that differs from the registry's", async () => {
      // A forged history claiming batch 1 and 2, with roots the registry never saw.
      const forged = sealedHistory({ chainId: LOCAL_CHAIN_ID, registry: registryAddress }).bundle;
      const { code, stdout } = await verify(forged, "--rpc", chain.url);
      expect(code).to.equal(1);
      expect(stdout).to.match(/the registry holds a different root for batch 1 \(expected 0x[0-9a-f]{64}, found 0x[0-9a-f]{64}\)/);
      expect(stdout).to.match(/different root for batch 2/);
    });

    it("with --rpc: a bundle naming another chain or an address with no registry", async () => {
      const otherChain = { ...bundle, chain: { chainId: 1, registry: registryAddress } };
      expect((await verify(otherChain, "--rpc", chain.url)).stdout).to.match(/chain\.chainId: the RPC serves another chain than the bundle names \(expected 1, found 31337\)/);
      const noRegistry = { ...bundle, chain: { chainId: LOCAL_CHAIN_ID, registry: "0x000000000000000000000000000000000000dEaD" } };
      const result = await verify(noRegistry, "--rpc", chain.url);
      expect(result.code).to.equal(1);
      expect(result.stdout).to.match(/chain\.registry: no contract is deployed/);
    });
  });

  describe("usage errors and unreadable input: exit 2", () => {
    it("no file, two files, or an unknown option", async () => {
      for (const args of [[], ["a.json", "b.json"], ["--frobnicate", "a.json"]]) {
        const { code, stderr } = await runScript(SCRIPT, args);
        expect(code, args.join(" ")).to.equal(2);
        expect(stderr).to.match(/usage: npm run verify-proof/);
      }
    });

    it("a missing file or one that is not JSON", async () => {
      expect((await runScript(SCRIPT, [join(dir, "missing.json")])).code).to.equal(2);
      const { code, stderr } = await verify("{ not json");
      expect(code).to.equal(2);
      expect(stderr).to.match(/cannot read .* as JSON/);
    });

    it("an RPC that cannot be reached", async () => {
      const { code, stderr } = await verify(history.bundle, "--rpc", "http://127.0.0.1:1");
      expect(code).to.equal(2);
      expect(stderr).to.match(/cannot reach the chain/);
    });
  });
});
