//! The till app driven like a person would: by the labels on the screen and the keys a
//! cashier presses (`egui_kittest`, no window), over a real lane of the demo store.

use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kasir_node::schema::Decimal;
use kasir_node::schema::barcode::with_check_digit;
use kasir_node::{Node, NodeOptions, demo};
use kasir_ui::{TillApp, rupiah};

fn lane(dir: &std::path::Path) -> Node {
    let node = Node::open(dir.join("lane1.db"), NodeOptions::default()).unwrap();
    kasir_ui::demo::set_up(&node, 300).unwrap();
    node
}

fn harness(node: &Node) -> Harness<'static, TillApp> {
    let app = TillApp::new(node.clone()).with_demo_users(kasir_ui::demo::users());
    Harness::builder()
        .with_size(egui::vec2(1100.0, 800.0))
        .build_ui_state(|ui, app: &mut TillApp| app.show(ui), app)
}

/// Types into the text field named `label` (after focusing it, as a click would).
fn type_into(h: &mut Harness<'static, TillApp>, label: &str, text: &str) {
    // A PIN field is a password input.
    let role = if label == "PIN" {
        Role::PasswordInput
    } else {
        Role::TextInput
    };
    h.get_by_role_and_label(role, label).focus();
    h.run();
    h.get_by_role_and_label(role, label).type_text(text);
    h.run();
}

fn press(h: &mut Harness<'static, TillApp>, key: Key) {
    h.key_press(key);
    h.run();
}

/// Logs in as the demo cashier and opens the shift with the float the screen proposes.
fn log_in_and_open_shift(h: &mut Harness<'static, TillApp>) {
    // The demo users and PINs are on the login screen.
    h.get_by_label("Siti (kasir): siti / PIN 1234");
    type_into(h, "Pengguna", "siti");
    type_into(h, "PIN", "1234");
    press(h, Key::Enter);
    h.get_by_label("Buka shift [Enter]").click();
    h.run();
}

/// Scans a code the way a keyboard-wedge scanner does: the digits, then Enter, into whatever
/// has the focus (the scan field keeps it).
fn wedge(h: &mut Harness<'static, TillApp>, code: &str) {
    wedge_into(h, "Pindai / kode", code);
}

/// [`wedge`] into the scan field as it is named in the language shown.
fn wedge_into(h: &mut Harness<'static, TillApp>, field_name: &str, code: &str) {
    h.run();
    let field = h.get_by_role_and_label(Role::TextInput, field_name);
    assert!(field.is_focused(), "the scan field has the focus");
    field.type_text(code);
    h.run();
    let typed = h.get_by_role_and_label(Role::TextInput, field_name).value();
    assert_eq!(
        typed.as_deref(),
        Some(code),
        "the code is in the scan field"
    );
    press(h, Key::Enter);
}

#[test]
fn a_cashier_logs_in_scans_two_items_and_pays_cash_with_a_quick_amount() {
    let dir = tempfile::tempdir().unwrap();
    let node = lane(dir.path());
    let mut h = harness(&node);
    h.run();
    log_in_and_open_shift(&mut h);
    assert!(node.view().shift.is_some(), "{:?}", node.view().last_error);
    let products = demo::products(300, 42);
    let (a, b) = (&products[1], &products[2]);
    wedge(&mut h, a.barcode.as_deref().unwrap());
    wedge(&mut h, b.barcode.as_deref().unwrap());
    let cart = node.view().cart.clone();
    assert_eq!(cart.lines.len(), 2, "{:?}", node.view().last_error);
    h.get_by_label(&a.name);
    h.get_by_label(&format!("Total: {}", rupiah(cart.totals.total_amount)));
    // Pay: F12, then the first banknote above what is due (F2).
    press(&mut h, Key::F12);
    let due = cart.cash_due;
    h.get_by_label(&format!("Harus dibayar (tunai): {}", rupiah(due)));
    let note = kasir_ui::quick_amounts(due)[1];
    h.get_by_label(&format!("{} [F2]", rupiah(note)));
    press(&mut h, Key::F2);
    // The receipt: the change large, and the engine's receipt as it prints.
    let receipt = node
        .view()
        .last_receipt
        .clone()
        .expect("the sale is committed");
    assert_eq!(receipt.change, note - due);
    assert_eq!(receipt.cash_tendered, note);
    h.get_by_label(&format!("Kembalian: {}", rupiah(note - due)));
    h.get_by_label(&receipt.to_text(42));
    // Next customer: an empty cart, the scan field ready.
    press(&mut h, Key::Enter);
    assert!(node.view().cart.lines.is_empty());
    h.get_by_role_and_label(Role::TextInput, "Pindai / kode");
}

#[test]
fn a_code_not_in_the_catalog_is_said_in_words_and_the_cart_stays() {
    let dir = tempfile::tempdir().unwrap();
    let node = lane(dir.path());
    let mut h = harness(&node);
    h.run();
    log_in_and_open_shift(&mut h);
    let products = demo::products(300, 42);
    wedge(&mut h, products[1].barcode.as_deref().unwrap());
    let before = node.view().cart.clone();
    let unknown = with_check_digit("899999999999").unwrap();
    wedge(&mut h, &unknown);
    h.get_by_label_contains(&format!("Barcode {unknown} tidak ada di katalog"));
    assert_eq!(node.view().cart, before);
    // In English too.
    h.get_by_label("English").click();
    h.run();
    wedge_into(&mut h, "Scan / code", &unknown);
    h.get_by_label_contains(&format!("Barcode {unknown} is not in the catalog"));
}

#[test]
fn wrong_pins_are_refused_and_the_lockout_shows_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let node = lane(dir.path());
    let mut h = harness(&node);
    h.run();
    type_into(&mut h, "Pengguna", "siti");
    for _ in 0..6 {
        type_into(&mut h, "PIN", "0000");
        press(&mut h, Key::Enter);
    }
    assert!(node.view().session.is_none());
    h.get_by_label_contains("Akun dikunci");
    h.get_by_label_contains("menit");
    // Not a number but an amount: the float is checked before the shift opens.
    assert_eq!(
        kasir_ui::parse_amount("500.000"),
        Some(Decimal::from(500_000))
    );
}
