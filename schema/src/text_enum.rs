//! Enums with one spelling: `text_enum!` gives each variant one text (the seed's), used by
//! serde, `as_str`, `Display` and `FromStr` alike, so the JSON, the SQL columns and the
//! documents can never disagree (older spellings may be accepted as aliases when reading).

/// A text value that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Defines an enum whose variants each have one text (and, after `|`, older spellings it
/// still reads):
///
/// ```
/// use kasir_schema::text_enum;
///
/// text_enum! {
///     /// A door.
///     pub enum Door("door") { Open = "open", Shut = "shut" | "closed" }
/// }
/// assert_eq!(Door::Shut.as_str(), "shut");
/// assert_eq!(serde_json::to_string(&Door::Open).unwrap(), "\"open\"");
/// assert_eq!("closed".parse::<Door>().unwrap(), Door::Shut);
/// assert_eq!("ajar".parse::<Door>().unwrap_err().to_string(), "unknown door \"ajar\"");
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text $(, alias = $alias)*)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one text of this value (what serde writes, too).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl $crate::schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut $crate::schemars::SchemaGenerator) -> $crate::schemars::Schema {
                $crate::schemars::json_schema!({ "type": "string", "enum": [$($text),+] })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err($crate::text_enum::UnknownValue {
                        kind: $kind,
                        value: s.chars().take(32).collect(),
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::domain::{CashMovementKind, LoyaltyKind, MovementType, ReferenceType, SaleUnit};
    use crate::payment::{PaymentMethod, TransactionPaymentMethod};
    use crate::wire::{PaymentStatus, TenderStatus};

    /// serde, `as_str`, `Display` and `FromStr` agree on every variant.
    fn one_spelling<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: serde::Serialize + serde::de::DeserializeOwned,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for v in all {
            let text = v.to_string();
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(),
                *v
            );
            assert_eq!(text.parse::<T>().unwrap(), *v);
        }
    }

    #[test]
    fn every_text_enum_has_one_spelling() {
        one_spelling(SaleUnit::ALL);
        one_spelling(MovementType::ALL);
        one_spelling(ReferenceType::ALL);
        one_spelling(LoyaltyKind::ALL);
        one_spelling(CashMovementKind::ALL);
        one_spelling(PaymentMethod::ALL);
        one_spelling(TransactionPaymentMethod::ALL);
        one_spelling(PaymentStatus::ALL);
        one_spelling(TenderStatus::ALL);
        assert_eq!(SaleUnit::Kilogram.as_str(), "kg");
        // Older spellings still read.
        assert_eq!("kilogram".parse::<SaleUnit>().unwrap(), SaleUnit::Kilogram);
        assert_eq!(
            serde_json::from_str::<SaleUnit>("\"piece\"").unwrap(),
            SaleUnit::Piece
        );
        let e = "litre".parse::<SaleUnit>().unwrap_err();
        assert_eq!(e.to_string(), "unknown unit \"litre\"");
    }
}
