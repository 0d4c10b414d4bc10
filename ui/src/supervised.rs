//! Cart actions a cashier's role may not allow on its own: a line discount above the cashier's
//! limit (F5), a price override (F3), voiding the whole sale (F11) and opening the drawer
//! without a sale (F10, with a reason). Each is first tried as
//! the cashier; when the engine answers that it needs approval, the supervisor dialog asks for
//! a supervisor's user and PIN, and the action is tried again with their approval (which the
//! engine records with it). A wrong PIN is refused in words and nothing changes.

use egui::{Key, RichText};
use kasir_node::schema::Decimal;
use kasir_node::schema::checkout::Discount;
use kasir_node::schema::roles::Permission;
use kasir_node::types::{Approval, NodeError};
use kasir_node::{Command, View};

use crate::text::{self, T};
use crate::{Panel, TillApp, panel_field, parse_amount};

/// An action behind the supervisor's PIN.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Guarded {
    LineDiscount {
        line: usize,
        discount: Option<Discount>,
    },
    PriceOverride {
        line: usize,
        price: Decimal,
    },
    VoidCart,
    NoSale {
        reason: String,
    },
}

impl Guarded {
    fn command(&self, approval: Option<Approval>) -> Command {
        match self.clone() {
            Guarded::LineDiscount { line, discount } => Command::SetLineDiscount {
                line,
                discount,
                approval,
            },
            Guarded::PriceOverride { line, price } => Command::OverridePrice {
                line,
                price,
                approval,
            },
            Guarded::VoidCart => Command::VoidCart { approval },
            Guarded::NoSale { reason } => Command::NoSale { reason, approval },
        }
    }
}

/// A discount as a cashier types it: `10%` (percent) or `5.000` (rupiah); empty: none.
pub(crate) fn parse_discount(typed: &str) -> Option<Option<Discount>> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Some(None);
    }
    match typed.strip_suffix('%') {
        Some(p) => p
            .trim()
            .replace(',', ".")
            .parse::<Decimal>()
            .ok()
            .filter(|p| *p > Decimal::ZERO && *p <= Decimal::ONE_HUNDRED)
            .map(|p| Some(Discount::Percent(p))),
        None => parse_amount(typed)
            .filter(|a| *a > Decimal::ZERO)
            .map(|a| Some(Discount::Amount(a))),
    }
}

impl TillApp {
    /// Tries `action` as the cashier; opens the supervisor dialog when it needs approval.
    pub(crate) fn guarded(&mut self, action: Guarded) {
        match self.node.execute(action.command(None)) {
            Ok(_) => {
                self.message = None;
                self.panel = Panel::None;
                self.done(&action);
            }
            Err(kasir_node::Error::Engine(NodeError::ApprovalRequired(permission))) => {
                self.message = Some(self.t(T::NeedsSupervisor).to_string());
                self.panel = Panel::Approve {
                    action,
                    permission,
                    reason: String::new(),
                    user: String::new(),
                    pin: String::new(),
                };
            }
            Err(e) => self.message = Some(text::error(self.lang, &e)),
        }
    }

    /// A typed value for line `line`: a discount (F5) or a new price (F3). Enter applies, Esc
    /// closes.
    pub(crate) fn line_value(
        &mut self,
        ui: &mut egui::Ui,
        view: &View,
        line: usize,
        price: bool,
        mut typed: String,
    ) {
        let Some(l) = view.cart.lines.get(line) else {
            self.panel = Panel::None;
            return;
        };
        let label = if price { T::NewPrice } else { T::NewDiscount };
        let (enter, esc) = panel_field(
            ui,
            &format!("{}: {}", self.t(label), l.name),
            label.text(self.lang),
            &mut typed,
            |e| e.desired_width(160.0),
        );
        if esc {
            self.panel = Panel::None;
            return;
        }
        self.panel = Panel::LineValue {
            line,
            price,
            typed: typed.clone(),
        };
        if enter {
            let action = if price {
                parse_amount(&typed)
                    .filter(|p| *p > Decimal::ZERO)
                    .map(|price| Guarded::PriceOverride { line, price })
            } else {
                parse_discount(&typed).map(|discount| Guarded::LineDiscount { line, discount })
            };
            match action {
                Some(a) => self.guarded(a),
                None => self.message = Some(format!("{}: {typed}", self.t(T::NotAnAmount))),
            }
        }
    }

    /// After `action` succeeded.
    fn done(&mut self, action: &Guarded) {
        match action {
            Guarded::VoidCart => self.selected = None,
            Guarded::NoSale { .. } => self.notice = Some(self.t(T::DrawerOpened).to_string()),
            _ => {}
        }
    }

