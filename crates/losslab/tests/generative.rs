//! Generative models' losses: errors with their messages, gradients by finite
//! differences in f64 under every reduction, identities (the GAN kinds' known
//! values, the ELBO as reconstruction + β·KL, the min-SNR weights against
//! compute_snr's float32 arithmetic), f32 against f64. Values against the float64
//! PyTorch programs and diffusers' compute_snr are in the golden suite
//! (crates/losslab-registry/tests/golden/generative.json).

use crate::common;

use common::{check_gradient, dot, Rng};
use losslab::diffusers::{MinSnrLoss, PredictionType};
use losslab::own::{GanDiscriminatorLoss, GanGeneratorLoss, GanKind, GradientPenalty, Likelihood, PenaltyKind, VaeElbo, VaeKl};
use losslab::Reduction;
use ndarray::{array, ArrayD, IxDyn};

fn upstream(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
    if shape.is_empty() {
        ArrayD::from_elem(IxDyn(&[]), 1.3)
    } else {
        rng.array(shape, -1.0, 1.0)
    }
}

#[test]
fn errors_name_the_option_or_tensor() {
    let e = "nonsaturating".parse::<GanKind>().unwrap_err();
    assert_eq!(e.to_string(), "gan_loss: option `kind` = nonsaturating is invalid: expected one of non_saturating, minimax, hinge, least_squares, wasserstein");
    let (a, b) = (array![1.0f64, 2.0], array![1.0f64, 2.0, 3.0]);
    let e = GanDiscriminatorLoss::new().forward(a.view(), b.view()).unwrap_err();
    assert_eq!(e.to_string(), "gan_discriminator_loss: `fake_logits` has shape [3], expected [2] (the shape of `real_logits`)");
    let e = GradientPenalty::new().forward(ndarray::arr0(1.0f64).view()).unwrap_err();
    assert_eq!(e.to_string(), "gradient_penalty: `gradients` has shape [], expected (N, ...) (a batch axis first)");
    let e = GradientPenalty::new().target(f64::NAN).forward(a.view()).unwrap_err();
    assert_eq!(e.to_string(), "gradient_penalty: option `target` = NaN is invalid: expected a finite number");
    let m = array![[0.0f64, 1.0]];
    let e = VaeElbo::new().variance(0.0).forward(m.view(), m.view(), m.view(), m.view()).unwrap_err();
    assert_eq!(e.to_string(), "vae_elbo: option `variance` = 0 is invalid: expected a finite number > 0");
    let z = array![[0.0f64], [1.0]];
    let e = VaeElbo::new().forward(m.view(), m.view(), z.view(), z.view()).unwrap_err();
    assert_eq!(e.to_string(), "vae_elbo: `mu` has shape [2, 1], expected a first axis of 1 (the batch of `reconstruction`)");
    let p = array![[0.0f64, 1.0], [1.0, 0.0]];
    let al = array![0.9f64, 0.5, 0.1];
    let e = MinSnrLoss::new().forward(p.view(), p.view(), array![0i64, 3].view(), al.view()).unwrap_err();
    assert_eq!(e.to_string(), "min_snr_loss: `timesteps` holds 3 at position [1], expected a timestep in [−T, T), T the length of `alphas_cumprod`");
    let e = MinSnrLoss::new().forward(p.view(), p.view(), array![0i64, 1, 2].view(), al.view()).unwrap_err();
    assert_eq!(e.to_string(), "min_snr_loss: `timesteps` has shape [3], expected [2] or [1] (one timestep per sample of `model_pred`)");
}

