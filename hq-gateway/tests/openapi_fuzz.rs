//! The OpenAPI document against the API it describes: schemathesis (from PyPI) runs every
//! check on every operation (logout excluded: it would end the run's own session) with an
//! admin token, against a gateway on SQLite and, when `KASIR_TEST_MYSQL_URL` is set, on
//! MariaDB. Any failure, and any warning that the document cannot be read as written, fails
//! the test. The allowances (422 for rules that tie fields together) are in
//! `tests/schemathesis/schemathesis.toml`, each with its reason.
//!
//! `KASIR_TEST_SCHEMATHESIS` names the `schemathesis` program (`.ci/run` installs it in a
//! virtualenv); without it the test says so and passes. `KASIR_FUZZ_EXAMPLES` sets the cases
//! per operation and phase (default 100: about 5 minutes on two backends here; raise it to explore). `KASIR_FUZZ_SEED` sets schemathesis' seed: a
//! number, or `random` for a new one each run (the seed is printed either way). The default is
//! a fixed seed so that CI judges every commit on the same cases; run with `random` to explore
//! (a random run found the padded-barcode mismatch the fixed one now covers).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{Gateway, backends};
use serde_json::json;

fn schemathesis() -> Option<PathBuf> {
    let Some(path) = std::env::var_os("KASIR_TEST_SCHEMATHESIS") else {
        eprintln!(
            "skipped: set KASIR_TEST_SCHEMATHESIS to a schemathesis program (bash .ci/run does)"
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "KASIR_TEST_SCHEMATHESIS={} does not exist: install schemathesis there (see .ci/run)",
        path.display()
    );
    Some(path)
}

/// The data the document's examples name: store JKT-001 (id 1), product 1 with barcode
/// 8991234567895 sold there, category 1, customer 1.
async fn seed(gw: &Gateway, admin: &str) {
    let (s, v) = gw
        .post(
            "/api/stores",
            admin,
            json!({ "store_code": "JKT-001", "store_name": "Toko Jakarta Pusat", "city": "Jakarta" }),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = gw
        .post("/api/categories", admin, json!({ "name": "Minuman" }))
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = gw
        .post(
            "/api/products",
            admin,
            json!({ "sku": "TEH-BTL-350", "barcode": "8991234567895", "name": "Teh Botol 350 ml",
                    "category_id": 1, "cost_price": 3000, "suggested_price": 4500 }),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = gw
        .put(
            "/api/stores/1/products/1",
            admin,
            json!({ "selling_price": 4500, "stock_quantity": 120, "min_stock": 24 }),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = gw
        .post(
            "/api/customers",
            admin,
            json!({ "name": "Siti Rahayu", "phone": "+62 812 3456 7890" }),
        )
        .await;
    assert!(s.is_success(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let Some(program) = schemathesis() else {
        return;
    };
    let examples: u32 = std::env::var("KASIR_FUZZ_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed_arg = match std::env::var("KASIR_FUZZ_SEED").as_deref() {
        Ok("random") => None,
        Ok(n) => Some(
            n.parse::<u128>()
                .expect("KASIR_FUZZ_SEED is a number or `random`"),
        ),
        Err(_) => Some(188124042884840677876709615915439242682),
    };
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml");
    for backend in backends() {
        // Webhook URLs the fuzzer registers are never called: deliveries go to loopback only.
        let gw = Gateway::start(backend, "fuzz", |c| {
            c.webhook_hosts = "127.0.0.1,localhost".into();
        })
        .await;
        let admin = gw.admin().await;
        seed(&gw, &admin).await;
        let started = Instant::now();
        let out = tokio::process::Command::new(&program)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/api/openapi.json", gw.base)])
            .args(["--checks", "all", "--exclude-path", "/api/auth/logout"])
            .args(["--max-examples", &examples.to_string()])
            .args(["--header", &format!("Authorization: Bearer {admin}")])
            .args(["--workers", "2", "--no-color"])
            .args(seed_arg.map(|n| format!("--seed={n}")))
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .await
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary: Vec<&str> = stdout
            .lines()
            .skip_while(|l| !l.contains("SUMMARY"))
            .collect();
        eprintln!(
            "schemathesis on {backend}, {examples} examples, {:.0} s:\n{}",
            started.elapsed().as_secs_f64(),
            summary.join("\n")
        );
        assert!(
            out.status.success(),
            "schemathesis found failures on {backend}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout.contains("validation mismatch") && !stdout.contains("Schema validation"),
            "schemathesis warned that the document does not validate:\n{stdout}"
        );
        gw.stop().await;
    }
}
