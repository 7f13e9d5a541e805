// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IAnchorRegistry} from "./interfaces/IAnchorRegistry.sol";

/// @title AnchorRegistry
/// @notice Append-only registry of SealTrace batch roots. See {IAnchorRegistry}.
contract AnchorRegistry is IAnchorRegistry, AccessControl {
    /// @notice Role allowed to anchor batch roots.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @dev The most levels a format-2 heads tree may have (service/core/commitments.ts `MAX_HEADS_DEPTH`).
    uint256 private constant _MAX_HEADS_DEPTH = 40;

    /// @dev Domain tags of the format-2 hashes: their ASCII bytes, with no length or terminator.
    bytes17 private constant _BATCH_TAG = "sealtrace:batch:2";
    bytes16 private constant _HEAD_TAG = "sealtrace:head:2";
    bytes16 private constant _NODE_TAG = "sealtrace:node:2";

    /// @dev The seq the next `anchor` must use. Set to 1 at deployment, so no `anchor` call, not even
    /// the first, pays for turning a zero slot into a non-zero one: each call writes one fresh root
    /// slot and updates this counter.
    uint64 private _nextSeq;

    /// @dev The registry that took over, zero while none has. Declared right after `_nextSeq` so both
    /// share one storage slot: `anchor` checks it without reading another slot.
    address private _successor;

    mapping(uint64 seq => bytes32 root) private _roots;

    /// @param admin Receives `DEFAULT_ADMIN_ROLE` and `ANCHORER_ROLE`.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
        _nextSeq = 1;
    }

    /// @inheritdoc IAnchorRegistry
    function anchor(uint64 seq, bytes32 root, uint32 leafCount) external onlyRole(ANCHORER_ROLE) {
        address retiredFor = _successor;
        if (retiredFor != address(0)) revert RegistryRetired(retiredFor);
        uint64 expected = _nextSeq;
        if (seq != expected) revert UnexpectedSeq(expected, seq);
        if (root == bytes32(0)) revert ZeroRoot(seq);
        if (leafCount == 0) revert EmptyBatch(seq);
        _nextSeq = expected + 1;
        _roots[seq] = root;
        emit BatchAnchored(seq, root, leafCount);
    }

    /// @inheritdoc IAnchorRegistry
    function setSuccessor(address newSuccessor) external onlyRole(DEFAULT_ADMIN_ROLE) {
        address current = _successor;
        if (current != address(0)) revert SuccessorAlreadySet(current);
        // A successor is a deployed registry: a typo or a wallet address would retire this one for nothing.
        if (newSuccessor == address(this) || newSuccessor.code.length == 0) revert InvalidSuccessor(newSuccessor);
        _successor = newSuccessor;
        emit SuccessorSet(newSuccessor);
    }

    /// @inheritdoc IAnchorRegistry
    function successor() external view returns (address) {
        return _successor;
    }

    /// @inheritdoc IAnchorRegistry
    function nextSeq() external view returns (uint64) {
        return _nextSeq;
    }

    /// @inheritdoc IAnchorRegistry
    function rootOf(uint64 seq) external view returns (bytes32) {
        return _roots[seq];
    }

    /// @inheritdoc IAnchorRegistry
    function verify(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _roots[seq];
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IAnchorRegistry
    function verifyLink(
        uint64 seq,
        bytes32 linkHash,
        bytes32[] calldata proof,
        bytes32 headsRoot,
        uint8 headsDepth
    ) external view returns (bool) {
        if (headsDepth == 0 || headsDepth > _MAX_HEADS_DEPTH) return false;
        bytes32 root = _roots[seq];
        if (root == bytes32(0)) return false;
        bytes32 linksRoot = MerkleProof.processProofCalldata(proof, keccak256(abi.encodePacked(linkHash)));
        return _batchRoot(linksRoot, headsRoot, headsDepth) == root;
    }

    /// @inheritdoc IAnchorRegistry
    function verifyHead(
        uint64 seq,
        uint64 index,
        uint64 n,
        bytes32 linkHash,
        bytes32[] calldata proof,
        bytes32 linksRoot
    ) external view returns (bool) {
        uint256 depth = proof.length;
        if (depth == 0 || depth > _MAX_HEADS_DEPTH || index >> depth != 0) return false;
        bytes32 root = _roots[seq];
        if (root == bytes32(0)) return false;
        bytes32 node = keccak256(abi.encodePacked(_HEAD_TAG, index, n, linkHash));
        uint64 position = index;
        for (uint256 level = 0; level < depth; ++level) {
            node = position & 1 == 0 ? _headNode(node, proof[level]) : _headNode(proof[level], node);
            position >>= 1;
        }
        // `depth` is at most 40 here, so the cast keeps it whole.
        return _batchRoot(linksRoot, node, uint8(depth)) == root;
    }

    /// @dev The format-2 root of a batch: `keccak256("sealtrace:batch:2" ‖ linksRoot ‖ headsRoot ‖ u8(headsDepth))`.
    function _batchRoot(bytes32 linksRoot, bytes32 headsRoot, uint8 headsDepth) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(_BATCH_TAG, linksRoot, headsRoot, headsDepth));
    }

    /// @dev An inner node of a heads tree: zero when both children are (an empty subtree is zero at
    /// every height), else `keccak256("sealtrace:node:2" ‖ left ‖ right)`. In {verifyHead} the current
    /// node is a hash and never zero, so the zero case cannot arise there; it is kept so this is the
    /// spec's function (service/core/commitments.ts `headNode`) exactly.
    function _headNode(bytes32 left, bytes32 right) private pure returns (bytes32) {
        if (left == bytes32(0) && right == bytes32(0)) return bytes32(0);
        return keccak256(abi.encodePacked(_NODE_TAG, left, right));
    }
}
