import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatChaiMatchers from "@nomicfoundation/hardhat-ethers-chai-matchers";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatTypechain from "@nomicfoundation/hardhat-typechain";

// Compile offline with the solc-js build shipped in the `solc` npm package:
// Hardhat never downloads a compiler, and the version always matches the file.
const require = createRequire(import.meta.url);
const solcVersion = (require("solc/package.json") as { version: string }).version;
const soljsonPath = require.resolve("solc/soljson.js");

export default defineConfig({
  plugins: [hardhatEthers, hardhatMocha, hardhatChaiMatchers, hardhatNetworkHelpers, hardhatTypechain],
  solidity: {
    version: solcVersion,
    path: soljsonPath,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: "cancun",
    },
  },
  paths: {
    tests: { mocha: "test" },
  },
  test: {
    mocha: { timeout: 120_000 },
  },
  networks: {
    localhost: { type: "http", url: process.env.CHAIN_RPC_URL ?? "http://127.0.0.1:8545" },
  },
});
