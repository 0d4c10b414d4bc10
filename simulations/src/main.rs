//! `kasir-sim`: run many seeded scenarios and check the invariants, or replay one with its
//! event log. See the crate documentation and README.md ("Partition simulations").

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use kasir_sim::{Bug, Config, Faults, Invariant, Outcome};

#[derive(Parser, Debug)]
#[command(
    name = "kasir-sim",
    about = "Deterministic partition simulations of kasir stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run many seeds; exit 1 on any violation, with the command that replays it.
    Run {
        #[command(flatten)]
        size: Size,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds, from --seed on.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// Seeds run in parallel (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Write a self-contained HTML report with charts.
        #[arg(long, value_name = "FILE.html")]
        report: Option<std::path::PathBuf>,
        /// Do not shrink a failing scenario.
        #[arg(long)]
        no_shrink: bool,
    },
    /// Re-run one scenario and print its event log (the same seed prints the same log).
    Replay {
        #[command(flatten)]
        size: Size,
        #[arg(long)]
        seed: u64,
    },
}

#[derive(Args, Debug)]
struct Size {
    /// Stores in the chain.
    #[arg(long, default_value_t = 3)]
    stores: u16,
    /// Lanes per store.
    #[arg(long, default_value_t = 4)]
    lanes: u16,
    /// Scheduler steps of the fault phase.
    #[arg(long, default_value_t = 10_000)]
    steps: u32,
    /// Faults to inject: all, none, or a list of partition, loss, hq-cut, crash,
    /// leader-kill, hq-error, skew.
    #[arg(long, default_value = "all")]
    faults: Faults,
    /// Products in the catalog.
    #[arg(long, default_value_t = 40)]
    products: u16,
    /// Run with a deliberate bug (to see the checkers catch it): hq-adjustment-without-id,
    /// drop-sync-messages, confirm-before-hq, reuse-txn-number.
    #[arg(long)]
    bug: Option<Bug>,
}

