//! `kasir-node`: one lane without a screen. It opens (or sets up) the lane's database, joins
//! the store LAN over iroh with the given peers, and replicates; with `--simulate-sales RATE`
//! it also sells random baskets, which the demo store and benchmarks use. It drives the lane
//! through the same API as the till app (`kasir_node::Node`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use iroh::{EndpointAddr, EndpointId};
use kasir_node::lan::{LanConfig, enroll, load_or_create_key, parse_peer};
use kasir_node::schema::Decimal;
use kasir_node::schema::roles::Role;
use kasir_node::schema::txn_number::LaneNo;
use kasir_node::simulate::sell_random_basket;
use kasir_node::types::{LaneEvent, NewUser, SyncEvent, Ticket, default_store_config};
use kasir_node::{Command, Node, NodeEvent, NodeOptions, Outcome, demo};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
#[command(
    name = "kasir-node",
    about = "Run one kasir lane without a screen",
    version
)]
struct Args {
    /// Directory holding the lane's database (lane.db) and identity key (lane.key).
    #[arg(long, default_value = "kasir-lane")]
    data: PathBuf,
    /// Store code (1–50 letters, digits, `-`, `_`); used when the lane is set up for the first time.
    #[arg(long, default_value = "DEMO01")]
    store: String,
    /// Lane number in the store (1–999); used at first set-up.
    #[arg(long, default_value_t = 1)]
    lane: u32,
    /// Address to listen on for other lanes.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A peer lane as NODE_ID@IP:PORT; repeat for each. Static peers are admitted as members.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Additional enrolled member (NODE_ID) that dials us; repeat for each.
    #[arg(long = "member")]
    members: Vec<String>,
    /// Join a store with a one-time ticket printed by one of its lanes (`--issue-ticket`).
    /// Only on first start; the store code and lane number come from the ticket.
    #[arg(long)]
    ticket: Option<String>,
    /// Print a one-time ticket (valid 15 minutes) that enrolls a new till as lane LANE.
    #[arg(long, value_name = "LANE")]
    issue_ticket: Option<u32>,
    /// Remove an enrolled lane (by node id) from the store; every lane refuses it from then on.
    #[arg(long, value_name = "NODE_ID")]
    remove_lane: Option<String>,
    /// Find the store's other lanes on the LAN by mDNS (multicast on the local network).
    #[arg(long)]
    mdns: bool,
    /// Print every live event (stock changes, sales from other lanes), not just peers.
    #[arg(long)]
    live: bool,
    /// Load a demo catalog of this many products at first set-up (0: none).
    #[arg(long, default_value_t = 0)]
    demo_products: usize,
    /// Sell random baskets at this many sales per second (0: none; above 1000: flat out).
    #[arg(long, default_value_t = 0.0)]
    simulate_sales: f64,
    /// Stop after this many seconds (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Do not keep a CPU core for the till's thread (by default, on machines with two or more
    /// cores, replication keeps off one): for several lanes on one machine.
    #[arg(long)]
    shared_cores: bool,
    /// HQ's address (e.g. http://hq.example.id:8080), entered once on any lane of the store;
    /// with --hq-token. Every lane of the store can lead from then on.
    #[arg(long, value_name = "URL")]
    hq: Option<String>,
    /// The store's HQ credential (the token of `POST /api/stores/{id}/devices`). Read from the
    /// environment variable KASIR_HQ_TOKEN when not given here (keeps it out of `ps`).
    #[arg(long, value_name = "TOKEN")]
    hq_token: Option<String>,
    /// Print the HQ status line (`leader=… backlog=…`) every this many seconds (0: never).
    #[arg(long, default_value_t = 1)]
    status_every: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("kasir-node: {e}");
        std::process::exit(1);
    }
}

