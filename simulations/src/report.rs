//! `--report FILE.html`: a self-contained page (inline SVG, no script, nothing fetched) with
//! the run's summary and four charts: convergence time, oversold units and messages per sale
//! per scenario, and the faults injected.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::check::Invariant;
use crate::config::Config;
use crate::run::Outcome;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A histogram of `values` (already integers: ms, units, messages) as an SVG bar chart.
fn histogram(title: &str, unit: &str, values: &[u64]) -> String {
    let mut svg = String::new();
    let _ = write!(svg, "<h2>{}</h2>", esc(title));
    if values.is_empty() {
        svg.push_str("<p>no data</p>");
        return svg;
    }
    let max = values.iter().copied().max().unwrap_or(0);
    let min = values.iter().copied().min().unwrap_or(0);
    let buckets: u64 = 20;
    let width = ((max - min) / buckets).max(1);
    let mut counts = vec![0u64; usize::try_from(buckets + 1).unwrap_or(21)];
    for v in values {
        let b = usize::try_from((v - min) / width)
            .unwrap_or(0)
            .min(counts.len() - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let (w, h, pad) = (640u64, 200u64, 30u64);
    let bar = (w - 2 * pad) / counts.len() as u64;
    let _ = write!(
        svg,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}' role='img'>",
        h + 40
    );
    for (i, c) in counts.iter().enumerate() {
        let bh = c * h / top;
        let x = pad + i as u64 * bar;
        let lo = min + i as u64 * width;
        let _ = write!(
            svg,
            "<rect x='{x}' y='{}' width='{}' height='{bh}' fill='#2f6f9f'><title>{lo}–{} {unit}: {c}</title></rect>",
            h - bh + 10,
            bar.saturating_sub(2),
            lo + width - 1
        );
    }
    let _ = write!(
        svg,
        "<text x='{pad}' y='{}' font-size='12'>{min} {unit}</text><text x='{}' y='{}' font-size='12' text-anchor='end'>{max} {unit}</text><text x='{pad}' y='12' font-size='12'>max {top} scenarios per bar</text></svg>",
        h + 30,
        w - pad,
        h + 30
    );
    svg
}

/// The report page.
pub fn html(cfg: &Config, first_seed: u64, outcomes: &[Outcome], minutes: u64) -> String {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset='utf-8'><title>kasir-sim report</title>\
         <style>body{font-family:sans-serif;max-width:760px;margin:2em auto}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}</style></head><body>",
    );
    let _ = write!(
        page,
        "<h1>kasir-sim</h1><p><code>kasir-sim run {} --seed {first_seed} --seeds {}</code></p>",
        esc(&cfg.flags()),
        outcomes.len()
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
    let _ = write!(
        page,
        "<p>{} scenarios, {} with violations; {} wall-clock minute(s).</p>",
        outcomes.len(),
        failed.len(),
        minutes
    );
    page.push_str("<table><tr><th>invariant</th><th>checked</th><th>violated</th></tr>");
    for inv in Invariant::ALL {
        let n = outcomes
            .iter()
            .filter(|o| o.violations.iter().any(|v| v.invariant == inv))
            .count();
        let _ = write!(
            page,
            "<tr><td style='text-align:left'>{} {}</td><td>{}</td><td>{n}</td></tr>",
            inv.code(),
            inv.title(),
            outcomes.len()
        );
    }
    page.push_str("</table>");
    for o in failed.iter().take(20) {
        let _ = write!(page, "<h3>seed {}</h3><ul>", o.seed);
        for v in &o.violations {
            let _ = write!(page, "<li>{}</li>", esc(&v.to_string()));
        }
        page.push_str("</ul>");
    }
    let converge: Vec<u64> = outcomes
        .iter()
        .map(|o| u64::try_from(o.stats.converge.as_millis()).unwrap_or(u64::MAX))
        .collect();
    page.push_str(&histogram(
        "Time to converge after heal (virtual)",
        "ms",
        &converge,
    ));
    let oversold: Vec<u64> = outcomes
        .iter()
        .map(|o| u64::try_from(o.stats.oversold_units.trunc().mantissa()).unwrap_or(0))
        .collect();
    page.push_str(&histogram(
        "Units oversold per scenario",
        "units",
        &oversold,
    ));
    let per_sale: Vec<u64> = outcomes
        .iter()
        .map(|o| o.stats.messages / o.stats.sales.max(1))
        .collect();
    page.push_str(&histogram("Messages per sale", "messages", &per_sale));
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    for o in outcomes {
        for (k, v) in &o.stats.faults {
            *faults.entry(k).or_default() += v;
        }
    }
    page.push_str("<h2>Faults injected (all scenarios)</h2>");
    let top = faults.values().copied().max().unwrap_or(1).max(1);
    let _ = write!(
        page,
        "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='{}' role='img'>",
        faults.len() * 26 + 10
    );
    for (i, (k, v)) in faults.iter().enumerate() {
        let y = i * 26 + 5;
        let len = v * 440 / top;
        let _ = write!(
            page,
            "<text x='0' y='{}' font-size='13'>{k}</text><rect x='110' y='{y}' width='{len}' height='18' fill='#9f5f2f'/><text x='{}' y='{}' font-size='12'>{v}</text>",
            y + 14,
            len + 115,
            y + 14
        );
    }
    page.push_str("</svg></body></html>\n");
    page
}
