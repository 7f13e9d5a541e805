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

    /// @dev The seq the next `anchor` must use. Set to 1 at deployment, so no `anchor` call, not even
    /// the first, pays for turning a zero slot into a non-zero one: each call writes one fresh root
    /// slot and updates this counter.
    uint64 private _nextSeq;

    mapping(uint64 seq => bytes32 root) private _roots;

    /// @param admin Receives `DEFAULT_ADMIN_ROLE` and `ANCHORER_ROLE`.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
        _nextSeq = 1;
    }

    /// @inheritdoc IAnchorRegistry
    function anchor(uint64 seq, bytes32 root, uint32 leafCount) external onlyRole(ANCHORER_ROLE) {
        uint64 expected = _nextSeq;
        if (seq != expected) revert UnexpectedSeq(expected, seq);
        if (root == bytes32(0)) revert ZeroRoot(seq);
        if (leafCount == 0) revert EmptyBatch(seq);
        _nextSeq = expected + 1;
        _roots[seq] = root;
        emit BatchAnchored(seq, root, leafCount);
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
}