impl Size {
    fn config(&self) -> Config {
        Config {
            stores: self.stores,
            lanes: self.lanes,
            steps: self.steps,
            faults: self.faults,
            bug: self.bug,
            products: self.products,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            size,
            seed,
            seeds,
            jobs,
            report,
            no_shrink,
        } => run(&size.config(), seed, seeds, jobs, report, no_shrink),
        Command::Replay { size, seed } => replay(&size.config(), seed),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kasir-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn percentile(mut v: Vec<u128>, p: usize) -> u128 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[(v.len() - 1) * p / 100]
}

fn run(
    cfg: &Config,
    seed: u64,
    seeds: u64,
    jobs: Option<usize>,
    report: Option<std::path::PathBuf>,
    no_shrink: bool,
) -> Result<bool, String> {
    cfg.validate()?;
    if seeds == 0 {
        return Err("--seeds 0: run at least one".into());
    }
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let tty = std::io::stderr().is_terminal();
    eprintln!(
        "kasir-sim: {seeds} scenario(s) from seed {seed}, {} on {jobs} thread(s)",
        cfg.flags()
    );
    let started = Instant::now();
    let step = (seeds / 20).max(1);
    let progress = |done: u64, failed: u64| {
        let secs = started.elapsed().as_secs().max(1);
        if tty {
            let filled = usize::try_from(done * 30 / seeds).unwrap_or(30);
            eprint!(
                "\r[{}{}] {done}/{seeds} seeds, {failed} failing, {} s ",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                secs
            );
            let _ = std::io::stderr().flush();
        } else if done.is_multiple_of(step) || done == seeds {
            eprintln!("{done}/{seeds} seeds, {failed} failing, {secs} s");
        }
    };
    let outcomes = kasir_sim::run_many(cfg, seed, seeds, jobs, &progress)?;
    if tty {
        eprintln!();
    }
    let elapsed = started.elapsed();
    summary(cfg, &outcomes, elapsed, jobs);
    if let Some(path) = &report {
        let minutes = elapsed.as_secs().div_ceil(60);
        std::fs::write(path, kasir_sim::report::html(cfg, seed, &outcomes, minutes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("report: {}", path.display());
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
    if failed.is_empty() {
        return Ok(true);
    }
    println!("\n{} scenario(s) violated an invariant:", failed.len());
    for o in failed.iter().take(10) {
        println!("\nseed {}:", o.seed);
        for v in &o.violations {
            println!("  {v}");
        }
        println!(
            "  replay: kasir-sim replay --seed {} {}",
            o.seed,
            cfg.flags()
        );
    }
    if !no_shrink {
        let first = failed[0];
        println!("\nshrinking seed {} …", first.seed);
        let (small, outcome) = kasir_sim::shrink(cfg, first.seed, 40);
        if let Some(o) = outcome {
            println!("smallest failing scenario found:");
            for v in &o.violations {
                println!("  {v}");
            }
            println!(
                "  reproduce: kasir-sim replay --seed {} {}",
                first.seed,
                small.flags()
            );
        } else {
            println!("  nothing smaller fails; reproduce with the replay command above");
        }
    }
    Ok(false)
}

fn summary(cfg: &Config, outcomes: &[Outcome], elapsed: std::time::Duration, jobs: usize) {
    println!("\n{:<34} {:>8} {:>9}", "invariant", "checked", "violated");
    for inv in Invariant::ALL {
        let n = outcomes
            .iter()
            .filter(|o| o.violations.iter().any(|v| v.invariant == inv))
            .count();
        println!(
            "{:<34} {:>8} {:>9}",
            format!("{} {}", inv.code(), inv.title()),
            outcomes.len(),
            n
        );
    }
    let sum = |f: &dyn Fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let sales = sum(&|o| o.stats.sales);
    let messages = sum(&|o| o.stats.messages);
    let oversold: kasir_sim::Decimal = outcomes.iter().map(|o| o.stats.oversold_units).sum();
    let converge: Vec<u128> = outcomes
        .iter()
        .map(|o| o.stats.converge.as_millis())
        .collect();
    let mut faults = std::collections::BTreeMap::<&str, u64>::new();
    for o in outcomes {
        for (k, v) in &o.stats.faults {
            *faults.entry(k).or_default() += v;
        }
    }
    println!("\nanomalies (counted, allowed):");
    println!(
        "  units oversold during partitions: {oversold} in {} scenario(s)",
        outcomes
            .iter()
            .filter(|o| !o.stats.oversold_units.is_zero())
            .count()
    );
    println!(
        "  operations refused by a lane (not yet replicated, cannot return): {}",
        sum(&|o| o.stats.refused)
    );
    println!(
        "  time to converge after heal (virtual): p50 {} ms, p99 {} ms, max {} ms",
        percentile(converge.clone(), 50),
        percentile(converge.clone(), 99),
        percentile(converge, 100)
    );
    println!(
        "  sales {sales}, returns {}, HQ round trips {}, messages {messages} ({} per sale), {} MB sent",
        sum(&|o| o.stats.returns),
        sum(&|o| o.stats.hq_calls),
        messages / sales.max(1),
        sum(&|o| o.stats.bytes) / 1_000_000
    );
    let f: Vec<String> = faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "  faults injected: {}",
        if f.is_empty() {
            "none".into()
        } else {
            f.join(", ")
        }
    );
    let ms = elapsed.as_millis().max(1);
    let per_min = u128::from(u64::try_from(outcomes.len()).unwrap_or(0)) * 60_000 / ms;
    let per_core = per_min / u128::try_from(jobs).unwrap_or(1).max(1);
    println!(
        "\n{} scenario(s) in {:.1?}: {per_min} per minute ({per_core} per minute per thread, {} steps each, {})",
        outcomes.len(),
        elapsed,
        cfg.steps,
        cfg.flags()
    );
}

fn replay(cfg: &Config, seed: u64) -> Result<bool, String> {
    let o = kasir_sim::run_one(cfg, seed, true)?;
    for line in o.log.iter().flatten() {
        println!("{line}");
    }
    println!(
        "\nseed {seed}: {} sales, {} returns, {} steps, converged {} ms after heal",
        o.stats.sales,
        o.stats.returns,
        o.stats.steps,
        o.stats.converge.as_millis()
    );
    for v in &o.violations {
        println!("  {v}");
    }
    println!("trace {}", o.trace_hash);
    Ok(!o.failed())
}
