/**
 * npm run deploy [-- --replace OLD_REGISTRY] — deploys AnchorRegistry to CHAIN_RPC_URL, paid by and
 * administered by ANCHOR_PRIVATE_KEY, and prints one JSON line: {"registry":"0x…","chainId":…}.
 *
 * With --replace, the key (an admin of the old registry) then records the new registry as the old
 * one's successor, once and for ever: the old registry stops anchoring, and auditors and monitors
 * (`npm run audit -- --state FILE`) follow it to the new one instead of raising a swapped registry.
 * Point REGISTRY_ADDRESS at the new registry and restart the service: it anchors every batch again,
 * from 1, onto the new registry (the same roots), so every bundle verifies against it.
 */
import { parseArgs } from "node:util";
import { isAddress, JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { deployRegistry, registryAt } from "../service/anchoring/registry.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { replace: { type: "string" } } });
  const rpc = process.env.CHAIN_RPC_URL;
  const key = process.env.ANCHOR_PRIVATE_KEY;
  if (!rpc || !key) throw new Error("set CHAIN_RPC_URL and ANCHOR_PRIVATE_KEY (a funded key; it becomes the registry's admin and anchorer)");
  if (values.replace !== undefined && !isAddress(values.replace)) throw new Error(`--replace ${values.replace} is not an address`);
  const provider = new JsonRpcProvider(rpc);
  try {
    const { chainId } = await provider.getNetwork();
    const wallet = new Wallet(key, provider);
    // Two transactions in a row from one key: count nonces here rather than ask a node that may lag.
    const signer = new NonceManager(wallet);
    if (values.replace !== undefined) {
      const old = registryAt(values.replace, wallet);
      if ((await provider.getCode(values.replace)) === "0x") throw new Error(`no registry is deployed at ${values.replace}`);
      const current = (await old.getFunction("successor")()) as string;
      if (BigInt(current) !== 0n) throw new Error(`registry ${values.replace} already names its successor, ${current}`);
      if (!(await old.getFunction("hasRole")(await old.getFunction("DEFAULT_ADMIN_ROLE")(), wallet.address))) {
        throw new Error(`the key's account ${wallet.address} is not an admin of ${values.replace}: it cannot name a successor`);
      }
    }
    const { address } = await deployRegistry(signer);
    if (values.replace !== undefined) await (await registryAt(values.replace, signer).getFunction("setSuccessor")(address)).wait();
    console.log(JSON.stringify({ registry: address, chainId: Number(chainId), ...(values.replace !== undefined ? { replaces: values.replace } : {}) }));
  } finally {
    provider.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(`deploy: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
