//! Real iroh on loopback (issue #4): 3 and 8 lanes selling at once converge (I1, I3); a lane
//! stopped while both sides sell, then restarted from disk, catches up and the oversold units
//! are counted and flagged; a till enrolls with a one-time ticket, bootstraps the whole store
//! from an empty disk, and is refused everywhere once removed; strangers are refused.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use iroh::{EndpointAddr, SecretKey};
use kasir_node::lan::{LanConfig, enroll};
use kasir_node::schema::Decimal;
use kasir_node::schema::payment::Tender;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::types::{LaneEvent, LiveEvent, Origin, PeerStatus, Ticket};
use kasir_node::{Command, Node, NodeEvent, Outcome, demo};
use tokio::sync::broadcast::Receiver;

const LOOPBACK: &str = "127.0.0.1:0";

/// Runs a blocking call of the node API off the runtime's threads.
async fn on<T: Send + 'static>(node: &Node, f: impl FnOnce(&Node) -> T + Send + 'static) -> T {
    let node = node.clone();
    tokio::task::spawn_blocking(move || f(&node)).await.unwrap()
}

/// Lane 1 of a store: 100 products, 50 of each in stock.
fn first_lane(dir: &std::path::Path) -> Node {
    let node = common::lane(dir, 1);
    let products = demo::products(100, 8);
    node.execute(Command::ImportProducts(products.clone()))
        .unwrap();
    for p in &products {
        node.execute(Command::ReceiveStock {
            sku: p.sku.clone(),
            quantity: Decimal::from(50),
            notes: None,
            approval: None,
        })
        .unwrap();
    }
    node
}

fn config(
    key: &SecretKey,
    members: &BTreeSet<iroh::EndpointId>,
    peers: Vec<EndpointAddr>,
) -> LanConfig {
    let mut c = LanConfig::new(key.clone(), LOOPBACK.parse().unwrap());
    c.members = members.clone();
    c.peers = peers;
    c.status_every = Duration::from_millis(200);
    c
}

/// Where a lane that joined with `key` listens.
async fn addr_of(node: &Node, key: &SecretKey) -> EndpointAddr {
    let mut a = EndpointAddr::new(key.public());
    for ip in node.lan_addrs().await {
        a = a.with_ip_addr(ip);
    }
    a
}

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What converged lanes must agree on: every document's heads, every product's stock, and
/// the sales they hold.
async fn facts(node: &Node) -> (Vec<String>, Vec<(String, Decimal)>, i64) {
    on(node, |n| {
        let d = n.diagnostics().unwrap();
        let docs = d
            .documents
            .iter()
            .map(|(name, digest)| format!("{name} {digest:?}"))
            .collect();
        (docs, common::stock_by_sku(n), d.sales)
    })
    .await
}

/// Waits until every lane holds the same documents, stock and `sales` sales.
async fn converged(lanes: &[Node], sales: i64, limit: Duration) {
    wait_for("convergence", limit, async || {
        let f0 = facts(&lanes[0]).await;
        let mut same = f0.2 == sales;
        for l in &lanes[1..] {
            same &= facts(l).await == f0;
        }
        same
    })
    .await;
    for l in lanes {
        let d = on(l, |n| n.diagnostics().unwrap()).await;
        assert!(d.stock_discrepancies.is_empty());
    }
}

async fn sell(lane: &Node, sku: String) {
    on(lane, move |n| {
        let qty = if n.product(&sku).unwrap().unwrap().unit
            == kasir_node::schema::domain::SaleUnit::Kilogram
        {
            Decimal::new(250, 3)
        } else {
            Decimal::ONE
        };
        n.execute(Command::AddSku { sku, quantity: qty }).unwrap();
        n.pay(vec![Tender::cash(Decimal::from(10_000_000))])
            .unwrap();
    })
    .await;
}

