//! TRL's preference losses: errors with their messages, gradients by finite
//! differences in f64 with a non-trivial upstream gradient, identities between
//! loss types (robust at ε = 0 and aot with one pair are DPO's sigmoid, simpo at
//! γ = 0 is CPO's sigmoid, ...), the reductions, f32 against f64; KTO's
//! unpaired batches (sides of any size, empty ones), its clamped and detached
//! KL estimate and its NaN-skipping reductions. Values against
//! TRL's own code are in the golden suite
//! (crates/losslab-registry/tests/golden/preference.json).

use crate::common;

use common::{check_gradient, dot, Rng};
use losslab::trl::{CpoLoss, CpoLossType, DpoLoss, DpoLossType, FDivergence, KtoLoss, KtoLossType, OddsRatioLoss};
use losslab::LossError;
use losslab::Reduction;
use ndarray::{array, ArrayD, IxDyn};

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn inputs(rng: &mut Rng, b: usize) -> [ArrayD<f64>; 4] {
    [rng.array(&[b], -30.0, -5.0), rng.array(&[b], -30.0, -5.0), rng.array(&[b], -30.0, -5.0), rng.array(&[b], -30.0, -5.0)]
}

#[test]
fn errors_name_the_option_or_tensor() {
    let e = "sft".parse::<DpoLossType>().unwrap_err();
    assert!(e.to_string().starts_with("dpo_loss: option `loss_type` = sft is invalid: expected one of sigmoid, hinge, ipo,"), "{e}");
    let (a, b) = (array![-1.0f64, -2.0], array![-1.0f64, -2.0, -3.0]);
    let e = DpoLoss::new().forward(a.view(), a.view(), a.view(), b.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "dpo_loss: `ref_rejected_logps` has shape [3], expected [2] (the shape of `chosen_logps`)");
    let m = array![[-1.0f64, -2.0]];
    let e = DpoLoss::new().forward(m.view(), m.view(), m.view(), m.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "dpo_loss: `chosen_logps` has shape [1, 2], expected (B,): one log-probability per sequence");
    let e = DpoLoss::new().loss_type(DpoLossType::Ipo).forward(a.view(), a.view(), a.view(), a.view(), Some((a.view(), array![1.0f64].view()))).unwrap_err();
    assert_eq!(e.to_string(), "dpo_loss: `rejected_lengths` has shape [1], expected [2] (the shape of `chosen_logps`)");
    let e = DpoLoss::new().beta(f64::INFINITY).forward(a.view(), a.view(), a.view(), a.view(), None).unwrap_err();
    assert_eq!(e.to_string(), "dpo_loss: option `beta` = inf is invalid: expected a finite number");
    let e = DpoLoss::new().loss_type(DpoLossType::Aot).f_divergence_type(FDivergence::ForwardKl).forward(a.view(), a.view(), a.view(), a.view(), None).unwrap_err();
    assert!(e.to_string().starts_with("dpo_loss: option `f_divergence_type` = forward_kl is invalid: expected reverse_kl with loss_type aot"), "{e}");
    let e = CpoLoss::new().simpo_gamma(f64::NAN).forward(a.view(), a.view()).unwrap_err();
    assert_eq!(e.to_string(), "cpo_loss: option `simpo_gamma` = NaN is invalid: expected a finite number");
    let e = OddsRatioLoss::new().forward(a.view(), b.view()).unwrap_err();
    assert_eq!(e.to_string(), "odds_ratio_loss: `rejected_logps` has shape [3], expected [2] (the shape of `chosen_logps`)");
    let e = CpoLoss::new().backward(a.view(), a.view(), array![1.0f64, 1.0].view().into_dyn()).unwrap_err();
    assert!(e.to_string().contains("grad_output"), "{e}");
}

