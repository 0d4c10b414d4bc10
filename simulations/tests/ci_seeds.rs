//! What CI runs on every submission (issue #14): 200 seeds with every fault, none violating an
//! invariant. A failure prints the seed and the command that replays it.

use kasir_sim::{Config, Faults, run_many, run_one};

/// CI's size: 2 stores × 3 lanes, 1,500 steps, 30 products, every fault.
fn ci_size() -> Config {
    Config {
        stores: 2,
        lanes: 3,
        steps: 1500,
        faults: Faults::all(),
        bug: None,
        products: 30,
    }
}

#[test]
fn two_hundred_seeds_with_every_fault_violate_nothing() {
    let cfg = ci_size();
    let outcomes = run_many(&cfg, 1, 200, 2, &|_, _| {}).unwrap();
    assert_eq!(outcomes.len(), 200);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.failed())
        .map(|o| {
            format!(
                "seed {}:\n  {}\n  replay: cargo run --release -p kasir-sim -- replay --seed {} {}",
                o.seed,
                o.violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  "),
                o.seed,
                cfg.flags()
            )
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    let sales: u64 = outcomes.iter().map(|o| o.stats.sales).sum();
    let faults: u64 = outcomes
        .iter()
        .map(|o| o.stats.faults.values().sum::<u64>())
        .sum();
    assert!(
        sales > 200 * 20 && faults > 200 * 5,
        "{sales} sales, {faults} faults"
    );
}

/// Seeds that failed once, each for a bug of its own, run again at the size that found them.
/// 1789 (10,000 seeds at CI's size): a lane crashed while its acceptance of a connection was on
/// its way; the dialer took the connection up, kept it after the crash, and refused the
/// restarted lane's dials as duplicates for good, so the store never became quiet (I1).
#[test]
fn seeds_that_failed_once_pass() {
    let cfg = ci_size();
    const SEEDS: &[u64] = &[1789];
    for &seed in SEEDS {
        let o = run_one(&cfg, seed, false).unwrap();
        assert!(
            !o.failed(),
            "seed {seed}: {}",
            o.violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}
