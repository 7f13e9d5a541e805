/**
 * The external interface of contracts/AnchorRegistry.sol as a human-readable ABI, for ethers.
 * Fixed: auditors' tools depend on it. A test compares it with the compiled artifact.
 */
export const ANCHOR_REGISTRY_ABI = [
  "constructor(address admin)",
  "function ANCHORER_ROLE() view returns (bytes32)",
  "function DEFAULT_ADMIN_ROLE() view returns (bytes32)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
  "function anchor(uint64 seq, bytes32 root, uint32 leafCount)",
  "function nextSeq() view returns (uint64)",
  "function rootOf(uint64 seq) view returns (bytes32)",
  "function verify(uint64 seq, bytes32 leaf, bytes32[] proof) view returns (bool)",
  "function verifyLink(uint64 seq, bytes32 linkHash, bytes32[] proof, bytes32 headsRoot, uint8 headsDepth) view returns (bool)",
  "function verifyHead(uint64 seq, uint64 index, uint64 n, bytes32 linkHash, bytes32[] proof, bytes32 linksRoot) view returns (bool)",
  "function setSuccessor(address newSuccessor)",
  "function successor() view returns (address)",
  "event BatchAnchored(uint64 indexed seq, bytes32 root, uint32 leafCount)",
  "event SuccessorSet(address indexed successor)",
  "error UnexpectedSeq(uint64 expected, uint64 given)",
  "error ZeroRoot(uint64 seq)",
  "error EmptyBatch(uint64 seq)",
  "error RegistryRetired(address successor)",
  "error SuccessorAlreadySet(address current)",
  "error InvalidSuccessor(address successor)",
] as const;
