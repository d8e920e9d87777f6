//! Policy-gradient losses: errors with their messages, closed forms (on-policy
//! GRPO is −mean A; the clip's two sides; PPO as GRPO's bnpo/grpo normalisers),
//! gradients by finite differences in f64 (every loss type, both levels, the KL
//! term), `backward` with a non-trivial upstream gradient, f32 against f64, and
//! the same bits whatever the thread count. Values against TRL's own
//! `GRPOTrainer._compute_loss` are in the golden suite
//! (crates/losslab-registry/tests/golden/policy.json).

use crate::common;

use common::{check_gradient, Rng};
use losslab::own::{PpoClipLoss, PpoLevel};
use losslab::trl::{GrpoLoss, GrpoLossType, ImportanceSamplingLevel};
use ndarray::{array, ArrayD, IxDyn};

struct Data {
    lp: ArrayD<f64>,
    old: ArrayD<f64>,
    adv: ArrayD<f64>,
    adv_bt: ArrayD<f64>,
    mask: ArrayD<f64>,
    rf: ArrayD<f64>,
}

fn data(b: usize, t: usize, seed: u64) -> Data {
    let mut rng = Rng::new(seed);
    let lp = rng.array(&[b, t], -3.0, -0.05);
    // log-ratios in ±0.6, away from the clip edges ln(0.8), ln(1.2) for the FD checks
    let lr = rng.array(&[b, t], -0.6, 0.6).mapv(|r: f64| if (r.abs() - 0.2).abs() < 0.04 { r * 0.5 } else { r });
    let old = &lp - &lr;
    let rf = &lp + &rng.array(&[b, t], -0.5, 0.5);
    let adv = rng.array(&[b], -1.5, 1.5);
    let adv_bt = rng.array(&[b, t], -1.5, 1.5);
    let mut mask = ArrayD::from_elem(IxDyn(&[b, t]), 1.0);
    for i in 0..b {
        for j in (1 + rng.below(t))..t {
            mask[[i, j]] = 0.0;
        }
    }
    Data { lp, old, adv, adv_bt, mask, rf }
}

