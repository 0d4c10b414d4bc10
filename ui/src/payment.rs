//! The payment step: cash with quick amounts or as typed, card, e-wallet and bank transfer
//! with their approval code, a split across them; the sale committed when all is paid.

use egui::{Key, RichText};
use kasir_node::View;
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::{PaymentMethod, Tender};

use crate::text::{self, Lang, T};
use crate::{Step, TillApp, big_button, parse_amount, quick_amounts, rupiah};

/// The payment step's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Payment {
    tenders: Vec<Tender>,
    tendered: String,
    /// A non-cash tender being entered: its method, amount (empty: all that is left) and
    /// reference.
    non_cash: Option<(PaymentMethod, String, String)>,
}

impl Payment {
    fn non_cash_total(&self) -> Decimal {
        self.tenders.iter().map(|t| t.amount).sum()
    }
}

impl TillApp {
    /// Payment: cash with quick amounts (F1–F3) or as typed; card (F5), e-wallet (F6) and bank
    /// transfer (F7) with their reference, for all that is left or part of it (a split, the
    /// rest in cash or another method).
    pub(crate) fn payment(&mut self, ui: &mut egui::Ui, view: &View, mut p: Payment) {
        let total = view.cart.totals.total_amount;
        let increment = view
            .store
            .as_ref()
            .map_or(Decimal::ONE, |s| s.cash_increment);
        let left = total - p.non_cash_total();
        let due = if p.tenders.is_empty() {
            view.cart.cash_due
        } else {
            kasir_node::schema::money::round_half_up(left, increment).unwrap_or(left)
        };
        if !p.tenders.is_empty() {
            ui.label(format!("{}: {}", self.t(T::AmountDue), rupiah(total)));
            for t in &p.tenders {
                ui.label(format!(
                    "{}: {} {} ({})",
                    self.t(T::PaidSoFar),
                    method_name(t.method, self.lang),
                    rupiah(t.amount),
                    t.reference.as_deref().unwrap_or("")
                ));
            }
        }
        ui.label(
            RichText::new(format!("{}: {}", self.t(T::CashDue), rupiah(due)))
                .size(32.0)
                .strong(),
        );
        ui.add_space(6.0);
        let mut pay: Option<Vec<Tender>> = None;
        let entering = p.non_cash.is_some();
        let pressed = |ui: &egui::Ui, k: Key| !entering && ui.input(|i| i.key_pressed(k));
        ui.horizontal_wrapped(|ui| {
            let keys = [Key::F1, Key::F2, Key::F3];
            for (i, amount) in quick_amounts(due).into_iter().enumerate() {
                let label = if i == 0 {
                    format!("{} [F1]", self.t(T::Exact))
                } else {
                    format!("{} [F{}]", rupiah(amount), i + 1)
                };
                if ui.add(big_button(&label)).clicked() || pressed(ui, keys[i]) {
                    pay = Some(with_cash(&p.tenders, amount));
                }
            }
            for (method, key, label) in [
                (PaymentMethod::Card, Key::F5, T::Card),
                (PaymentMethod::EWallet, Key::F6, T::EWallet),
                (PaymentMethod::BankTransfer, Key::F7, T::Transfer),
            ] {
                if ui.add(big_button(self.t(label))).clicked() || pressed(ui, key) {
                    p.non_cash = Some((method, String::new(), String::new()));
                }
            }
        });
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        if let Some((method, mut amount, mut reference)) = p.non_cash.take() {
            ui.label(RichText::new(method_name(method, self.lang)).strong());
            egui::Grid::new("non-cash").num_columns(2).show(ui, |ui| {
                ui.label(self.t(T::NonCashAmount));
                ui.add(egui::TextEdit::singleline(&mut amount).hint_text(rupiah(left)))
                    .accessible_name(T::NonCashAmount.text(self.lang));
                ui.end_row();
                ui.label(self.t(T::Reference));
                let field = ui
                    .add(egui::TextEdit::singleline(&mut reference))
                    .accessible_name(T::Reference.text(self.lang));
                if !entering {
                    field.request_focus();
                }
                ui.end_row();
            });
            let value = if amount.trim().is_empty() {
                Some(left)
            } else {
                parse_amount(&amount)
            };
            if enter {
                match value {
                    None => self.message = Some(self.t(T::NotAnAmount).to_string()),
                    Some(v) if v <= Decimal::ZERO || v > left => {
                        self.message = Some(self.t(T::TooMuchNonCash).to_string());
                    }
                    Some(_) if reference.trim().is_empty() => {
                        self.message = Some(self.t(T::NeedReference).to_string());
                    }
                    Some(v) => {
                        self.message = None;
                        let tender = Tender {
                            method,
                            amount: v,
                            reference: Some(reference.trim().to_string()),
                        };
                        if v == left {
                            // Paid in full: the tender joins the list once the sale is made.
                            let mut all = p.tenders.clone();
                            all.push(tender);
                            pay = Some(all);
                        } else {
                            p.tenders.push(tender);
                        }
                    }
                }
                if pay.is_none() && self.message.is_none() {
                    // Part paid: the rest in cash or another method.
                    self.step = Step::Payment(Box::new(p));
                    return;
                }
            }
            if pay.is_none() {
                p.non_cash = Some((method, amount, reference));
            }
        } else {
            ui.horizontal(|ui| {
                ui.label(self.t(T::Tendered));
                let field = ui
                    .add(egui::TextEdit::singleline(&mut p.tendered))
                    .accessible_name(T::Tendered.text(self.lang));
                if pay.is_none() && (field.lost_focus() || field.has_focus()) && enter {
                    match parse_amount(&p.tendered) {
                        Some(given) if given >= due => pay = Some(with_cash(&p.tenders, given)),
                        _ => {
                            self.message =
                                Some(format!("{} {}", self.t(T::NotEnough), rupiah(due)));
                        }
                    }
                }
            });
            if let Some(given) = parse_amount(&p.tendered).filter(|g| *g >= due) {
                ui.label(
                    RichText::new(format!("{}: {}", self.t(T::Change), rupiah(given - due)))
                        .size(28.0),
                );
            }
        }
        let back = ui.button(self.t(T::Back)).clicked() || ui.input(|i| i.key_pressed(Key::Escape));
        if back {
            if p.non_cash.is_some() {
                p.non_cash = None;
                self.step = Step::Payment(Box::new(p));
            } else {
                self.step = Step::Cart;
            }
            return;
        }
        if let Some(tenders) = pay {
            match self.node.pay(tenders) {
                Ok(receipt) => {
                    self.message = None;
                    self.step = Step::Done(Box::new(receipt));
                    return;
                }
                Err(e) => self.message = Some(text::error(self.lang, &e)),
            }
        }
        self.step = Step::Payment(Box::new(p));
    }
}

/// The tenders taken so far and `cash` handed over for the rest.
pub(crate) fn with_cash(tenders: &[Tender], cash: Decimal) -> Vec<Tender> {
    let mut all = tenders.to_vec();
    all.push(Tender::cash(cash));
    all
}

pub(crate) fn method_name(method: PaymentMethod, lang: Lang) -> &'static str {
    match (method, lang) {
        (PaymentMethod::Cash, Lang::Id) => "Tunai",
        (PaymentMethod::Cash, Lang::En) => "Cash",
        (PaymentMethod::Card, Lang::Id) => "Kartu",
        (PaymentMethod::Card, Lang::En) => "Card",
        (PaymentMethod::EWallet, _) => "E-wallet",
        (PaymentMethod::BankTransfer, Lang::Id) => "Transfer bank",
        (PaymentMethod::BankTransfer, Lang::En) => "Bank transfer",
    }
}
