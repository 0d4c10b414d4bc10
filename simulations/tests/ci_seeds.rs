//! What CI runs on every submission (issue #14): 200 seeds with every fault, none violating an
//! invariant. A failure prints the seed and the command that replays it.

use kasir_sim::{Config, Faults, run_many};

#[test]
fn two_hundred_seeds_with_every_fault_violate_nothing() {
    let cfg = Config {
        stores: 2,
        lanes: 3,
        steps: 1500,
        faults: Faults::all(),
        bug: None,
        products: 30,
    };
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
