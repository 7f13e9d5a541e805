/**
 * npm run deploy — deploys AnchorRegistry to CHAIN_RPC_URL, paid by and administered by
 * ANCHOR_PRIVATE_KEY, and prints one JSON line: {"registry":"0x…","chainId":…}.
 */
import { JsonRpcProvider, Wallet } from "ethers";
import { deployRegistry } from "../service/anchoring/registry.ts";

async function main(): Promise<void> {
  const rpc = process.env.CHAIN_RPC_URL;
  const key = process.env.ANCHOR_PRIVATE_KEY;
  if (!rpc || !key) throw new Error("set CHAIN_RPC_URL and ANCHOR_PRIVATE_KEY (a funded key; it becomes the registry's admin and anchorer)");
  const provider = new JsonRpcProvider(rpc);
  try {
    const { chainId } = await provider.getNetwork();
    const { address } = await deployRegistry(new Wallet(key, provider));
    console.log(JSON.stringify({ registry: address, chainId: Number(chainId) }));
  } finally {
    provider.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(`deploy: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
