//! Summarises the `peers` criterion benchmarks (losslab beside candle and burn)
//! as markdown tables: the median throughput of each library in 10⁹ elements
//! per second, and losslab's ratio to each peer; then the adapters
//! (`losslab-candle`, `losslab-burn`) beside the Rust kernel and each
//! framework's own loss, with the verdict on issue 15's target: an adapter keeps
//! at least 80% of the kernel's throughput (`losslab_fwd_bwd`) measured in the same run.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo bench -p losslab-bench --bench peers
//! cargo run --release -p losslab-bench            # reads target/criterion
//! cargo run --release -p losslab-bench -- DIR     # or another criterion directory
//! ```
//!
//! It reads criterion's `GROUP/FUNCTION/new/estimates.json` (the median time of
//! one iteration) and `benchmark.json` (the elements per iteration) for the
//! groups `ce_{rows}x{classes}` and `mse_{elements}`: every such group in the
//! directory, those of earlier runs with other shapes included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Median elements per second of each benchmark function in one group.
type Group = BTreeMap<String, f64>;

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The median elements per second of one benchmark, from its `new/` directory.
fn throughput(dir: &Path) -> Result<f64, String> {
    let est = read_json(&dir.join("new/estimates.json"))?;
    let ns = est["median"]["point_estimate"].as_f64().ok_or_else(|| format!("{}: no median", dir.display()))?;
    let bench = read_json(&dir.join("new/benchmark.json"))?;
    let elems = bench["throughput"]["Elements"]
        .as_f64()
        .ok_or_else(|| format!("{}: no element throughput", dir.display()))?;
    Ok(elems / (ns * 1e-9))
}

fn read_groups(root: &Path) -> Result<BTreeMap<String, Group>, String> {
    let mut groups = BTreeMap::new();
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e} (run the benchmarks first)", root.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("ce_") || name.starts_with("mse_")) {
            continue;
        }
        let mut group = Group::new();
        for f in std::fs::read_dir(entry.path()).map_err(|e| format!("{name}: {e}"))?.flatten() {
            let fname = f.file_name().to_string_lossy().into_owned();
            if f.path().join("new/estimates.json").is_file() {
                group.insert(fname, throughput(&f.path())?);
            }
        }
        groups.insert(name, group);
    }
    Ok(groups)
}

/// `x` in 10⁹ with three significant digits.
fn giga(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => {
            let g = v / 1e9;
            let digits = (2 - g.abs().log10().floor() as i32).clamp(0, 6) as usize;
            format!("{g:.digits$}")
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => {
            let r = a / b;
            if r >= 10.0 { format!("{r:.0} ×") } else { format!("{r:.1} ×") }
        }
        _ => "–".into(),
    }
}

/// Sorts `ce_1024x32000` style names by their element count.
fn elements(name: &str) -> u64 {
    let dims = name.split_once('_').map_or("", |(_, d)| d);
    dims.split('x').map(|d| d.parse::<u64>().unwrap_or(0)).product()
}

