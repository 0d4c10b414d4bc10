//! Simulated customers: random baskets sold through the screens' API, for the demo store's
//! background lanes, `kasir-node --simulate-sales` and benchmarks.

use kasir_core::schema::Decimal;
use kasir_core::schema::domain::SaleUnit;
use kasir_core::schema::payment::Tender;

use crate::{Command, Node};

/// One basket of 1–5 products among the first 200 active ones (the `pick` fixes which and how
/// many; weighed ones by half a kilogram), paid in cash. Returns its transaction number, or
/// why it could not be sold, in words.
pub fn sell_random_basket(node: &Node, pick: u64) -> Result<String, String> {
    let products = node.active_products(200).map_err(|e| e.to_string())?;
    if products.is_empty() {
        return Err("no products yet: waiting for the catalog from the other lanes (one lane must start with --demo-products N)".into());
    }
    for k in 0..1 + pick % 5 {
        let index = usize::try_from((pick / 7 + k * 13) % products.len() as u64).unwrap_or(0);
        let p = &products[index];
        let quantity = if p.unit == SaleUnit::Kilogram {
            Decimal::new(500, 3)
        } else {
            Decimal::ONE
        };
        node.execute(Command::AddSku {
            sku: p.sku.clone(),
            quantity,
        })
        .map_err(|e| e.to_string())?;
    }
    let r = node
        .pay(vec![Tender::cash(Decimal::from(10_000_000))])
        .map_err(|e| e.to_string())?;
    Ok(r.number)
}
