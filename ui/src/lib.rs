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

mod customers;
pub mod demo;
mod payment;
mod refund;
mod supervised;
mod text;

use egui::{Align, Color32, Key, Layout, RichText};
use kasir_node::schema::Decimal;
use kasir_node::schema::checkout::Discount;
use kasir_node::schema::money::Money;

use kasir_node::schema::roles::Permission;
use kasir_node::types::{ParkedCart, ProductView, Receipt, ReturnRecord};
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
    /// Taking the payment: card, e-wallet and transfer tenders taken so far (a split), and
    /// what is typed: cash handed over, a non-cash amount and its reference.
    Payment(Box<payment::Payment>),
    /// The sale is committed: its receipt, until the next customer.
    Done(Box<Receipt>),
    /// A refund by the number on the receipt (F9).
    Refund(Box<refund::Refund>),
    /// A refund made: what the customer gets back.
    Refunded(Box<ReturnRecord>),
}

/// What the selling screen shows besides the cart and the scan field.
#[derive(Debug, Clone, PartialEq)]
enum Panel {
    None,
    /// Product search (F2): the query as typed, its results, the highlighted one.
    Search {
        query: String,
        results: Vec<ProductView>,
        at: usize,
    },
    /// A new quantity for a cart line (F4), as typed.
    Quantity {
        line: usize,
        typed: String,
    },
    /// The parked carts, to recall one (F7).
    Recall {
        carts: Vec<ParkedCart>,
        at: usize,
    },
    /// A line's discount (F5) or new price (F3), as typed.
    LineValue {
        line: usize,
        price: bool,
        typed: String,
    },
    /// "Void the whole sale?" (F11).
    ConfirmVoid,
    /// The reason the drawer opens without a sale (F10).
    NoSale {
        reason: String,
    },
    /// The sale's customer (F1): find, sign up, redeem points.
    Customer(Box<customers::CustomerPanel>),
    /// The supervisor dialog for an action the cashier's role needs approval for.
    Approve {
        action: supervised::Guarded,
        permission: Permission,
        reason: String,
        user: String,
        pin: String,
    },
}

