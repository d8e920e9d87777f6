//! A few steps of SGD (with momentum) on a small MLP: losslab's cross entropy
//! and burn's `CrossEntropyLoss` give the same parameters, to float tolerance.

mod common;

use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{DType, Device, Tensor};
use common::{assert_close, classes, float, ints, numbers, values};

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    activation: Relu,
    output: Linear,
}

fn linear(d_in: usize, d_out: usize, seed: u64, dtype: DType, device: &Device) -> Linear {
    let k = 1.0 / (d_in as f64).sqrt();
    Linear {
        weight: Param::from_tensor(float(&numbers(d_in * d_out, seed, k), [d_in, d_out], dtype, device)),
        bias: Some(Param::from_tensor(float(&numbers(d_out, seed + 1, k), [d_out], dtype, device))),
    }
}

impl Mlp {
    fn new(dtype: DType, device: &Device) -> Self {
        Mlp { hidden: linear(6, 8, 1, dtype, device), activation: Relu::new(), output: linear(8, 4, 3, dtype, device) }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.activation.forward(self.hidden.forward(x)))
    }

    fn parameters(&self) -> Vec<f64> {
        let mut all = values(self.hidden.weight.val());
        all.extend(values(self.hidden.bias.as_ref().unwrap().val()));
        all.extend(values(self.output.weight.val()));
        all.extend(values(self.output.bias.as_ref().unwrap().val()));
        all
    }
}

fn train(ours: bool, dtype: DType, steps: usize) -> (Vec<f64>, Vec<f64>) {
    let device = losslab_burn::device();
    let mut model = Mlp::new(dtype, &device);
    let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init();
    let ce = CrossEntropyLossConfig::new().init(&device);
    let mut losses = Vec::new();
    for step in 0..steps as u64 {
        let x = float(&numbers(16 * 6, 100 + step, 2.0), [16, 6], dtype, &device);
        let y = ints(&classes(16, 4, 200 + step), [16], &device);
        let logits = model.forward(x);
        let loss: Tensor<1> = if ours {
            losslab_burn::cross_entropy(logits, y, &losslab_burn::CrossEntropyOptions::default()).unwrap()
        } else {
            ce.forward(logits, y)
        };
        losses.extend(values(loss.clone()));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.1, model, grads);
    }
    (model.parameters(), losses)
}

#[test]
fn sgd_steps_give_burns_parameters() {
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let (p_ours, l_ours) = train(true, dtype, 8);
        let (p_theirs, l_theirs) = train(false, dtype, 8);
        assert_close(&l_ours, &l_theirs, tol, "losses");
        assert_close(&p_ours, &p_theirs, tol, "parameters");
        let (p0, _) = train(true, dtype, 0);
        assert!(p0.iter().zip(&p_ours).any(|(a, b)| (a - b).abs() > 1e-3), "the parameters moved");
    }
}
