//! The demo store of the till app: store DEMO01 with a catalog of realistic Indonesian
//! products (valid EAN-13 codes, some weighed and price-embedded), opening stock, and a
//! manager, a supervisor and a cashier whose PINs the login screen shows in demo mode.

use kasir_node::schema::Decimal;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{NewUser, default_store_config};
use kasir_node::{Command, Node, demo};

/// (who, user, PIN) of the demo store's people.
pub const USERS: [(&str, &str, &str); 3] = [
    ("Siti (kasir)", "siti", "1234"),
    ("Budi (supervisor)", "budi", "5678"),
    ("Maya (manajer)", "maya", "9999"),
];

/// The demo users as the login screen lists them.
pub fn users() -> Vec<(String, String, String)> {
    USERS
        .iter()
        .map(|(w, u, p)| ((*w).to_string(), (*u).to_string(), (*p).to_string()))
        .collect()
}

/// Sets up `node` as lane 1 of the demo store with `products` products (the seed fixes which),
/// unless it is set up already. Nobody is logged in afterwards.
pub fn set_up(node: &Node, products: usize) -> kasir_node::Result<()> {
    if node.is_set_up()? {
        return Ok(());
    }
    let mut config = default_store_config("DEMO01", "Toko Demo Kasir")?;
    config.address = Some("Jl. Merdeka No. 1, Jakarta".into());
    node.execute(Command::SetUp {
        config: Box::new(config),
        lane: LaneNo::new(1).expect("lane 1 is a lane number"),
        manager: NewUser {
            username: "maya".into(),
            full_name: "Maya (manajer)".into(),
            role: Role::Manager,
            pin: "9999".into(),
        },
    })?;
    node.execute(Command::Login {
        username: "maya".into(),
        pin: "9999".into(),
    })?;
    for (username, full_name, role, pin) in [
        ("budi", "Budi (supervisor)", Role::Supervisor, "5678"),
        ("siti", "Siti (kasir)", Role::Cashier, "1234"),
    ] {
        node.execute(Command::CreateUser {
            user: NewUser {
                username: username.into(),
                full_name: full_name.into(),
                role,
                pin: pin.into(),
            },
            approval: None,
        })?;
    }
    let catalog = demo::products(products, 42);
    node.execute(Command::ImportProducts(catalog.clone()))?;
    for p in catalog.iter().take(200) {
        node.execute(Command::ReceiveStock {
            sku: p.sku.clone(),
            quantity: Decimal::from(40),
            notes: Some("stok awal".into()),
            approval: None,
        })?;
    }
    node.execute(Command::Logout)?;
    Ok(())
}
