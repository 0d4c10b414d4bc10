//! HQ down for a while, a lane off the LAN, and a store cut off from HQ for 14 (simulated)
//! days (issue #12); two lanes over real iroh on loopback and a real gateway (SQLite; MariaDB
//! with `KASIR_TEST_MYSQL_URL`). While HQ is down both lanes sell, the backlog grows and the
//! status says HQ is unreachable; lane 2 then leaves the LAN and sells on its own; HQ comes
//! back, lane 2 rejoins, and every sale reaches HQ once while every backlog drains to 0. A
//! fortnight of sales made while HQ was away (the lanes' clock moved a day at a time) drains
//! in batches, the backlog only shrinking, each sale at HQ once and on its own day.

use std::collections::BTreeSet;
use std::time::Duration;

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::LanConfig;
use kasir_node::types::HqCredential;
use kasir_node::{Command, Node, demo};
use kasir_tests::{Hq, backlogs, lane, login, open_lane, sell, wait_for};
use serde_json::Value;

fn config(
    key: &SecretKey,
    members: &BTreeSet<iroh::EndpointId>,
    peer: Option<EndpointAddr>,
) -> LanConfig {
    let mut c = LanConfig::new(key.clone(), "127.0.0.1:0".parse().unwrap());
    c.members = members.clone();
    c.peers = peer.into_iter().collect();
    c.status_every = Duration::from_millis(250);
    c
}

