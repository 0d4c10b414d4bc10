//! What the till app's tests share: a harness over a lane and the hands of a cashier (typing
//! into a field by its label, pressing a key, a keyboard-wedge scan).
#![allow(dead_code)] // each test binary uses its own part

use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kasir_node::Node;
use kasir_ui::TillApp;

pub fn harness(node: &Node) -> Harness<'static, TillApp> {
    let app = TillApp::new(node.clone()).with_demo_users(kasir_ui::demo::users());
    Harness::builder()
        .with_size(egui::vec2(1100.0, 800.0))
        .build_ui_state(|ui, app: &mut TillApp| app.show(ui), app)
}

/// Types into the text field named `label` (after focusing it, as a click would).
pub fn type_into(h: &mut Harness<'static, TillApp>, label: &str, text: &str) {
    // A PIN field is a password input.
    let role = if label.starts_with("PIN") {
        Role::PasswordInput
    } else {
        Role::TextInput
    };
    h.get_by_role_and_label(role, label).focus();
    h.run();
    h.get_by_role_and_label(role, label).type_text(text);
    h.run();
}

pub fn press(h: &mut Harness<'static, TillApp>, key: Key) {
    h.key_press(key);
    h.run();
}

/// Logs in as the demo cashier and opens the shift with the float the screen proposes.
pub fn log_in_and_open_shift(h: &mut Harness<'static, TillApp>) {
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
pub fn wedge(h: &mut Harness<'static, TillApp>, code: &str) {
    wedge_into(h, "Pindai / kode", code);
}

/// [`wedge`] into the scan field as it is named in the language shown.
pub fn wedge_into(h: &mut Harness<'static, TillApp>, field_name: &str, code: &str) {
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
