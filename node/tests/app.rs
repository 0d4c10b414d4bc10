//! The screens' API (issue #10): commands in, a watchable view out, errors in words a cashier
//! understands, and a cart that shows when another lane sells the last units.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::LanConfig;
use kasir_node::schema::Decimal;
use kasir_node::schema::domain::{Product, SaleUnit};
use kasir_node::schema::payment::{PaymentMethod, Tender};
use kasir_node::schema::roles::{Permission, Role};
use kasir_node::types::{NewUser, ReturnItem};
use kasir_node::{Command, Error, Node, Outcome, View};

fn product(sku: &str, barcode: &str, name: &str, price: i64) -> Product {
    Product {
        sku: sku.into(),
        server_id: None,
        barcode: Some(barcode.into()),
        name: name.into(),
        description: None,
        category_id: None,
        unit: SaleUnit::Piece,
        cost_price: Decimal::ZERO,
        selling_price: Decimal::from(price),
        min_stock: Decimal::ZERO,
        max_stock: Decimal::from(100),
        is_active: true,
    }
}

/// A lane with two products (5 noodles, 3 coffees in stock) and a cashier, nobody logged in.
fn shop(dir: &std::path::Path, lane: u32) -> Node {
    let node = common::lane(dir, lane);
    node.execute(Command::ImportProducts(vec![
        product("IDM-GRG-85", "8998866200301", "Indomie Goreng 85 g", 3_500),
        product(
            "KOP-KAP-200",
            "0036000291452",
            "Kopi Kapal Api 200 g",
            12_500,
        ),
    ]))
    .unwrap();
    for (sku, n) in [("IDM-GRG-85", 5), ("KOP-KAP-200", 3)] {
        node.execute(Command::ReceiveStock {
            sku: sku.into(),
            quantity: Decimal::from(n),
            notes: None,
            approval: None,
        })
        .unwrap();
    }
    for (user, role, pin) in [
        ("siti", Role::Cashier, "1234"),
        ("budi", Role::Supervisor, "5678"),
    ] {
        node.execute(Command::CreateUser {
            user: NewUser {
                username: user.into(),
                full_name: user.into(),
                role,
                pin: pin.into(),
            },
            approval: None,
        })
        .unwrap();
    }
    node.execute(Command::Logout).unwrap();
    node
}

fn d(v: i64) -> Decimal {
    Decimal::from(v)
}

