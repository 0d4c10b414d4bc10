//! What a receipt prints, and the payment references it may show: a card's number is never
//! stored, an approval code shows its last four characters.

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::SaleId;
use kasir_schema::money::Money;
use kasir_schema::payment::PaymentMethod;

/// Everything a receipt prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub store_name: String,
    pub store_address: Option<String>,
    pub number: String,
    pub sale_id: SaleId,
    pub at: DateTime<Utc>,
    pub cashier: String,
    pub customer: Option<String>,
    pub lines: Vec<ReceiptLine>,
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub tax_rate: Decimal,
    pub tax_inclusive: bool,
    pub total: Decimal,
    pub payments: Vec<(PaymentMethod, Decimal, Option<String>)>,
    pub cash_tendered: Decimal,
    pub change: Decimal,
    pub rounding: Decimal,
    pub points_earned: i64,
    pub points_redeemed: i64,
    pub points_balance: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    pub name: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Decimal,
    pub total: Decimal,
}

fn rp(d: Decimal) -> String {
    Money::idr(d)
        .map(|m| m.to_string())
        .unwrap_or_else(|_| d.to_string())
}

fn method_label(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "Tunai",
        PaymentMethod::Card => "Kartu",
        PaymentMethod::EWallet => "E-Wallet",
        PaymentMethod::BankTransfer => "Transfer",
    }
}

impl Receipt {
    /// The receipt as plain text, `width` characters wide (32 or 42 on thermal printers).
    pub fn to_text(&self, width: usize) -> String {
        let width = width.max(24);
        let mut out = String::new();
        let center = |s: &str| {
            let s: String = s.chars().take(width).collect();
            format!("{s:^width$}\n")
        };
        let row = |l: &str, r: &str| {
            let room = width.saturating_sub(r.chars().count() + 1);
            let l: String = l.chars().take(room).collect();
            format!("{l:<room$} {r}\n")
        };
        out += &center(&self.store_name);
        if let Some(a) = &self.store_address {
            out += &center(a);
        }
        out += &row("No", &self.number);
        out += &row("Tanggal", &self.at.format("%Y-%m-%d %H:%M UTC").to_string());
        out += &row("Kasir", &self.cashier);
        if let Some(c) = &self.customer {
            out += &row("Pelanggan", c);
        }
        out += &"-".repeat(width);
        out.push('\n');
        for l in &self.lines {
            out += &format!("{}\n", l.name.chars().take(width).collect::<String>());
            let qty =
                kasir_schema::money::format_decimal(l.quantity, l.quantity.normalize().scale());
            out += &row(&format!("  {qty} x {}", rp(l.unit_price)), &rp(l.total));
            if !l.discount.is_zero() {
                out += &row("  Diskon", &format!("-{}", rp(l.discount)));
            }
        }
        out += &"-".repeat(width);
        out.push('\n');
        out += &row("Subtotal", &rp(self.subtotal));
        if !self.discount.is_zero() {
            out += &row("Diskon", &format!("-{}", rp(self.discount)));
        }
        let tax_label = format!(
            "PPN {}%{}",
            kasir_schema::money::format_decimal(self.tax_rate, self.tax_rate.normalize().scale()),
            if self.tax_inclusive {
                " (termasuk)"
            } else {
                ""
            }
        );
        out += &row(&tax_label, &rp(self.tax));
        out += &row("TOTAL", &rp(self.total));
        for (m, amount, reference) in &self.payments {
            let label = match reference {
                Some(r) => format!("{} {}", method_label(*m), mask_reference(r)),
                None => method_label(*m).to_string(),
            };
            out += &row(&label, &rp(*amount));
        }
        if !self.cash_tendered.is_zero() {
            out += &row("Tunai diterima", &rp(self.cash_tendered));
            out += &row("Kembali", &rp(self.change));
        }
        if !self.rounding.is_zero() {
            out += &row("Pembulatan", &rp(self.rounding));
        }
        if self.points_earned != 0 || self.points_redeemed != 0 {
            out += &row("Poin didapat", &self.points_earned.to_string());
            if self.points_redeemed != 0 {
                out += &row("Poin dipakai", &self.points_redeemed.to_string());
            }
            if let Some(b) = self.points_balance {
                out += &row("Saldo poin", &b.to_string());
            }
        }
        out += &center("Terima kasih");
        out
    }
}

/// Shows at most the last four characters of a payment reference.
pub fn mask_reference(r: &str) -> String {
    let n = r.chars().count();
    if n <= 4 {
        return r.to_string();
    }
    let tail: String = r.chars().skip(n - 4).collect();
    format!("****{tail}")
}

/// A reference that looks like a card number (13–19 digits passing Luhn) is refused: kasir
/// never stores card numbers.
pub fn looks_like_card_number(r: &str) -> bool {
    let digits: Vec<u32> = r
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_digit(10))
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_recognized_and_approval_codes_are_not() {
        for pan in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500005555555559",
            "378282246310005",
        ] {
            assert!(looks_like_card_number(pan), "{pan}");
        }
        for not_pan in [
            "4111 1111 1111 1112",
            "APPR-551203",
            "551203",
            "123456789012",
            "00000000000000000000",
        ] {
            assert!(!looks_like_card_number(not_pan), "{not_pan}");
        }
    }

    #[test]
    fn references_show_at_most_four_characters() {
        assert_eq!(mask_reference("APPR-551203"), "****1203");
        assert_eq!(mask_reference("1203"), "1203");
        assert_eq!(mask_reference("ÄÖÜßabcd"), "****abcd");
    }

    fn receipt() -> Receipt {
        Receipt {
            store_name: "Toko Sejahtera dengan Nama yang Sangat Panjang Sekali".into(),
            store_address: None,
            number: "JKT01-001-00000001".into(),
            sale_id: SaleId(uuid::Uuid::nil()),
            at: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
            cashier: "Siti".into(),
            customer: None,
            lines: vec![ReceiptLine {
                name: "Daging Sapi Has Dalam Impor Premium Australia".into(),
                quantity: Decimal::new(675, 3),
                unit_price: Decimal::from(135_000),
                discount: Decimal::from(9_113),
                total: Decimal::from(82_012),
            }],
            subtotal: Decimal::from(91_125),
            discount: Decimal::from(9_113),
            tax: Decimal::from(8_127),
            tax_rate: Decimal::from(11),
            tax_inclusive: true,
            total: Decimal::from(82_012),
            payments: vec![(
                PaymentMethod::Card,
                Decimal::from(82_012),
                Some("APPR-551203".into()),
            )],
            cash_tendered: Decimal::ZERO,
            change: Decimal::ZERO,
            rounding: Decimal::ZERO,
            points_earned: 0,
            points_redeemed: 0,
            points_balance: None,
        }
    }

    #[test]
    fn receipt_text_fits_the_paper() {
        for width in [32, 42] {
            let text = receipt().to_text(width);
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            assert!(text.contains("Rp 82.012"));
            assert!(text.contains("0,675 x Rp 135.000"));
            assert!(text.contains("PPN 11% (termasuk)"));
            assert!(text.contains("****1203") && !text.contains("551203 "));
        }
    }
}
