//! The leader `kill -9`ed while the store sells and uploads flow (issue #12): three
//! `kasir-node` processes on loopback sell random baskets; the leader (lane 1) is killed with
//! SIGKILL while records are on their way to HQ; another lane reports `leader=2` within 10 s
//! on its status line and forwards; once every lane was restarted from its disk and the
//! backlog drained, HQ holds every sale any lane holds, each once. On SQLite, and on MariaDB
//! when `KASIR_TEST_MYSQL_URL` is set.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::SecretKey;
use kasir_node::demo;
use kasir_tests::{Hq, STORE, kasir_node_binary, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What a lane process printed last: its `leader=` and `backlog=` and its address.
#[derive(Debug, Default, Clone)]
struct Seen {
    leader: Option<String>,
    backlog: Option<i64>,
    listening: Option<String>,
    lines: Vec<String>,
}

struct Lane {
    child: Child,
    seen: Arc<Mutex<Seen>>,
}

impl Lane {
    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key))
}

/// Starts `kasir-node` on `dir` listening on `listen` with `args`, reading its output.
fn start(dir: &Path, listen: &str, args: &[String], token: &str) -> Lane {
    let mut child = Command::new(kasir_node_binary())
        .arg("--data")
        .arg(dir)
        .args(["--store", STORE, "--listen", listen, "--status-every", "1"])
        .args(args)
        .env("KASIR_HQ_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kasir-node starts");
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let out = child.stdout.take().unwrap();
    let s = seen.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = s.lock().unwrap();
            if let Some(l) = field(&line, "leader=") {
                s.leader = Some(l.to_string());
            }
            if let Some(b) = field(&line, "backlog=").and_then(|b| b.parse().ok()) {
                s.backlog = Some(b);
            }
            if let Some(a) = line.strip_prefix("listening on ") {
                s.listening = a.split(", ").next().map(str::to_string);
            }
            s.lines.push(line);
        }
    });
    Lane { child, seen }
}

/// The transaction numbers a lane's file holds (read beside the running process: WAL).
async fn lane_numbers(dir: &Path) -> Vec<String> {
    let url = format!("sqlite://{}?mode=ro", dir.join("lane.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("SELECT transaction_number FROM transactions")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_mid_upload_loses_and_duplicates_nothing() {
    let hq = Hq::start().await;
    // The binary's demo catalog (`--demo-products 30`, seed 1), known at HQ.
    let rows: Vec<Value> = demo::products(30, 1)
        .iter()
        .map(|p| json!({ "sku": p.sku, "name": p.name, "suggested_price": p.selling_price }))
        .collect();
    hq.admin_call("POST", "/api/products/import", Value::Array(rows))
        .await;
    let (_, token) = hq.device().await;
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|n| root.path().join(format!("lane{n}")))
        .collect();
    let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
    for (d, k) in dirs.iter().zip(&keys) {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("lane.key"), k.to_bytes()).unwrap();
    }
    let ids: Vec<String> = keys.iter().map(|k| k.public().to_string()).collect();
    let members = |me: usize| -> Vec<String> {
        (0..3)
            .filter(|j| *j != me)
            .flat_map(|j| ["--member".to_string(), ids[j].clone()])
            .collect()
    };
    let lane_args = |n: usize, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["--lane".to_string(), (n + 1).to_string()];
        a.extend(members(n));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Lane 1 holds the catalog and the credential; all three sell 5 baskets a second.
    let hq_url = hq.base.clone();
    let mut l1 = start(
        &dirs[0],
        "127.0.0.1:0",
        &lane_args(
            0,
            &[
                "--demo-products",
                "30",
                "--hq",
                &hq_url,
                "--simulate-sales",
                "5",
            ],
        ),
        &token,
    );
    wait_for("lane 1 listening", Duration::from_secs(30), async || {
        l1.seen().listening.is_some()
    })
    .await;
    let l1_addr = l1.seen().listening.unwrap();
    let peer = format!("{}@{l1_addr}", ids[0]);
    let rest: Vec<Lane> = (1..3)
        .map(|n| {
            start(
                &dirs[n],
                "127.0.0.1:0",
                &lane_args(
                    n,
                    &["--peer", &peer, "--simulate-sales", "5", "--seconds", "25"],
                ),
                "",
            )
        })
        .collect();
    let all_lead = |want: &str, lanes: &[&Lane]| {
        lanes
            .iter()
            .all(|l| l.seen().leader.as_deref() == Some(want))
    };
    wait_for(
        "every lane sees lane 1 lead",
        Duration::from_secs(30),
        async || all_lead("1", &[&l1, &rest[0], &rest[1]]),
    )
    .await;
    wait_for("sales at HQ", Duration::from_secs(30), async || {
        hq.numbers().await.len() >= 30
    })
    .await;
    // kill -9 while the three lanes sell and the leader uploads back to back.
    assert!(l1.seen().backlog.is_some());
    l1.child.kill().await.unwrap();
    let took = wait_for("lane 2 leads", Duration::from_secs(10), async || {
        all_lead("2", &[&rest[0], &rest[1]])
    })
    .await;
    eprintln!("failover after kill -9 of the leader: {took:?}");
    let before = hq.numbers().await.len();
    wait_for("lane 2 forwards", Duration::from_secs(15), async || {
        hq.numbers().await.len() > before
    })
    .await;
    // The others stop selling (their --seconds); every lane starts again from its disk and the
    // store's backlog drains.
    let mut rest = rest;
    for l in &mut rest {
        let status = tokio::time::timeout(Duration::from_secs(40), l.child.wait()).await;
        assert!(status.is_ok(), "a lane did not stop after --seconds");
    }
    let restarted: Vec<Lane> = (0..3)
        .map(|n| {
            // Lane 1 again where the others know it; they find each other through it.
            let (listen, extra): (&str, Vec<&str>) = if n == 0 {
                (l1_addr.as_str(), Vec::new())
            } else {
                ("127.0.0.1:0", vec!["--peer", peer.as_str()])
            };
            start(&dirs[n], listen, &lane_args(n, &extra), "")
        })
        .collect();
    let mut held: Vec<String> = Vec::new();
    wait_for(
        "every sale at HQ, every backlog 0",
        Duration::from_secs(90),
        async || {
            let mut all = Vec::new();
            for d in &dirs {
                all.extend(lane_numbers(d).await);
            }
            all.sort();
            all.dedup();
            held = all;
            restarted.iter().all(|l| l.seen().backlog == Some(0)) && hq.numbers().await == held
        },
    )
    .await;
    let at_hq = hq.numbers().await;
    let mut unique = at_hq.clone();
    unique.dedup();
    assert_eq!(unique.len(), at_hq.len(), "a sale counted twice at HQ");
    eprintln!("{} sales at HQ, each once", at_hq.len());
}
