//! Whole-shift scenarios of the till engine, as a cashier, a supervisor and a manager live them.

mod common;

use chrono::Duration;
use common::*;
use kasir_core::NodeError;
use kasir_core::customers::NewCustomer;
use kasir_core::returns::ReturnItem;
use kasir_core::schema::barcode::with_check_digit;
use kasir_core::schema::checkout::Discount;
use kasir_core::schema::payment::{PaymentError, PaymentMethod, Tender};
use kasir_core::schema::roles::Permission;
use kasir_core::schema::{Decimal, domain::StockMovement};
use kasir_core::shift::CashMove;

fn stock(till: &kasir_core::Till, sku: &str) -> Decimal {
    till.product(sku).unwrap().unwrap().stock
}

#[test]
fn a_whole_shift_with_sales_a_refund_and_the_z_report() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);

    // Sale 1: two noodles (merged into one line), coffee by its UPC-A, 675 g of beef from the
    // scale, and a cake with its price on the label.
    till.scan("8998866200301").unwrap();
    assert_eq!(
        till.scan("8998866200301").unwrap(),
        0,
        "same item merges into the line"
    );
    till.scan("036000291452").unwrap();
    till.scan(&with_check_digit("201234500675").unwrap())
        .unwrap();
    till.scan(&with_check_digit("250042045500").unwrap())
        .unwrap();
    let cart = till.cart();
    assert_eq!(cart.lines.len(), 4);
    assert_eq!(cart.lines[0].quantity.get(), d(2));
    assert_eq!(cart.lines[2].quantity.get(), Decimal::new(675, 3));
    assert_eq!(cart.lines[3].unit_price, d(45_500));
    let totals = till.cart_totals().unwrap();
    // 7.000 + 12.500 + 91.125 + 45.500
    assert_eq!(totals.total_amount, d(156_125));
    let r1 = till.pay(&[Tender::cash(d(200_000))]).unwrap();
    assert_eq!(r1.number, "JKT01-001-00000001");
    assert_eq!(r1.total, d(156_125));
    assert_eq!(r1.change, d(43_900)); // cash due rounds to 156.100
    assert_eq!(r1.rounding, d(-25));
    assert!(till.cart().is_empty());
    assert_eq!(stock(&till, "IDM-GRG-85"), d(98));
    assert_eq!(stock(&till, "DAG-SAP-KG"), Decimal::new(99_325, 3));
    let text = r1.to_text(42);
    assert!(
        text.contains("JKT01-001-00000001") && text.contains("Rp 156.125"),
        "{text}"
    );

    // Sale 2: split card + cash with a 5 % discount (within the cashier's 10 % limit).
    clock.advance(Duration::minutes(5));
    till.add_sku("TEH-BTL-350", d(3)).unwrap();
    till.set_transaction_discount(Some(Discount::Percent(d(5))), None)
        .unwrap();
    assert_eq!(till.cart_totals().unwrap().total_amount, d(11_400));
    let mut card = Tender::new(PaymentMethod::Card, d(10_000));
    card.reference = Some("APPR-551203".into());
    let r2 = till.pay(&[card, Tender::cash(d(2_000))]).unwrap();
    assert_eq!(r2.number, "JKT01-001-00000002");
    assert_eq!(r2.change, d(600));
    assert!(r2.to_text(32).contains("****1203"));

    // A cashier cannot refund on her own.
    let two_noodles = [ReturnItem {
        line_no: 1,
        quantity: d(1),
    }];
    let err = till
        .refund(&r1.number, &two_noodles, PaymentMethod::Cash, None, None)
        .unwrap_err();
    assert!(
        matches!(err, NodeError::ApprovalRequired(Permission::Refund)),
        "{err}"
    );
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::Refund)
        .unwrap();
    let ret = till
        .refund(
            &r1.number,
            &two_noodles,
            PaymentMethod::Cash,
            Some("rusak".into()),
            Some(&ok),
        )
        .unwrap();
    assert_eq!(ret.number, "JKT01-001-00000003");
    assert_eq!(ret.refund_amount, d(3_500));
    assert_eq!(stock(&till, "IDM-GRG-85"), d(99));
    // Only one noodle is left to return.
    let err = till
        .refund(
            &r1.number,
            &[ReturnItem {
                line_no: 1,
                quantity: d(2),
            }],
            PaymentMethod::Cash,
            None,
            Some(&ok),
        )
        .unwrap_err();
    assert!(
        matches!(err, NodeError::ReturnExceedsSold { line: 1, .. }),
        "{err}"
    );
    // Sale 1 was paid in cash only: no card refund.
    assert!(
        till.refund(
            &r1.number,
            &[ReturnItem {
                line_no: 2,
                quantity: d(1)
            }],
            PaymentMethod::Card,
            None,
            Some(&ok)
        )
        .is_err()
    );

    // Pay-out for ice, with approval.
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::CashInOut)
        .unwrap();
    till.cash_move(CashMove::PayOut, d(20_000), "beli es batu", Some(&ok))
        .unwrap();

    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::ViewShiftReport)
        .unwrap();
    let x = till.x_report(Some(&ok)).unwrap();
    assert_eq!(x.transactions, 2);
    // float 500.000 + cash kept 156.100 + 1.400 − refund 3.500 − pay-out 20.000
    assert_eq!(x.expected_cash, d(634_000));

    // Close: the drawer is Rp 1.000 short.
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::CloseShift)
        .unwrap();
    let z = till.close_shift(d(633_000), Some(&ok)).unwrap();
    assert_eq!(z.over_short, Some(d(-1_000)));
    assert_eq!(z.sales_by_method[&PaymentMethod::Card], d(10_000));
    assert_eq!(z.sales_by_method[&PaymentMethod::Cash], d(157_500));
    assert_eq!(z.refunds, 1);
    assert_eq!(z.refunds_by_method[&PaymentMethod::Cash], d(3_500));
    assert_eq!(z.gross_sales, d(167_525));
    assert_eq!(z.discounts, d(600));
    assert_eq!(z.items, Decimal::new(7_675, 3));
    assert!(till.current_shift().unwrap().is_none());
    // Every guarded action is in the log with its approver.
    let approved: i64 = till
        .connection()
        .query_row(
            "SELECT count(*) FROM system_logs WHERE approved_by IS NOT NULL AND message IN ('refund', 'pay_out', 'shift closed')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved, 3);
    assert!(till.stock_discrepancies().unwrap().is_empty());
    // Queued for HQ: 2 sales, 1 return, the 5 opening receipts and the Z report. The stock
    // movements of sales and returns are not queued: HQ derives them, with the same ids, from
    // the records.
    let (waiting, _) = till.outbox_counts().unwrap();
    assert_eq!(waiting, 2 + 1 + 5 + 1);
}

