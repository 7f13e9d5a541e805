// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SealTrace anchor registry
/// @notice Holds one root per sealed batch of bottle-history links. Batches are numbered 1, 2, 3 …
/// with no gaps, and a root once anchored can never be replaced, so anyone holding a SealTrace
/// proof bundle can check its roots here without trusting the operator.
/// @dev Two root formats exist, and a batch's bundle says which one it uses:
///
/// - Format 1 (`sealtrace-proof/1`): the root is the root of the batch's links tree. Leaves are
///   `keccak256(linkHash)`; inner nodes hash the sorted pair of children, so proofs are checked with
///   OpenZeppelin's `MerkleProof.verify`. See {verify}.
/// - Format 2 (`sealtrace-proof/2`): the root is
///   `keccak256(abi.encodePacked("sealtrace:batch:2", linksRoot, headsRoot, uint8(headsDepth)))`,
///   where `linksRoot` is the format-1 links tree and `headsRoot` the root of the positional heads
///   tree of depth `headsDepth` (1 to 40): leaf `index` is
///   `keccak256(abi.encodePacked("sealtrace:head:2", uint64(index), uint64(n), linkHash))`, an inner
///   node is zero when both children are zero and
///   `keccak256(abi.encodePacked("sealtrace:node:2", left, right))` otherwise. See {verifyLink} and
///   {verifyHead}.
///
/// A registry can be retired in favour of a successor (see {setSuccessor}): it then keeps every root
/// it holds and answers every query, but anchors no new batch.
interface IAnchorRegistry {
    /// @notice A batch root was anchored.
    /// @param seq The batch sequence number (1 for the first batch).
    /// @param root The root of the batch (format 1 or 2).
    /// @param leafCount How many leaves (links) the batch holds.
    event BatchAnchored(uint64 indexed seq, bytes32 root, uint32 leafCount);

    /// @notice The registry was retired: new batches are anchored at `successor` from now on.
    /// @param successor The registry that takes over.
    event SuccessorSet(address indexed successor);

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

    /// @notice `anchor` was called after the registry was retired.
    /// @param successor The registry that anchors new batches instead.
    error RegistryRetired(address successor);

    /// @notice `setSuccessor` was called when a successor was already set.
    /// @param current The successor already set.
    error SuccessorAlreadySet(address current);

    /// @notice `setSuccessor` was called with the registry's own address or an address without code.
    /// @param successor The address that was passed.
    error InvalidSuccessor(address successor);

    /// @notice Anchors the root of batch `seq`. Only callable by accounts with `ANCHORER_ROLE`.
    /// @dev Reverts with `RegistryRetired` once a successor is set, with `UnexpectedSeq` unless
    /// `seq == nextSeq()`, with `ZeroRoot` for a zero root and with `EmptyBatch` for a zero leaf
    /// count. Emits `BatchAnchored`.
    /// @param seq The batch sequence number; must equal `nextSeq()`.
    /// @param root The batch's root (format 1 or 2).
    /// @param leafCount The number of leaves in the batch.
    function anchor(uint64 seq, bytes32 root, uint32 leafCount) external;

    /// @notice Retires the registry in favour of `newSuccessor`, which anchors new batches from now
    /// on. Only callable by accounts with `DEFAULT_ADMIN_ROLE`, and only once: it cannot be undone.
    /// @dev Reverts with `SuccessorAlreadySet` if a successor is already set and with
    /// `InvalidSuccessor` for the registry itself or an address with no contract. Emits `SuccessorSet`. Roots
    /// anchored here stay here and keep verifying; the successor is a registry of its own, with
    /// its own seqs.
    /// @param newSuccessor The registry that takes over.
    function setSuccessor(address newSuccessor) external;

    /// @notice The registry that took over from this one, or the zero address while none has.
    function successor() external view returns (address);

    /// @notice The seq the next `anchor` call must use (1 before any batch is anchored).
    function nextSeq() external view returns (uint64);

    /// @notice The root anchored for batch `seq`, or zero if no such batch was anchored.
    /// @param seq The batch sequence number.
    function rootOf(uint64 seq) external view returns (bytes32);

    /// @notice Format 1: whether `leaf` is included in batch `seq` according to `proof`, for batches
    /// sealed before format 2, whose root is their links tree alone.
    /// @dev Uses OpenZeppelin `MerkleProof.verify` (sorted pairs). False for an unknown seq. The
    /// caller passes the leaf, not the link hash, so an inner node of the tree also passes as a
    /// leaf, and a batch's own root always passes with an empty proof (also for a format-2 batch):
    /// check format-2 batches with {verifyLink}, which hashes the leaf itself.
    /// @param seq The batch sequence number.
    /// @param leaf The leaf, `keccak256(linkHash)`.
    /// @param proof The sibling hashes from the leaf up to the root.
    function verify(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /// @notice Format 2: whether the link `linkHash` is included in batch `seq`, given its proof in
    /// the batch's links tree and the batch's heads root and depth.
    /// @dev The leaf is computed here as `keccak256(linkHash)`, so an inner node of the links tree
    /// can never pass as a leaf; `proof` is processed with OpenZeppelin's `MerkleProof` (sorted
    /// pairs) up to `linksRoot`. False for an unknown seq and for a depth of 0 or above 40.
    /// @param seq The batch sequence number.
    /// @param linkHash The hash of the link.
    /// @param proof The sibling hashes from the link's leaf up to the batch's links root.
    /// @param headsRoot The root of the batch's heads tree.
    /// @param headsDepth The depth of the batch's heads tree (1 to 40).
    function verifyLink(
        uint64 seq,
        bytes32 linkHash,
        bytes32[] calldata proof,
        bytes32 headsRoot,
        uint8 headsDepth
    ) external view returns (bool);

    /// @notice Format 2: whether, after batch `seq`, the chain at position `index` of the heads map
    /// holds `n` links and ends with the link `linkHash`, given its proof in the batch's heads tree
    /// and the batch's links root.
    /// @dev The heads tree's depth is `proof.length`: false if it is 0 or above 40, if `index` does
    /// not fit it (`index >= 2**proof.length`) and for an unknown seq. At level `j` (0 at the
    /// leaves), bit `j` of `index` tells whether the current node is the left (0) or the right (1)
    /// child.
    /// @param seq The batch sequence number.
    /// @param index The chain's position in the heads map.
    /// @param n The number of links in the chain.
    /// @param linkHash The hash of the chain's last link.
    /// @param proof The sibling hashes from the head's leaf up to the heads root, one per level.
    /// @param linksRoot The root of the batch's links tree.
    function verifyHead(
        uint64 seq,
        uint64 index,
        uint64 n,
        bytes32 linkHash,
        bytes32[] calldata proof,
        bytes32 linksRoot
    ) external view returns (bool);
}