/// Both lanes on the LAN (lane 2 knowing lane 1's address), the store connected to HQ on
/// lane 1; returns when lane 1 leads and lane 2 holds the catalog. (keys, members, lane 1's
/// address) let lane 2 join again later.
async fn connect(
    lane1: &Node,
    lane2: &Node,
    hq: &Hq,
    token: String,
) -> (Vec<SecretKey>, BTreeSet<iroh::EndpointId>, EndpointAddr) {
    let keys: Vec<SecretKey> = (0..2).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<iroh::EndpointId> = keys.iter().map(SecretKey::public).collect();
    lane1
        .join_lan(config(&keys[0], &members, None))
        .await
        .unwrap();
    let mut at1 = EndpointAddr::new(keys[0].public());
    for ip in lane1.lan_addrs().await {
        at1 = at1.with_ip_addr(ip);
    }
    lane2
        .join_lan(config(&keys[1], &members, Some(at1.clone())))
        .await
        .unwrap();
    lane1
        .execute(Command::ConnectHq(HqCredential {
            url: hq.base.clone(),
            token,
        }))
        .unwrap();
    wait_for(
        "lane 1 leads, the catalog on lane 2",
        Duration::from_secs(30),
        async || {
            lane2.hq_status().leader == Some(1) && lane2.product("P000019").ok().flatten().is_some()
        },
    )
    .await;
    (keys, members, at1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selling_goes_on_while_hq_is_down_and_the_backlog_drains_when_it_is_back() {
    let mut hq = Hq::start().await;
    let products = demo::products(20, 8);
    hq.import_catalog(&products).await;
    let (_, token) = hq.device().await;
    let dir = tempfile::tempdir().unwrap();
    let lane1 = lane(dir.path(), 1);
    let mut lane2 = lane(dir.path(), 2);
    lane1
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    let (keys, members, at1) = connect(&lane1, &lane2, &hq, token).await;
    let mut sold = Vec::new();
    sold.push(sell(&lane1, 0).await);
    wait_for(
        "the first sale at HQ",
        Duration::from_secs(30),
        async || hq.numbers().await == sold,
    )
    .await;

    // HQ goes down: both lanes go on selling; the backlog grows and the status says why.
    hq.stop();
    for k in 0..10 {
        sold.push(sell(&lane1, k).await);
        sold.push(sell(&lane2, k).await);
    }
    wait_for(
        "the backlog on both lanes",
        Duration::from_secs(30),
        async || backlogs(&[&lane1, &lane2]).await == [20, 20],
    )
    .await;
    wait_for(
        "HQ unreachable in the status",
        Duration::from_secs(30),
        async || {
            lane1
                .hq_status()
                .last_error
                .is_some_and(|e| e.contains("HQ unreachable"))
        },
    )
    .await;
    // The view counts the backlog again at most once a second.
    wait_for(
        "the view shows the backlog",
        Duration::from_secs(10),
        async || lane1.view().hq_backlog == 20,
    )
    .await;

    // Lane 2 leaves the LAN and sells on its own.
    lane2.shutdown().await;
    let offline = open_lane(dir.path(), 2);
    login(&offline);
    for k in 0..5 {
        sold.push(sell(&offline, k).await);
    }
    offline.close();

    // HQ is back, lane 2 rejoins: everything arrives once and every backlog drains.
    hq.restart().await;
    lane2 = open_lane(dir.path(), 2);
    login(&lane2);
    lane2
        .join_lan(config(&keys[1], &members, Some(at1)))
        .await
        .unwrap();
    sold.sort();
    wait_for("every sale at HQ", Duration::from_secs(60), async || {
        hq.numbers().await == sold
    })
    .await;
    wait_for(
        "backlog 0 on both lanes",
        Duration::from_secs(30),
        async || backlogs(&[&lane1, &lane2]).await == [0, 0],
    )
    .await;
    wait_for(
        "the status clear of errors",
        Duration::from_secs(15),
        async || {
            let s = lane1.hq_status();
            s.last_error.is_none() && s.reachable
        },
    )
    .await;
    lane1.shutdown().await;
    lane2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_off_from_hq_for_fourteen_days_catches_up() {
    use kasir_core::{Env, ManualClock};
    let mut hq = Hq::start().await;
    let products = demo::products(20, 8);
    hq.import_catalog(&products).await;
    let (_, token) = hq.device().await;
    // The lanes' clock starts 14 days ago; a day of sales on both lanes, then the next day.
    let clock = ManualClock::new(chrono::Utc::now() - chrono::Duration::days(14));
    let dir = tempfile::tempdir().unwrap();
    let lane1 = kasir_tests::lane_with(dir.path(), 1, Env::seeded(clock.clone(), 1));
    let lane2 = kasir_tests::lane_with(dir.path(), 2, Env::seeded(clock.clone(), 2));
    lane1
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    connect(&lane1, &lane2, &hq, token).await;
    hq.stop();
    let mut sold = Vec::new();
    for day in 0..14 {
        for k in 0..15 {
            sold.push(sell(&lane1, day * 15 + k).await);
            sold.push(sell(&lane2, day * 15 + k).await);
        }
        clock.advance(chrono::Duration::days(1));
    }
    let waiting = sold.len() as i64;
    wait_for(
        "14 days of sales waiting on both lanes",
        Duration::from_secs(60),
        async || backlogs(&[&lane1, &lane2]).await == [waiting, waiting],
    )
    .await;
    // HQ is back: the backlog only goes down until it is 0, and HQ holds every sale once.
    hq.restart().await;
    let mut seen = vec![waiting];
    wait_for("the backlog drained", Duration::from_secs(60), async || {
        let b = backlogs(&[&lane1]).await[0];
        if seen.last() != Some(&b) {
            seen.push(b);
        }
        b == 0
    })
    .await;
    assert!(
        seen.windows(2).all(|w| w[1] < w[0]),
        "the backlog only shrinks: {seen:?}"
    );
    eprintln!("backlog while catching up: {seen:?}");
    sold.sort();
    wait_for("every sale at HQ", Duration::from_secs(30), async || {
        hq.numbers().await == sold
    })
    .await;
    wait_for("backlog 0 on lane 2", Duration::from_secs(30), async || {
        backlogs(&[&lane2]).await == [0]
    })
    .await;
    // The sales kept their days: HQ's oldest is 14 days old.
    let (_, v) = hq
        .admin_call(
            "GET",
            &format!(
                "/api/transactions?store_id={}&per_page=1&number={}",
                hq.store_id, sold[0]
            ),
            Value::Null,
        )
        .await;
    let oldest: chrono::DateTime<chrono::Utc> = v["data"][0]["transaction_date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        chrono::Utc::now() - oldest > chrono::Duration::days(13),
        "{oldest}"
    );
    lane1.shutdown().await;
    lane2.shutdown().await;
}

/// A store connected to HQ for the first time after HQ priced 2,100 products for it (more
/// than a page of the leader's download): the leader downloads in pages, each page's cursor
/// kept, and every lane charges HQ's prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_changes_for_the_store_arrive_in_pages() {
    const N: usize = kasir_node::hq::DOWNLOAD_PAGE_ROWS as usize + 100;
    let hq = Hq::start().await;
    let products = demo::products(N, 9);
    hq.import_catalog(&products).await;
    // A fresh HQ numbers the imported products 1…N in file order.
    let (_, v) = hq
        .admin_call("GET", &format!("/api/products/{N}"), Value::Null)
        .await;
    assert_eq!(v["sku"], products[N - 1].sku.as_str(), "{v}");
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (1..=N).collect::<Vec<_>>().chunks(N.div_ceil(8)) {
        let (http, base, admin, store) = (
            hq.http.clone(),
            hq.base.clone(),
            hq.admin.clone(),
            hq.store_id,
        );
        let ids = chunk.to_vec();
        tasks.spawn(async move {
            for id in ids {
                let r = http
                    .put(format!("{base}/api/stores/{store}/products/{id}"))
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({ "selling_price": 7_000 + id }))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        });
    }
    tasks.join_all().await;
    let (_, token) = hq.device().await;
    let dir = tempfile::tempdir().unwrap();
    let lane1 = lane(dir.path(), 1);
    let lane2 = lane(dir.path(), 2);
    lane1
        .execute(Command::ImportProducts(products.clone()))
        .unwrap();
    connect(&lane1, &lane2, &hq, token).await;
    let price = |i: usize| kasir_node::schema::Decimal::from(7_000 + i);
    wait_for(
        "HQ's prices on both lanes",
        Duration::from_secs(60),
        async || {
            [&lane1, &lane2].iter().all(|l| {
                products.iter().enumerate().all(|(i, p)| {
                    l.product(&p.sku)
                        .ok()
                        .flatten()
                        .is_some_and(|p| p.price == price(i + 1))
                })
            })
        },
    )
    .await;
    // The download is done (no progress pending).
    assert_eq!(lane1.hq_status().download_progress, None);
}
