//! Roles and the permission matrix.
//!
//! Till roles are `cashier`, `supervisor` and `manager`; HQ roles are `super_admin`, `admin`,
//! `regional_manager` and `store_manager` (the seed's `users.role`). An HQ store manager acts
//! as a till manager in their store. A guarded action by someone whose role lacks the
//! permission needs the PIN of someone whose role has it ([`Role::can_approve`]); the till
//! logs who approved.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Cashier,
    Supervisor,
    Manager,
    StoreManager,
    RegionalManager,
    Admin,
    SuperAdmin,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Cashier,
        Role::Supervisor,
        Role::Manager,
        Role::StoreManager,
        Role::RegionalManager,
        Role::Admin,
        Role::SuperAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cashier => "cashier",
            Role::Supervisor => "supervisor",
            Role::Manager => "manager",
            Role::StoreManager => "store_manager",
            Role::RegionalManager => "regional_manager",
            Role::Admin => "admin",
            Role::SuperAdmin => "super_admin",
        }
    }

    /// Roles a till account can have (the till's `users.role`).
    pub fn is_till_role(self) -> bool {
        matches!(self, Role::Cashier | Role::Supervisor | Role::Manager)
    }

    /// Whether the role's reach is limited to one store (HQ scoping).
    pub fn is_store_scoped(self) -> bool {
        !matches!(self, Role::RegionalManager | Role::Admin | Role::SuperAdmin)
    }

    pub fn allows(self, permission: Permission) -> bool {
        PERMISSION_MATRIX
            .iter()
            .find(|(p, _)| *p == permission)
            .is_some_and(|(_, roles)| roles.contains(&self))
    }

    /// Whether this role may approve (by PIN) `permission` for someone who lacks it.
    pub fn can_approve(self, permission: Permission) -> bool {
        self.allows(permission) && self != Role::Cashier
    }

    /// Every permission this role has, in matrix order.
    pub fn permissions(self) -> Vec<Permission> {
        PERMISSION_MATRIX
            .iter()
            .filter(|(_, roles)| roles.contains(&self))
            .map(|(p, _)| *p)
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.chars().take(32).collect()))
    }
}

/// Actions that need a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Ring up and take payment.
    Sell,
    /// Void a whole open cart (lines already scanned).
    VoidTransaction,
    /// Refund or return a committed sale.
    Refund,
    /// Give a discount above the cashier's limit.
    DiscountAboveLimit,
    /// Sell at a price other than the catalog price.
    PriceOverride,
    /// Open the cash drawer without a sale.
    OpenDrawerNoSale,
    /// Cash pay-in and pay-out.
    CashInOut,
    /// Close a shift (count the drawer, print the Z report).
    CloseShift,
    /// Print an X report mid-shift.
    ViewShiftReport,
    /// Receive stock into the store.
    ReceiveStock,
    /// Set a counted quantity (stock adjustment).
    AdjustStock,
    /// Create, change and deactivate till users.
    ManageUsers,
    /// Enroll or remove a lane.
    ManageLanes,
    /// Change the store's prices locally.
    ManageStorePrices,
    /// HQ: stores, categories, products.
    ManageMasterData,
    /// HQ: see more than one store.
    ViewAllStores,
    /// HQ: analytics and reports.
    ViewAnalytics,
    /// HQ: issue and revoke device credentials.
    ManageDevices,
}

use Role::*;

const SUPERVISORS_UP: &[Role] = &[
    Supervisor,
    Manager,
    StoreManager,
    RegionalManager,
    Admin,
    SuperAdmin,
];
const MANAGERS_UP: &[Role] = &[Manager, StoreManager, RegionalManager, Admin, SuperAdmin];
const HQ_ADMINS: &[Role] = &[Admin, SuperAdmin];
const HQ_ALL: &[Role] = &[StoreManager, RegionalManager, Admin, SuperAdmin];
const HQ_WIDE: &[Role] = &[RegionalManager, Admin, SuperAdmin];

/// Who may do what. One row per permission; the roles listed have it.
pub const PERMISSION_MATRIX: &[(Permission, &[Role])] = &[
    (Permission::Sell, &Role::ALL),
    (Permission::VoidTransaction, SUPERVISORS_UP),
    (Permission::Refund, SUPERVISORS_UP),
    (Permission::DiscountAboveLimit, SUPERVISORS_UP),
    (Permission::PriceOverride, SUPERVISORS_UP),
    (Permission::OpenDrawerNoSale, SUPERVISORS_UP),
    (Permission::CashInOut, SUPERVISORS_UP),
    (Permission::CloseShift, SUPERVISORS_UP),
    (Permission::ViewShiftReport, SUPERVISORS_UP),
    (Permission::ReceiveStock, SUPERVISORS_UP),
    (Permission::AdjustStock, MANAGERS_UP),
    (Permission::ManageUsers, MANAGERS_UP),
    (Permission::ManageLanes, MANAGERS_UP),
    (Permission::ManageStorePrices, MANAGERS_UP),
    (Permission::ManageMasterData, HQ_ADMINS),
    (Permission::ViewAllStores, HQ_WIDE),
    (Permission::ViewAnalytics, HQ_ALL),
    (Permission::ManageDevices, HQ_ALL),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_has_a_row() {
        // One row per variant: a new variant without a row would be allowed to nobody.
        let all = [
            Permission::Sell,
            Permission::VoidTransaction,
            Permission::Refund,
            Permission::DiscountAboveLimit,
            Permission::PriceOverride,
            Permission::OpenDrawerNoSale,
            Permission::CashInOut,
            Permission::CloseShift,
            Permission::ViewShiftReport,
            Permission::ReceiveStock,
            Permission::AdjustStock,
            Permission::ManageUsers,
            Permission::ManageLanes,
            Permission::ManageStorePrices,
            Permission::ManageMasterData,
            Permission::ViewAllStores,
            Permission::ViewAnalytics,
            Permission::ManageDevices,
        ];
        assert_eq!(all.len(), PERMISSION_MATRIX.len());
        for p in all {
            assert_eq!(
                PERMISSION_MATRIX.iter().filter(|(q, _)| *q == p).count(),
                1,
                "{p:?}"
            );
        }
    }

    #[test]
    fn cashiers_need_approval_for_guarded_actions() {
        assert!(Cashier.allows(Permission::Sell));
        for p in [
            Permission::VoidTransaction,
            Permission::Refund,
            Permission::DiscountAboveLimit,
            Permission::PriceOverride,
            Permission::OpenDrawerNoSale,
            Permission::CloseShift,
            Permission::ManageUsers,
        ] {
            assert!(!Cashier.allows(p), "{p:?}");
        }
        assert!(Supervisor.can_approve(Permission::Refund));
        assert!(!Supervisor.can_approve(Permission::ManageUsers));
        assert!(Manager.can_approve(Permission::ManageUsers));
        assert!(!Cashier.can_approve(Permission::Sell));
        assert!(!Manager.allows(Permission::ManageMasterData));
        assert!(Admin.allows(Permission::ManageMasterData));
    }

    #[test]
    fn role_names_are_the_seeds() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.as_str().into())
            );
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Cashier.is_till_role() && !StoreManager.is_till_role());
        assert!(StoreManager.is_store_scoped() && !Admin.is_store_scoped());
    }
}
