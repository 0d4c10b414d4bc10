//! The workload: what cashiers, customers and HQ do, each acknowledged action written into
//! [`Truth`].

use super::*;

impl World {
    pub(super) fn sale(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        let n_lines = self.rng.random_range(1..=5);
        for _ in 0..n_lines {
            let p = self.catalog[self.rng.random_range(0..self.catalog.len())].clone();
            let q = if p.unit == SaleUnit::Kilogram {
                Decimal::new(self.rng.random_range(100..2500), 3)
            } else {
                Decimal::from(self.rng.random_range(1..=3_i64))
            };
            if let Err(e) = self.till(s, l).add_sku(&p.sku, q) {
                self.refused(s, l, "scan", e);
            }
        }
        if self.till(s, l).cart().is_empty() {
            return;
        }
        if self.rng.random_bool(0.15) {
            let pct = Decimal::from(self.rng.random_range(1..=20_i64));
            let _ = self
                .till(s, l)
                .set_line_discount(0, Some(Discount::Percent(pct)), None);
        }
        let known = self.truth.customers.get(&code).cloned().unwrap_or_default();
        if !known.is_empty() && self.rng.random_bool(0.35) {
            let c = known[self.rng.random_range(0..known.len())];
            if self
                .till(s, l)
                .attach_customer(kasir_core::schema::domain::CustomerId(c))
                .is_ok()
            {
                let points = self
                    .till(s, l)
                    .customer(kasir_core::schema::domain::CustomerId(c))
                    .ok()
                    .flatten()
                    .map_or(0, |v| v.points);
                if points >= 10 && self.rng.random_bool(0.4) {
                    let r = self.rng.random_range(1..=points.min(40));
                    let _ = self.till(s, l).redeem_points(r);
                }
            }
        }
        let due = match self.till(s, l).cart_totals() {
            Ok(t) => t.total_amount,
            Err(e) => {
                self.refused(s, l, "totals", e);
                let _ = self.till(s, l).void_cart(None);
                return;
            }
        };
        let cash_over = Decimal::from(self.rng.random_range(0..5_i64) * 10_000 + 100_000);
        let tenders = match self.rng.random_range(0..4) {
            0 | 1 => vec![Tender::cash(due + cash_over)],
            2 => {
                let mut card = Tender::new(PaymentMethod::Card, due);
                card.reference = Some(format!("APPR-{}", self.rng.random_range(1000..9999)));
                vec![card]
            }
            _ => {
                let half = (due / Decimal::from(2)).round_dp(0);
                let mut wallet = Tender::new(PaymentMethod::EWallet, half);
                wallet.reference = Some(format!("QR-{}", self.rng.random_range(1000..9999)));
                vec![wallet, Tender::cash(due - half + cash_over)]
            }
        };
        let lines: Vec<(String, Decimal)> = self
            .till(s, l)
            .cart()
            .lines
            .iter()
            .map(|x| (x.sku.clone(), x.quantity.get()))
            .collect();
        let customer = self.till(s, l).cart().customer;
        let mid_commit_crash = self.cfg.faults.has(Fault::Crash) && self.rng.random_ratio(1, 60);
        let paid = if mid_commit_crash {
            self.till(s, l).commit_sale(&tenders)
        } else {
            self.till(s, l).pay(&tenders)
        };
        let receipt = match paid {
            Ok(r) => r,
            Err(e) => {
                self.refused(s, l, "pay", e);
                let _ = self.till(s, l).void_cart(None);
                return;
            }
        };
        self.stats.sales += 1;
        for (sku, q) in &lines {
            self.truth.add_stock(&code, sku, -*q);
        }
        if let Some(c) = customer {
            self.truth
                .add_points(c.0, receipt.points_earned - receipt.points_redeemed);
        }
        self.truth
            .sales
            .insert(receipt.sale_id.0, (code.clone(), receipt.number.clone()));
        self.truth
            .numbers
            .push((receipt.number.clone(), receipt.sale_id.0));
        self.truth
            .sale_numbers
            .entry(code.clone())
            .or_default()
            .push(receipt.number.clone());
        let total = receipt.total;
        self.log(|| {
            format!(
                "{code}/{} sale {} {} lines total {total}{}",
                l + 1,
                receipt.number,
                lines.len(),
                if mid_commit_crash {
                    " (lane killed before its projections)"
                } else {
                    ""
                }
            )
        });
        if mid_commit_crash {
            self.crash(s, l);
        }
    }