fn main() -> ExitCode {
    let root = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        target.join("criterion")
    });
    let groups = match read_groups(&root) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("losslab-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort_by_key(|n| (n.starts_with("mse_"), std::cmp::Reverse(elements(n))));
    let get = |g: &Group, k: &str| g.get(k).copied();

    println!("Cross entropy, f32, class-index targets, mean; median 10⁹ elements/s (logits), ratios losslab ÷ peer.\n");
    println!("| shape | losslab fwd | losslab fwd+bwd (buffer) | losslab fwd+bwd (in place) | candle fwd | candle fwd+bwd | burn fwd | burn fwd+bwd | ÷ candle fwd / fwd+bwd | ÷ burn fwd / fwd+bwd |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for name in names.iter().filter(|n| n.starts_with("ce_")) {
        let g = &groups[*name];
        let (lf, lb, li) = (get(g, "losslab_fwd"), get(g, "losslab_fwd_bwd"), get(g, "losslab_fwd_bwd_inplace"));
        let (cf, cb, bf, bb) = (get(g, "candle_fwd"), get(g, "candle_fwd_bwd"), get(g, "burn_fwd"), get(g, "burn_fwd_bwd"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            name.trim_start_matches("ce_").replace('x', " × "),
            giga(lf), giga(lb), giga(li), giga(cf), giga(cb), giga(bf), giga(bb),
            ratio(lf, cf), ratio(lb, cb), ratio(lf, bf), ratio(lb, bb),
        );
    }
    println!("\nMSE, f32, mean; median 10⁹ elements/s (input elements), ratios losslab ÷ peer.\n");
    println!("| elements | losslab fwd | losslab fwd+bwd | candle fwd | candle fwd+bwd | burn fwd | burn fwd+bwd | ÷ candle fwd / fwd+bwd | ÷ burn fwd / fwd+bwd |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for name in names.iter().filter(|n| n.starts_with("mse_")) {
        let g = &groups[*name];
        let (lf, lb) = (get(g, "losslab_fwd"), get(g, "losslab_fwd_bwd"));
        let (cf, cb, bf, bb) = (get(g, "candle_fwd"), get(g, "candle_fwd_bwd"), get(g, "burn_fwd"), get(g, "burn_fwd_bwd"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            name.trim_start_matches("mse_"),
            giga(lf), giga(lb), giga(cf), giga(cb), giga(bf), giga(bb),
            ratio(lf, cf), ratio(lb, cb), ratio(lf, bf), ratio(lb, bb),
        );
    }
    adapters(&groups, &names);
    ExitCode::SUCCESS
}

/// The share of the kernel's throughput an adapter must keep (issue 15).
const TARGET: f64 = 0.8;

/// `a ÷ b` as a ratio with two decimals.
fn share(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

/// `a ÷ kernel` with the verdict on the 80% target.
fn verdict(a: Option<f64>, kernel: Option<f64>) -> String {
    match (a, kernel) {
        (Some(a), Some(k)) => format!("{:.2} {}", a / k, if a / k >= TARGET { "PASS" } else { "FAIL" }),
        _ => "–".into(),
    }
}

/// The throughput of `adapter` less the time of `overhead` (both per the same
/// elements): what the adapter would reach without that step.
fn less(adapter: Option<f64>, overhead: Option<f64>) -> Option<f64> {
    let (a, o) = (adapter?, overhead?);
    let t = 1.0 / a - 1.0 / o;
    (t > 0.0).then(|| 1.0 / t)
}

/// The adapters beside the kernel and the frameworks' own losses, forward + backward.
fn adapters(groups: &BTreeMap<String, Group>, names: &[&String]) {
    let get = |g: &Group, k: &str| g.get(k).copied();
    println!("\nAdapters, forward + backward through each framework's autograd; median 10⁹ elements/s; ratios of throughputs.");
    println!("kernel: `losslab_fwd_bwd` (into a reused buffer); fresh: the kernel into a new gradient buffer each call;");
    println!("zeros+add: candle's accumulation of one gradient of that size (GradStore::or_insert, then add), timed alone;");
    println!("burn adapter, unpooled: its gradient buffers released after each call (a new buffer each time, as before it kept them).\n");
    println!("| group | kernel | kernel, fresh buffer | candle adapter | candle-nn | candle zeros+add | burn adapter | burn adapter, unpooled | burn | candle adapter ÷ kernel (≥ 0.8) | burn adapter ÷ kernel (≥ 0.8) | burn adapter, unpooled ÷ kernel | candle adapter less zeros+add ÷ kernel | candle adapter ÷ candle-nn | burn adapter ÷ burn |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for name in names {
        let g = &groups[*name];
        let k = get(g, "losslab_fwd_bwd");
        let (ca, cz, ba) = (get(g, "candle_adapter_fwd_bwd"), get(g, "candle_zeros_add"), get(g, "burn_adapter_fwd_bwd"));
        if ca.is_none() && ba.is_none() {
            continue;
        }
        let (cb, bb, bu) = (get(g, "candle_fwd_bwd"), get(g, "burn_fwd_bwd"), get(g, "burn_adapter_unpooled_fwd_bwd"));
        let label = match name.strip_prefix("ce_") {
            Some(d) => format!("cross entropy {}", d.replace('x', " × ")),
            None => format!("MSE {}", name.trim_start_matches("mse_")),
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            giga(k), giga(get(g, "losslab_fwd_bwd_fresh")), giga(ca), giga(cb), giga(cz), giga(ba), giga(bu), giga(bb),
            verdict(ca, k), verdict(ba, k), share(bu, k), share(less(ca, cz), k), share(ca, cb), share(ba, bb),
        );
    }
}
