import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { registryAt } from "../../service/anchoring/registry.ts";
import { LOCAL_CHAIN_ID, LOCAL_DEV_KEY, startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { runScript } from "../helpers/run.ts";

describe("npm run deploy", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  before(async () => {
    chain = await startLocalChain();
  });
  after(async () => {
    await chain?.stop();
  });

  it("deploys AnchorRegistry and prints {registry, chainId} as one JSON line", async () => {
    const { code, stdout, stderr } = await runScript("scripts/deploy.ts", [], { CHAIN_RPC_URL: chain.url, ANCHOR_PRIVATE_KEY: LOCAL_DEV_KEY });
    expect(code, stderr).to.equal(0);
    const lines = stdout.trim().split("\n");
    expect(lines).to.have.length(1);
    const out = JSON.parse(lines[0]!) as { registry: string; chainId: number };
    expect(out.chainId).to.equal(LOCAL_CHAIN_ID);
    expect(out.registry).to.match(/^0x[0-9a-fA-F]{40}$/);
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    try {
      expect(await registryAt(out.registry, provider).getFunction("nextSeq")()).to.equal(1n);
    } finally {
      provider.destroy();
    }
  });

  it("--replace deploys a successor and records it on the old registry, which stops anchoring; only once", async () => {
    const env = { CHAIN_RPC_URL: chain.url, ANCHOR_PRIVATE_KEY: LOCAL_DEV_KEY };
    const first = JSON.parse((await runScript("scripts/deploy.ts", [], env)).stdout) as { registry: string };
    const { code, stdout, stderr } = await runScript("scripts/deploy.ts", ["--replace", first.registry], env);
    expect(code, stderr).to.equal(0);
    const out = JSON.parse(stdout) as { registry: string; replaces: string };
    expect(out.replaces).to.equal(first.registry);
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    try {
      expect(await registryAt(first.registry, provider).getFunction("successor")()).to.equal(out.registry);
      expect(await registryAt(out.registry, provider).getFunction("successor")()).to.equal("0x0000000000000000000000000000000000000000");
    } finally {
      provider.destroy();
    }
    const again = await runScript("scripts/deploy.ts", ["--replace", first.registry], env);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/already names its successor/);
    const other = await runScript("scripts/deploy.ts", ["--replace", out.registry], { ...env, ANCHOR_PRIVATE_KEY: `0x${"11".repeat(32)}` });
    expect(other.code).to.equal(1);
  });

  it("explains what is missing when CHAIN_RPC_URL or ANCHOR_PRIVATE_KEY is not set", async () => {
    const { code, stderr } = await runScript("scripts/deploy.ts", [], { CHAIN_RPC_URL: "", ANCHOR_PRIVATE_KEY: "" });
    expect(code).to.equal(1);
    expect(stderr).to.match(/set CHAIN_RPC_URL and ANCHOR_PRIVATE_KEY/);
  });
});