#[test]
fn gan_kinds_at_known_points() {
    let z = array![0.0f64];
    let g = |k| GanGeneratorLoss::new().kind(k).forward(z.view()).unwrap()[[]];
    assert!((g(GanKind::NonSaturating) - 2f64.ln()).abs() < 1e-15);
    assert!((g(GanKind::Minimax) + 2f64.ln()).abs() < 1e-15);
    assert_eq!(g(GanKind::LeastSquares), 0.5);
    let d = |k| GanDiscriminatorLoss::new().kind(k).forward(z.view(), z.view()).unwrap()[[]];
    assert!((d(GanKind::NonSaturating) - 2.0 * 2f64.ln()).abs() < 1e-15);
    assert_eq!(d(GanKind::Hinge), 2.0);
    assert_eq!(d(GanKind::Wasserstein), 0.0);
    // stable in the tails
    let big = array![-1000.0f64, 1000.0];
    let v = GanGeneratorLoss::new().reduction(Reduction::None).forward(big.view()).unwrap();
    assert_eq!(v, array![1000.0, 0.0].into_dyn());
    let (_, gr) = GanGeneratorLoss::new().kind(GanKind::Minimax).forward_backward(big.view()).unwrap();
    assert!(gr.input.iter().all(|v| v.is_finite()));
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(7);
    let r = rng.array(&[3, 4], -2.0, 2.0);
    let f = rng.array(&[3, 4], -2.0, 2.0);
    for red in Reduction::ALL {
        for &k in GanKind::ALL {
            let gl = GanGeneratorLoss::new().kind(k).reduction(red);
            let go = upstream(&mut rng, gl.forward(f.view()).unwrap().shape());
            let g = gl.backward(f.view(), go.view()).unwrap();
            check_gradient(&format!("gen {k} {red}"), &f, &g.input, |v| dot(&go, &gl.forward(v.view()).unwrap()));
            let dl = GanDiscriminatorLoss::new().kind(k).reduction(red);
            let g = dl.backward(r.view(), f.view(), go.view()).unwrap();
            check_gradient(&format!("disc {k} {red} real"), &r, &g.real_logits, |v| dot(&go, &dl.forward(v.view(), f.view()).unwrap()));
            check_gradient(&format!("disc {k} {red} fake"), &f, &g.fake_logits, |v| dot(&go, &dl.forward(r.view(), v.view()).unwrap()));
        }
        let gp = rng.array(&[3, 2, 2], -1.0, 1.0);
        for &k in PenaltyKind::ALL {
            let l = GradientPenalty::new().kind(k).target(0.7).reduction(red);
            let go = upstream(&mut rng, l.forward(gp.view()).unwrap().shape());
            let g = l.backward(gp.view(), go.view()).unwrap();
            check_gradient(&format!("gp {k} {red}"), &gp, &g.input, |v| dot(&go, &l.forward(v.view()).unwrap()));
        }
        let (mu, lv) = (rng.array(&[3, 2], -1.0, 1.0), rng.array(&[3, 2], -1.0, 1.0));
        let kl = VaeKl::new().reduction(red);
        let go = upstream(&mut rng, kl.forward(mu.view(), lv.view()).unwrap().shape());
        let g = kl.backward(mu.view(), lv.view(), go.view()).unwrap();
        check_gradient(&format!("kl mu {red}"), &mu, &g.mu, |v| dot(&go, &kl.forward(v.view(), lv.view()).unwrap()));
        check_gradient(&format!("kl lv {red}"), &lv, &g.logvar, |v| dot(&go, &kl.forward(mu.view(), v.view()).unwrap()));
        let (xh, x) = (rng.array(&[3, 4], -1.0, 1.0), rng.array(&[3, 4], 0.0, 1.0));
        for &lk in Likelihood::ALL {
            let l = VaeElbo::new().likelihood(lk).variance(0.4).full(true).kl_weight(0.3).reduction(red);
            let g = l.backward(xh.view(), x.view(), mu.view(), lv.view(), go.view()).unwrap();
            let f = |a: &ArrayD<f64>, b: &ArrayD<f64>, c: &ArrayD<f64>, d: &ArrayD<f64>| dot(&go, &l.forward(a.view(), b.view(), c.view(), d.view()).unwrap());
            check_gradient(&format!("elbo {lk} {red} rec"), &xh, &g.reconstruction, |v| f(v, &x, &mu, &lv));
            check_gradient(&format!("elbo {lk} {red} target"), &x, &g.target, |v| f(&xh, v, &mu, &lv));
            check_gradient(&format!("elbo {lk} {red} mu"), &mu, &g.mu, |v| f(&xh, &x, v, &lv));
            check_gradient(&format!("elbo {lk} {red} logvar"), &lv, &g.logvar, |v| f(&xh, &x, &mu, v));
        }
        let (p, y) = (rng.array(&[3, 2, 2], -1.0, 1.0), rng.array(&[3, 2, 2], -1.0, 1.0));
        let (t, al) = (array![0i64, 2, -1], array![0.95f64, 0.7, 0.2, 0.01]);
        for &pt in PredictionType::ALL {
            let l = MinSnrLoss::new().prediction_type(pt).reduction(red);
            let go = upstream(&mut rng, l.forward(p.view(), y.view(), t.view(), al.view()).unwrap().shape());
            let g = l.backward(p.view(), y.view(), t.view(), al.view(), go.view()).unwrap();
            check_gradient(&format!("min_snr {pt} {red}"), &p, &g.input, |v| dot(&go, &l.forward(v.view(), y.view(), t.view(), al.view()).unwrap()));
            check_gradient(&format!("min_snr {pt} {red} target"), &y, g.target.as_ref().unwrap(), |v| dot(&go, &l.forward(p.view(), v.view(), t.view(), al.view()).unwrap()));
        }
    }
}

