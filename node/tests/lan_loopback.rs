//! Real iroh on loopback: three lanes sell concurrently and converge (I1, I3); a node that is
//! not enrolled in the store is refused.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use iroh::SecretKey;
use kasir_node::lan::{LanConfig, Lane, LaneLog, start};
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::{Till, demo};
use tokio::sync::mpsc::UnboundedReceiver;

fn lane_till(dir: &std::path::Path, lane: u32) -> Till {
    let mut till = common::bare_lane(dir, lane);
    till.login("maya", "9999").unwrap();
    till.open_shift(Decimal::from(100_000)).unwrap();
    till
}

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn facts(lane: &Lane) -> (Vec<(String, [u8; 32])>, Vec<(String, i64)>, i64) {
    lane.run(|t| {
        let manifest = t.document_manifest().unwrap();
        let stock = t
            .connection()
            .prepare("SELECT sku, stock_quantity FROM products ORDER BY sku")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let sales = t
            .connection()
            .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
            .unwrap();
        (manifest, stock, sales)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_lanes_converge_over_iroh_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<_> = keys.iter().map(|k| k.public()).collect();
    let mut lanes = Vec::new();
    let mut logs: Vec<UnboundedReceiver<LaneLog>> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mut till = lane_till(dir.path(), u32::try_from(i).unwrap() + 1);
        if i == 0 {
            let products = demo::products(100, 8);
            till.import_products(&products).unwrap();
            for p in &products {
                till.receive_stock(&p.sku, Decimal::from(50), None, None)
                    .unwrap();
            }
        }
        let (lane, log) = start(
            till,
            LanConfig {
                secret_key: key.clone(),
                bind: "127.0.0.1:0".parse().unwrap(),
                members: members.clone(),
            },
        )
        .await
        .unwrap();
        lanes.push(lane);
        logs.push(log);
    }
    for a in &lanes {
        for b in &lanes {
            if a.id != b.id {
                a.dial(b.addr.clone()).await.unwrap();
            }
        }
    }
    // The catalog reaches lanes 2 and 3.
    wait_for(
        "the catalog on every lane",
        Duration::from_secs(60),
        async || {
            let mut ok = true;
            for l in &lanes {
                ok &= l
                    .run(|t| {
                        t.product("P000007")
                            .unwrap()
                            .is_some_and(|p| p.stock == Decimal::from(50))
                    })
                    .await
                    .unwrap();
            }
            ok
        },
    )
    .await;

    // Everyone sells at once.
    let mut tasks = Vec::new();
    for (i, lane) in lanes.iter().enumerate() {
        let lane = lane.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..10usize {
                let sku = format!("P{:06}", (i * 7 + k) % 30);
                lane.run(move |t| {
                    let qty = if t.product(&sku).unwrap().unwrap().unit
                        == kasir_node::schema::domain::SaleUnit::Kilogram
                    {
                        Decimal::new(250, 3)
                    } else {
                        Decimal::ONE
                    };
                    t.add_sku(&sku, qty).unwrap();
                    t.pay(&[Tender::cash(Decimal::from(10_000_000))]).unwrap();
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_for("convergence", Duration::from_secs(60), async || {
        let f0 = facts(&lanes[0]).await;
        let mut same = f0.2 == 30;
        for l in &lanes[1..] {
            same &= facts(l).await == f0;
        }
        same
    })
    .await;
    for l in &lanes {
        assert!(
            l.run(|t| t.stock_discrepancies().unwrap())
                .await
                .unwrap()
                .is_empty()
        );
    }

    // A stranger (not enrolled) dials the members; those it reaches refuse it.
    let stranger_key = loop {
        let k = SecretKey::generate();
        if members.iter().any(|m| *m > k.public()) {
            break k;
        }
    };
    let stranger_till = lane_till(dir.path(), 9);
    let (stranger, _stranger_log) = start(
        stranger_till,
        LanConfig {
            secret_key: stranger_key,
            bind: "127.0.0.1:0".parse().unwrap(),
            members: members.clone(),
        },
    )
    .await
    .unwrap();
    for l in &lanes {
        stranger.dial(l.addr.clone()).await.unwrap();
    }
    let start_wait = Instant::now();
    let mut refused = 0;
    while refused == 0 && start_wait.elapsed() < Duration::from_secs(20) {
        for log in &mut logs {
            while let Ok(entry) = log.try_recv() {
                refused += entry
                    .refused
                    .iter()
                    .filter(|r| r.contains("incoming from"))
                    .count();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "no member refused the stranger");
    // And it learned nothing.
    let stranger_sales = stranger
        .run(|t| {
            t.connection()
                .query_row("SELECT count(*) FROM transactions", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
        })
        .await
        .unwrap();
    assert_eq!(stranger_sales, 0);
    stranger.shutdown().await;
    for l in &lanes {
        l.shutdown().await;
    }
}
