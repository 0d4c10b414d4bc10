//! A store of three lanes over real iroh on loopback and a real HQ gateway (issue #12), on
//! SQLite, and on MariaDB when `KASIR_TEST_MYSQL_URL` is set: the credential entered on one
//! lane reaches every lane; one lane leads; every lane's sales reach HQ exactly once; the
//! leader stops and another takes over; a revoked credential shows on every lane, and a new
//! one entered on another lane resumes forwarding.

use std::collections::BTreeSet;
use std::time::Duration;

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::LanConfig;
use kasir_node::schema::Decimal;
use kasir_node::types::HqCredential;
use kasir_node::{Command, Node, demo};
use kasir_tests::{Hq, backlogs, lane, on, sell, wait_for};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sale_of_every_lane_reaches_hq_once_through_the_leader() {
    let hq = Hq::start().await;
    // HQ's catalog: the products the lanes sell (HQ refuses lines of SKUs it does not know).
    let products = demo::products(30, 8);
    hq.import_catalog(&products).await;
    let (device, token) = hq.device().await;

    let dir = tempfile::tempdir().unwrap();
    let lanes: Vec<Node> = (1..=3).map(|n| lane(dir.path(), n)).collect();
    lanes[0]
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    for p in &products {
        lanes[0]
            .execute(Command::ReceiveStock {
                sku: p.sku.clone(),
                quantity: Decimal::from(500),
                notes: None,
                approval: None,
            })
            .unwrap();
    }
    let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<iroh::EndpointId> = keys.iter().map(SecretKey::public).collect();
    let mut first: Option<EndpointAddr> = None;
    for (i, l) in lanes.iter().enumerate() {
        let mut c = LanConfig::new(keys[i].clone(), "127.0.0.1:0".parse().unwrap());
        c.members = members.clone();
        c.peers = first.iter().cloned().collect();
        c.status_every = Duration::from_millis(250);
        l.join_lan(c).await.unwrap();
        if i == 0 {
            let mut a = EndpointAddr::new(keys[0].public());
            for ip in l.lan_addrs().await {
                a = a.with_ip_addr(ip);
            }
            first = Some(a);
        }
    }
    // The credential, entered on lane 2 only, reaches every lane; lane 1 leads.
    lanes[1]
        .execute(Command::ConnectHq(HqCredential {
            url: hq.base.clone(),
            token: token.clone(),
        }))
        .unwrap();
    wait_for(
        "every lane sees lane 1 lead",
        Duration::from_secs(30),
        async || {
            lanes
                .iter()
                .all(|l| l.hq_status().leader == Some(1) && l.hq_status().configured)
        },
    )
    .await;
    assert!(lanes[0].hq_status().leading);
    // Every lane sells; every sale reaches HQ once, and every lane's backlog empties.
    let mut sold = Vec::new();
    for k in 0..10 {
        for l in &lanes {
            sold.push(sell(l, k).await);
        }
    }
    let all: Vec<&Node> = lanes.iter().collect();
    wait_for("every sale at HQ", Duration::from_secs(60), async || {
        hq.numbers().await.len() >= sold.len()
    })
    .await;
    wait_for(
        "backlog 0 on every lane",
        Duration::from_secs(30),
        async || backlogs(&all).await.iter().all(|b| *b == 0),
    )
    .await;
    sold.sort();
    assert_eq!(hq.numbers().await, sold, "each sale once");
    assert!(lanes[0].hq_status().uploaded > 0);
    assert_eq!(lanes[1].hq_status().uploaded, 0, "only the leader uploads");

    // HQ sets the store's price of a product and adjusts its stock: every lane charges the
    // new price, and the adjustment counts once on every lane.
    let sku = "P000025";
    let mut pid = 0;
    for id in 1..=30u64 {
        let (_, p) = hq
            .admin_call("GET", &format!("/api/products/{id}"), Value::Null)
            .await;
        if p["sku"] == sku {
            pid = id;
        }
    }
    assert!(pid > 0, "{sku} at HQ");
    let stock_before: Vec<Decimal> = lanes
        .iter()
        .map(|l| l.product(sku).unwrap().unwrap().stock)
        .collect();
    hq.admin_call(
        "PUT",
        &format!("/api/stores/{}/products/{pid}", hq.store_id),
        json!({ "selling_price": 7777 }),
    )
    .await;
    hq.admin_call(
        "PUT",
        &format!("/api/products/{pid}/stock"),
        json!({ "store_id": hq.store_id, "movement_type": "adjustment", "quantity": 10,
                "notes": "stock count at HQ" }),
    )
    .await;
    wait_for(
        "HQ's price and adjustment on every lane",
        Duration::from_secs(30),
        async || {
            lanes.iter().zip(&stock_before).all(|(l, before)| {
                let p = l.product(sku).unwrap().unwrap();
                p.price == Decimal::from(7777) && p.stock == *before + Decimal::from(10)
            })
        },
    )
    .await;
    // Applied once: later downloads (every 5 s) change nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (l, before) in lanes.iter().zip(&stock_before) {
        assert_eq!(
            l.product(sku).unwrap().unwrap().stock,
            *before + Decimal::from(10)
        );
    }
    let price = on(&lanes[2], move |n| {
        n.execute(Command::AddSku {
            sku: sku.into(),
            quantity: Decimal::ONE,
        })
        .unwrap();
        n.view().cart.totals.total_amount
    })
    .await;
    assert_eq!(price, Decimal::from(7777), "a lane charges HQ's new price");
    on(&lanes[2], |n| {
        n.execute(Command::VoidCart { approval: None }).map(|_| ())
    })
    .await
    .unwrap();

    // The leader stops; lane 2 leads within 10 s and forwards what the others sell.
    lanes[0].shutdown().await;
    let rest: Vec<&Node> = lanes[1..].iter().collect();
    let took = wait_for("lane 2 leads", Duration::from_secs(10), async || {
        rest.iter().all(|l| l.hq_status().leader == Some(2))
    })
    .await;
    eprintln!("failover after the leader stopped: {took:?}");
    for k in 0..5 {
        for l in &rest {
            sold.push(sell(l, k).await);
        }
    }
    sold.sort();
    wait_for(
        "the new leader's uploads",
        Duration::from_secs(60),
        async || hq.numbers().await == sold,
    )
    .await;

    // HQ revokes the credential: every lane says so; a new one entered on lane 3 resumes.
    hq.admin_call(
        "DELETE",
        &format!("/api/stores/{}/devices/{device}", hq.store_id),
        Value::Null,
    )
    .await;
    wait_for(
        "the refusal on every lane",
        Duration::from_secs(30),
        async || {
            rest.iter().all(|l| {
                l.hq_status()
                    .last_error
                    .is_some_and(|e| e.contains("HQ refused the store's credential"))
            })
        },
    )
    .await;
    for l in &rest {
        sold.push(sell(l, 7).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        hq.numbers().await.len() < sold.len(),
        "nothing goes through a revoked credential"
    );
    assert!(backlogs(&rest).await.iter().all(|b| *b >= 2));
    let (_, token2) = hq.device().await;
    lanes[2]
        .execute(Command::ConnectHq(HqCredential {
            url: hq.base.clone(),
            token: token2,
        }))
        .unwrap();
    sold.sort();
    wait_for("forwarding resumes", Duration::from_secs(60), async || {
        hq.numbers().await == sold
    })
    .await;
    wait_for("backlog 0 again", Duration::from_secs(30), async || {
        backlogs(&rest).await.iter().all(|b| *b == 0)
    })
    .await;
    for l in &rest {
        l.shutdown().await;
    }
}
