import { network } from "hardhat";

/** One in-process chain for the whole test run; fixtures snapshot and restore it per test. */
export const connection = await network.getOrCreate();
export const { ethers, networkHelpers } = connection;

export async function deployRegistryFixture() {
  const [admin, anchorer, stranger] = await ethers.getSigners();
  const registry = await ethers.deployContract("AnchorRegistry", [admin!.address]);
  await registry.waitForDeployment();
  return { registry, admin: admin!, anchorer: anchorer!, stranger: stranger! };
}

export function randomRoot(): string {
  return ethers.hexlify(ethers.randomBytes(32));
}