#[test]
fn bad_input_is_refused_with_a_clear_message_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);

    let err = till
        .scan(&with_check_digit("899123456789").unwrap())
        .unwrap_err();
    assert!(matches!(err, NodeError::BarcodeNotFound { .. }), "{err}");
    assert!(err.to_string().contains("search"), "{err}");
    let err = till.scan("8998866200302").unwrap_err();
    assert!(err.to_string().contains("check digit"), "{err}");
    till.scan("8998866200301").unwrap();
    for typed in ["0", "-1", "abc", "10000", "1,5"] {
        assert!(
            till.set_quantity(0, typed).is_err(),
            "quantity {typed:?} accepted"
        );
    }
    assert!(till.set_quantity(7, "2").is_err());
    assert_eq!(till.cart().lines[0].quantity.get(), d(1));
    assert!(matches!(
        till.pay(&[Tender::cash(d(3_000))]).unwrap_err(),
        NodeError::Payment(PaymentError::Short { .. })
    ));
    assert!(matches!(
        till.pay(&[Tender::new(PaymentMethod::Card, d(5_000))])
            .unwrap_err(),
        NodeError::Payment(PaymentError::NonCashExceedsDue { .. })
    ));
    let mut card = Tender::new(PaymentMethod::Card, d(3_500));
    card.reference = Some("4111 1111 1111 1111".into());
    assert!(
        till.pay(&[card])
            .unwrap_err()
            .to_string()
            .contains("card number")
    );
    // Discount above the cashier's 10 % limit needs approval.
    assert!(matches!(
        till.set_line_discount(0, Some(Discount::Percent(d(50))), None)
            .unwrap_err(),
        NodeError::ApprovalRequired(Permission::DiscountAboveLimit)
    ));
    assert!(till.override_price(0, d(1), None).is_err());
    assert_eq!(till.cart().lines.len(), 1);
    let count: i64 = till
        .connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0, "nothing was committed");
    // Empty cart cannot be paid; no shift, no sale.
    let ok = till_approval(&mut till, Permission::VoidTransaction);
    till.void_cart(Some(&ok)).unwrap();
    assert!(matches!(
        till.pay(&[Tender::cash(d(1))]).unwrap_err(),
        NodeError::EmptyCart
    ));
}