#[test]
fn dpo_closed_forms_and_identities() {
    let mut rng = Rng::new(17);
    let [c, r, rc, rr] = inputs(&mut rng, 5);
    let delta: Vec<f64> = (0..5).map(|i| (c[i] - rc[i]) - (r[i] - rr[i])).collect();
    let none = |l: DpoLoss| l.reduction(Reduction::None).forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap();
    let sig = none(DpoLoss::new().beta(0.3));
    for i in 0..5 {
        assert!((sig[i] - softplus(-0.3 * delta[i])).abs() < 1e-14);
    }
    // robust at ε = 0 and exo_pair's limits are the sigmoid's; hinge is relu(1 − βΔ)
    let rob = none(DpoLoss::new().beta(0.3).loss_type(DpoLossType::Robust));
    let hin = none(DpoLoss::new().beta(0.3).loss_type(DpoLossType::Hinge));
    for i in 0..5 {
        assert!((rob[i] - sig[i]).abs() < 1e-14);
        assert!((hin[i] - (1.0 - 0.3 * delta[i]).max(0.0)).abs() < 1e-14);
    }
    // aot and aot_unpaired with one pair: the sigmoid of Δ
    let one = |l: DpoLoss| l.forward(c.slice(ndarray::s![..1]), r.slice(ndarray::s![..1]), rc.slice(ndarray::s![..1]), rr.slice(ndarray::s![..1]), None).unwrap()[[]];
    for lt in [DpoLossType::Aot, DpoLossType::AotUnpaired] {
        assert!((one(DpoLoss::new().loss_type(lt)) - softplus(-0.1 * delta[0])).abs() < 1e-14);
    }
    // ipo with lengths: the scores divided by them (0 clamped to 1)
    let (nc, nr) = (array![0.0f64, 2.0, 3.0, 1.0, 4.0].into_dyn(), array![5.0f64, 1.0, 2.0, 2.0, 1.0].into_dyn());
    let ipo = DpoLoss::new().loss_type(DpoLossType::Ipo).beta(0.5).reduction(Reduction::None);
    let v = ipo.forward(c.view(), r.view(), rc.view(), rr.view(), Some((nc.view(), nr.view()))).unwrap();
    for i in 0..5 {
        let e = (c[i] - rc[i]) / nc[i].max(1.0) - (r[i] - rr[i]) / nr[i] - 1.0;
        assert!((v[i] - e * e).abs() < 1e-12 * (1.0 + e * e));
    }
    // alpha_divergence at α = 1 is reverse KL
    let a1 = none(DpoLoss::new().beta(0.3).f_divergence_type(FDivergence::AlphaDivergence).f_alpha_divergence_coef(1.0));
    assert_eq!(a1, sig);
    // the rewards are β times the log-ratios
    let (cr, rj) = DpoLoss::new().beta(0.3).rewards(c.view(), r.view(), rc.view(), rr.view()).unwrap();
    assert!((cr[0] - 0.3 * (c[0] - rc[0])).abs() < 1e-14 && (rj[4] - 0.3 * (r[4] - rr[4])).abs() < 1e-14);
}

#[test]
fn reductions_agree() {
    let mut rng = Rng::new(3);
    let [c, r, rc, rr] = inputs(&mut rng, 6);
    for lt in DpoLossType::ALL {
        let l = DpoLoss::new().loss_type(*lt).label_smoothing(0.1);
        let none = l.clone().reduction(Reduction::None).forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap();
        let sum = l.clone().reduction(Reduction::Sum).forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap()[[]];
        let mean = l.forward(c.view(), r.view(), rc.view(), rr.view(), None).unwrap()[[]];
        assert!((none.sum() - sum).abs() < 1e-12 * (1.0 + sum.abs()), "{lt}");
        assert!((sum / 6.0 - mean).abs() < 1e-12 * (1.0 + mean.abs()), "{lt}");
    }
}