    /// The reason the drawer opens without a sale (F10); Enter opens it, Esc gives up.
    pub(crate) fn no_sale(&mut self, ui: &mut egui::Ui, mut reason: String) {
        let (enter, esc) = panel_field(
            ui,
            self.t(T::NoSaleReason),
            T::NoSaleReason.text(self.lang),
            &mut reason,
            |e| e.desired_width(320.0),
        );
        if esc {
            self.panel = Panel::None;
            return;
        }
        self.panel = Panel::NoSale {
            reason: reason.clone(),
        };
        if enter && reason.trim().is_empty() {
            self.message = Some(self.t(T::NeedReason).to_string());
        } else if enter {
            self.guarded(Guarded::NoSale { reason });
        }
    }

    /// "Void the whole sale?": Enter voids (through the supervisor when needed), Esc keeps it.
    pub(crate) fn confirm_void(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new(self.t(T::ConfirmVoid)).strong().size(18.0));
        let [enter, esc] = [Key::Enter, Key::Escape].map(|k| ui.input(|i| i.key_pressed(k)));
        if esc {
            self.panel = Panel::None;
        } else if enter {
            self.guarded(Guarded::VoidCart);
        }
    }

    /// The supervisor dialog: the reason (asked here unless the action came with one), the
    /// supervisor's user and PIN; Enter approves and does `action` with the reason recorded, Esc
    /// gives up.
    pub(crate) fn approve(
        &mut self,
        ui: &mut egui::Ui,
        action: Guarded,
        permission: Permission,
        [mut reason, mut user, mut pin]: [String; 3],
    ) {
        let asks_reason = !matches!(action, Guarded::NoSale { .. });
        ui.label(RichText::new(self.t(T::SupervisorApproval)).strong());
        // The dialog opens with its first field ready to type in (nothing else has the focus
        // then: the panel that opened it is gone); later the cashier's clicks decide.
        let fresh = reason.is_empty()
            && user.is_empty()
            && pin.is_empty()
            && ui.memory(|m| m.focused().is_none());
        egui::Grid::new("supervisor").num_columns(2).show(ui, |ui| {
            if asks_reason {
                ui.label(self.t(T::Reason));
                let field = ui
                    .add(egui::TextEdit::singleline(&mut reason).desired_width(320.0))
                    .accessible_name(T::Reason.text(self.lang));
                if fresh {
                    field.request_focus();
                }
                ui.end_row();
            }
            ui.label(self.t(T::Supervisor));
            let field = ui
                .add(egui::TextEdit::singleline(&mut user))
                .accessible_name(T::Supervisor.text(self.lang));
            if !asks_reason && fresh {
                field.request_focus();
            }
            ui.end_row();
            ui.label(self.t(T::SupervisorPin));
            let pin_field = ui
                .add(egui::TextEdit::singleline(&mut pin).password(true))
                .accessible_name(T::SupervisorPin.text(self.lang));
            // After a wrong PIN (Enter left the field), the PIN again.
            if !user.is_empty() && pin.is_empty() && ui.memory(|m| m.focused().is_none()) {
                pin_field.request_focus();
            }
            ui.end_row();
        });
        let [enter, esc] = [Key::Enter, Key::Escape].map(|k| ui.input(|i| i.key_pressed(k)));
        if esc {
            self.panel = Panel::None;
            self.message = None;
            return;
        }
        if enter && !pin.is_empty() {
            let typed = std::mem::take(&mut pin);
            if asks_reason && reason.trim().is_empty() {
                self.message = Some(self.t(T::NeedReason).to_string());
            } else {
                match self.node.approve(user.trim(), &typed, permission) {
                    Ok(approval) => {
                        let approval = approval.with_reason(&reason);
                        if self.run(action.command(Some(approval))).is_some() {
                            self.panel = Panel::None;
                            self.done(&action);
                            return;
                        }
                    }
                    Err(e) => self.message = Some(text::error(self.lang, &e)),
                }
            }
        }
        self.panel = Panel::Approve {
            action,
            permission,
            reason,
            user,
            pin,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_read_as_cashiers_type_them() {
        assert_eq!(
            parse_discount("10%"),
            Some(Some(Discount::Percent(Decimal::TEN)))
        );
        assert_eq!(
            parse_discount("12,5 %"),
            Some(Some(Discount::Percent(Decimal::new(125, 1))))
        );
        assert_eq!(
            parse_discount("5.000"),
            Some(Some(Discount::Amount(Decimal::from(5_000))))
        );
        assert_eq!(parse_discount(" "), Some(None));
        for bad in ["0%", "101%", "abc", "-5", "%"] {
            assert_eq!(parse_discount(bad), None, "{bad}");
        }
    }
}