fn till_approval(till: &mut kasir_core::Till, p: Permission) -> kasir_core::Approval {
    till.approve(SUPERVISOR.0, SUPERVISOR.1, p).unwrap()
}

#[test]
fn wrong_pins_are_counted_and_lock_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    for remaining in (1..5).rev() {
        match till.login(CASHIER.0, "0000").unwrap_err() {
            NodeError::WrongCredentials { remaining: r } => assert_eq!(r, remaining),
            other => panic!("{other}"),
        }
    }
    assert!(matches!(
        till.login(CASHIER.0, "0000").unwrap_err(),
        NodeError::LockedOut { .. }
    ));
    // Even the right PIN is refused while locked.
    assert!(matches!(
        till.login(CASHIER.0, CASHIER.1).unwrap_err(),
        NodeError::LockedOut { .. }
    ));
    // A cashier cannot approve anything.
    assert!(matches!(
        till.approve(SUPERVISOR.0, "1111", Permission::Refund)
            .unwrap_err(),
        NodeError::WrongCredentials { .. }
    ));
    // The manager unlocks her.
    till.login(MANAGER.0, MANAGER.1).unwrap();
    till.set_user_active(CASHIER.0, true, None).unwrap();
    till.login(CASHIER.0, CASHIER.1).unwrap();
    let failures: i64 = till
        .connection()
        .query_row(
            "SELECT count(*) FROM system_logs WHERE message LIKE 'login failed%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failures, 6);
    // Unknown users get the same answer as wrong PINs.
    assert!(matches!(
        till.login("nobody", "1234").unwrap_err(),
        NodeError::WrongCredentials { .. }
    ));
    // Lockout expires.
    for _ in 0..5 {
        let _ = till.login(CASHIER.0, "0000");
    }
    clock.advance(Duration::minutes(16));
    till.login(CASHIER.0, CASHIER.1).unwrap();
}

#[test]
fn loyalty_earn_redeem_and_reverse_conserve_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    let budi = till
        .create_customer(NewCustomer {
            name: "Budi Santoso".into(),
            phone: Some("+62 812-3456-7890".into()),
            email: None,
            customer_code: Some("MBR-7".into()),
            address: None,
            date_of_birth: None,
        })
        .unwrap();
    assert_eq!(
        till.find_customers("081234567890", 5).unwrap()[0].id,
        budi.id
    );
    assert_eq!(till.find_customers("MBR-7", 5).unwrap()[0].id, budi.id);
    assert_eq!(till.find_customers("santo", 5).unwrap()[0].id, budi.id);
    // Same phone twice is refused.
    assert!(
        till.create_customer(NewCustomer {
            name: "Someone".into(),
            phone: Some("0812 3456 7890".into()),
            email: None,
            customer_code: None,
            address: None,
            date_of_birth: None,
        })
        .is_err()
    );

    till.attach_customer(budi.id).unwrap();
    till.add_sku("KOP-KAP-200", d(8)).unwrap(); // Rp 100.000 → 10 points
    let r = till.pay(&[Tender::cash(d(100_000))]).unwrap();
    assert_eq!(r.points_earned, 10);
    assert_eq!(r.points_balance, Some(10));

    till.attach_customer(budi.id).unwrap();
    till.add_sku("IDM-GRG-85", d(2)).unwrap();
    assert!(matches!(
        till.redeem_points(11).unwrap_err(),
        NodeError::NotEnoughPoints { .. }
    ));
    till.redeem_points(5).unwrap(); // Rp 500 off
    assert_eq!(till.cart_totals().unwrap().total_amount, d(6_500));
    let r2 = till.pay(&[Tender::cash(d(10_000))]).unwrap();
    assert_eq!(r2.points_redeemed, 5);
    assert_eq!(r2.points_balance, Some(5));

    // Returning half the coffee reverses half its points.
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::Refund)
        .unwrap();
    let ret = till
        .refund(
            &r.number,
            &[ReturnItem {
                line_no: 1,
                quantity: d(4),
            }],
            PaymentMethod::Cash,
            None,
            Some(&ok),
        )
        .unwrap();
    assert_eq!(ret.points_reversed, 5);
    assert_eq!(till.customer(budi.id).unwrap().unwrap().points, 0);
    assert!(till.loyalty_discrepancies().unwrap().is_empty());
}

