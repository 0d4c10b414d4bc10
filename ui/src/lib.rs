//! kasir-ui: the till app (`kasir-till`), the cashier's screens in egui over the node's API for
//! screens ([`kasir_node::Node`]: commands in, a watchable view out; never SQL, never
//! Automerge).
//!
//! The screens follow the lane's state: nobody logged in → log in; no shift open → open one
//! with the counted float; otherwise selling, with payment and the receipt as steps of a sale.
//! The scan field keeps the focus while selling, so a keyboard-wedge scanner (a code and Enter)
//! always lands there; every action has its key on its button. Indonesian by default, English
//! switchable ([`Lang`]); money as the receipts print it (`Rp 12.500`).
//!
//! [`TillApp::show`] draws one frame into a `Ui`: the binary runs it in an eframe window, the
//! tests (`tests/cashier.rs`) in `egui_kittest`, driving it by labels and keys like a person.

pub mod demo;
mod text;

use egui::{Align, Color32, Key, Layout, RichText};
use kasir_node::schema::Decimal;
use kasir_node::schema::money::Money;
use kasir_node::schema::payment::Tender;
use kasir_node::types::Receipt;
use kasir_node::{Command, Node, View};

pub use text::Lang;
use text::T;

/// Money as the receipts print it: `Rp 12.500`.
pub fn rupiah(d: Decimal) -> String {
    Money::idr(d).map_or_else(|_| format!("Rp {d}"), |m| m.to_string())
}

/// The banknotes a customer may hand over (the quick-amount buttons offer the next ones above
/// what is due).
const BANKNOTES: [i64; 4] = [20_000, 50_000, 100_000, 200_000];

/// "Exact" and the next two amounts a customer pays `due` with in banknotes: the next multiple
/// of each note above `due`, the two smallest that differ from `due`.
pub fn quick_amounts(due: Decimal) -> Vec<Decimal> {
    let mut out = vec![due];
    let mut next: Vec<Decimal> = BANKNOTES
        .iter()
        .map(|n| {
            let n = Decimal::from(*n);
            ((due / n).floor() + Decimal::ONE) * n
        })
        .filter(|a| *a > due)
        .collect();
    next.sort();
    next.dedup();
    out.extend(next.into_iter().take(2));
    out
}

/// A step of a sale beyond the cart.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Cart,
    /// Taking the payment: what the customer handed over, as typed.
    Payment {
        tendered: String,
    },
    /// The sale is committed: its receipt, until the next customer.
    Done(Box<Receipt>),
}

/// The till app's own state; everything else is the lane's view.
#[derive(Debug)]
pub struct TillApp {
    node: Node,
    lang: Lang,
    /// Shown on the login screen in demo mode only: the demo users and their PINs.
    demo_users: Option<Vec<(String, String, String)>>,
    username: String,
    pin: String,
    float: String,
    scan: String,
    step: Step,
    /// The last thing that went wrong, as a sentence for the cashier.
    message: Option<String>,
}

impl TillApp {
    pub fn new(node: Node) -> TillApp {
        TillApp {
            node,
            lang: Lang::Id,
            demo_users: None,
            username: String::new(),
            pin: String::new(),
            float: "500000".into(),
            scan: String::new(),
            step: Step::Cart,
            message: None,
        }
    }

    /// Shows the demo users (name, user, PIN) on the login screen.
    pub fn with_demo_users(mut self, users: Vec<(String, String, String)>) -> TillApp {
        self.demo_users = Some(users);
        self
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    fn t(&self, key: T) -> &'static str {
        key.text(self.lang)
    }

    /// Runs a command; a refusal becomes the message.
    fn run(&mut self, command: Command) -> Option<kasir_node::Outcome> {
        match self.node.execute(command) {
            Ok(o) => {
                self.message = None;
                Some(o)
            }
            Err(e) => {
                self.message = Some(text::error(self.lang, &e));
                None
            }
        }
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let view = self.node.view();
        self.status_bar(ui, &view);
        ui.separator();
        if view.session.is_none() {
            self.login(ui);
        } else if view.shift.is_none() {
            self.open_shift(ui);
        } else {
            match self.step.clone() {
                Step::Cart => self.selling(ui, &view),
                Step::Payment { tendered } => self.payment(ui, &view, tendered),
                Step::Done(receipt) => self.receipt(ui, &receipt),
            }
        }
        if let Some(m) = &self.message {
            ui.add_space(8.0);
            ui.label(
                RichText::new(m)
                    .color(Color32::from_rgb(200, 40, 40))
                    .size(18.0),
            );
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui, view: &View) {
        ui.horizontal(|ui| {
            if let Some(s) = &view.store {
                ui.label(
                    RichText::new(format!("{} · {} {}", s.name, self.t(T::Lane), s.lane)).strong(),
                );
            }
            let online = if view.lan.connected > 0 || view.hq.reachable {
                self.t(T::Online)
            } else {
                self.t(T::Offline)
            };
            ui.label(format!(
                "· {online} · {} {}",
                self.t(T::LanesConnected),
                view.lan.connected
            ));
            let leader = view
                .lan
                .leader
                .or(view.hq.leader)
                .map_or_else(|| "—".to_string(), |l| l.to_string());
            ui.label(format!(
                "· {} {leader} · {} {}",
                self.t(T::Leader),
                self.t(T::Backlog),
                view.hq_backlog
            ));
            if let Some(s) = &view.session {
                ui.label(format!(
                    "· {} · {}",
                    s.full_name,
                    if view.shift.is_some() {
                        self.t(T::ShiftOpen)
                    } else {
                        self.t(T::NoShift)
                    }
                ));
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let other = self.lang.other();
                if ui.button(other.name()).clicked() {
                    self.lang = other;
                }
                if view.session.is_some() && ui.button(self.t(T::LogOut)).clicked() {
                    self.run(Command::Logout);
                    self.step = Step::Cart;
                }
            });
        });
    }

