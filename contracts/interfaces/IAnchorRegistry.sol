// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SealTrace anchor registry
/// @notice Holds one Merkle root per sealed batch of bottle-history links. Batches are numbered
/// 1, 2, 3 … with no gaps, and a root once anchored can never be replaced, so anyone holding a
/// `sealtrace-proof/1` bundle can check its roots here without trusting the operator.
/// @dev Leaves are `keccak256(linkHash)`; inner nodes hash the sorted pair of children, so proofs
/// are checked with OpenZeppelin's `MerkleProof.verify`.
interface IAnchorRegistry {
    /// @notice A batch root was anchored.
    /// @param seq The batch sequence number (1 for the first batch).
    /// @param root The Merkle root of the batch's leaves.
    /// @param leafCount How many leaves (links) the batch holds.
    event BatchAnchored(uint64 indexed seq, bytes32 root, uint32 leafCount);

    /// @notice `anchor` was called with a seq other than `nextSeq()`.
    /// @param expected The seq the registry expects next.
    /// @param given The seq that was passed.
    error UnexpectedSeq(uint64 expected, uint64 given);

    /// @notice `anchor` was called with a zero root.
    /// @param seq The seq the root was meant for.
    error ZeroRoot(uint64 seq);

    /// @notice `anchor` was called with a leaf count of zero.
    /// @param seq The seq the batch was meant for.
    error EmptyBatch(uint64 seq);

    /// @notice Anchors the root of batch `seq`. Only callable by accounts with `ANCHORER_ROLE`.
    /// @dev Reverts with `UnexpectedSeq` unless `seq == nextSeq()`, with `ZeroRoot` for a zero
    /// root and with `EmptyBatch` for a zero leaf count. Emits `BatchAnchored`.
    /// @param seq The batch sequence number; must equal `nextSeq()`.
    /// @param root The batch's Merkle root.
    /// @param leafCount The number of leaves in the batch.
    function anchor(uint64 seq, bytes32 root, uint32 leafCount) external;

    /// @notice The seq the next `anchor` call must use (1 before any batch is anchored).
    function nextSeq() external view returns (uint64);

    /// @notice The root anchored for batch `seq`, or zero if no such batch was anchored.
    /// @param seq The batch sequence number.
    function rootOf(uint64 seq) external view returns (bytes32);

    /// @notice Whether `leaf` is included in batch `seq` according to `proof`.
    /// @dev Uses OpenZeppelin `MerkleProof.verify` (sorted pairs). False for an unknown seq.
    /// @param seq The batch sequence number.
    /// @param leaf The leaf, `keccak256(linkHash)`.
    /// @param proof The sibling hashes from the leaf up to the root.
    function verify(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);
}