#[test]
fn a_cashier_works_through_commands_and_the_view_follows() {
    let dir = tempfile::tempdir().unwrap();
    let node = shop(dir.path(), 1);
    let v = node.view();
    assert!(v.session.is_none());
    assert_eq!(v.store.as_ref().unwrap().code, "JKT01");

    // Nobody logged in: a scan is refused in words, and the view says so too.
    let err = node
        .execute(Command::Scan {
            code: "8998866200301".into(),
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "nobody is logged in");
    assert_eq!(
        node.view().last_error.as_deref(),
        Some("nobody is logged in")
    );

    node.execute(Command::Login {
        username: "siti".into(),
        pin: "1234".into(),
    })
    .unwrap();
    let v = node.view();
    assert_eq!(v.session.as_ref().unwrap().role, Role::Cashier);
    assert!(v.last_error.is_none(), "a successful command clears it");
    // The manager's shift from set-up is still open on this lane.
    assert!(v.shift.is_some());

    assert_eq!(
        node.execute(Command::Scan {
            code: "8998866200301".into()
        })
        .unwrap(),
        Outcome::Line(0)
    );
    node.execute(Command::Scan {
        code: "036000291452".into(),
    })
    .unwrap();
    let v = node.view();
    assert_eq!(v.cart.lines.len(), 2);
    assert_eq!(v.cart.lines[0].name, "Indomie Goreng 85 g");
    assert_eq!(v.cart.lines[0].stock, d(5));
    assert_eq!(v.cart.totals.total_amount, d(16_000));
    assert_eq!(v.cart.cash_due, d(16_000));

    // A barcode that is not in the catalog: a sentence, and the cart is unchanged.
    let unknown = kasir_node::schema::barcode::with_check_digit("899123456789").unwrap();
    let err = node
        .execute(Command::Scan {
            code: unknown.clone(),
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("barcode {unknown} not found")),
        "{err}"
    );
    assert!(!format!("{err}").contains('{'), "no debug text: {err}");
    assert_eq!(node.view().cart.lines.len(), 2);

    node.execute(Command::SetQuantity {
        line: 0,
        typed: "6".into(),
    })
    .unwrap();
    let v = node.view();
    assert!(v.cart.lines[0].short, "6 noodles in the cart, 5 in stock");
    node.execute(Command::SetQuantity {
        line: 0,
        typed: "2".into(),
    })
    .unwrap();
    let receipt = node.pay(vec![Tender::cash(d(20_000))]).unwrap();
    assert_eq!(receipt.total, d(19_500));
    let v = node.view();
    assert!(v.cart.lines.is_empty());
    assert_eq!(v.last_receipt.as_ref(), Some(&receipt));

    // A refund needs a supervisor: a wrong PIN is refused, the right one approves.
    let err = node
        .approve("budi", "0000", Permission::Refund)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("wrong username or PIN"),
        "{err}"
    );
    let ok = node.approve("budi", "5678", Permission::Refund).unwrap();
    let Outcome::Return(r) = node
        .execute(Command::Refund {
            number: receipt.number.clone(),
            items: vec![ReturnItem {
                line_no: 1,
                quantity: d(1),
            }],
            method: PaymentMethod::Cash,
            reason: Some("rusak".into()),
            approval: Some(ok),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.refund_amount, d(3_500));
    assert_eq!(node.product("IDM-GRG-85").unwrap().unwrap().stock, d(4));

    // Watched stock and the HQ backlog.
    node.execute(Command::Watch {
        skus: vec!["KOP-KAP-200".into()],
    })
    .unwrap();
    let v = node.view();
    assert_eq!(v.watched[0].stock, d(2));
    let diag = node.diagnostics().unwrap();
    assert_eq!(diag.sales, 1);
    assert!(diag.outbox_waiting >= 2);
    node.close();
    assert!(matches!(node.view().seq, n if n > 5));
    assert!(matches!(node.execute(Command::Logout), Err(Error::Stopped)));
}

async fn addr_of(node: &Node, key: &SecretKey) -> EndpointAddr {
    let mut a = EndpointAddr::new(key.public());
    for ip in node.lan_addrs().await {
        a = a.with_ip_addr(ip);
    }
    a
}

async fn wait_view(node: &Node, what: &str, check: impl Fn(&View) -> bool) -> Arc<View> {
    let mut w = node.watch();
    tokio::time::timeout(Duration::from_secs(30), w.wait_for(|v| check(v)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", node.view()))
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_lane_selling_the_last_units_shows_in_this_cart_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (one, two) = tokio::task::spawn_blocking(move || (shop(&path, 1), common::lane(&path, 2)))
        .await
        .unwrap();
    let (k1, k2) = (SecretKey::generate(), SecretKey::generate());
    let members = BTreeSet::from([k1.public(), k2.public()]);
    let mut c1 = LanConfig::new(k1.clone(), "127.0.0.1:0".parse().unwrap());
    c1.members = members.clone();
    c1.status_every = Duration::from_millis(200);
    one.join_lan(c1).await.unwrap();
    let mut c2 = LanConfig::new(k2, "127.0.0.1:0".parse().unwrap());
    c2.members = members;
    c2.peers = vec![addr_of(&one, &k1).await];
    c2.status_every = Duration::from_millis(200);
    two.join_lan(c2).await.unwrap();

    // Lane 1's cashier has 2 coffees in the cart (3 in stock).
    let one_ = one.clone();
    tokio::task::spawn_blocking(move || {
        one_.execute(Command::Login {
            username: "siti".into(),
            pin: "1234".into(),
        })
        .unwrap();
        one_.execute(Command::AddSku {
            sku: "KOP-KAP-200".into(),
            quantity: d(2),
        })
        .unwrap();
    })
    .await
    .unwrap();
    assert!(!one.view().cart.lines[0].short);
    wait_view(&one, "lane 2 connected", |v| v.lan.connected == 1).await;
    // Lane 2 sells two of the three as soon as the catalog reached it.
    let two_ = two.clone();
    tokio::task::spawn_blocking(move || {
        for _ in 0..600 {
            if two_
                .product("KOP-KAP-200")
                .unwrap()
                .is_some_and(|p| p.stock == d(3))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        two_.execute(Command::AddSku {
            sku: "KOP-KAP-200".into(),
            quantity: d(2),
        })
        .unwrap();
        two_.pay(vec![Tender::cash(d(100_000))]).unwrap();
    })
    .await
    .unwrap();
    // Lane 1's view warns without a restart or a new command.
    let v = wait_view(&one, "the stock warning", |v| {
        v.cart.lines.first().is_some_and(|l| l.short)
    })
    .await;
    assert_eq!(v.cart.lines[0].stock, d(1));
    let peers = &v.lan.peers;
    assert!(peers.iter().any(|p| p.lane == Some(2)), "{peers:?}");
    one.shutdown().await;
    two.shutdown().await;
}