    fn login(&mut self, ui: &mut egui::Ui) {
        ui.heading(self.t(T::LogInTitle));
        ui.add_space(8.0);
        egui::Grid::new("login").num_columns(2).show(ui, |ui| {
            ui.label(self.t(T::User));
            ui.add(egui::TextEdit::singleline(&mut self.username))
                .accessible_name(T::User.text(self.lang));
            ui.end_row();
            ui.label(self.t(T::Pin));
            let pin = ui
                .add(egui::TextEdit::singleline(&mut self.pin).password(true))
                .accessible_name(T::Pin.text(self.lang));
            ui.end_row();
            let enter =
                (pin.lost_focus() || pin.has_focus()) && ui.input(|i| i.key_pressed(Key::Enter));
            if ui.add(big_button(self.t(T::LogIn))).clicked() || enter {
                let (username, pin) = (
                    self.username.trim().to_string(),
                    std::mem::take(&mut self.pin),
                );
                if self.run(Command::Login { username, pin }).is_some() {
                    self.username.clear();
                }
            }
        });
        if let Some(users) = &self.demo_users {
            ui.add_space(12.0);
            ui.label(RichText::new(self.t(T::DemoUsers)).italics());
            for (who, user, pin) in users {
                ui.label(format!("{who}: {user} / PIN {pin}"));
            }
        }
    }

    fn open_shift(&mut self, ui: &mut egui::Ui) {
        ui.heading(self.t(T::OpenShiftTitle));
        ui.horizontal(|ui| {
            ui.label(self.t(T::Float));
            let field = ui
                .add(egui::TextEdit::singleline(&mut self.float))
                .accessible_name(T::Float.text(self.lang));
            let enter = (field.lost_focus() || field.has_focus())
                && ui.input(|i| i.key_pressed(Key::Enter));
            if ui.add(big_button(self.t(T::OpenShift))).clicked() || enter {
                match parse_amount(&self.float) {
                    Some(float) => {
                        self.run(Command::OpenShift { float });
                    }
                    None => self.message = Some(self.t(T::NotAnAmount).to_string()),
                }
            }
        });
    }