#[test]
fn dpo_gradients_match_finite_differences() {
    let mut rng = Rng::new(5);
    let [c, r, _, _] = inputs(&mut rng, 4);
    // log-ratios of order 1 (finite differences of alpha_divergence's exponentials stay accurate)
    let (rc, rr) = (&c + &rng.array(&[4], -1.5, 1.5), &r + &rng.array(&[4], -1.5, 1.5));
    let (nc, nr) = (array![3.0f64, 1.0, 2.0, 5.0].into_dyn(), array![2.0f64, 4.0, 1.0, 1.0].into_dyn());
    for lt in DpoLossType::ALL {
        for fd in [FDivergence::ReverseKl, FDivergence::JsDivergence, FDivergence::AlphaDivergence] {
            let l = DpoLoss::new().loss_type(*lt).beta(0.4).label_smoothing(0.2).discopop_tau(0.7).f_divergence_type(fd).reduction(Reduction::None);
            if fd != FDivergence::ReverseKl && l.forward(c.view(), r.view(), rc.view(), rr.view(), None).is_err() {
                continue; // a loss type TRL refuses the f-divergence for
            }
            let up = rng.array(&[4], -1.0, 1.0);
            let lens = Some((nc.view(), nr.view()));
            let g = l.backward(c.view(), r.view(), rc.view(), rr.view(), lens.clone(), up.view()).unwrap();
            let name = format!("{lt} {fd}");
            let all = [&c, &r, &rc, &rr];
            let grads = [g.chosen_logps, g.rejected_logps, g.ref_chosen_logps.unwrap(), g.ref_rejected_logps.unwrap()];
            for (k, gk) in grads.iter().enumerate() {
                check_gradient(&format!("{name} input {k}"), all[k], gk, |x| {
                    let mut v = all.map(|a| a.clone());
                    v[k] = x.clone();
                    dot(&l.forward(v[0].view(), v[1].view(), v[2].view(), v[3].view(), Some((nc.view(), nr.view()))).unwrap(), &up)
                });
            }
        }
    }
}