#[test]
fn park_recall_and_void() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    let id = till.park_cart("ibu baju merah").unwrap();
    assert!(till.cart().is_empty());
    till.scan("036000291452").unwrap();
    assert!(
        till.recall_cart(id).is_err(),
        "open cart must be finished first"
    );
    assert!(matches!(
        till.void_cart(None).unwrap_err(),
        NodeError::ApprovalRequired(_)
    ));
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::VoidTransaction)
        .unwrap();
    till.void_cart(Some(&ok)).unwrap();
    assert_eq!(till.parked_carts().unwrap()[0].label, "ibu baju merah");
    till.recall_cart(id).unwrap();
    assert_eq!(till.cart().lines[0].sku, "IDM-GRG-85");
    assert!(till.parked_carts().unwrap().is_empty());
    let voids: i64 = till
        .connection()
        .query_row("SELECT count(*) FROM system_logs WHERE message = 'cart voided' AND approved_by IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(voids, 1);
}

#[test]
fn a_supervisor_s_reason_is_recorded_with_a_void_and_a_price_override() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    let void = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::VoidTransaction)
        .unwrap()
        .with_reason("  pelanggan batal ");
    till.void_cart(Some(&void)).unwrap();
    let reason: String = till
        .connection()
        .query_row(
            "SELECT json_extract(context_json, '$.reason') FROM system_logs WHERE message = 'cart voided'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "pelanggan batal");
    till.scan("8998866200301").unwrap();
    let price = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::PriceOverride)
        .unwrap()
        .with_reason("harga promo di rak");
    till.override_price(0, d(1_000), Some(&price)).unwrap();
    till.pay(&[Tender::cash(d(1_000))]).unwrap();
    let logged: i64 = till
        .connection()
        .query_row(
            "SELECT count(*) FROM system_logs WHERE message LIKE 'price override on %: harga promo di rak' AND approved_by IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 1);
}

#[test]
fn no_sale_opens_the_drawer_with_a_reason_and_a_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    assert!(matches!(
        till.no_sale("tukar uang", None).unwrap_err(),
        NodeError::ApprovalRequired(Permission::OpenDrawerNoSale)
    ));
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::OpenDrawerNoSale)
        .unwrap();
    assert!(matches!(
        till.no_sale("  ", Some(&ok)).unwrap_err(),
        NodeError::Invalid(_)
    ));
    till.no_sale("tukar uang receh", Some(&ok)).unwrap();
    let (reason, approved): (String, Option<i64>) = till
        .connection()
        .query_row(
            "SELECT json_extract(context_json, '$.reason'), approved_by FROM system_logs WHERE message = 'no sale'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(reason, "tukar uang receh");
    assert!(approved.is_some());
    // A copy of a receipt is logged too, with who printed it.
    till.log_reprint("JKT01-001-00000007").unwrap();
    let (number, user): (String, Option<i64>) = till
        .connection()
        .query_row(
            "SELECT json_extract(context_json, '$.number'), user_id FROM system_logs WHERE message = 'receipt reprinted'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(number, "JKT01-001-00000007");
    assert!(user.is_some());
}

#[test]
fn a_restarted_lane_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    let r1 = till.pay(&[Tender::cash(d(5_000))]).unwrap();
    drop(till);
    let mut till =
        kasir_core::Till::open(dir.path().join("lane1.db"), options_seeded(clock, 99)).unwrap();
    assert!(till.is_set_up());
    till.login(CASHIER.0, CASHIER.1).unwrap();
    assert!(
        till.current_shift().unwrap().is_some(),
        "the shift stays open across a restart"
    );
    till.scan("8998866200301").unwrap();
    let r2 = till.pay(&[Tender::cash(d(5_000))]).unwrap();
    assert_eq!(r1.number, "JKT01-001-00000001");
    assert_eq!(r2.number, "JKT01-001-00000002");
    let sale = till.sale_by_number(&r1.number).unwrap();
    assert_eq!(sale.total_amount, d(3_500));
}