/// How many search results the list shows.
const SEARCH_RESULTS: usize = 12;

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
    panel: Panel,
    /// The cart line the line keys act on; the last line when none was picked.
    selected: Option<usize>,
    /// The last thing that went wrong, as a sentence for the cashier.
    message: Option<String>,
    /// What just happened that the cashier should know (cleared by the next action).
    notice: Option<String>,
    /// Copies of the receipt on screen printed so far.
    copies: u32,
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
            panel: Panel::None,
            selected: None,
            message: None,
            notice: None,
            copies: 0,
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
        self.notice = None;
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
                Step::Payment(p) => self.payment(ui, &view, *p),
                Step::Done(receipt) => self.receipt(ui, &receipt),
                Step::Refund(r) => self.refund(ui, &view, *r),
                Step::Refunded(r) => self.refunded(ui, &r),
            }
        }
        if let Some(n) = &self.notice {
            ui.add_space(8.0);
            ui.label(
                RichText::new(n)
                    .color(Color32::from_rgb(20, 120, 40))
                    .size(18.0),
            );
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
            let user = ui
                .add(egui::TextEdit::singleline(&mut self.username))
                .accessible_name(T::User.text(self.lang));
            // Keyboard first: the user field is ready to type in (Tab goes to the PIN).
            if ui.memory(|m| m.focused().is_none()) {
                user.request_focus();
            }
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
            if ui.memory(|m| m.focused().is_none()) {
                field.request_focus();
            }
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
        let lines = view.cart.lines.len();
        if self.selected.is_some_and(|l| l >= lines) {
            self.selected = None;
        }
        let line = self.selected.or(lines.checked_sub(1));
        let idle = self.panel == Panel::None;
        match self.panel.clone() {
            Panel::None => self.scan_field(ui),
            Panel::Search { query, results, at } => self.search(ui, query, results, at),
            Panel::Quantity { line, typed } => self.quantity(ui, view, line, typed),
            Panel::Recall { carts, at } => self.recall(ui, carts, at),
            Panel::LineValue { line, price, typed } => {
                self.line_value(ui, view, line, price, typed);
            }
            Panel::ConfirmVoid => self.confirm_void(ui),
            Panel::NoSale { reason } => self.no_sale(ui, reason),
            Panel::Customer(c) => self.customer_panel(ui, view, *c),
            Panel::Approve {
                action,
                permission,
                reason,
                user,
                pin,
            } => self.approve(ui, action, permission, [reason, user, pin]),
        }
        ui.add_space(6.0);
        self.cart_table(ui, view, line);
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
        // The keys act only while no panel is open (a panel's field has the keyboard).
        let [f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12] = [
            Key::F1,
            Key::F2,
            Key::F3,
            Key::F4,
            Key::F5,
            Key::F6,
            Key::F7,
            Key::F8,
            Key::F9,
            Key::F10,
            Key::F11,
            Key::F12,
        ]
        .map(|k| idle && ui.input(|i| i.key_pressed(k)));
        ui.horizontal_wrapped(|ui| {
            if ui.add(big_button(self.t(T::Search))).clicked() || f2 {
                self.panel = Panel::Search {
                    query: String::new(),
                    results: Vec::new(),
                    at: 0,
                };
            }
            let quantity = ui.add_enabled(line.is_some(), big_button(self.t(T::Quantity)));
            if let Some(line) = line
                && (quantity.clicked() || f4)
            {
                self.panel = Panel::Quantity {
                    line,
                    typed: String::new(),
                };
            }
            let remove = ui.add_enabled(line.is_some(), big_button(self.t(T::RemoveLine)));
            if let Some(line) = line
                && (remove.clicked() || f8)
                && self.run(Command::RemoveLine { line }).is_some()
            {
                self.selected = None;
            }
            if ui.add(big_button(self.t(T::CustomerKey))).clicked() || f1 {
                self.panel = Panel::Customer(Box::default());
            }
            for (price, key, label) in [(false, f5, T::LineDiscount), (true, f3, T::PriceOverride)]
            {
                let b = ui.add_enabled(line.is_some(), big_button(self.t(label)));
                if let Some(line) = line
                    && (b.clicked() || key)
                {
                    self.panel = Panel::LineValue {
                        line,
                        price,
                        typed: String::new(),
                    };
                }
            }
            let void = ui.add_enabled(lines > 0, big_button(self.t(T::VoidSale)));
            if lines > 0 && (void.clicked() || f11) {
                self.panel = Panel::ConfirmVoid;
            }
            if ui.add(big_button(self.t(T::NoSale))).clicked() || f10 {
                self.panel = Panel::NoSale {
                    reason: String::new(),
                };
            }
            let park = ui.add_enabled(lines > 0, big_button(self.t(T::Park)));
            if lines > 0 && (park.clicked() || f6) {
                let label = format!(
                    "{} {} · {}",
                    self.t(T::ParkedLabel),
                    chrono::Local::now().format("%H:%M"),
                    rupiah(t.total_amount)
                );
                if self.run(Command::ParkCart { label }).is_some() {
                    self.selected = None;
                }
            }
            if ui.add(big_button(self.t(T::Recall))).clicked() || f7 {
                match self.node.parked_carts() {
                    Ok(carts) => self.panel = Panel::Recall { carts, at: 0 },
                    Err(e) => self.message = Some(text::error(self.lang, &e)),
                }
            }
            // A refund starts from an empty cart (the customer's purchase is done).
            let refund = ui.add_enabled(lines == 0, big_button(self.t(T::Refund)));
            if lines == 0 && (refund.clicked() || f9) {
                self.step = Step::Refund(Box::default());
            }
            let pay = ui.add_enabled(lines > 0, big_button(self.t(T::Pay)));
            if (pay.clicked() || f12) && lines > 0 {
                self.panel = Panel::None;
                self.step = Step::Payment(Box::default());
            }
        });
    }

    /// The cart's lines: a table that scrolls and draws only the rows in sight (a 200-line cart
    /// costs what a 20-line one does), kept at its newest line, leaving room below for the
    /// totals and the keys.
    #[allow(clippy::float_arithmetic)] // screen geometry in points, never money
    fn cart_table(&mut self, ui: &mut egui::Ui, view: &View, line: Option<usize>) {
        use egui_extras::{Column, TableBuilder};
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        // What the totals and the keys below need.
        let below = 230.0;
        let lines = &view.cart.lines;
        let height = (ui.available_height() - below).max(4.0 * row_height);
        TableBuilder::new(ui)
            .striped(true)
            .stick_to_bottom(true)
            .max_scroll_height(height)
            // Fixed widths for the numbers: auto-sized columns measured from the rows in sight
            // made the layout flip between two widths every frame (found by till_perf).
            .column(Column::remainder().at_least(240.0).clip(true))
            .column(Column::exact(80.0))
            .column(Column::exact(180.0))
            .column(Column::exact(110.0))
            .column(Column::exact(150.0))
            .header(row_height, |mut header| {
                for h in [T::Item, T::Qty, T::Price, T::LineTotal, T::Stock] {
                    header.col(|ui| {
                        ui.label(RichText::new(self.t(h)).strong());
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, lines.len(), |mut row| {
                    let i = row.index();
                    let l = &lines[i];
                    row.col(|ui| {
                        // A click picks the line the line keys act on.
                        if ui.selectable_label(line == Some(i), &l.name).clicked() {
                            self.selected = Some(i);
                        }
                    });
                    let unit = match l.unit {
                        kasir_node::schema::domain::SaleUnit::Kilogram => " kg",
                        _ => "",
                    };
                    row.col(|ui| {
                        ui.label(format!("{}{unit}", quantity(l.quantity, self.lang)));
                    });
                    // A changed price and a discount show beside the price, as the receipt
                    // shows them.
                    let mut price = rupiah(l.unit_price);
                    if l.price_overridden {
                        price.push_str(" *");
                    }
                    match l.discount {
                        Some(Discount::Percent(p)) => {
                            price.push_str(&format!(" -{}%", p.normalize()));
                        }
                        Some(Discount::Amount(a)) => price.push_str(&format!(" -{}", rupiah(a))),
                        None => {}
                    }
                    row.col(|ui| {
                        ui.label(price);
                    });
                    row.col(|ui| {
                        ui.label(rupiah(l.total));
                    });
                    row.col(|ui| {
                        if l.short {
                            ui.label(
                                RichText::new(format!(
                                    "! {} {}",
                                    self.t(T::OnlyLeft),
                                    l.stock.normalize()
                                ))
                                .color(Color32::from_rgb(200, 120, 0)),
                            );
                        } else {
                            ui.label(l.stock.normalize().to_string());
                        }
                    });
                });
            });
    }

    /// The scan field, which keeps the focus: a wedge scanner types wherever the focus is.
    fn scan_field(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(self.t(T::Scan));
            let field = ui
                .add(egui::TextEdit::singleline(&mut self.scan).desired_width(360.0))
                .accessible_name(T::Scan.text(self.lang));
            if !field.has_focus() && ui.memory(|m| m.focused().is_none()) {
                field.request_focus();
            }
            if (field.lost_focus() || field.has_focus()) && ui.input(|i| i.key_pressed(Key::Enter))
            {
                let code = std::mem::take(&mut self.scan).trim().to_string();
                if !code.is_empty() && self.run(Command::Scan { code }).is_some() {
                    self.selected = None;
                }
                field.request_focus();
            }
        });
    }

    /// Search as you type (F2): by name, SKU or barcode; Up/Down pick, Enter adds, Esc closes.
    fn search(
        &mut self,
        ui: &mut egui::Ui,
        mut query: String,
        mut results: Vec<ProductView>,
        mut at: usize,
    ) {
        ui.horizontal(|ui| {
            ui.label(self.t(T::SearchField));
            let field = ui
                .add(egui::TextEdit::singleline(&mut query).desired_width(360.0))
                .accessible_name(T::SearchField.text(self.lang));
            if !field.has_focus() {
                field.request_focus();
            }
            if field.changed() {
                results = self
                    .node
                    .search_products(&query, SEARCH_RESULTS)
                    .unwrap_or_default();
                at = 0;
            }
        });
        let (at, enter, esc) = list_keys(ui, results.len(), at);
        let mut pick = None;
        if results.is_empty() && !query.trim().is_empty() {
            ui.label(self.t(T::NoMatch));
        }
        for (i, p) in results.iter().enumerate() {
            let text = format!(
                "{} · {} · {} · {} {}",
                p.name,
                p.sku,
                rupiah(p.price),
                self.t(T::Stock),
                p.stock.normalize()
            );
            if ui.selectable_label(i == at, text).clicked() {
                pick = Some(i);
            }
        }
        ui.label(RichText::new(self.t(T::SearchHint)).italics());
        if esc {
            self.panel = Panel::None;
            return;
        }
        if enter && !results.is_empty() {
            pick = Some(at);
        }
        if let Some(p) = pick.and_then(|i| results.get(i)) {
            let sku = p.sku.clone();
            let weighed = p.unit == kasir_node::schema::domain::SaleUnit::Kilogram;
            let added = self.run(Command::AddSku {
                sku: sku.clone(),
                quantity: Decimal::ONE,
            });
            if added.is_some() {
                self.selected = None;
                // A weighed product found by name asks for its weight next.
                let line = self
                    .node
                    .view()
                    .cart
                    .lines
                    .iter()
                    .rposition(|l| l.sku == sku);
                self.panel = match line {
                    Some(line) if weighed => Panel::Quantity {
                        line,
                        typed: String::new(),
                    },
                    _ => Panel::None,
                };
                return;
            }
        }
        self.panel = Panel::Search { query, results, at };
    }

    /// A new quantity for a cart line (F4): Enter sets it, Esc backs out.
    fn quantity(&mut self, ui: &mut egui::Ui, view: &View, line: usize, mut typed: String) {
        let Some(l) = view.cart.lines.get(line) else {
            self.panel = Panel::None;
            return;
        };
        let hint = quantity(l.quantity, self.lang);
        let (enter, esc) = panel_field(
            ui,
            &format!("{}: {}", self.t(T::NewQuantity), l.name),
            T::NewQuantity.text(self.lang),
            &mut typed,
            |e| e.hint_text(hint),
        );
        if esc {
            self.panel = Panel::None;
            return;
        }
        if enter && !typed.trim().is_empty() {
            let typed = typed.trim().to_string();
            if self.run(Command::SetQuantity { line, typed }).is_some() {
                self.panel = Panel::None;
                return;
            }
        }
        self.panel = Panel::Quantity { line, typed };
    }

    /// The parked carts (F7): Up/Down pick, Enter recalls, Esc closes.
    fn recall(&mut self, ui: &mut egui::Ui, carts: Vec<ParkedCart>, at: usize) {
        ui.label(RichText::new(self.t(T::ParkedSales)).strong());
        if carts.is_empty() {
            ui.label(self.t(T::NoParked));
        }
        let (at, enter, esc) = list_keys(ui, carts.len(), at);
        let mut pick = None;
        for (i, c) in carts.iter().enumerate() {
            let text = format!("{} · {} {}", c.label, c.lines, self.t(T::Lines));
            if ui.selectable_label(i == at, text).clicked() {
                pick = Some(i);
            }
        }
        if ui.button(self.t(T::Close)).clicked() || esc {
            self.panel = Panel::None;
            return;
        }
        if enter && !carts.is_empty() {
            pick = Some(at);
        }
        if let Some(c) = pick.and_then(|i| carts.get(i)) {
            if self.run(Command::RecallCart { id: c.id }).is_some() {
                self.panel = Panel::None;
                self.selected = None;
            }
            return;
        }
        self.panel = Panel::Recall { carts, at };
    }

    fn receipt(&mut self, ui: &mut egui::Ui, receipt: &Receipt) {
        ui.label(
            RichText::new(format!("{}: {}", self.t(T::Change), rupiah(receipt.change)))
                .size(40.0)
                .strong(),
        );
        ui.add_space(6.0);
        if self.copies > 0 {
            ui.label(RichText::new(format!("{} {}", self.t(T::Copy), self.copies)).strong());
        }
        ui.label(RichText::new(receipt.to_text(42)).monospace());
        ui.horizontal(|ui| {
            if ui.add(big_button(self.t(T::Reprint))).clicked()
                || ui.input(|i| i.key_pressed(Key::F4))
            {
                let number = receipt.number.clone();
                if self.run(Command::Reprint { number }).is_some() {
                    self.copies += 1;
                }
            }
            if ui.add(big_button(self.t(T::NextCustomer))).clicked()
                || ui.input(|i| i.key_pressed(Key::Enter))
            {
                self.step = Step::Cart;
                self.copies = 0;
            }
        });
    }
}

