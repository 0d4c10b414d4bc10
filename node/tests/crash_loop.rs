//! I2 under `kill -9`: a child process sells continuously and acknowledges each sale after
//! `pay` returns; we SIGKILL it at random moments, 200 times. After every kill the database
//! must open, pass `PRAGMA integrity_check`, hold every acknowledged sale (ledger rows and
//! document record), and every SKU's stock must equal the sum of its movements (stand-alone
//! movements, sale lines and return lines).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kasir_core::{AuthParams, Till, TillOptions};
use rand::{Rng, SeedableRng};

const KILLS: usize = 200;

fn open(path: &std::path::Path) -> Till {
    Till::open(
        path,
        TillOptions {
            auth: AuthParams::fast_for_tests(),
            env: kasir_core::Env::seeded(kasir_core::ManualClock::new(chrono::Utc::now()), 1),
        },
    )
    .unwrap_or_else(|e| panic!("database does not open after a kill: {e}"))
}

#[test]
fn acknowledged_sales_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lane.db");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x006b_6173_6972);
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut killed_mid_run = 0;
    let started = Instant::now();
    for round in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kasir-crash-child"))
            .arg(&db)
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it sells, then let it run a random while (0–100 ms) and kill it mid-flight.
        let ready = rx.recv_timeout(Duration::from_secs(60));
        assert_eq!(
            ready.as_deref().ok(),
            Some("READY"),
            "child did not start (round {round})"
        );
        std::thread::sleep(Duration::from_micros(rng.random_range(0..100_000)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        reader.join().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        } else {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
            panic!("child exited by itself in round {round}: {status} {err}");
        }
        let mut new_acks = Vec::new();
        for line in rx.try_iter() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (number, id) = rest.split_once(' ').unwrap();
                acked.insert(number.to_string(), id.to_string());
                new_acks.push(number.to_string());
            }
        }

        let mut till = open(&db);
        let conn = till.connection();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        let check: String = till
            .ledger_connection()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}: ledger file");
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
            .unwrap();
        assert!(
            usize::try_from(stored).unwrap() >= acked.len(),
            "round {round}: {stored} stored < {} acknowledged",
            acked.len()
        );
        for number in &new_acks {
            let id: String = conn
                .query_row(
                    "SELECT sale_id FROM transactions WHERE transaction_number = ?1",
                    [number],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| panic!("round {round}: acknowledged sale {number} lost: {e}"));
            assert_eq!(&id, &acked[number]);
        }
        assert!(
            till.stock_discrepancies().unwrap().is_empty(),
            "round {round}: stock ≠ Σ movements"
        );
        // Each sale's lines and its stock change commit together: the projected stock equals
        // the stock ledger (stand-alone movements − sale lines + return lines) for every SKU.
        let ledger_total: i64 = conn
            .query_row(
                "SELECT COALESCE(SUM(quantity), 0) FROM stock_ledger",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let projected: i64 = conn
            .query_row(
                "SELECT COALESCE(SUM(stock_quantity), 0) FROM products",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            ledger_total, projected,
            "round {round}: a sale and its stock change were split"
        );
        // The document record of each new acknowledged sale is there too.
        for number in &new_acks {
            let sale = till.sale_by_number(number).unwrap();
            assert_eq!(sale.id.to_string(), acked[number]);
        }
        drop(till);
    }
    assert_eq!(killed_mid_run, KILLS);
    assert!(
        acked.len() > KILLS,
        "only {} sales acknowledged in {KILLS} runs",
        acked.len()
    );
    eprintln!(
        "{KILLS} kills, {} acknowledged sales, all present ({:.1} s)",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}
