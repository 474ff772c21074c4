// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title SettlementToken
/// @notice Test stablecoin that leases, claims and orders settle in: 6 decimals like the USD stablecoins it
/// stands in for, ERC-2612 permit so payers can approve by signature, and minting restricted to MINTER_ROLE.
/// @dev For development and test chains; it has no backing and no supply cap.
contract SettlementToken is ERC20, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Account granted DEFAULT_ADMIN_ROLE and MINTER_ROLE.
    constructor(address admin) ERC20("Millchain Settlement USD", "mUSD") ERC20Permit("Millchain Settlement USD") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints `amount` base units (1 mUSD = 10**6) to `to`.
    /// @dev Reverts with AccessControlUnauthorizedAccount unless the caller holds MINTER_ROLE.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