#[test]
fn elbo_is_reconstruction_plus_beta_kl() {
    let mut rng = Rng::new(8);
    let (xh, x) = (rng.array(&[4, 3], -1.0, 1.0), rng.array(&[4, 3], 0.0, 1.0));
    let (mu, lv) = (rng.array(&[4, 2], -1.0, 1.0), rng.array(&[4, 2], -1.0, 1.0));
    let l = VaeElbo::new().likelihood(Likelihood::Bernoulli).kl_weight(2.5).reduction(Reduction::None);
    let v = l.forward(xh.view(), x.view(), mu.view(), lv.view()).unwrap();
    let (rec, kl) = l.terms(xh.view(), x.view(), mu.view(), lv.view()).unwrap();
    let kl_alone = VaeKl::new().reduction(Reduction::None).forward(mu.view(), lv.view()).unwrap();
    for i in 0..4 {
        assert!((v[i] - (rec[i] + 2.5 * kl[i])).abs() < 1e-14);
        assert!((kl[i] - kl_alone[i]).abs() < 1e-15);
    }
    // KL is 0 exactly at the prior
    let z = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    assert_eq!(VaeKl::new().forward(z.view(), z.view()).unwrap()[[]], 0.0);
}

#[test]
fn min_snr_weights_are_compute_snrs_float32_arithmetic() {
    let p = ArrayD::<f64>::zeros(IxDyn(&[3, 2]));
    let al = array![0.9999f64, 0.5, 0.001];
    let t = array![0i64, 1, 2];
    for &pt in PredictionType::ALL {
        let (snr, w) = MinSnrLoss::new().prediction_type(pt).weights(p.view(), p.view(), t.view(), al.view()).unwrap();
        for (k, &a) in al.iter().enumerate() {
            let r = (a.sqrt() as f32) / ((1.0 - a).sqrt() as f32);
            assert_eq!(snr[k], r * r);
            let m = snr[k].min(5.0);
            let want = match pt {
                PredictionType::Epsilon => m / snr[k],
                PredictionType::VPrediction => m / (snr[k] + 1.0),
                PredictionType::Sample => m,
            };
            assert_eq!(w[k], want, "{pt} {k}");
        }
    }
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = Rng::new(9);
    let f = rng.array(&[5, 3], -3.0, 3.0).mapv(|v| v as f32);
    let f64_ = f.mapv(f64::from);
    for &k in GanKind::ALL {
        let a = GanGeneratorLoss::new().kind(k).forward(f64_.view()).unwrap()[[]];
        let b = GanGeneratorLoss::new().kind(k).forward(f.view()).unwrap()[[]];
        assert!((f64::from(b) - a).abs() <= 1e-6 * (1.0 + a.abs()), "{k}");
    }
    let a = GradientPenalty::new().forward(f64_.view()).unwrap()[[]];
    let b = GradientPenalty::new().forward(f.view()).unwrap()[[]];
    assert!((f64::from(b) - a).abs() <= 1e-6 * a.abs());
    let a = VaeKl::new().forward(f64_.view(), f64_.view()).unwrap()[[]];
    let b = VaeKl::new().forward(f.view(), f.view()).unwrap()[[]];
    assert!((f64::from(b) - a).abs() <= 1e-6 * a.abs());
}
