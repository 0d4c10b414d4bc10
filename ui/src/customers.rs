//! The customer of a sale (F1): find one by phone, member code or name as you type (Up/Down,
//! Enter attaches), or sign one up in a short form (F5: name and phone); with a customer
//! attached, the panel shows their points and redeems some on this sale, or takes the
//! customer off again. Esc closes.

use egui::{Key, RichText};
use kasir_node::types::{CustomerView, NewCustomer};
use kasir_node::{Command, Outcome, View};

use crate::text::{self, T};
use crate::{Panel, TillApp, list_keys, rupiah};

/// Customers the search lists.
const RESULTS: usize = 8;

/// The customer panel's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CustomerPanel {
    query: String,
    results: Vec<CustomerView>,
    at: usize,
    /// The sign-up form (name, phone) when open.
    new: Option<(String, String)>,
    /// Points to redeem, as typed.
    points: String,
}

impl TillApp {
    pub(crate) fn customer_panel(&mut self, ui: &mut egui::Ui, view: &View, mut c: CustomerPanel) {
        let [enter, esc, f5, f8] =
            [Key::Enter, Key::Escape, Key::F5, Key::F8].map(|k| ui.input(|i| i.key_pressed(k)));
        if let Some(customer) = &view.cart.customer {
            self.attached(ui, view, customer, &mut c, enter, f8);
        } else if let Some((mut name, mut phone)) = c.new.take() {
            ui.label(RichText::new(self.t(T::NewCustomer)).strong());
            egui::Grid::new("new-customer")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label(self.t(T::CustomerName));
                    let field = ui
                        .add(egui::TextEdit::singleline(&mut name))
                        .accessible_name(T::CustomerName.text(self.lang));
                    if ui.memory(|m| m.focused().is_none()) {
                        field.request_focus();
                    }
                    ui.end_row();
                    ui.label(self.t(T::Phone));
                    ui.add(egui::TextEdit::singleline(&mut phone))
                        .accessible_name(T::Phone.text(self.lang));
                    ui.end_row();
                });
            if esc {
                self.panel = Panel::Customer(Box::default());
                return;
            }
            if enter && !name.trim().is_empty() {
                let new = NewCustomer {
                    name: name.trim().to_string(),
                    phone: Some(phone.trim().to_string()).filter(|p| !p.is_empty()),
                    email: None,
                    customer_code: None,
                    address: None,
                    date_of_birth: None,
                };
                if let Some(Outcome::Customer(made)) = self.run(Command::CreateCustomer(new))
                    && self.run(Command::AttachCustomer { id: made.id }).is_some()
                {
                    self.panel = Panel::None;
                    return;
                }
            }
            c.new = Some((name, phone));
        } else {
            ui.horizontal(|ui| {
                ui.label(self.t(T::FindCustomer));
                let field = ui
                    .add(egui::TextEdit::singleline(&mut c.query).desired_width(300.0))
                    .accessible_name(T::FindCustomer.text(self.lang));
                if !field.has_focus() {
                    field.request_focus();
                }
                if field.changed() {
                    c.results = self
                        .node
                        .find_customers(c.query.trim(), RESULTS)
                        .unwrap_or_default();
                    c.at = 0;
                }
            });
            let (at, pick, close) = list_keys(ui, c.results.len(), c.at);
            c.at = at;
            if c.results.is_empty() && !c.query.trim().is_empty() {
                ui.label(self.t(T::NoCustomer));
            }
            let mut picked = pick.then_some(at);
            for (i, r) in c.results.iter().enumerate() {
                let text = format!(
                    "{} · {} · {} · {} {}",
                    r.name,
                    r.phone.as_deref().unwrap_or("-"),
                    r.customer_code.as_deref().unwrap_or("-"),
                    r.points,
                    self.t(T::Points)
                );
                if ui.selectable_label(i == at, text).clicked() {
                    picked = Some(i);
                }
            }
            if ui.button(self.t(T::SignUp)).clicked() || f5 {
                // A phone number typed into the search is the new customer's phone.
                let digits = c
                    .query
                    .trim()
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch == '+');
                let phone = if digits {
                    c.query.trim().to_string()
                } else {
                    String::new()
                };
                c.new = Some((String::new(), phone));
            }
            if close {
                self.panel = Panel::None;
                return;
            }
            if let Some(r) = picked.and_then(|i| c.results.get(i))
                && self.run(Command::AttachCustomer { id: r.id }).is_some()
            {
                self.panel = Panel::None;
                return;
            }
        }
        if esc && c.new.is_none() {
            self.panel = Panel::None;
            return;
        }
        if matches!(self.panel, Panel::Customer(_)) {
            self.panel = Panel::Customer(Box::new(c));
        }
    }

    /// The attached customer: points to redeem on this sale (Enter), or off the sale (F8).
    fn attached(
        &mut self,
        ui: &mut egui::Ui,
        view: &View,
        customer: &CustomerView,
        c: &mut CustomerPanel,
        enter: bool,
        f8: bool,
    ) {
        let value = view
            .store
            .as_ref()
            .map(|s| s.loyalty_point_value)
            .unwrap_or_default();
        ui.label(
            RichText::new(format!(
                "{}: {} · {} · {} {} ({})",
                self.t(T::Customer),
                customer.name,
                customer.phone.as_deref().unwrap_or("-"),
                customer.points,
                self.t(T::Points),
                rupiah(value * kasir_node::schema::Decimal::from(customer.points))
            ))
            .strong(),
        );
        ui.horizontal(|ui| {
            ui.label(self.t(T::RedeemPoints));
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut c.points)
                        .hint_text(view.cart.redeem_points.to_string())
                        .desired_width(120.0),
                )
                .accessible_name(T::RedeemPoints.text(self.lang));
            if !field.has_focus() {
                field.request_focus();
            }
        });
        if enter && !c.points.trim().is_empty() {
            match c.points.trim().replace('.', "").parse::<i64>() {
                Ok(points) if points >= 0 => {
                    if self.run(Command::RedeemPoints { points }).is_some() {
                        self.panel = Panel::None;
                    }
                }
                _ => self.message = Some(format!("{}: {}", self.t(T::NotAQuantity), c.points)),
            }
        }
        if ui.button(self.t(T::Detach)).clicked() || f8 {
            match self.node.execute(Command::DetachCustomer) {
                Ok(_) => self.panel = Panel::None,
                Err(e) => self.message = Some(text::error(self.lang, &e)),
            }
        }
    }
}
