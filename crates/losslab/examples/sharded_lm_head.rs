//! The LM head's loss with the vocabulary sharded across MPI processes.
//!
//! ```sh
//! cargo build --release -p losslab --features mpi --example sharded_lm_head
//! mpirun -np 3 target/release/examples/sharded_lm_head --tokens 512 --hidden 64 --vocab 5000 --seed 1
//! ```
//!
//! Every rank builds the same random head (f32: hidden states `N × D`, a
//! `V × D` classifier, targets with some ignored) from `--seed`, keeps its
//! slice of the vocabulary (`[r·V/P, (r+1)·V/P)`), and runs
//! [`LinearCrossEntropyLoss::forward_backward_sharded`] over MPI. Rank 0 then
//! computes the single-process loss and gradients on the whole head, gathers
//! the ranks' weight-gradient slices, and prints one JSON line: the loss, the
//! bytes each rank sent, the time of the sharded call, and the largest
//! relative differences from the single-process result (exit status 1 if one
//! is above 1e-6, as `‖a − b‖ / ‖b‖`).
//!
//! `--bad-rank R` shifts rank R's slice by one class, so that the shards do
//! not tile the vocabulary: every rank then ends with the error (exit status 1)
//! rather than waiting on the others.

use losslab::collective::{Collective, Mpi};
use losslab::LinearCrossEntropyLoss;
use ndarray::{s, Array1, Array2};
use std::time::Instant;

fn values(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            (((st >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale) as f32
        })
        .collect()
}

struct Args {
    tokens: usize,
    hidden: usize,
    vocab: usize,
    seed: u64,
    bad_rank: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { tokens: 256, hidden: 64, vocab: 5000, seed: 0, bad_rank: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--tokens" => a.tokens = num(&value)?,
            "--hidden" => a.hidden = num(&value)?,
            "--vocab" => a.vocab = num(&value)?,
            "--seed" => a.seed = num(&value)? as u64,
            "--bad-rank" => a.bad_rank = Some(num(&value)?),
            _ => return Err(format!("unknown flag {flag} (expected --tokens, --hidden, --vocab, --seed, --bad-rank)")),
        }
    }
    if a.tokens == 0 || a.hidden == 0 || a.vocab < 2 {
        return Err("expected --tokens ≥ 1, --hidden ≥ 1 and --vocab ≥ 2".into());
    }
    Ok(a)
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let (num, den) = a.iter().zip(b).fold((0f64, 0f64), |(n, d), (&x, &y)| {
        let (x, y) = (f64::from(x), f64::from(y));
        (n + (x - y) * (x - y), d + y * y)
    });
    (num / den.max(1e-300)).sqrt()
}

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("sharded_lm_head: MPI could not be initialised");
        std::process::exit(1);
    };
    let comm = Mpi::new(mpi::topology::Communicator::duplicate(&universe.world()));
    let (rank, size) = (comm.rank(), comm.size());
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sharded_lm_head (rank {rank}): {e}");
            std::process::exit(2);
        }
    };
    let (n, d, v) = (args.tokens, args.hidden, args.vocab);
    let x = Array2::from_shape_vec((n, d), values(n * d, args.seed * 3 + 1, 1.0)).expect("n × d");
    let w = Array2::from_shape_vec((v, d), values(v * d, args.seed * 3 + 2, 1.0 / (d as f64).sqrt())).expect("v × d");
    let t = Array1::from_shape_fn(n, |i| if i % 11 == 5 { -100 } else { ((i as u64 * 2_654_435_761 + args.seed) % v as u64) as i64 });
    let lce = LinearCrossEntropyLoss::new().label_smoothing(0.1).lse_square_scale(1e-4);
    let (mut a, mut e) = (rank * v / size, (rank + 1) * v / size);
    if args.bad_rank == Some(rank) {
        (a, e) = (a + 1, (e + 1).min(v));
    }
    let start = Instant::now();
    let result = lce.forward_backward_sharded(&comm, x.view(), w.slice(s![a..e, ..]), None, a, v, t.view(), None);
    let seconds = start.elapsed().as_secs_f64();
    let (out, grads) = match result {
        Ok(r) => r,
        Err(err) => {
            eprintln!("sharded_lm_head (rank {rank} of {size}): {err}");
            std::process::exit(1);
        }
    };
    let bytes = comm.bytes_sent() as f64;
    // Rank 0's report: every rank's bytes and weight-gradient slice (padded to the largest).
    let most = (0..size).map(|r| ((r + 1) * v / size - r * v / size) * d).max().unwrap_or(0);
    let mut mine = vec![bytes, seconds];
    mine.extend(grads.linear_weight.iter().map(|&g| f64::from(g)));
    mine.resize(2 + most, 0.0);
    let mut all = vec![0.0; size * (2 + most)];
    if let Err(err) = comm.all_gather(&mine, &mut all) {
        eprintln!("sharded_lm_head (rank {rank}): {err}");
        std::process::exit(1);
    }
    if rank != 0 {
        return;
    }
    let (single, g1) = lce.forward_backward(x.view(), w.view(), None, t.view(), None).expect("valid inputs");
    let mut gw: Vec<f32> = Vec::with_capacity(v * d);
    for r in 0..size {
        let len = ((r + 1) * v / size - r * v / size) * d;
        gw.extend(all[r * (2 + most) + 2..r * (2 + most) + 2 + len].iter().map(|&g| g as f32));
    }
    let diffs = [
        ("loss", rel(out.loss.as_slice().unwrap(), single.loss.as_slice().unwrap())),
        ("input_grad", rel(grads.input.as_slice().unwrap(), g1.input.as_slice().unwrap())),
        ("linear_weight_grad", rel(&gw, g1.linear_weight.as_slice().unwrap())),
    ];
    let bytes: Vec<u64> = (0..size).map(|r| all[r * (2 + most)] as u64).collect();
    let times: Vec<f64> = (0..size).map(|r| all[r * (2 + most) + 1]).collect();
    let worst = diffs.iter().map(|(_, x)| *x).fold(0f64, f64::max);
    println!(
        "{{\"processes\":{size},\"tokens\":{n},\"hidden\":{d},\"vocab\":{v},\"loss\":{},\"single_process_loss\":{},\"max_relative_difference\":{{{}}},\"bytes_sent_per_rank\":{:?},\"seconds_per_rank\":{:?}}}",
        out.loss[[]],
        single.loss[[]],
        diffs.iter().map(|(k, x)| format!("\"{k}\":{x:e}")).collect::<Vec<_>>().join(","),
        bytes,
        times
    );
    if worst > 1e-6 {
        eprintln!("sharded_lm_head: the sharded result differs from the single-process one by {worst:e} (more than 1e-6)");
        std::process::exit(1);
    }
}