#[test]
fn a_sale_from_another_lane_merges_once_and_projections_follow() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut lane1 = store_lane(dir.path(), clock.clone(), 1);
    let mut lane2 = store_lane(dir.path(), clock.clone(), 2);
    cashier_on_shift(&mut lane2);
    lane2.scan("8998866200301").unwrap();
    let r = lane2.pay(&[Tender::cash(d(5_000))]).unwrap();
    assert_eq!(r.number, "JKT01-002-00000001");

    // The same HQ adjustment reaches both lanes (both thought they were leader).
    let hq = StockMovement {
        id: kasir_core::schema::domain::MovementId(uuid::Uuid::from_u128(
            0x0193_0000_0000_7000_8000_0000_0000_0042,
        )),
        store: kasir_core::schema::txn_number::StoreCode::new("JKT01").unwrap(),
        sku: "TEH-BTL-350".into(),
        movement_type: kasir_core::schema::domain::MovementType::Adjustment,
        reference_type: kasir_core::schema::domain::ReferenceType::Adjustment,
        quantity: d(-7),
        sale: None,
        notes: Some("HQ count".into()),
        created_by: None,
        created_at: kasir_core::Clock::now(clock.as_ref()),
    };
    assert!(lane1.apply_external_movement(&hq).unwrap());
    assert!(lane2.apply_external_movement(&hq).unwrap());
    assert!(
        !lane1.apply_external_movement(&hq).unwrap(),
        "second apply is a no-op"
    );

    let mut new_sales = 0;
    for name in lane2.document_names().unwrap() {
        if name.starts_with("ledger/") {
            let bytes = lane2.export_document(&name).unwrap();
            let out = lane1.merge_remote(&name, &bytes).unwrap();
            new_sales += out.new_sales;
            let again = lane1.merge_remote(&name, &bytes).unwrap();
            assert!(!again.changed, "{name} changed on a second merge");
        }
    }
    assert_eq!(new_sales, 1);
    // Each lane received its own 100 units (two receipts, both counted); lane 2 sold one
    // noodle; the HQ adjustment of −7 tea counts once although both lanes applied it.
    assert_eq!(stock(&lane1, "IDM-GRG-85"), d(199));
    assert_eq!(stock(&lane1, "TEH-BTL-350"), d(193));
    assert_eq!(
        lane1.sale_by_number("JKT01-002-00000001").unwrap().id,
        r.sale_id
    );
    assert!(lane1.stock_discrepancies().unwrap().is_empty());
    // Hostile input is refused without changing anything.
    assert!(
        lane1
            .merge_remote("ledger/2026-11-23/002", b"\x85o\x4a\x83garbage")
            .is_err()
    );
    assert!(lane1.merge_remote("../../etc/passwd", b"").is_err());
    assert_eq!(stock(&lane1, "IDM-GRG-85"), d(199));
}

#[test]
fn name_search_finds_substrings_prefixes_and_skus() {
    let dir = tempfile::tempdir().unwrap();
    let till = store(dir.path(), clock());
    let hits = |q: &str| {
        till.search_products(q, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.sku)
            .collect::<Vec<_>>()
    };
    assert_eq!(hits("goreng"), vec!["IDM-GRG-85"]);
    assert_eq!(hits("GORENG"), vec!["IDM-GRG-85"]);
    assert_eq!(hits("In"), vec!["IDM-GRG-85"]);
    assert_eq!(hits("KOP-"), vec!["KOP-KAP-200"]);
    assert!(hits("zzz").is_empty());
    assert!(hits("\"; DROP TABLE products; --").is_empty());
    assert_eq!(
        till.search_products("teh", 10).unwrap()[0].sku,
        "TEH-BTL-350"
    );
    assert_name_index_matches(&till);
}

#[test]
fn a_renamed_product_is_found_by_its_new_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    till.login("maya", "9999").unwrap();
    let mut p = catalog()
        .into_iter()
        .find(|p| p.sku == "IDM-GRG-85")
        .unwrap();
    p.name = "Mie Rebus Ayam Bawang".into();
    till.import_products(&[p]).unwrap();
    let hits = |q: &str| -> Vec<String> {
        till.search_products(q, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.sku)
            .collect()
    };
    assert!(hits("goreng").is_empty());
    assert_eq!(hits("rebus ayam"), vec!["IDM-GRG-85"]);
    assert_name_index_matches(&till);
    // Reopened from disk, same answers.
    drop(till);
    let till = reopen_lane(dir.path(), 1);
    assert_eq!(
        till.search_products("bawang", 10).unwrap()[0].sku,
        "IDM-GRG-85"
    );
    assert_name_index_matches(&till);
}