#[test]
fn errors_name_the_option_or_tensor() {
    let d = data(2, 3, 1);
    let g = GrpoLoss::new();
    let e = g.forward(d.lp.view(), None, d.adv.view(), d.mask.slice(ndarray::s![.., ..2]).into_dyn(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: `completion_mask` has shape [2, 2], expected [2, 3] (the shape of `per_token_logps`)");
    let e = g.forward(d.lp.view(), None, array![1.0f64, 2.0, 3.0].view(), d.mask.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: `advantages` has shape [3], expected [2] or [2, 1] (one per completion) or [2, 3] (one per token of `per_token_logps`)");
    let flat = array![-1.0f64, -2.0].into_dyn();
    let e = g.forward(flat.view(), None, d.adv.view(), flat.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: `per_token_logps` has shape [2], expected (B, T) (2-D: one row of token log-probabilities per completion)");
    let e = g.clone().beta(0.04).forward(d.lp.view(), None, d.adv.view(), d.mask.view(), None).unwrap_err();
    assert!(e.to_string().starts_with("grpo_loss: beta = 0.04 needs `ref_per_token_logps`"), "{e}");
    let e = g.clone().epsilon(f64::NAN).forward(d.lp.view(), None, d.adv.view(), d.mask.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: option `epsilon` = NaN is invalid: expected a finite number");
    let e = g.clone().max_completion_length(0).forward(d.lp.view(), None, d.adv.view(), d.mask.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: option `max_completion_length` = 0 is invalid: expected a length ≥ 1");
    let e = g.clone().sapo_temperature_neg(0.0).forward(d.lp.view(), None, d.adv.view(), d.mask.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: option `sapo_temperature_neg` = 0 is invalid: expected a finite, non-zero number");
    let e = "gspo".parse::<GrpoLossType>().unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: option `loss_type` = gspo is invalid: expected one of grpo, bnpo, dr_grpo, dapo, cispo, sapo, luspo, vespo");
    let e = g.backward(d.lp.view(), None, d.adv.view(), d.mask.view(), None, ArrayD::from_elem(IxDyn(&[1]), 1.0).view()).unwrap_err();
    assert_eq!(e.to_string(), "grpo_loss: `grad_output` has shape [1], expected [] (the shape of the result: the loss is a scalar)");
    let e = PpoClipLoss::new().forward(d.lp.view(), d.old.slice(ndarray::s![..1, ..]).into_dyn(), d.adv.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "ppo_clip_loss: `old_log_probs` has shape [1, 3], expected [2, 3] (the shape of `log_probs`)");
    let e = PpoClipLoss::new().clip_epsilon(f64::INFINITY).forward(d.lp.view(), d.old.view(), d.adv.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "ppo_clip_loss: option `clip_epsilon` = inf is invalid: expected a finite number");
}

#[test]
fn closed_forms() {
    let d = data(5, 7, 2);
    let lens: Vec<f64> = (0..5).map(|i| d.mask.row_sum(i)).collect();
    // On-policy, β = 0: every ratio is 1, ℓ = −A per token.
    let on = |lt| GrpoLoss::new().loss_type(lt).forward(d.lp.view(), None, d.adv.view(), d.mask.view(), None).unwrap()[[]];
    let mean_a: f64 = d.adv.iter().sum::<f64>() / 5.0;
    assert!((on(GrpoLossType::Grpo) + mean_a).abs() < 1e-14);
    let total: f64 = lens.iter().sum();
    let weighted: f64 = (0..5).map(|i| d.adv[i] * lens[i]).sum();
    assert!((on(GrpoLossType::Bnpo) + weighted / total).abs() < 1e-14);
    assert!((on(GrpoLossType::Dapo) + weighted / total).abs() < 1e-14);
    assert!((on(GrpoLossType::Luspo) + weighted / 5.0).abs() < 1e-14);
    assert!((on(GrpoLossType::DrGrpo) + weighted / (5.0 * 512.0)).abs() < 1e-14);
    // PPO's token mean is GRPO's bnpo at β = 0, its sequence mean GRPO's grpo.
    for (level, lt) in [(PpoLevel::Token, GrpoLossType::Bnpo), (PpoLevel::Sequence, GrpoLossType::Grpo)] {
        let p = PpoClipLoss::new().level(level).forward(d.lp.view(), d.old.view(), d.adv_bt.view(), Some(d.mask.view())).unwrap()[[]];
        let g = GrpoLoss::new().loss_type(lt).forward(d.lp.view(), Some(d.old.view()), d.adv_bt.view(), d.mask.view(), None).unwrap()[[]];
        assert_eq!(p, g);
    }
    // The clip: r = 2 with A > 0 gains (1 + ε_high) A; r = 0.25 with A < 0 costs (1 − ε_low) |A|.
    let lp = array![[0.0f64, 0.0]];
    let old = array![[-(2f64.ln()), 4f64.ln()]];
    let l = PpoClipLoss::new().clip_epsilon(0.1).clip_epsilon_high(Some(0.3)).forward(lp.view(), old.view(), array![[1.0f64, -1.0]].view(), None).unwrap()[[]];
    assert!((l - (-1.3 + 0.9) / 2.0).abs() < 1e-15, "{l}");
    // Two-sided clipping: δ caps the unclipped ratio of a negative advantage.
    let g = GrpoLoss::new().loss_type(GrpoLossType::Bnpo).delta(Some(1.5));
    let l = g.forward(lp.view(), Some(array![[-(3f64.ln()), 0.0]].view()), array![-1.0f64].view(), array![[1.0f64, 0.0]].view(), None).unwrap()[[]];
    assert!((l - 1.5).abs() < 1e-15, "{l}");
}

trait RowSum {
    fn row_sum(&self, i: usize) -> f64;
}

impl RowSum for ArrayD<f64> {
    fn row_sum(&self, i: usize) -> f64 {
        self.index_axis(ndarray::Axis(0), i).sum()
    }
}

#[test]
fn gradients_match_finite_differences() {
    let d = data(3, 5, 3);
    let go = -1.7;
    let gov = ArrayD::from_elem(IxDyn(&[]), go);
    for lt in GrpoLossType::ALL.iter().copied().filter(|t| !matches!(t, GrpoLossType::Cispo | GrpoLossType::Vespo)) {
        for level in ImportanceSamplingLevel::ALL.iter().copied() {
            for (beta, adv) in [(0.0, &d.adv), (0.3, &d.adv_bt)] {
                let g = GrpoLoss::new().loss_type(lt).importance_sampling_level(level).beta(beta).max_completion_length(8);
                let name = format!("{lt} {level} beta {beta}");
                let f = |lp: &ArrayD<f64>, old: &ArrayD<f64>, a: &ArrayD<f64>, rf: &ArrayD<f64>| {
                    go * g.forward(lp.view(), Some(old.view()), a.view(), d.mask.view(), Some(rf.view())).unwrap()[[]]
                };
                let gr = g.backward(d.lp.view(), Some(d.old.view()), adv.view(), d.mask.view(), Some(d.rf.view()), gov.view()).unwrap();
                check_gradient(&format!("{name} logps"), &d.lp, &gr.logps, |x| f(x, &d.old, adv, &d.rf));
                check_gradient(&format!("{name} old"), &d.old, gr.old_logps.as_ref().unwrap(), |x| f(&d.lp, x, adv, &d.rf));
                check_gradient(&format!("{name} adv"), adv, &gr.advantages, |x| f(&d.lp, &d.old, x, &d.rf));
                if beta != 0.0 {
                    check_gradient(&format!("{name} ref"), &d.rf, gr.ref_logps.as_ref().unwrap(), |x| f(&d.lp, &d.old, adv, x));
                } else {
                    assert!(gr.ref_logps.is_none(), "{name}: no gradient for an unread reference");
                }
            }
        }
    }
    // PPO, with and without a mask
    for level in [PpoLevel::Token, PpoLevel::Sequence] {
        for mask in [None, Some(d.mask.view())] {
            let p = PpoClipLoss::new().level(level).clip_epsilon_high(Some(0.28));
            let f = |lp: &ArrayD<f64>, old: &ArrayD<f64>, a: &ArrayD<f64>| go * p.forward(lp.view(), old.view(), a.view(), mask.clone()).unwrap()[[]];
            let gr = p.backward(d.lp.view(), d.old.view(), d.adv_bt.view(), mask.clone(), gov.view()).unwrap();
            check_gradient("ppo logps", &d.lp, &gr.logps, |x| f(x, &d.old, &d.adv_bt));
            check_gradient("ppo old", &d.old, gr.old_logps.as_ref().unwrap(), |x| f(&d.lp, x, &d.adv_bt));
            check_gradient("ppo adv", &d.adv_bt, &gr.advantages, |x| f(&d.lp, &d.old, x));
        }
    }
}

#[test]
fn detached_weights_follow_trl() {
    // CISPO: −sg(min(c₁, ε_high)) A logp: the gradient w.r.t. logp is −min(c₁, ε_high) A / N, none through the ratio.
    let lp = array![[-1.0f64, -0.5]];
    let old = array![[-1.5f64, -0.5]];
    let m = array![[1.0f64, 1.0]];
    let g = GrpoLoss::new().loss_type(GrpoLossType::Cispo).epsilon_high(Some(1.2));
    let (v, gr) = g.forward_backward(lp.view(), Some(old.view()), array![2.0f64].view(), m.view(), None).unwrap();
    let c = 0.5f64.exp().min(1.2);
    assert!((v[[]] - (-(c * 2.0 * -1.0) - 1.0 * 2.0 * -0.5) / 2.0).abs() < 1e-15);
    assert!((gr.logps[[0, 0]] + c).abs() < 1e-15 && (gr.logps[[0, 1]] + 1.0).abs() < 1e-15);
    assert_eq!(gr.old_logps.unwrap(), ArrayD::zeros(IxDyn(&[1, 2])));
    // On-policy (no old): the ratio is 1 but its gradient flows: ∂/∂logp = −A / N per token.
    let (v, gr) = GrpoLoss::new().forward_backward(lp.view(), None, array![2.0f64].view(), m.view(), None).unwrap();
    assert_eq!(v[[]], -2.0);
    assert_eq!(gr.logps, array![[-1.0f64, -1.0]].into_dyn());
    assert!(gr.old_logps.is_none());
}

#[test]
fn f32_agrees_with_f64_and_backward_scales() {
    let d = data(6, 9, 4);
    for lt in GrpoLossType::ALL.iter().copied() {
        let g = GrpoLoss::new().loss_type(lt).beta(0.04).importance_sampling_level(ImportanceSamplingLevel::Sequence);
        let (v, gr) = g.forward_backward(d.lp.view(), Some(d.old.view()), d.adv.view(), d.mask.view(), Some(d.rf.view())).unwrap();
        let c = |a: &ArrayD<f64>| a.mapv(|x| x as f32);
        let (v32, gr32) = g.forward_backward(c(&d.lp).view(), Some(c(&d.old).view()), c(&d.adv).view(), c(&d.mask).view(), Some(c(&d.rf).view())).unwrap();
        assert!((f64::from(v32[[]]) - v[[]]).abs() <= 1e-5 * v[[]].abs().max(1e-3), "{lt}: {} vs {}", v32[[]], v[[]]);
        for (a, b) in gr32.logps.iter().zip(gr.logps.iter()) {
            assert!((f64::from(*a) - b).abs() <= 1e-5 * b.abs().max(1e-3), "{lt}: {a} vs {b}");
        }
        // backward(g) = g · forward_backward's gradients
        let gb = g.backward(d.lp.view(), Some(d.old.view()), d.adv.view(), d.mask.view(), Some(d.rf.view()), ArrayD::from_elem(IxDyn(&[]), -0.5).view()).unwrap();
        for (a, b) in gb.advantages.iter().zip(gr.advantages.iter()) {
            assert!((a + 0.5 * b).abs() <= 1e-15 * b.abs().max(1.0), "{lt}");
        }
    }
}

#[test]
fn same_bits_whatever_the_thread_count() {
    // Large enough for the parallel path (≥ 2¹⁵ elements).
    let d = data(64, 1024, 5);
    let g = GrpoLoss::new().loss_type(GrpoLossType::Grpo).beta(0.04);
    let run = || g.forward_backward(d.lp.view(), Some(d.old.view()), d.adv.view(), d.mask.view(), Some(d.rf.view())).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    assert_eq!(one, four);
    // the metrics TRL logs
    let m = g.metrics(d.lp.view(), Some(d.old.view()), d.adv.view(), d.mask.view(), Some(d.rf.view())).unwrap();
    let names: Vec<&str> = m.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["kl", "clip_ratio_low_mean", "clip_ratio_high_mean", "clip_ratio_region_mean", "clip_ratio_low_min", "clip_ratio_high_max"]);
    let v = |n: &str| m.iter().find(|(k, _)| *k == n).unwrap().1;
    assert!((v("clip_ratio_region_mean") - (v("clip_ratio_low_mean") + v("clip_ratio_high_mean"))).abs() < 1e-6);
}
