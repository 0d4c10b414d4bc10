//! The simulator is deterministic and its checkers can fail: the same seed gives the same
//! trace and log, a clean engine passes under every fault, and each deliberately broken variant
//! is caught with a sentence that says what is wrong.

use kasir_sim::{Bug, Config, Faults, Invariant, run_one};

fn small(faults: &str) -> Config {
    Config {
        stores: 2,
        lanes: 3,
        steps: 1500,
        faults: faults.parse::<Faults>().unwrap(),
        bug: None,
        products: 30,
    }
}

#[test]
fn one_seed_gives_one_trace_and_a_clean_engine_passes_under_every_fault() {
    let cfg = small("all");
    let a = run_one(&cfg, 7, true).unwrap();
    let b = run_one(&cfg, 7, true).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.log, b.log, "the same seed prints the same log");
    assert!(a.log.as_ref().is_some_and(|l| l.len() > 50));
    assert!(a.stats.sales > 20, "{:?}", a.stats);
    let c = run_one(&cfg, 8, false).unwrap();
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another trace");
    for o in [&a, &c] {
        assert!(
            o.violations.is_empty(),
            "seed {}: {:#?}",
            o.seed,
            o.violations
        );
    }
    // Faults were injected, not only configured.
    assert!(a.stats.faults.values().sum::<u64>() + c.stats.faults.values().sum::<u64>() > 5);
}

/// Runs seeds until one shows a violation of `want`; returns its texts.
fn caught(bug: Bug, faults: &str, want: Invariant) -> Vec<String> {
    let mut cfg = small(faults);
    cfg.bug = Some(bug);
    for seed in 1..=6 {
        let o = run_one(&cfg, seed, false).unwrap();
        let texts: Vec<String> = o
            .violations
            .iter()
            .filter(|v| v.invariant == want)
            .map(ToString::to_string)
            .collect();
        if !texts.is_empty() {
            return texts;
        }
    }
    panic!("{bug:?} was not caught as {want:?} in 6 seeds");
}

#[test]
fn an_hq_adjustment_applied_without_its_id_breaks_stock_conservation() {
    let texts = caught(
        Bug::HqAdjustmentWithoutId,
        "hq-error,partition",
        Invariant::StockConserved,
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("too many") && t.contains("lane")),
        "{texts:#?}"
    );
}

#[test]
fn a_message_class_dropped_for_good_breaks_convergence() {
    let texts = caught(Bug::DropSyncMessages, "none", Invariant::Convergence);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("did not become quiet") || t.contains("different")),
        "{texts:#?}"
    );
}

#[test]
fn an_outbox_marked_synced_before_hq_confirmed_loses_sales_at_hq() {
    let texts = caught(Bug::ConfirmBeforeHq, "hq-error", Invariant::SalesAtHqOnce);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("acknowledged but is not at HQ")),
        "{texts:#?}"
    );
}

#[test]
fn a_lane_reusing_a_transaction_number_after_a_crash_is_caught() {
    let texts = caught(Bug::ReuseTxnNumber, "crash", Invariant::UniqueNumbers);
    assert!(
        texts.iter().any(|t| t.contains("was given to 2 records")),
        "{texts:#?}"
    );
}
