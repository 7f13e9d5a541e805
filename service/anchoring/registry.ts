/**
 * AnchorRegistry on chain: deployment from the Hardhat artifact, and a typed handle for calls.
 */
import { readFile } from "node:fs/promises";
import { Contract, ContractFactory, type ContractRunner, type Signer } from "ethers";
import { ANCHOR_REGISTRY_ABI } from "../core/registry-abi.ts";

const ARTIFACT = new URL("../../artifacts/contracts/AnchorRegistry.sol/AnchorRegistry.json", import.meta.url);

async function loadBytecode(): Promise<string> {
  let text: string;
  try {
    text = await readFile(ARTIFACT, "utf8");
  } catch {
    throw new Error("AnchorRegistry is not compiled: run `npm run build` first");
  }
  return (JSON.parse(text) as { bytecode: string }).bytecode;
}

/** Deploys a new AnchorRegistry whose admin (and first anchorer) is `admin`, paid by `signer`. */
export async function deployRegistry(signer: Signer, admin?: string): Promise<{ address: string; txHash: string }> {
  const factory = new ContractFactory(ANCHOR_REGISTRY_ABI, await loadBytecode(), signer);
  const contract = await factory.deploy(admin ?? (await signer.getAddress()));
  await contract.waitForDeployment();
  const tx = contract.deploymentTransaction();
  return { address: await contract.getAddress(), txHash: tx?.hash ?? "" };
}

export function registryAt(address: string, runner: ContractRunner): Contract {
  return new Contract(address, ANCHOR_REGISTRY_ABI, runner);
}