#[test]
fn stock_counts_need_a_manager_and_overselling_is_flagged_not_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    // A cashier cannot count stock; a supervisor may not approve it either.
    assert!(matches!(
        till.adjust_stock("TEH-BTL-350", d(90), None, None)
            .unwrap_err(),
        NodeError::ApprovalRequired(Permission::AdjustStock)
    ));
    assert!(matches!(
        till.approve(SUPERVISOR.0, SUPERVISOR.1, Permission::AdjustStock)
            .unwrap_err(),
        NodeError::ApproverNotAllowed(Permission::AdjustStock)
    ));
    let ok = till
        .approve(MANAGER.0, MANAGER.1, Permission::AdjustStock)
        .unwrap();
    assert!(
        till.adjust_stock("TEH-BTL-350", d(2), Some("hitung ulang".into()), Some(&ok))
            .unwrap()
            .is_some()
    );
    assert_eq!(stock(&till, "TEH-BTL-350"), d(2));
    // Counting what the till already believes records nothing.
    assert!(
        till.adjust_stock("TEH-BTL-350", d(2), None, Some(&ok))
            .unwrap()
            .is_none()
    );
    assert!(
        till.adjust_stock("TEH-BTL-350", d(-1), None, Some(&ok))
            .is_err()
    );
    // Selling 5 of the 2 left goes through, and the product is flagged.
    till.add_sku("TEH-BTL-350", d(5)).unwrap();
    till.pay(&[Tender::cash(d(20_000))]).unwrap();
    assert_eq!(stock(&till, "TEH-BTL-350"), d(-3));
    let flagged = till.oversold_products().unwrap();
    assert_eq!(flagged.len(), 1);
    assert!(flagged[0].is_oversold());
    assert!(till.stock_discrepancies().unwrap().is_empty());
}

#[test]
fn a_price_change_on_one_lane_reaches_the_others_projection() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut lane1 = store_lane(dir.path(), clock.clone(), 1);
    let mut lane2 = store_lane(dir.path(), clock, 2);
    lane2.login(MANAGER.0, MANAGER.1).unwrap();
    lane2
        .set_store_price("KOP-KAP-200", d(13_000), None)
        .unwrap();
    let shard = kasir_core::docs::DocId::catalog_for("KOP-KAP-200").name();
    let bytes = lane2.export_document(&shard).unwrap();
    let out = lane1.merge_remote(&shard, &bytes).unwrap();
    assert!(out.changed && out.products > 0);
    assert_eq!(
        lane1.product("KOP-KAP-200").unwrap().unwrap().price,
        d(13_000)
    );
    assert_eq!(
        lane1
            .product_by_barcode("0036000291452")
            .unwrap()
            .unwrap()
            .price,
        d(13_000)
    );
    // The lane that changed it logged who did.
    let logged: i64 = lane2
        .connection()
        .query_row(
            "SELECT count(*) FROM system_logs WHERE message = 'store price changed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 1);
}

#[test]
fn the_outbox_tracks_status_retries_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    let r = till.pay(&[Tender::cash(d(5_000))]).unwrap();
    let pending = till.outbox_pending(100).unwrap();
    let sale = pending
        .iter()
        .find(|e| e.table_name == "transactions")
        .unwrap();
    assert_eq!(sale.record_key, r.sale_id.to_string());
    let body: kasir_core::schema::domain::Sale = serde_json::from_str(&sale.data_json).unwrap();
    assert_eq!(body.number.to_string(), r.number);
    use kasir_core::outbox::OutboxResult;
    till.outbox_mark(sale.id, OutboxResult::Failed, Some("HQ unreachable"))
        .unwrap();
    till.outbox_mark(sale.id, OutboxResult::Failed, Some("HQ unreachable"))
        .unwrap();
    let again = till.outbox_pending(100).unwrap();
    let retried = again.iter().find(|e| e.id == sale.id).unwrap();
    assert_eq!(retried.retry_count, 2);
    till.outbox_mark(sale.id, OutboxResult::Success, None)
        .unwrap();
    assert!(
        till.outbox_pending(100)
            .unwrap()
            .iter()
            .all(|e| e.id != sale.id)
    );
    let (status, error): (String, Option<String>) = till
        .connection()
        .query_row(
            "SELECT sync_status, error_message FROM sync_queue WHERE id = ?1",
            [sale.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), error), ("success", None));
}

