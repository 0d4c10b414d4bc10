//! Domain types shared by the till, the simulator and the gateway.
//!
//! Identity rules that the invariants rest on:
//! - a sale carries its own [`SaleId`] from the moment it is created (I2: HQ dedups on it);
//! - every stock movement and loyalty entry carries its own id, so applying it twice, on one
//!   lane or on two, counts once (I3, I4);
//! - products are keyed by SKU across lanes and HQ; HQ's numeric id rides along as `server_id`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::barcode::Nomenclature;
use crate::money::{CashIncrement, Currency};
use crate::payment::{PaymentMethod, TransactionPaymentMethod};
use crate::roles::Role;
use crate::tax::TaxConfig;
use crate::txn_number::{LaneNo, StoreCode, TxnNumber};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// A sale's own id, minted by the lane when the sale is created.
    SaleId
);
uuid_id!(
    /// A stock movement's own id (sale lines derive theirs from the sale id and line number).
    MovementId
);
uuid_id!(
    /// A customer's id, minted by whoever created the customer (a lane or HQ).
    CustomerId
);
uuid_id!(
    /// A loyalty ledger entry's own id.
    LoyaltyEntryId
);
uuid_id!(
    /// A shift (cash session) id.
    ShiftId
);

/// How a store sells: what the till needs to price and round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub code: StoreCode,
    pub name: String,
    pub address: Option<String>,
    pub currency: Currency,
    pub tax: TaxConfig,
    pub cash_increment: CashIncrement,
    pub timezone: String,
    pub nomenclature: Nomenclature,
    /// A cashier may give discounts up to this percent without approval.
    pub cashier_discount_limit_percent: Decimal,
    /// Points earned per this much spent (e.g. 1 point per Rp 10.000); zero disables loyalty.
    pub loyalty_spend_per_point: Decimal,
    /// What one point is worth when redeemed.
    pub loyalty_point_value: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub store: Option<StoreCode>,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<u64>,
    pub sort_order: i32,
    pub is_active: bool,
}

text_enum! {
    /// Units a product is sold in: by piece, or weighed.
    pub enum SaleUnit("unit") {
        Piece = "pcs" | "piece",
        Kilogram = "kg" | "kilogram",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub server_id: Option<u64>,
    /// Normalized GTIN key (see [`crate::barcode::Gtin::key`]) or a scale item key.
    pub barcode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub category_id: Option<u64>,
    pub unit: SaleUnit,
    pub cost_price: Decimal,
    pub selling_price: Decimal,
    pub min_stock: Decimal,
    pub max_stock: Decimal,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub customer_code: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub is_active: bool,
}

/// One line of a committed sale, with every amount already computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub line_no: u16,
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount_amount: Decimal,
    pub total_price: Decimal,
    pub transaction_discount_share: Decimal,
    pub tax_amount: Decimal,
    /// What the customer paid for this line, tax included; the lines add up to the total.
    pub amount_due: Decimal,
    /// Set when a supervisor overrode the catalog price.
    pub price_override_by: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalePayment {
    pub method: PaymentMethod,
    pub amount: Decimal,
    pub reference: Option<String>,
}

/// A committed sale: immutable once acknowledged to the cashier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub id: SaleId,
    pub number: TxnNumber,
    pub store: StoreCode,
    pub lane: LaneNo,
    pub shift: Option<ShiftId>,
    pub cashier_id: u64,
    pub customer: Option<CustomerId>,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<SaleLine>,
    pub payments: Vec<SalePayment>,
    pub payment_method: TransactionPaymentMethod,
    pub subtotal: Decimal,
    pub discount_amount: Decimal,
    pub tax_amount: Decimal,
    pub total_amount: Decimal,
    pub cash_tendered: Decimal,
    pub change_amount: Decimal,
    pub rounding_amount: Decimal,
    pub loyalty_points_earned: i64,
    pub loyalty_points_redeemed: i64,
    pub notes: Option<String>,
}

text_enum! {
    /// The seed's `movement_type`.
    pub enum MovementType("movement type") {
        In = "in",
        Out = "out",
        Adjustment = "adjustment",
        Transfer = "transfer",
    }
}