/// Up and Down move the highlight over a list of `len` entries: the new highlight, and whether
/// Enter and Esc were pressed.
fn list_keys(ui: &egui::Ui, len: usize, at: usize) -> (usize, bool, bool) {
    let [up, down, enter, esc] = [Key::ArrowUp, Key::ArrowDown, Key::Enter, Key::Escape]
        .map(|k| ui.input(|i| i.key_pressed(k)));
    let at = if down && at + 1 < len {
        at + 1
    } else if up {
        at.saturating_sub(1)
    } else {
        at
    };
    (at, enter, esc)
}

/// A panel's one field: `prompt` beside it, `name` for screen readers and tests, the focus
/// kept on it. Whether Enter and Esc were pressed.
fn panel_field(
    ui: &mut egui::Ui,
    prompt: &str,
    name: &str,
    text: &mut String,
    edit: impl FnOnce(egui::TextEdit<'_>) -> egui::TextEdit<'_>,
) -> (bool, bool) {
    ui.horizontal(|ui| {
        ui.label(prompt);
        let field = ui
            .add(edit(egui::TextEdit::singleline(text)))
            .accessible_name(name);
        if !field.has_focus() {
            field.request_focus();
        }
    });
    let [enter, esc] = [Key::Enter, Key::Escape].map(|k| ui.input(|i| i.key_pressed(k)));
    (enter, esc)
}

fn big_button(label: &str) -> egui::Button<'static> {
    egui::Button::new(RichText::new(label.to_string()).size(20.0)).min_size(egui::vec2(140.0, 44.0))
}

