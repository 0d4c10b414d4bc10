//! Refund by the number on the receipt: what is left to return of each line, quantities, a
//! reason, and the supervisor's approval where the cashier's role needs one.

use egui::{Key, RichText};
use kasir_node::schema::Decimal;
use kasir_node::schema::domain::Sale;
use kasir_node::schema::payment::PaymentMethod;
use kasir_node::schema::roles::Permission;
use kasir_node::types::{ReturnItem, ReturnRecord};
use kasir_node::{Command, View};

use crate::text::{self, T};
use crate::{Step, TillApp, big_button, parse_quantity, quantity, rupiah};

/// The refund step's state: the number as typed or scanned, the sale it names with what is
/// left to return of each line, the quantities to return as typed, the reason, and the
/// supervisor's approval being entered (when the cashier's role needs one).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Refund {
    number: String,
    sale: Option<(Sale, Vec<(u16, Decimal)>)>,
    quantities: Vec<String>,
    reason: String,
    approval: Option<(String, String)>,
}

impl TillApp {
    /// A refund by the transaction number on the receipt (scanned or typed, Enter): what is
    /// left to return of each line, the quantities to return (all of it unless changed), the
    /// reason, then the supervisor's user and PIN where the cashier's role needs them (F10 or
    /// Enter). Esc backs out.
    pub(crate) fn refund(&mut self, ui: &mut egui::Ui, view: &View, mut r: Refund) {
        ui.heading(self.t(T::RefundTitle));
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let esc = ui.input(|i| i.key_pressed(Key::Escape));
        ui.horizontal(|ui| {
            ui.label(self.t(T::ReceiptNumber));
            let field = ui
                .add(egui::TextEdit::singleline(&mut r.number).desired_width(260.0))
                .accessible_name(T::ReceiptNumber.text(self.lang));
            if r.sale.is_none() && !field.has_focus() {
                field.request_focus();
            }
        });
        if r.sale.is_none() {
            if enter && !r.number.trim().is_empty() {
                let number = r.number.trim().to_string();
                match self
                    .node
                    .sale(&number)
                    .and_then(|s| Ok((s, self.node.returnable(&number)?)))
                {
                    Ok((sale, left)) => {
                        self.message = None;
                        r.quantities = left.iter().map(|(_, q)| quantity(*q, self.lang)).collect();
                        r.sale = Some((sale, left));
                    }
                    Err(e) => self.message = Some(text::error(self.lang, &e)),
                }
            }
        } else if let Some((sale, left)) = r.sale.clone() {
            egui::Grid::new("refund-lines")
                .num_columns(4)
                .show(ui, |ui| {
                    for h in [T::Item, T::Bought, T::Returnable, T::ReturnQty] {
                        ui.label(RichText::new(self.t(h)).strong());
                    }
                    ui.end_row();
                    for (i, line) in sale.lines.iter().enumerate() {
                        let can = left
                            .iter()
                            .find(|(n, _)| *n == line.line_no)
                            .map_or(Decimal::ZERO, |(_, q)| *q);
                        ui.label(&line.name);
                        ui.label(quantity(line.quantity, self.lang));
                        ui.label(quantity(can, self.lang));
                        if let Some(q) = r.quantities.get_mut(i) {
                            ui.add(egui::TextEdit::singleline(q).desired_width(60.0))
                                .accessible_name(format!(
                                    "{} {}",
                                    T::ReturnQty.text(self.lang),
                                    line.line_no
                                ));
                        }
                        ui.end_row();
                    }
                });
            ui.horizontal(|ui| {
                ui.label(self.t(T::Reason));
                ui.add(egui::TextEdit::singleline(&mut r.reason).desired_width(360.0))
                    .accessible_name(T::Reason.text(self.lang));
            });
            let needs_approval = view
                .session
                .as_ref()
                .is_some_and(|s| !s.role.allows(Permission::Refund));
            let mut go = false;
            if let Some((user, pin)) = &mut r.approval {
                ui.label(RichText::new(self.t(T::SupervisorApproval)).strong());
                egui::Grid::new("approval").num_columns(2).show(ui, |ui| {
                    ui.label(self.t(T::Supervisor));
                    ui.add(egui::TextEdit::singleline(user))
                        .accessible_name(T::Supervisor.text(self.lang));
                    ui.end_row();
                    ui.label(self.t(T::SupervisorPin));
                    ui.add(egui::TextEdit::singleline(pin).password(true))
                        .accessible_name(T::SupervisorPin.text(self.lang));
                    ui.end_row();
                });
                go = enter && !pin.is_empty();
            }
            let f10 = ui.input(|i| i.key_pressed(Key::F10));
            if ui.add(big_button(self.t(T::DoRefund))).clicked() || f10 {
                if needs_approval && r.approval.is_none() {
                    r.approval = Some((String::new(), String::new()));
                } else {
                    go = true;
                }
            }
            if go {
                self.make_refund(&mut r, &sale, needs_approval);
                if matches!(self.step, Step::Refunded(_)) {
                    return;
                }
            }
        }
        if ui.button(self.t(T::Back)).clicked() || esc {
            self.step = Step::Cart;
            return;
        }
        self.step = Step::Refund(Box::new(r));
    }

    /// Approves (when needed) and makes the refund `r` describes; a refusal becomes the
    /// message and the step stays, the PIN cleared.
    pub(crate) fn make_refund(&mut self, r: &mut Refund, sale: &Sale, needs_approval: bool) {
        let mut items = Vec::new();
        for (line, typed) in sale.lines.iter().zip(&r.quantities) {
            let typed = typed.trim();
            if typed.is_empty() {
                continue;
            }
            match parse_quantity(typed, self.lang) {
                Some(q) if q > Decimal::ZERO => items.push(ReturnItem {
                    line_no: line.line_no,
                    quantity: q,
                }),
                Some(_) => {}
                None => {
                    self.message = Some(format!("{}: {typed}", self.t(T::NotAQuantity)));
                    return;
                }
            }
        }
        let approval = match (&mut r.approval, needs_approval) {
            (Some((user, pin)), true) => {
                let pin = std::mem::take(pin);
                match self.node.approve(user.trim(), &pin, Permission::Refund) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        self.message = Some(text::error(self.lang, &e));
                        return;
                    }
                }
            }
            _ => None,
        };
        let reason = Some(r.reason.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(kasir_node::Outcome::Return(record)) = self.run(Command::Refund {
            number: sale.number.to_string(),
            items,
            method: PaymentMethod::Cash,
            reason,
            approval,
        }) {
            self.step = Step::Refunded(record);
        }
    }

    pub(crate) fn refunded(&mut self, ui: &mut egui::Ui, r: &ReturnRecord) {
        ui.label(
            RichText::new(format!(
                "{}: {}",
                self.t(T::RefundDue),
                rupiah(r.refund_amount)
            ))
            .size(40.0)
            .strong(),
        );
        ui.label(format!(
            "{} {} · {}",
            self.t(T::RefundNumber),
            r.number,
            r.sale_number
        ));
        if ui.add(big_button(self.t(T::NextCustomer))).clicked()
            || ui.input(|i| i.key_pressed(Key::Enter))
        {
            self.step = Step::Cart;
        }
    }
}