text_enum! {
    /// The seed's `reference_type`.
    pub enum ReferenceType("reference type") {
        Sale = "sale",
        Purchase = "purchase",
        Adjustment = "adjustment",
        Transfer = "transfer",
        Return = "return",
    }
}

/// A change of stock. `quantity` is signed: what it adds to the stock counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMovement {
    pub id: MovementId,
    pub store: StoreCode,
    pub sku: String,
    pub movement_type: MovementType,
    pub reference_type: ReferenceType,
    pub quantity: Decimal,
    /// The sale or return this movement belongs to, if any.
    pub sale: Option<SaleId>,
    pub notes: Option<String>,
    pub created_by: Option<u64>,
    pub created_at: DateTime<Utc>,
}

text_enum! {
    pub enum LoyaltyKind("loyalty entry kind") {
        Earn = "earn",
        Redeem = "redeem",
        /// Reverses points on a return.
        Reverse = "reverse",
    }
}

/// One change of a customer's points; `points` is signed. Balance = Σ points (I4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoyaltyEntry {
    pub id: LoyaltyEntryId,
    pub customer: CustomerId,
    pub kind: LoyaltyKind,
    pub points: i64,
    pub sale: Option<SaleId>,
    pub created_at: DateTime<Utc>,
}

text_enum! {
    pub enum CashMovementKind("cash movement") {
        PayIn = "pay_in",
        PayOut = "pay_out",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashMovement {
    pub shift: ShiftId,
    pub kind: CashMovementKind,
    pub amount: Decimal,
    pub reason: String,
    pub user_id: u64,
    pub approved_by: Option<u64>,
    pub at: DateTime<Utc>,
}

/// A cash session on one lane: opened with a float, closed with a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub id: ShiftId,
    pub store: StoreCode,
    pub lane: LaneNo,
    pub opened_by: u64,
    pub opened_at: DateTime<Utc>,
    pub opening_float: Decimal,
    pub closed_by: Option<u64>,
    pub closed_at: Option<DateTime<Utc>>,
    pub counted_cash: Option<Decimal>,
}

/// A return (refund) of part or all of a committed sale: immutable, replicated like a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    pub id: Uuid,
    pub store: StoreCode,
    /// The original sale's customer, whose points are reversed.
    pub customer: Option<CustomerId>,
    /// The return's own number, from the lane's sequence (I5).
    pub number: String,
    pub sale_id: SaleId,
    pub sale_number: String,
    pub lane: u16,
    pub shift: Option<ShiftId>,
    pub refund_method: PaymentMethod,
    /// What the customer received (cash refunds rounded to the cash increment).
    pub refund_amount: Decimal,
    pub tax_amount: Decimal,
    pub points_reversed: i64,
    pub created_by: u64,
    pub approved_by: Option<u64>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<ReturnLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub line_no: u16,
    pub sku: String,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub tax: Decimal,
}

/// The id of something derived from a sale or return (`tag`: `line-3`, `earn`, `redeem`,
/// `reverse`): a UUID v5 in the namespace of the record's own id, so every lane and HQ derive
/// the same id and each derived movement or entry is counted once.
pub fn derived_id(record: Uuid, tag: &str) -> Uuid {
    Uuid::new_v5(&record, tag.as_bytes())
}

/// What a sale implies besides itself, as [`sale_effects`] needs it. Lanes build it from a
/// [`Sale`], HQ from an uploaded transaction, so both derive the same movements and entries.
#[derive(Debug, Clone, Copy)]
pub struct SaleFacts<'a> {
    pub id: SaleId,
    pub store: &'a StoreCode,
    pub cashier_id: u64,
    pub customer: Option<CustomerId>,
    pub loyalty_points_earned: i64,
    pub loyalty_points_redeemed: i64,
    pub created_at: DateTime<Utc>,
}