#[test]
fn cpo_and_orpo() {
    let (c, r) = (array![-0.4f64, -1.3, -0.9].into_dyn(), array![-1.1f64, -0.7, -2.0].into_dyn());
    // simpo at γ = 0 is the sigmoid; AlphaPO's α → 0 tends to the log-probabilities
    let s = CpoLoss::new().beta(0.8).label_smoothing(0.1);
    let a = s.clone().reduction(Reduction::None).forward(c.view(), r.view()).unwrap();
    let b = s.clone().loss_type(CpoLossType::Simpo).simpo_gamma(0.0).reduction(Reduction::None).forward(c.view(), r.view()).unwrap();
    assert_eq!(a, b);
    let t = s.clone().alpha(1e-7).reduction(Reduction::None).forward(c.view(), r.view()).unwrap();
    assert!(a.iter().zip(&t).all(|(x, y)| (x - y).abs() < 1e-6));
    for lt in CpoLossType::ALL {
        for alpha in [0.0, 0.3] {
            let l = CpoLoss::new().loss_type(*lt).beta(0.8).label_smoothing(0.1).simpo_gamma(0.3).alpha(alpha).reduction(Reduction::None);
            let up = array![0.7f64, -1.2, 0.4].into_dyn();
            let g = l.backward(c.view(), r.view(), up.view()).unwrap();
            assert!(g.ref_chosen_logps.is_none());
            check_gradient(&format!("cpo {lt} c"), &c, &g.chosen_logps, |x| dot(&l.forward(x.view(), r.view()).unwrap(), &up));
            check_gradient(&format!("cpo {lt} r"), &r, &g.rejected_logps, |x| dot(&l.forward(c.view(), x.view()).unwrap(), &up));
        }
    }
    // ORPO: β log σ(log odds ratio), by hand
    let o = OddsRatioLoss::new().beta(0.5).reduction(Reduction::None);
    let v = o.forward(c.view(), r.view()).unwrap();
    let odds = |p: f64| p - (1.0 - p.exp()).ln();
    for i in 0..3 {
        let lo = odds(c[i]) - odds(r[i]);
        assert!((v[i] + 0.5 * softplus(-lo)).abs() < 1e-13);
    }
    let (cr, _, ratio, lo) = o.terms(c.view(), r.view()).unwrap();
    assert!((cr[0] - 0.5 * c[0]).abs() < 1e-15 && (ratio[1] * 0.5 - v[1]).abs() < 1e-15 && (lo[2] - (odds(c[2]) - odds(r[2]))).abs() < 1e-12);
    let up = array![0.3f64, 1.1, -0.8].into_dyn();
    let g = o.backward(c.view(), r.view(), up.view()).unwrap();
    check_gradient("orpo c", &c, &g.chosen_logps, |x| dot(&o.forward(x.view(), r.view()).unwrap(), &up));
    check_gradient("orpo r", &r, &g.rejected_logps, |x| dot(&o.forward(c.view(), x.view()).unwrap(), &up));
    // forward_backward agrees with forward and backward of ones
    let (val, g2) = OddsRatioLoss::new().forward_backward(c.view(), r.view()).unwrap();
    assert_eq!(val, OddsRatioLoss::new().forward(c.view(), r.view()).unwrap());
    assert_eq!(g2.chosen_logps, OddsRatioLoss::new().backward(c.view(), r.view(), ArrayD::from_elem(IxDyn(&[]), 1.0).view()).unwrap().chosen_logps);
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(11);
    let [c, r, rc, rr] = inputs(&mut rng, 8);
    let n = |a: &ArrayD<f64>| a.mapv(|v| v as f32);
    let (c32, r32, rc32, rr32) = (n(&c), n(&r), n(&rc), n(&rr));
    let w = |a: &ArrayD<f32>| a.mapv(f64::from);
    for lt in DpoLossType::ALL {
        let l = DpoLoss::new().loss_type(*lt).label_smoothing(0.1).reduction(Reduction::None);
        let (v64, g64) = l.forward_backward(w(&c32).view(), w(&r32).view(), w(&rc32).view(), w(&rr32).view(), None).unwrap();
        let (v32, g32) = l.forward_backward(c32.view(), r32.view(), rc32.view(), rr32.view(), None).unwrap();
        for (a, b) in v32.iter().zip(&v64) {
            assert!((f64::from(*a) - b).abs() <= 1e-6 * (1.0 + b.abs()), "{lt}");
        }
        for (a, b) in g32.chosen_logps.iter().zip(&g64.chosen_logps) {
            assert!((f64::from(*a) - b).abs() <= 1e-6 * (1.0 + b.abs()), "{lt}");
        }
    }
    let (x, y) = (array![-0.5f32, -2.0], array![-1.5f32, -0.25]);
    let v = OddsRatioLoss::new().forward(x.view(), y.view()).unwrap()[[]];
    let v64 = OddsRatioLoss::new().forward(x.mapv(f64::from).view(), y.mapv(f64::from).view()).unwrap()[[]];
    assert!((f64::from(v) - v64).abs() < 1e-7);
}