/// Runs a blocking call of the node's API off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the till thread panicked")
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let mut peers = args
        .peers
        .iter()
        .map(|p| parse_peer(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut members: BTreeSet<EndpointId> = BTreeSet::new();
    for m in &args.members {
        members.insert(m.parse().map_err(|e| format!("member {m:?}: {e}"))?);
    }
    let key = load_or_create_key(&args.data.join("lane.key"))?;
    let node = Node::open(
        args.data.join("lane.db"),
        NodeOptions {
            own_core: !args.shared_cores,
            ..NodeOptions::default()
        },
    )?;
    let (mut store, mut lane_no) = (args.store.clone(), args.lane);
    if let Some(text) = &args.ticket {
        if node.is_set_up()? {
            return Err(format!(
                "{} already holds a lane of store {}; a ticket is for a new till's empty data directory",
                args.data.display(),
                node.store_code()?.unwrap_or_default()
            )
            .into());
        }
        let ticket: Ticket = text.parse()?;
        println!(
            "enrolling as lane {:03} of store {} ...",
            ticket.lane.get(),
            ticket.store
        );
        lane_no = u32::from(enroll(&key, &ticket).await?);
        store.clone_from(&ticket.store);
        for a in &ticket.addrs {
            peers.push(EndpointAddr::new(ticket.issuer.parse()?).with_ip_addr(*a));
        }
    }
    if !node.is_set_up()? {
        node.execute(Command::SetUp {
            config: Box::new(default_store_config(&store, &format!("Toko {store}"))?),
            lane: LaneNo::new(lane_no)?,
            manager: NewUser {
                username: "manager".into(),
                full_name: "Store manager".into(),
                role: Role::Manager,
                pin: "9999".into(),
            },
        })?;
        println!("set up lane {lane_no} of store {store} (manager PIN 9999: change it)");
        if args.demo_products > 0 {
            let products = demo::products(args.demo_products, 1);
            let n = node.clone();
            blocking(move || n.execute(Command::ImportProducts(products))).await?;
        }
    }
    let _ = node.execute(Command::Login {
        username: "manager".into(),
        pin: "9999".into(),
    });
    if args.simulate_sales > 0.0 && node.view().shift.is_none() {
        node.execute(Command::OpenShift {
            float: Decimal::from(500_000),
        })?;
    }
    let token = args.hq_token.clone().or_else(|| {
        std::env::var("KASIR_HQ_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    });
    match (&args.hq, token) {
        (Some(url), Some(token)) => {
            node.execute(Command::ConnectHq(kasir_node::types::HqCredential {
                url: url.clone(),
                token,
            }))?;
            println!("connected the store to HQ at {url} (the credential travels to every lane)");
        }
        (Some(_), None) => {
            return Err(
                "--hq needs the store's credential: --hq-token TOKEN or KASIR_HQ_TOKEN".into(),
            );
        }
        (None, Some(_)) if args.hq_token.is_some() => {
            return Err("--hq-token needs HQ's address: --hq URL".into());
        }
        _ => {}
    }
    let mut config = LanConfig::new(key, args.listen);
    config.members = members;
    config.peers = peers;
    config.mdns = args.mdns;
    let mut log = node.events();
    let id = node.join_lan(config).await?;
    let listening: Vec<String> = node
        .lan_addrs()
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("node id {id}");
    println!("listening on {}", listening.join(", "));
    println!(
        "peers of this lane start it with --peer {id}@{}",
        listening.first().map_or("?", String::as_str)
    );
    if let Some(new_lane) = args.issue_ticket {
        let lane = LaneNo::new(new_lane)?;
        let n = node.clone();
        let outcome = blocking(move || {
            n.execute(Command::IssueEnrollmentTicket {
                lane,
                valid_for: Duration::from_secs(15 * 60),
            })
        })
        .await?;
        if let Outcome::Ticket(ticket) = outcome {
            println!(
                "one-time ticket for lane {new_lane:03} (valid 15 minutes; start the new till with --ticket):"
            );
            println!("{ticket}");
        }
    }
    if let Some(target) = args.remove_lane.clone() {
        let n = node.clone();
        blocking(move || n.execute(Command::RemoveLane { node: target })).await?;
        println!(
            "lane {} removed from the store",
            args.remove_lane.unwrap_or_default()
        );
    }
    if args.status_every > 0 {
        let (n, every) = (node.clone(), Duration::from_secs(args.status_every));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (view, hq) = (n.view(), n.hq_status());
                println!("{}", status_line(&hq, view.hq_backlog, view.lan.connected));
            }
        });
    }
    let live = args.live;
    tokio::spawn(async move {
        let mut last_status = std::time::Instant::now();
        loop {
            let event = match log.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("({n} events not shown: the console fell behind)");
                    continue;
                }
                Err(_) => break,
            };
            match event {
                NodeEvent::Live(e) if live => println!("{e:?}"),
                NodeEvent::Live(_) => {}
                NodeEvent::Lan(LaneEvent::Peers(peers)) => {
                    if last_status.elapsed() >= Duration::from_secs(10) {
                        last_status = std::time::Instant::now();
                        for p in peers {
                            println!(
                                "peer {} lane {}: {}, {} documents behind{}, {} B sent, {} B received",
                                &p.peer.0[..8.min(p.peer.0.len())],
                                p.lane.map_or("?".into(), |l| format!("{l:03}")),
                                if p.connected {
                                    "connected"
                                } else {
                                    "not connected"
                                },
                                p.pending_docs,
                                p.behind_for
                                    .map(|d| format!(" (for {d:.1?})"))
                                    .unwrap_or_default(),
                                p.bytes_sent,
                                p.bytes_received
                            );
                        }
                    }
                }
                NodeEvent::Lan(LaneEvent::Sync(SyncEvent::Changed { .. })) => {}
                NodeEvent::Lan(LaneEvent::Leader(l)) => match l {
                    Some(l) => println!(
                        "the store's leader is now lane {}{}",
                        l.lane.map_or("?".into(), |n| n.to_string()),
                        if l.me { " (this lane)" } else { "" }
                    ),
                    None => println!("the store has no leader: no lane can reach HQ"),
                },
                other => println!("{other:?}"),
            }
        }
    });
    let deadline =
        (args.seconds > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(args.seconds));
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let interval =
        (args.simulate_sales > 0.0).then(|| Duration::from_secs_f64(args.simulate_sales.recip()));
    let mut sold = 0u64;
    loop {
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            break;
        }
        match interval {
            Some(every) => {
                let pick: u64 = rng.random();
                let n = node.clone();
                match blocking(move || sell_random_basket(&n, pick)).await {
                    Ok(number) => {
                        sold += 1;
                        if sold.is_multiple_of(100) {
                            println!("{sold} sales, last {number}");
                        }
                    }
                    Err(e) => {
                        eprintln!("simulated sale: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                // A rate above 1,000/s means flat out: one sale after another.
                if every >= Duration::from_millis(1) {
                    tokio::time::sleep(every).await;
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
    let d = node.diagnostics()?;
    println!(
        "stopping: {} sales on this lane's books, {} documents",
        d.sales,
        d.documents.len()
    );
    node.shutdown().await;
    Ok(())
}

/// The status line: `leader=<lane or none> backlog=<records> …`.
fn status_line(hq: &kasir_node::hq::HqStatus, backlog: i64, peers: usize) -> String {
    let leader = hq.leader.map_or("none".to_string(), |l| l.to_string());
    let mut line = format!(
        "leader={leader}{} backlog={backlog} peers={peers} hq={}",
        if hq.leading { " (this lane)" } else { "" },
        match (hq.configured, hq.reachable) {
            (false, _) => "not-configured",
            (true, true) => "ok",
            (true, false) => "unreachable",
        }
    );
    if let Some(t) = hq.last_upload {
        line.push_str(&format!(
            " last_upload={} uploaded={}",
            t.format("%H:%M:%S"),
            hq.uploaded
        ));
    }
    if let Some(t) = hq.last_download {
        line.push_str(&format!(" last_download={}", t.format("%H:%M:%S")));
    }
    if let Some((sent, total)) = hq.download_progress {
        line.push_str(&format!(" download={sent}/{total}"));
    }
    if let Some(e) = &hq.last_error {
        line.push_str(&format!(" error={e:?}"));
    }
    line
}