/// Every lane sells `each` sales at once, once the catalog and stock have reached them all.
async fn everyone_sells(lanes: &[Node], each: usize) {
    wait_for(
        "the catalog on every lane",
        Duration::from_secs(60),
        async || {
            let mut ok = true;
            for l in lanes {
                ok &= on(l, |n| {
                    (0..100).all(|k| {
                        n.product(&format!("P{k:06}"))
                            .unwrap()
                            .is_some_and(|p| p.stock == Decimal::from(50))
                    })
                })
                .await;
            }
            ok
        },
    )
    .await;
    let mut tasks = Vec::new();
    for (i, lane) in lanes.iter().enumerate() {
        let lane = lane.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..each {
                sell(&lane, format!("P{:06}", (i * 7 + k) % 30)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn drain(log: &mut Receiver<NodeEvent>, into: &mut Vec<NodeEvent>) {
    while let Ok(e) = log.try_recv() {
        into.push(e);
    }
}

/// Starts `n` lanes of one store (lane 1 with the catalog), all static members of each other;
/// lane `i` is given the addresses `peers(started lanes)` returns.
async fn start_store(
    dir: &std::path::Path,
    n: usize,
    peers: impl Fn(&[EndpointAddr]) -> Vec<EndpointAddr>,
) -> (Vec<Node>, Vec<Receiver<NodeEvent>>, Vec<SecretKey>) {
    let keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate()).collect();
    let members: BTreeSet<_> = keys.iter().map(SecretKey::public).collect();
    let mut lanes: Vec<Node> = Vec::new();
    let mut addrs: Vec<EndpointAddr> = Vec::new();
    let mut logs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let d = dir.to_path_buf();
        let node = tokio::task::spawn_blocking(move || {
            if i == 0 {
                first_lane(&d)
            } else {
                common::lane(&d, u32::try_from(i).unwrap() + 1)
            }
        })
        .await
        .unwrap();
        logs.push(node.events());
        node.join_lan(config(key, &members, peers(&addrs)))
            .await
            .unwrap();
        addrs.push(addr_of(&node, key).await);
        lanes.push(node);
    }
    (lanes, logs, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_lanes_converge_over_iroh_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Each lane is given the lanes started before it (a static peer list).
    let (lanes, mut logs, keys) = start_store(dir.path(), 3, |started| started.to_vec()).await;
    let members: BTreeSet<_> = keys.iter().map(SecretKey::public).collect();
    everyone_sells(&lanes, 10).await;
    converged(&lanes, 30, Duration::from_secs(60)).await;

    // The live view of lane 1 saw lane 2's sales arrive and stock move because of them.
    let mut events = Vec::new();
    drain(&mut logs[0], &mut events);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NodeEvent::Live(LiveEvent::Sale { lane: 2, .. })))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        NodeEvent::Live(LiveEvent::StockChanged {
            from: Origin::Lane(3),
            ..
        })
    )));
    // Per-peer status: both peers connected, known by lane number, nothing behind; the view
    // of the screens says the same.
    wait_for("peer status", Duration::from_secs(10), async || {
        drain(&mut logs[0], &mut events);
        events
            .iter()
            .rev()
            .find_map(|e| match e {
                NodeEvent::Lan(LaneEvent::Peers(p)) => Some(p.clone()),
                _ => None,
            })
            .is_some_and(|p: Vec<PeerStatus>| {
                p.len() == 2
                    && p.iter()
                        .all(|s| s.connected && s.pending_docs == 0 && s.bytes_sent > 0)
                    && p.iter().filter_map(|s| s.lane).collect::<BTreeSet<_>>()
                        == BTreeSet::from([2, 3])
            })
    })
    .await;
    let lan = lanes[0].view().lan.clone();
    assert!(lan.running && lan.connected == 2, "{lan:?}");

    // A stranger (not enrolled) dials the members; they refuse it and it learns nothing.
    let stranger_key = SecretKey::generate();
    let d = dir.path().to_path_buf();
    let stranger = tokio::task::spawn_blocking(move || common::lane(&d, 9))
        .await
        .unwrap();
    let mut everyone = members.clone();
    everyone.insert(stranger_key.public());
    let mut peers = Vec::new();
    for (l, k) in lanes.iter().zip(&keys) {
        peers.push(addr_of(l, k).await);
    }
    stranger
        .join_lan(config(&stranger_key, &everyone, peers))
        .await
        .unwrap();
    let mut refused = 0;
    wait_for(
        "the members refusing the stranger",
        Duration::from_secs(20),
        async || {
            for log in &mut logs {
                while let Ok(e) = log.try_recv() {
                    if matches!(&e, NodeEvent::Lan(LaneEvent::Refused(r)) if r.contains("non-member"))
                    {
                        refused += 1;
                    }
                }
            }
            refused >= 3
        },
    )
    .await;
    assert_eq!(facts(&stranger).await.2, 0);
    stranger.shutdown().await;
    for l in &lanes {
        l.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_lanes_find_each_other_through_announcements_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    // Only lane 1's address is configured; the others are learned from announcements.
    let (lanes, mut logs, _) = start_store(dir.path(), 8, |started| {
        started.first().map(|a| vec![a.clone()]).unwrap_or_default()
    })
    .await;
    everyone_sells(&lanes, 5).await;
    converged(&lanes, 40, Duration::from_secs(120)).await;
    // Every lane ends up connected to all seven others directly.
    let mut events: Vec<Vec<NodeEvent>> = vec![Vec::new(); 8];
    wait_for("a full mesh", Duration::from_secs(30), async || {
        let mut full = true;
        for (log, ev) in logs.iter_mut().zip(events.iter_mut()) {
            drain(log, ev);
            full &= ev
                .iter()
                .rev()
                .find_map(|e| match e {
                    NodeEvent::Lan(LaneEvent::Peers(p)) => {
                        Some(p.iter().filter(|s| s.connected).count())
                    }
                    _ => None,
                })
                .is_some_and(|n| n == 7);
        }
        full
    })
    .await;
    for l in &lanes {
        l.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_lane_sells_alone_restarts_from_disk_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (mut lanes, _logs, keys) = start_store(dir.path(), 3, |started| started.to_vec()).await;
    let members: BTreeSet<_> = keys.iter().map(SecretKey::public).collect();
    everyone_sells(&lanes, 3).await;
    converged(&lanes, 9, Duration::from_secs(60)).await;

    // Lane 3 goes off the network (its endpoint stops; its disk stays).
    let lane3 = lanes.pop().unwrap();
    lane3.shutdown().await;
    // Both sides sell P000040 (50 in stock): 30 on lane 1 while lane 3 is away, 30 on lane 3
    // offline. Together they oversell by 10, which nobody can see yet.
    for _ in 0..30 {
        sell(&lanes[0], "P000040".into()).await;
    }
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let offline = common::open_lane(&d, 3);
        common::login_on_shift(&offline);
        for _ in 0..30 {
            offline
                .execute(Command::AddSku {
                    sku: "P000040".into(),
                    quantity: Decimal::ONE,
                })
                .unwrap();
            offline
                .pay(vec![Tender::cash(Decimal::from(10_000_000))])
                .unwrap();
        }
        assert_eq!(
            offline.product("P000040").unwrap().unwrap().stock,
            Decimal::from(20)
        );
        offline.close();
    })
    .await
    .unwrap();

    // Lane 3 restarts from disk and rejoins while lane 2 keeps selling.
    let seller = lanes[1].clone();
    let selling = tokio::spawn(async move {
        for k in 0..20 {
            sell(&seller, format!("P{:06}", k % 30)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let d = dir.path().to_path_buf();
    let restarted = tokio::task::spawn_blocking(move || {
        let n = common::open_lane(&d, 3);
        common::login_on_shift(&n);
        n
    })
    .await
    .unwrap();
    let mut peers = Vec::new();
    for (l, k) in lanes.iter().zip(&keys) {
        peers.push(addr_of(l, k).await);
    }
    restarted
        .join_lan(config(&keys[2], &members, peers))
        .await
        .unwrap();
    lanes.push(restarted);
    selling.await.unwrap();
    converged(&lanes, 9 + 30 + 30 + 20, Duration::from_secs(60)).await;
    for l in &lanes {
        let (stock, flagged) = on(l, |n| {
            (
                n.product("P000040").unwrap().unwrap().stock,
                n.oversold().unwrap().iter().any(|o| o.sku == "P000040"),
            )
        })
        .await;
        assert_eq!(
            stock,
            Decimal::from(-10),
            "60 sold of 50: counted, not lost"
        );
        assert!(flagged, "the oversold product is flagged");
    }
    for l in &lanes {
        l.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_enrolls_with_a_ticket_bootstraps_and_is_refused_once_removed() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = SecretKey::generate();
    let k2 = SecretKey::generate();
    // Lane 2 is a static member of lane 1; lane 4 will come with a ticket only.
    let d = dir.path().to_path_buf();
    let (lane1, lane2) = tokio::task::spawn_blocking(move || (first_lane(&d), common::lane(&d, 2)))
        .await
        .unwrap();
    let mut log1 = lane1.events();
    lane1
        .join_lan(config(&k1, &BTreeSet::from([k2.public()]), vec![]))
        .await
        .unwrap();
    let addr1 = addr_of(&lane1, &k1).await;
    lane2
        .join_lan(config(&k2, &BTreeSet::new(), vec![addr1.clone()]))
        .await
        .unwrap();
    everyone_sells(&[lane1.clone(), lane2.clone()], 5).await;

    let ticket = on(&lane1, |n| {
        n.execute(Command::IssueEnrollmentTicket {
            lane: LaneNo::new(4).unwrap(),
            valid_for: Duration::from_secs(900),
        })
    })
    .await
    .unwrap();
    let Outcome::Ticket(ticket) = ticket else {
        panic!("no ticket: {ticket:?}")
    };
    let ticket: Ticket = ticket.to_string().parse().unwrap();
    assert_eq!(ticket.lane.get(), 4);

    // A till with an empty disk: a wrong secret is refused, the real one admits it once.
    let k4 = SecretKey::generate();
    let mut forged = ticket.clone();
    forged.secret[0] ^= 1;
    let e = enroll(&k4, &forged).await.unwrap_err().to_string();
    assert!(e.contains("unknown ticket"), "{e}");
    assert_eq!(enroll(&k4, &ticket).await.unwrap(), 4);
    let e = enroll(&SecretKey::generate(), &ticket)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("already used"), "{e}");

    let d = dir.path().to_path_buf();
    let lane4 = tokio::task::spawn_blocking(move || common::lane(&d, 4))
        .await
        .unwrap();
    lane4
        .join_lan(config(&k4, &BTreeSet::new(), vec![addr1]))
        .await
        .unwrap();
    let lanes = [lane1.clone(), lane2.clone(), lane4.clone()];
    // It receives the catalog, the stock and every sale, and lane 2 (which never heard of it)
    // admits it through the replicated members document.
    converged(&lanes, 10, Duration::from_secs(60)).await;
    sell(&lane4, "P000001".into()).await;
    converged(&lanes, 11, Duration::from_secs(60)).await;
    assert!(
        on(&lane2, |n| n.lanes().unwrap())
            .await
            .iter()
            .any(|m| m.lane == 4 && m.is_active())
    );

    // The manager removes lane 4: every lane closes it out; its new sales reach nobody.
    let node4 = k4.public().to_string();
    on(&lane1, move |n| {
        n.execute(Command::RemoveLane { node: node4 })
    })
    .await
    .unwrap();
    let mut events = Vec::new();
    wait_for("lane 4 closed out", Duration::from_secs(20), async || {
        drain(&mut log1, &mut events);
        events.iter().any(
            |e| matches!(e, NodeEvent::Lan(LaneEvent::Refused(r)) if r.contains("removed from the store")),
        )
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sell(&lane4, "P000002".into()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(facts(&lane1).await.2, 11);
    assert_eq!(facts(&lane2).await.2, 11);
    assert_eq!(facts(&lane4).await.2, 12);
    for l in &lanes {
        l.shutdown().await;
    }
}

/// Discovery by mDNS: two lanes given no addresses at all find each other and converge. It runs
/// in a network namespace of its own whose only interface is loopback with multicast on (the
/// test re-runs itself inside `unshare --net`), so no packet leaves the machine's loopback.
#[test]
fn lanes_given_no_addresses_find_each_other_by_mdns() {
    const NAME: &str = "lanes_given_no_addresses_find_each_other_by_mdns";
    const INSIDE: &str = "KASIR_TEST_INSIDE_NETNS";
    if std::env::var_os(INSIDE).is_none() {
        let out = std::process::Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && ip link set lo multicast on \
                 && ip route add 224.0.0.0/4 dev lo && exec \"$0\" \"$@\"",
            ])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(INSIDE, "1")
            .output()
            .expect("unshare (util-linux) must be installed; the test needs a network namespace");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the mDNS test inside its network namespace failed (creating one needs root or \
             CAP_SYS_ADMIN):\n{stdout}\n{stderr}"
        );
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let keys = [SecretKey::generate(), SecretKey::generate()];
            let members: BTreeSet<_> = keys.iter().map(SecretKey::public).collect();
            let mut lanes = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let d = dir.path().to_path_buf();
                let node = tokio::task::spawn_blocking(move || {
                    if i == 0 {
                        first_lane(&d)
                    } else {
                        common::lane(&d, 2)
                    }
                })
                .await
                .unwrap();
                let mut c = config(key, &members, Vec::new());
                c.mdns = true;
                node.join_lan(c).await.unwrap();
                lanes.push(node);
            }
            everyone_sells(&lanes, 5).await;
            converged(&lanes, 10, Duration::from_secs(60)).await;
            for l in lanes {
                l.shutdown().await;
            }
        });
}