#[test]
fn empty_batch() {
    let e = ArrayD::<f64>::zeros(IxDyn(&[0]));
    let v = DpoLoss::new().reduction(Reduction::Sum).forward(e.view(), e.view(), e.view(), e.view(), None).unwrap();
    assert_eq!(v[[]], 0.0);
    let v = DpoLoss::new().loss_type(DpoLossType::Aot).forward(e.view(), e.view(), e.view(), e.view(), None).unwrap();
    assert!(v[[]].is_nan()); // the mean of nothing, as torch's
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A KTO batch: `nc` chosen, `nr` rejected (policy, reference) and a KL batch of `nk`.
fn kto_inputs(rng: &mut Rng, nc: usize, nr: usize, nk: usize) -> [ArrayD<f64>; 6] {
    let pc = rng.array(&[nc], -30.0, -5.0);
    let pr = rng.array(&[nr], -30.0, -5.0);
    let pk = rng.array(&[nk], -30.0, -5.0);
    let rc = &pc + &rng.array(&[nc], -2.0, 2.0);
    let rr = &pr + &rng.array(&[nr], -2.0, 2.0);
    let rk = &pk + &rng.array(&[nk], -1.0, 0.5);
    [pc, pr, rc, rr, pk, rk]
}

#[test]
fn kto_errors_name_the_option_or_tensor() {
    let e = "sigmoid".parse::<KtoLossType>().unwrap_err();
    assert_eq!(e.to_string(), "kto_loss: option `loss_type` = sigmoid is invalid: expected one of kto, apo_zero_unpaired");
    let (a, b, m) = (array![-1.0f64, -2.0], array![-1.0f64, -2.0, -3.0], array![[-1.0f64]]);
    let l = KtoLoss::new();
    let e = l.forward(a.view(), b.view(), b.view(), b.view(), Some((a.view(), a.view()))).unwrap_err();
    assert_eq!(e.to_string(), "kto_loss: `reference_chosen_logps` has shape [3], expected [2] (the shape of `policy_chosen_logps`)");
    let e = l.forward(a.view(), b.view(), a.view(), a.view(), Some((a.view(), a.view()))).unwrap_err();
    assert_eq!(e.to_string(), "kto_loss: `reference_rejected_logps` has shape [2], expected [3] (the shape of `policy_rejected_logps`)");
    let e = l.forward(a.view(), b.view(), a.view(), b.view(), Some((a.view(), b.view()))).unwrap_err();
    assert_eq!(e.to_string(), "kto_loss: `reference_KL_logps` has shape [3], expected [2] (the shape of `policy_KL_logps`)");
    let e = l.forward(m.view(), m.view(), m.view(), m.view(), Some((m.view(), m.view()))).unwrap_err();
    assert_eq!(e.to_string(), "kto_loss: `policy_chosen_logps` has shape [1, 1], expected (B,): one log-probability per sequence");
    let e = l.forward(a.view(), b.view(), a.view(), b.view(), None).unwrap_err();
    assert!(matches!(e, LossError::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().starts_with("kto_loss: loss_type kto needs `policy_KL_logps` and `reference_KL_logps`"), "{e}");
    for (o, l) in [("beta", KtoLoss::new().beta(f64::NAN)), ("desirable_weight", KtoLoss::new().desirable_weight(f64::INFINITY)), ("undesirable_weight", KtoLoss::new().undesirable_weight(f64::NEG_INFINITY))] {
        let e = l.forward(a.view(), b.view(), a.view(), b.view(), Some((a.view(), a.view()))).unwrap_err();
        assert!(e.to_string().starts_with(&format!("kto_loss: option `{o}` = ")) && e.to_string().ends_with("expected a finite number"), "{e}");
    }
    // apo_zero_unpaired needs no KL batch, but checks one given
    let apo = KtoLoss::new().loss_type(KtoLossType::ApoZeroUnpaired);
    assert!(apo.forward(a.view(), b.view(), a.view(), b.view(), None).is_ok());
    assert!(apo.forward(a.view(), b.view(), a.view(), b.view(), Some((a.view(), b.view()))).is_err());
    let e = l.backward(a.view(), b.view(), a.view(), b.view(), Some((a.view(), a.view())), array![1.0f64, 1.0].view().into_dyn()).unwrap_err();
    assert!(e.to_string().contains("grad_output"), "{e}");
}

#[test]
fn kto_closed_forms() {
    let mut rng = Rng::new(23);
    let [pc, pr, rc, rr, pk, rk] = kto_inputs(&mut rng, 3, 5, 8);
    let kl = Some((pk.view(), rk.view()));
    let (b, wd, wu) = (0.4, 1.7, 0.6);
    let l = KtoLoss::new().beta(b).desirable_weight(wd).undesirable_weight(wu).reduction(Reduction::None);
    let v = l.forward(pc.view(), pr.view(), rc.view(), rr.view(), kl.clone()).unwrap();
    assert_eq!(v.shape(), &[8]);
    let z = ((&pk - &rk).sum() / 8.0).max(0.0);
    assert!(z > 0.0);
    for i in 0..3 {
        assert!((v[i] - wd * (1.0 - sigmoid(b * ((pc[i] - rc[i]) - z)))).abs() < 1e-14);
    }
    for i in 0..5 {
        assert!((v[3 + i] - wu * (1.0 - sigmoid(b * (z - (pr[i] - rr[i]))))).abs() < 1e-14);
    }
    // the rewards and the KL estimate
    let (cr, rj, k) = l.terms(pc.view(), pr.view(), rc.view(), rr.view(), kl.clone()).unwrap();
    assert!((cr[2] - b * (pc[2] - rc[2])).abs() < 1e-14 && (rj[4] - b * (pr[4] - rr[4])).abs() < 1e-14);
    assert!((k[[]] - z).abs() < 1e-14);
    // a KL batch whose mean log-ratio is negative: clamped to 0, the same as no KL term
    let rk_low = &pk + 0.5;
    let clamped = l.forward(pc.view(), pr.view(), rc.view(), rr.view(), Some((pk.view(), rk_low.view()))).unwrap();
    let (_, _, k0) = l.terms(pc.view(), pr.view(), rc.view(), rr.view(), Some((pk.view(), rk_low.view()))).unwrap();
    assert_eq!(k0[[]], 0.0);
    for i in 0..3 {
        assert!((clamped[i] - wd * (1.0 - sigmoid(b * (pc[i] - rc[i])))).abs() < 1e-14);
    }
    // apo_zero_unpaired: no KL term; its rejected loss σ(βl_r) = 1 − σ(−βl_r), kto's at z = 0
    let apo = l.clone().loss_type(KtoLossType::ApoZeroUnpaired);
    let a = apo.forward(pc.view(), pr.view(), rc.view(), rr.view(), None).unwrap();
    for (x, y) in a.iter().zip(&clamped) {
        assert!((x - y).abs() < 1e-14);
    }
    assert_eq!(apo.terms(pc.view(), pr.view(), rc.view(), rr.view(), None).unwrap().2[[]], 0.0);
    // an empty KL batch: its mean is NaN, and every kto loss with it
    let e = ArrayD::<f64>::zeros(IxDyn(&[0]));
    let v = l.forward(pc.view(), pr.view(), rc.view(), rr.view(), Some((e.view(), e.view()))).unwrap();
    assert!(v.iter().all(|x| x.is_nan()));
}

#[test]
fn kto_sides_of_any_size_and_nan_skipping_reductions() {
    let mut rng = Rng::new(29);
    let [pc, pr, rc, rr, pk, rk] = kto_inputs(&mut rng, 4, 2, 6);
    let kl = || Some((pk.view(), rk.view()));
    let l = KtoLoss::new().beta(0.5);
    let none = l.clone().reduction(Reduction::None).forward(pc.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap();
    let mean = l.forward(pc.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap()[[]];
    let sum = l.clone().reduction(Reduction::Sum).forward(pc.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap()[[]];
    let bm = l.clone().reduction(Reduction::BatchMean).forward(pc.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap()[[]];
    assert!((none.sum() - sum).abs() < 1e-13 && (sum / 6.0 - mean).abs() < 1e-14 && (bm - mean).abs() < 1e-14);
    // an empty side: the other side's losses alone
    let e = ArrayD::<f64>::zeros(IxDyn(&[0]));
    let only_r = l.clone().reduction(Reduction::None).forward(e.view(), pr.view(), e.view(), rr.view(), kl()).unwrap();
    assert_eq!(only_r.as_slice().unwrap(), &none.as_slice().unwrap()[4..]);
    let (_, g) = l.forward_backward(e.view(), pr.view(), e.view(), rr.view(), kl()).unwrap();
    assert_eq!((g.policy_chosen_logps.shape(), g.policy_rejected_logps.shape()), (&[0][..], &[2][..]));
    // both empty: mean NaN (torch's nanmean of nothing), sum 0
    assert!(l.forward(e.view(), e.view(), e.view(), e.view(), kl()).unwrap()[[]].is_nan());
    assert_eq!(l.clone().reduction(Reduction::Sum).forward(e.view(), e.view(), e.view(), e.view(), kl()).unwrap()[[]], 0.0);
    // a NaN log-probability: left out of the mean and the sum; its gradient 0·NaN = NaN, the others finite
    let mut pc_nan = pc.clone();
    pc_nan[1] = f64::NAN;
    let v = l.clone().reduction(Reduction::None).forward(pc_nan.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap();
    assert!(v[1].is_nan());
    let finite: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let (m, g) = l.forward_backward(pc_nan.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap();
    assert!((m[[]] - finite.iter().sum::<f64>() / 5.0).abs() < 1e-14);
    assert!(g.policy_chosen_logps[1].is_nan() && g.reference_chosen_logps[1].is_nan());
    assert!(g.policy_chosen_logps[0].is_finite() && g.policy_rejected_logps.iter().all(|x| x.is_finite()));
    let s = l.clone().reduction(Reduction::Sum).forward(pc_nan.view(), pr.view(), rc.view(), rr.view(), kl()).unwrap()[[]];
    assert!((s - finite.iter().sum::<f64>()).abs() < 1e-13);
}

#[test]
fn kto_gradients_match_finite_differences_and_kl_is_detached() {
    let mut rng = Rng::new(31);
    let [pc, pr, rc, rr, pk, rk] = kto_inputs(&mut rng, 3, 4, 5);
    for lt in KtoLossType::ALL {
        for red in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let l = KtoLoss::new().loss_type(*lt).beta(0.6).desirable_weight(1.4).undesirable_weight(0.8).reduction(red);
            let up = if red == Reduction::None { rng.array(&[7], -1.0, 1.0) } else { ArrayD::from_elem(IxDyn(&[]), 0.7) };
            let g = l.backward(pc.view(), pr.view(), rc.view(), rr.view(), Some((pk.view(), rk.view())), up.view()).unwrap();
            let all = [&pc, &pr, &rc, &rr];
            let grads = [&g.policy_chosen_logps, &g.policy_rejected_logps, &g.reference_chosen_logps, &g.reference_rejected_logps];
            for (k, gk) in grads.iter().enumerate() {
                check_gradient(&format!("kto {lt} {red} input {k}"), all[k], gk, |x| {
                    let mut v = all.map(|a| a.clone());
                    v[k] = x.clone();
                    dot(&l.forward(v[0].view(), v[1].view(), v[2].view(), v[3].view(), Some((pk.view(), rk.view()))).unwrap(), &up)
                });
            }
            // the KL log-probabilities: zeros, of their shape (TRL detaches the estimate)
            assert_eq!(g.policy_kl_logps.unwrap(), ArrayD::zeros(IxDyn(&[5])));
            assert_eq!(g.reference_kl_logps.unwrap(), ArrayD::zeros(IxDyn(&[5])));
        }
    }
    // without a KL batch (apo_zero_unpaired): no KL gradients
    let g = KtoLoss::new().loss_type(KtoLossType::ApoZeroUnpaired).forward_backward(pc.view(), pr.view(), rc.view(), rr.view(), None).unwrap().1;
    assert!(g.policy_kl_logps.is_none() && g.reference_kl_logps.is_none());
}

#[test]
fn kto_f32_agrees_with_f64() {
    let mut rng = Rng::new(37);
    let x = kto_inputs(&mut rng, 5, 3, 8);
    let x32: Vec<ArrayD<f32>> = x.iter().map(|a| a.mapv(|v| v as f32)).collect();
    let x64: Vec<ArrayD<f64>> = x32.iter().map(|a| a.mapv(f64::from)).collect();
    for lt in KtoLossType::ALL {
        let l = KtoLoss::new().loss_type(*lt).beta(0.3).reduction(Reduction::None);
        let (v32, g32) = l.forward_backward(x32[0].view(), x32[1].view(), x32[2].view(), x32[3].view(), Some((x32[4].view(), x32[5].view()))).unwrap();
        let (v64, g64) = l.forward_backward(x64[0].view(), x64[1].view(), x64[2].view(), x64[3].view(), Some((x64[4].view(), x64[5].view()))).unwrap();
        for (a, b) in v32.iter().zip(&v64).chain(g32.policy_rejected_logps.iter().zip(&g64.policy_rejected_logps)) {
            assert!((f64::from(*a) - b).abs() <= 1e-6 * (1.0 + b.abs()), "{lt}");
        }
    }
}