fn totals_row(ui: &mut egui::Ui, label: &str, amount: Decimal) {
    ui.label(format!("{label}: {}", rupiah(amount)));
}

/// A quantity as the receipt prints it: `1,25` in Indonesian, `1.25` in English.
pub fn quantity(q: Decimal, lang: Lang) -> String {
    let q = q.normalize();
    match lang {
        Lang::Id => kasir_node::schema::money::format_decimal(q, q.scale()),
        Lang::En => q.to_string(),
    }
}

/// A quantity as a cashier types it, the way [`quantity`] shows it in `lang`: `1,25` or `1.000`
/// in Indonesian, `1.25` or `1,000` in English.
pub fn parse_quantity(typed: &str, lang: Lang) -> Option<Decimal> {
    let (thousands, decimal) = match lang {
        Lang::Id => ('.', ','),
        Lang::En => (',', '.'),
    };
    let plain: String = typed
        .trim()
        .chars()
        .filter(|c| *c != thousands)
        .map(|c| if c == decimal { '.' } else { c })
        .collect();
    plain.parse().ok()
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
    fn quantities_read_back_as_they_are_shown() {
        for q in [
            Decimal::new(125, 2),
            Decimal::from(1_000),
            Decimal::new(1_234_567, 3),
        ] {
            for lang in [Lang::Id, Lang::En] {
                assert_eq!(
                    parse_quantity(&quantity(q, lang), lang),
                    Some(q),
                    "{q} {lang:?}"
                );
            }
        }
        assert_eq!(quantity(Decimal::new(125, 2), Lang::Id), "1,25");
        assert_eq!(parse_quantity("dua", Lang::Id), None);
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