    pub(super) fn refund(&mut self, s: usize, l: usize) {
        let code = self.stores[s].code.clone();
        let numbers = self
            .truth
            .sale_numbers
            .get(&code)
            .cloned()
            .unwrap_or_default();
        if numbers.is_empty() {
            return;
        }
        let number = numbers[self.rng.random_range(0..numbers.len())].clone();
        let lines = match self.till(s, l).returnable(&number) {
            Ok(v) => v,
            Err(e) => return self.refused(s, l, "return", e),
        };
        let Some((line_no, left)) = lines.into_iter().find(|(_, q)| *q > Decimal::ZERO) else {
            return;
        };
        let quantity = if left >= Decimal::ONE {
            Decimal::ONE
        } else {
            left
        };
        let rec = self.till(s, l).refund(
            &number,
            &[ReturnItem { line_no, quantity }],
            PaymentMethod::Cash,
            Some("rusak".into()),
            None,
        );
        match rec {
            Ok(r) => {
                self.stats.returns += 1;
                let (moves, entries) = r.effects();
                for m in moves {
                    self.truth.add_stock(&code, &m.sku, m.quantity);
                }
                for e in entries {
                    self.truth.add_points(e.customer.0, e.points);
                }
                self.truth.numbers.push((r.number.clone(), r.id));
                self.log(|| format!("{code}/{} return {} of sale {number}", l + 1, r.number));
            }
            Err(e) => self.refused(s, l, "return", e),
        }
    }

    pub(super) fn shift_change(&mut self, s: usize, l: usize) {
        let counted = Decimal::from(self.rng.random_range(400..700_i64) * 1000);
        let code = self.stores[s].code.clone();
        match self.till(s, l).close_shift(counted, None) {
            Ok(_) => {
                let _ = self.till(s, l).open_shift(Decimal::from(500_000));
                self.log(|| format!("{code}/{} shift closed and opened", l + 1));
            }
            Err(e) => self.refused(s, l, "close shift", e),
        }
    }

    pub(super) fn sign_up(&mut self, s: usize, l: usize) {
        self.phone += 1;
        let phone = format!(
            "0812{:02}{:06}",
            (self.seed % 97) as u8,
            self.phone % 1_000_000
        );
        let code = self.stores[s].code.clone();
        let new = NewCustomer {
            name: format!("Pelanggan {}", self.phone),
            phone: Some(phone),
            email: None,
            customer_code: None,
            address: None,
            date_of_birth: None,
        };
        match self.till(s, l).create_customer(new) {
            Ok(c) => {
                self.truth.points.insert(c.id.0, (code.clone(), 0));
                self.truth
                    .customers
                    .entry(code.clone())
                    .or_default()
                    .push(c.id.0);
                self.log(|| format!("{code}/{} customer {} signed up", l + 1, c.id.0));
            }
            Err(e) => self.refused(s, l, "sign-up", e),
        }
    }

    pub(super) fn receive(&mut self, s: usize, l: usize) {
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let q = Decimal::from(self.rng.random_range(5..40_i64));
        let code = self.stores[s].code.clone();
        match self
            .till(s, l)
            .receive_stock(&p, q, Some("supplier".into()), None)
        {
            Ok(_) => {
                self.truth.add_stock(&code, &p, q);
                self.log(|| format!("{code}/{} received {q} of {p}", l + 1));
            }
            Err(e) => self.refused(s, l, "receive", e),
        }
    }

    pub(super) fn hq_price(&mut self) {
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let price = Decimal::from(self.rng.random_range(10..500_i64) * 100);
        self.hq.set_price(&p, price);
        self.log(|| format!("HQ price of {p} now {price}"));
    }

    pub(super) fn hq_stock(&mut self, s: usize) {
        let code = self.stores[s].code.clone();
        let p = self.catalog[self.rng.random_range(0..self.catalog.len())]
            .sku
            .clone();
        let receipt = self.rng.random_bool(0.5);
        let q = if receipt {
            Decimal::from(self.rng.random_range(5..50_i64))
        } else {
            Decimal::from(self.rng.random_range(-5..=5_i64))
        };
        if q.is_zero() {
            return;
        }
        let at = self.base.now();
        if self.hq.move_stock(&code, &p, q, receipt, at).is_some() {
            self.truth.add_stock(&code, &p, q);
            let what = if receipt { "receipt" } else { "adjustment" };
            self.log(|| format!("HQ stock {what} {code} {p} {q}"));
        }
    }

    pub(super) fn hq_customer_edit(&mut self) {
        let pick = self.rng.random_range(0..1000);
        let at = self.base.now();
        let name = format!("Pelanggan HQ {pick}");
        if let Some(id) = self.hq.edit_customer(pick, &name, at) {
            self.log(|| format!("HQ renamed customer {id}"));
        }
    }
}