#[test]
fn categories_live_in_the_catalog_and_replicate() {
    use kasir_core::schema::domain::Category;
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut lane1 = store_lane(dir.path(), clock.clone(), 1);
    let mut lane2 = store_lane(dir.path(), clock, 2);
    let cat = |id, name: &str, parent| Category {
        id,
        name: name.into(),
        description: None,
        parent_id: parent,
        sort_order: 0,
        is_active: true,
    };
    // The child arrives before its parent.
    lane1
        .import_categories(&[cat(11, "Mie Instan", Some(10)), cat(10, "Makanan", None)])
        .unwrap();
    let mut noodle = catalog()[0].clone();
    noodle.category_id = Some(11);
    lane1.import_products(&[noodle]).unwrap();
    let listed = lane1.categories().unwrap();
    assert_eq!(listed.len(), 2);
    let mie = listed.iter().find(|c| c.id == 11).unwrap();
    assert_eq!((mie.parent_id, mie.products), (Some(10), 1));
    assert!(lane1.import_categories(&[cat(12, " ", None)]).is_err());
    assert!(
        lane1
            .import_categories(&[cat(13, "Loop", Some(13))])
            .is_err()
    );

    let bytes = lane1.export_document("categories").unwrap();
    let out = lane2.merge_remote("categories", &bytes).unwrap();
    assert_eq!(out.categories, 2);
    let on_lane2 = lane2.categories().unwrap();
    assert_eq!(
        on_lane2.iter().find(|c| c.id == 11).unwrap().parent_id,
        Some(10)
    );
}

#[test]
fn a_line_returned_piece_by_piece_refunds_exactly_what_was_paid() {
    let dir = tempfile::tempdir().unwrap();
    let mut till = store(dir.path(), clock());
    cashier_on_shift(&mut till);
    // 3 coffees and 1 tea with Rp 1.001 off the whole cart: the discount does not split evenly.
    till.add_sku("KOP-KAP-200", d(3)).unwrap();
    till.add_sku("TEH-BTL-350", d(1)).unwrap();
    till.set_transaction_discount(Some(Discount::Amount(d(1_001))), None)
        .unwrap();
    let r = till
        .pay(&[Tender::new(PaymentMethod::Card, d(40_499))])
        .unwrap();
    let sale = till.sale_by_number(&r.number).unwrap();
    let coffee_paid = sale.lines[0].amount_due;
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::Refund)
        .unwrap();
    let mut refunded = Decimal::ZERO;
    for _ in 0..3 {
        let ret = till
            .refund(
                &r.number,
                &[ReturnItem {
                    line_no: 1,
                    quantity: d(1),
                }],
                PaymentMethod::Card,
                None,
                Some(&ok),
            )
            .unwrap();
        refunded += ret.lines[0].amount;
    }
    assert_eq!(refunded, coffee_paid);
    assert_eq!(
        till.returnable(&r.number).unwrap(),
        vec![(1, d(0)), (2, d(1))]
    );
    // Everything back: the sale is marked refunded once the tea goes too.
    till.refund(
        &r.number,
        &[ReturnItem {
            line_no: 2,
            quantity: d(1),
        }],
        PaymentMethod::Card,
        None,
        Some(&ok),
    )
    .unwrap();
    let status: String = till
        .connection()
        .query_row(
            "SELECT payment_status FROM transactions WHERE transaction_number = ?1",
            [&r.number],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "refunded");
    let total_refunded: i64 = till
        .connection()
        .query_row("SELECT SUM(refund_amount) FROM returns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kasir_core::db::money_out(total_refunded), r.total);
}

