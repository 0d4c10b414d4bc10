//! Shared set-up for the node's tests: lanes of store JKT01 driven through the `Node` API.
#![allow(dead_code)]

use std::path::Path;

use kasir_node::schema::Decimal;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{AuthParams, NewUser, default_store_config};
use kasir_node::{Command, Node, NodeOptions};

pub const MANAGER: (&str, &str) = ("maya", "9999");

pub fn options() -> NodeOptions {
    NodeOptions {
        auth: AuthParams::fast_for_tests(),
        // Several lanes share this process: none takes a core of its own.
        own_core: false,
        ..NodeOptions::default()
    }
}

/// Opens lane `lane`'s database in `dir` (set up already or not).
pub fn open_lane(dir: &Path, lane: u32) -> Node {
    Node::open(dir.join(format!("lane{lane}.db")), options()).unwrap()
}

/// A lane of store JKT01 set up with its manager (maya/9999), logged in, a shift open.
pub fn lane(dir: &Path, lane: u32) -> Node {
    let node = open_lane(dir, lane);
    node.execute(Command::SetUp {
        config: Box::new(default_store_config("JKT01", "Toko Sejahtera").unwrap()),
        lane: LaneNo::new(lane).unwrap(),
        manager: NewUser {
            username: MANAGER.0.into(),
            full_name: "Maya Manager".into(),
            role: Role::Manager,
            pin: MANAGER.1.into(),
        },
    })
    .unwrap();
    login_on_shift(&node);
    node
}

/// Logs the manager in and opens a shift if none is open.
pub fn login_on_shift(node: &Node) {
    node.execute(Command::Login {
        username: MANAGER.0.into(),
        pin: MANAGER.1.into(),
    })
    .unwrap();
    if node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(100_000),
        })
        .unwrap();
    }
}

/// Every product's stock, by SKU: what converged lanes must agree on.
pub fn stock_by_sku(node: &Node) -> Vec<(String, Decimal)> {
    node.active_products(100_000)
        .unwrap()
        .into_iter()
        .map(|p| (p.sku, p.stock))
        .collect()
}