    fn selling(&mut self, ui: &mut egui::Ui, view: &View) {
        ui.horizontal(|ui| {
            ui.label(self.t(T::Scan));
            let field = ui
                .add(egui::TextEdit::singleline(&mut self.scan).desired_width(360.0))
                .accessible_name(T::Scan.text(self.lang));
            // The scan field keeps the focus: a wedge scanner types wherever the focus is.
            if !field.has_focus() && ui.memory(|m| m.focused().is_none()) {
                field.request_focus();
            }
            if (field.lost_focus() || field.has_focus()) && ui.input(|i| i.key_pressed(Key::Enter))
            {
                let code = std::mem::take(&mut self.scan).trim().to_string();
                if !code.is_empty() {
                    self.run(Command::Scan { code });
                }
                field.request_focus();
            }
        });
        ui.add_space(6.0);
        egui::Grid::new("cart")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in [T::Item, T::Qty, T::Price, T::LineTotal, T::Stock] {
                    ui.label(RichText::new(self.t(h)).strong());
                }
                ui.end_row();
                for l in &view.cart.lines {
                    ui.label(&l.name);
                    ui.label(l.quantity.normalize().to_string());
                    ui.label(rupiah(l.unit_price));
                    ui.label(rupiah(l.total));
                    if l.short {
                        ui.label(
                            RichText::new(format!(
                                "⚠ {} {}",
                                self.t(T::OnlyLeft),
                                l.stock.normalize()
                            ))
                            .color(Color32::from_rgb(200, 120, 0)),
                        );
                    } else {
                        ui.label(l.stock.normalize().to_string());
                    }
                    ui.end_row();
                }
            });
        ui.add_space(6.0);
        let t = &view.cart.totals;
        totals_row(ui, self.t(T::Subtotal), t.subtotal);
        if !t.discount_amount.is_zero() {
            totals_row(ui, self.t(T::Discount), -t.discount_amount);
        }
        totals_row(ui, self.t(T::Tax), t.tax_amount);
        ui.label(
            RichText::new(format!("{}: {}", self.t(T::Total), rupiah(t.total_amount)))
                .size(28.0)
                .strong(),
        );
        ui.add_space(6.0);
        let pay = ui.add_enabled(!view.cart.lines.is_empty(), big_button(self.t(T::Pay)));
        if (pay.clicked() || ui.input(|i| i.key_pressed(Key::F12))) && !view.cart.lines.is_empty() {
            self.step = Step::Payment {
                tendered: String::new(),
            };
        }
    }

    fn payment(&mut self, ui: &mut egui::Ui, view: &View, mut tendered: String) {
        let due = view.cart.cash_due;
        ui.label(
            RichText::new(format!("{}: {}", self.t(T::CashDue), rupiah(due)))
                .size(32.0)
                .strong(),
        );
        ui.add_space(6.0);
        let keys = [Key::F1, Key::F2, Key::F3];
        let mut chosen = None;
        ui.horizontal(|ui| {
            for (i, amount) in quick_amounts(due).into_iter().enumerate() {
                let label = if i == 0 {
                    format!("{} [F1]", self.t(T::Exact))
                } else {
                    format!("{} [F{}]", rupiah(amount), i + 1)
                };
                if ui.add(big_button(&label)).clicked() || ui.input(|inp| inp.key_pressed(keys[i]))
                {
                    chosen = Some(amount);
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label(self.t(T::Tendered));
            let field = ui
                .add(egui::TextEdit::singleline(&mut tendered))
                .accessible_name(T::Tendered.text(self.lang));
            if chosen.is_none()
                && (field.lost_focus() || field.has_focus())
                && ui.input(|i| i.key_pressed(Key::Enter))
            {
                chosen = parse_amount(&tendered).or(Some(Decimal::MIN));
            }
        });
        if let Some(given) = parse_amount(&tendered).filter(|g| *g >= due) {
            ui.label(
                RichText::new(format!("{}: {}", self.t(T::Change), rupiah(given - due))).size(28.0),
            );
        }
        let back = ui.button(self.t(T::Back)).clicked() || ui.input(|i| i.key_pressed(Key::Escape));
        self.step = Step::Payment { tendered };
        if back {
            self.step = Step::Cart;
            return;
        }
        match chosen {
            Some(amount) if amount >= due => match self.node.pay(vec![Tender::cash(amount)]) {
                Ok(receipt) => {
                    self.message = None;
                    self.step = Step::Done(Box::new(receipt));
                }
                Err(e) => self.message = Some(text::error(self.lang, &e)),
            },
            Some(_) => self.message = Some(format!("{} {}", self.t(T::NotEnough), rupiah(due))),
            None => {}
        }
    }

    fn receipt(&mut self, ui: &mut egui::Ui, receipt: &Receipt) {
        ui.label(
            RichText::new(format!("{}: {}", self.t(T::Change), rupiah(receipt.change)))
                .size(40.0)
                .strong(),
        );
        ui.add_space(6.0);
        ui.label(RichText::new(receipt.to_text(42)).monospace());
        if ui.add(big_button(self.t(T::NextCustomer))).clicked()
            || ui.input(|i| i.key_pressed(Key::Enter))
        {
            self.step = Step::Cart;
        }
    }
}

fn big_button(label: &str) -> egui::Button<'static> {
    egui::Button::new(RichText::new(label.to_string()).size(20.0)).min_size(egui::vec2(140.0, 44.0))
}

fn totals_row(ui: &mut egui::Ui, label: &str, amount: Decimal) {
    ui.label(format!("{label}: {}", rupiah(amount)));
}

/// An amount as a cashier types it: digits, with `.` as thousands separators (`50.000`) or
/// none; `Rp` and spaces ignored. Nothing negative.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    let digits: String = s
        .trim()
        .trim_start_matches("Rp")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 13 {
        return None;
    }
    digits.parse().ok()
}

impl eframe::App for TillApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| self.show(ui));
        // Other lanes' sales change the view (stock, status) without any input here.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_amounts_are_exact_and_the_next_banknotes() {
        let d = |v: i64| Decimal::from(v);
        assert_eq!(quick_amounts(d(37_500)), [d(37_500), d(40_000), d(50_000)]);
        assert_eq!(quick_amounts(d(50_000)), [d(50_000), d(60_000), d(100_000)]);
        assert_eq!(
            quick_amounts(d(120_000)),
            [d(120_000), d(140_000), d(150_000)]
        );
    }

    #[test]
    fn amounts_read_as_cashiers_type_them() {
        assert_eq!(parse_amount("50.000"), Some(Decimal::from(50_000)));
        assert_eq!(parse_amount("Rp 100.000"), Some(Decimal::from(100_000)));
        assert_eq!(parse_amount("12500"), Some(Decimal::from(12_500)));
        for bad in ["", "-5", "12,5", "abc", "99999999999999"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(rupiah(Decimal::from(12_500)), "Rp 12.500");
    }
}