#[test]
fn sales_that_arrive_before_their_product_count_once_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut seller = store_lane(dir.path(), clock.clone(), 1);
    cashier_on_shift(&mut seller);
    for _ in 0..3 {
        seller.scan("8998866200301").unwrap();
        seller.pay(&[Tender::cash(d(5_000))]).unwrap();
    }
    // A new lane takes in the ledger first (its catalog has not arrived yet) ...
    let mut newcomer = set_up_lane(dir.path(), 2, options_seeded(clock.clone(), 9));
    for name in seller.document_names().unwrap() {
        if name.starts_with("ledger/") {
            let bytes = seller.export_document(&name).unwrap();
            newcomer.merge_remote(&name, &bytes).unwrap();
        }
    }
    assert!(newcomer.product("IDM-GRG-85").unwrap().is_none());
    assert!(newcomer.stock_discrepancies().unwrap().is_empty());
    // ... then the catalog: every product starts from what its movements already say.
    for name in seller.document_names().unwrap() {
        if name.starts_with("catalog/") {
            let bytes = seller.export_document(&name).unwrap();
            newcomer.merge_remote(&name, &bytes).unwrap();
        }
    }
    assert_eq!(stock(&newcomer, "IDM-GRG-85"), d(97));
    assert_eq!(stock(&newcomer, "KOP-KAP-200"), d(100));
    assert_eq!(stock(&newcomer, "IDM-GRG-85"), stock(&seller, "IDM-GRG-85"));
    assert!(newcomer.stock_discrepancies().unwrap().is_empty());
    // A further sale of it on the seller moves it by one, once.
    seller.scan("8998866200301").unwrap();
    seller.pay(&[Tender::cash(d(5_000))]).unwrap();
    for name in seller.document_names().unwrap() {
        if name.starts_with("ledger/") {
            let bytes = seller.export_document(&name).unwrap();
            newcomer.merge_remote(&name, &bytes).unwrap();
        }
    }
    assert_eq!(stock(&newcomer, "IDM-GRG-85"), d(96));
    assert!(newcomer.stock_discrepancies().unwrap().is_empty());
}

#[test]
fn a_sale_made_durable_but_not_yet_projected_is_projected_when_the_lane_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);
    till.scan("8998866200301").unwrap();
    till.scan("8998866200301").unwrap();
    let r = till.commit_sale(&[Tender::cash(d(10_000))]).unwrap();
    assert_eq!(r.number, "JKT01-001-00000001");
    // The lane stops before the projections are written (as a kill -9 or power loss would
    // leave it): the sale is in the ledger document only.
    drop(till);
    let mut till = kasir_core::Till::open(
        dir.path().join("lane1.db"),
        options_seeded(clock.clone(), 77),
    )
    .unwrap();
    assert_eq!(till.sale_by_number(&r.number).unwrap().id, r.sale_id);
    assert_eq!(stock(&till, "IDM-GRG-85"), d(98));
    assert!(till.stock_discrepancies().unwrap().is_empty());
    let pending = till.outbox_pending(100).unwrap();
    assert!(
        pending
            .iter()
            .any(|e| e.table_name == "transactions" && e.record_key == r.sale_id.to_string())
    );
    // Numbers go on after it, and a second start projects nothing twice.
    till.login(CASHIER.0, CASHIER.1).unwrap();
    till.scan("036000291452").unwrap();
    let r2 = till.pay(&[Tender::cash(d(20_000))]).unwrap();
    assert_eq!(r2.number, "JKT01-001-00000002");
    drop(till);
    let till =
        kasir_core::Till::open(dir.path().join("lane1.db"), options_seeded(clock, 78)).unwrap();
    let sales: i64 = till
        .connection()
        .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sales, 2);
    assert_eq!(stock(&till, "IDM-GRG-85"), d(98));
    assert_eq!(till.outbox_counts().unwrap().0, 2 + 5);
}

/// Found by the simulator (issue #14): a till whose clock was set back during the shift (an
/// NTP correction) closed it "before" it opened, and HQ refused that Z report for good. A
/// shift now ends no earlier than it began.
#[test]
fn a_clock_set_back_during_the_shift_does_not_end_it_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut till = store(dir.path(), clock.clone());
    cashier_on_shift(&mut till);
    let opened = kasir_core::Clock::now(&*clock);
    clock.advance(Duration::minutes(-90));
    let ok = till
        .approve(SUPERVISOR.0, SUPERVISOR.1, Permission::CloseShift)
        .unwrap();
    let z = till.close_shift(d(500_000), Some(&ok)).unwrap();
    assert!(z.opened_at <= z.closed_at.unwrap(), "{z:?}");
    assert_eq!(z.closed_at, Some(opened));
}