/// The stock movements (one per line `(line_no, sku, quantity)`, taking stock out) and loyalty
/// entries (points redeemed, points earned) a sale implies, with ids derived from the sale's
/// id: the one definition every lane and HQ use, so each is counted once however it arrives.
pub fn sale_effects<'a>(
    sale: &SaleFacts<'_>,
    lines: impl IntoIterator<Item = (u16, &'a str, Decimal)>,
) -> (Vec<StockMovement>, Vec<LoyaltyEntry>) {
    let movements = lines
        .into_iter()
        .map(|(line_no, sku, quantity)| StockMovement {
            id: MovementId(derived_id(sale.id.0, &format!("line-{line_no}"))),
            store: sale.store.clone(),
            sku: sku.to_string(),
            movement_type: MovementType::Out,
            reference_type: ReferenceType::Sale,
            quantity: -quantity,
            sale: Some(sale.id),
            notes: None,
            created_by: Some(sale.cashier_id),
            created_at: sale.created_at,
        })
        .collect();
    let mut loyalty = Vec::new();
    if let Some(c) = sale.customer {
        for (tag, kind, points) in [
            ("redeem", LoyaltyKind::Redeem, -sale.loyalty_points_redeemed),
            ("earn", LoyaltyKind::Earn, sale.loyalty_points_earned),
        ] {
            if points != 0 {
                loyalty.push(LoyaltyEntry {
                    id: LoyaltyEntryId(derived_id(sale.id.0, tag)),
                    customer: c,
                    kind,
                    points,
                    sale: Some(sale.id),
                    created_at: sale.created_at,
                });
            }
        }
    }
    (movements, loyalty)
}

impl Sale {
    /// The stock movements (one per line, taking stock out) and loyalty entries (points
    /// redeemed, points earned) this sale implies ([`sale_effects`]).
    pub fn effects(&self) -> (Vec<StockMovement>, Vec<LoyaltyEntry>) {
        sale_effects(
            &SaleFacts {
                id: self.id,
                store: &self.store,
                cashier_id: self.cashier_id,
                customer: self.customer,
                loyalty_points_earned: self.loyalty_points_earned,
                loyalty_points_redeemed: self.loyalty_points_redeemed,
                created_at: self.created_at,
            },
            self.lines
                .iter()
                .map(|l| (l.line_no, l.sku.as_str(), l.quantity)),
        )
    }
}

impl Return {
    /// The stock movements (goods back in) and the loyalty reversal this return implies.
    pub fn effects(&self) -> (Vec<StockMovement>, Vec<LoyaltyEntry>) {
        let movements = self
            .lines
            .iter()
            .map(|l| StockMovement {
                id: MovementId(derived_id(self.id, &format!("line-{}", l.line_no))),
                store: self.store.clone(),
                sku: l.sku.clone(),
                movement_type: MovementType::In,
                reference_type: ReferenceType::Return,
                quantity: l.quantity,
                sale: Some(self.sale_id),
                notes: self.reason.clone(),
                created_by: Some(self.created_by),
                created_at: self.created_at,
            })
            .collect();
        let loyalty = match self.customer {
            Some(c) if self.points_reversed > 0 => vec![LoyaltyEntry {
                id: LoyaltyEntryId(derived_id(self.id, "reverse")),
                customer: c,
                kind: LoyaltyKind::Reverse,
                points: -self.points_reversed,
                sale: Some(self.sale_id),
                created_at: self.created_at,
            }],
            _ => Vec::new(),
        };
        (movements, loyalty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_uuid_strings_on_the_wire() {
        let id = SaleId(Uuid::nil());
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"00000000-0000-0000-0000-000000000000\""
        );
        assert_eq!(
            "00000000-0000-0000-0000-000000000000"
                .parse::<SaleId>()
                .unwrap(),
            id
        );
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let sale = Uuid::parse_str("01a20ac1-21e8-74bb-bb88-7e48dfd90b0d").unwrap();
        // Pinned: HQ and every lane must derive the same ids forever.
        assert_eq!(
            derived_id(sale, "line-1").to_string(),
            Uuid::new_v5(&sale, b"line-1").to_string()
        );
        assert_ne!(derived_id(sale, "line-1"), derived_id(sale, "line-2"));
        assert_ne!(derived_id(sale, "earn"), derived_id(sale, "redeem"));
    }

    #[test]
    fn enums_use_the_seeds_spelling() {
        assert_eq!(
            serde_json::to_string(&ReferenceType::Return).unwrap(),
            "\"return\""
        );
        assert_eq!(
            serde_json::to_string(&MovementType::Adjustment).unwrap(),
            "\"adjustment\""
        );
        assert_eq!(
            serde_json::to_string(&PaymentMethod::EWallet).unwrap(),
            "\"e_wallet\""
        );
    }
}
