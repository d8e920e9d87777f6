# The lab's messages in English: `losslab info`, `explain`, `report` and the
# page of `losslab serve`. Each message has the same id and the same
# placeables in locales/zh/lab.ftl (a test checks it). Numbers arrive as text,
# formatted by the code. One message per line.

## info

info-unit-bits = bits
info-unit-nats = nats
info-note-normalised = note: { $flag } sums to { $sum }, normalised to { $list }
info-p-is-truth = (the true distribution)
info-q-is-prediction = (the prediction)
info-unit = unit: { $unit } (log = { $log })
info-self-information = Self-information I(x) = −log p(x): the rarer an outcome, the more its occurrence tells.
info-outcome = outcome
info-zero-probability = (I = ∞ for an outcome of probability 0: it never happens, and would be infinitely surprising.)
info-entropy = Entropy H = −Σ p log p, the expected self-information (0·log 0 = 0):
info-entropy-max = (at most log n = { $max } for n = { $n } outcomes)
info-give-q = Give --q too for cross entropy, KL and JS divergences.
info-cross-entropy = Cross entropy H(p, q) = −Σ p log q: the cost of coding p's outcomes with q's code.
info-kl = Kullback-Leibler divergence KL(p‖q) = Σ p log(p/q): the extra cost; 0 only when q = p.
info-kl-not-symmetric = (KL is not symmetric)
info-kl-not-symmetric-equal = (KL is not symmetric, though equal here)
info-zero-conventions = Zero conventions: 0·log(0/0) = 0, 0·log(0/q) = 0, p·log(p/0) = ∞.
info-outcome-p-zero = outcome { $i }: p = 0, so it adds 0 to KL(p‖q) whatever q says (0·log(0/q) = 0); in KL(q‖p) q gives it { $q } where p gives 0, so q·log(q/0) = ∞.
info-outcome-q-zero = outcome { $i }: q = 0 where p = { $p }: the prediction rules out what can happen, so p·log(p/0) = ∞ and KL(p‖q) = ∞ (and H(p, q) = ∞).
info-outcome-both-zero = outcome { $i }: p = q = 0, it adds 0 to both (0·log(0/0) = 0).
info-kl-pq-infinite = KL(p‖q) is infinite: q gives probability 0 to an outcome p says can happen.
info-kl-qp-infinite = KL(q‖p) is infinite: p gives probability 0 to an outcome q says can happen.
info-js = Jensen-Shannon divergence JS = ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q): symmetric and finite.
info-js-max = (at most { $max } { $unit })

## explain entropy

explain-entropy-title = ENTROPY AND CROSS ENTROPY (the article's question 1)
explain-entropy-self-information = Self-information I(x) = −log p(x): the rarer an event, the more its occurrence tells.
explain-entropy-entropy = Entropy H(X) = −Σ p log p: the expected self-information, the uncertainty of the system.
explain-entropy-binary = A 0-1 event with probability p has H = −[p log p + (1 − p) log(1 − p)]:
explain-entropy-maximal = Maximal (1 bit) at p = 0.5, where nothing is known in advance; 0 at p = 0 or 1, where the outcome is certain.
explain-entropy-uniform = A uniform choice among 4 outcomes: H = { $h } bits; among n: log₂ n.
explain-entropy-kl = Relative entropy (KL divergence) KL(p‖q) = Σ p log(p/q): how far the prediction q is from the truth p.
explain-entropy-example = The article's example, truth p = (1, 0, 0), prediction q = (0.7, 0.2, 0.1), in nats:
explain-entropy-kl-zero-terms = = −ln 0.7; the zero terms are 0 by convention
explain-entropy-kl-reverse = q gives mass to outcomes p rules out (q·log(q/0) = ∞). KL is not symmetric.
explain-entropy-conventions = Conventions: 0·log(0/0) = 0, 0·log(0/q) = 0, p·log(p/0) = ∞. KL ≥ 0, and 0 only when q = p.
explain-entropy-cross-entropy = Cross entropy H(p, q) = −Σ p log q = H(p) + KL(p‖q).
explain-entropy-ce-here = Here H(p) = 0 (a one-hot truth is certain), so H(p, q) = KL(p‖q) = { $ce }.
explain-entropy-ce-is-kl = With the truth fixed, H(p) is a constant: minimising cross entropy is minimising KL.
explain-entropy-ce-one-hot = For a one-hot truth it is −log q(true class): the classification loss of question 2.
explain-entropy-try = Try: losslab info --p 1,0,0 --q 0.7,0.2,0.1   (or any p and q; --bits for bits)

## explain cross-entropy

explain-ce-title = CROSS-ENTROPY LOSS, STEP BY STEP (the article's question 2)
explain-ce-batch = A batch of { $n } example(s), { $c } classes. The last layer outputs one logit (confidence, wx + b) per class.
explain-ce-example = Example { $i } (true class { $t }):
explain-ce-sums-to-one = sums to 1
explain-ce-batch-mean = batch mean
explain-ce-torch-same = (torch.nn.functional.cross_entropy(z, target) gives the same: the softmax and the log are fused as log_softmax(z) = z − logsumexp(z),
explain-ce-fused = which never takes the log of an underflowed 0.)
explain-ce-gradient = gradient
explain-ce-example-word = example
explain-ce-backward-gives = losslab's backward gives { $g }
explain-ce-largest-difference = largest difference: { $d }
explain-ce-push = The gradient pushes the true class's logit up by 1 − p (the more wrong, the harder) and every other logit down by its probability; it vanishes only when p(true) = 1.

## explain mse-vs-ce

explain-mse-title = WHY NOT MSE FOR CLASSIFICATION? (the article's question 3)
explain-mse-setup = Two classes, logits (0, s), true class 0, so p = p(true) = 1 / (1 + e^s). Per example:
explain-mse-ce-line = cross entropy   CE  = −ln p                 ∂CE/∂z  = p − y            ‖·‖ = √2 (1 − p)
explain-mse-mse-line = MSE on softmax  MSE = Σ (pⱼ − yⱼ)² = 2(1−p)²  ∂MSE/∂z = J_softmax · 2(p − y)  ‖·‖ = 4√2 p (1 − p)²
explain-mse-confidently-wrong = When the model is confidently wrong (p(true) → 0), cross entropy's loss and gradient are largest: it corrects the worst mistakes fastest. MSE's loss is bounded by 2 and its gradient goes to 0 with p: the softmax saturates, its Jacobian diag(p) − p pᵀ → 0, and learning stalls exactly on the examples that need it most.
explain-mse-convexity = Convexity in the logit s (second differences, h = 1e-3):
explain-mse-non-convex = CE'' > 0 everywhere (convex in the logits); MSE'' changes sign: non-convex, with flat regions.
explain-mse-report = `losslab report` trains the same classifier on handwritten digits with both losses.

## explain dense-vs-sparse

explain-ds-title = TENSORFLOW'S DENSE AND SPARSE SOFTMAX CROSS ENTROPY (the article's question 4)
explain-ds-sparse = one integer class per example,
explain-ds-sparse-shape = labels shape (N,). The usual case: exactly one right class, and no one-hot matrix to build.
explain-ds-dense = a probability per class per example,
explain-ds-dense-shape = labels shape (N, C): one-hot, or soft (label smoothing, distillation, mixup, ambiguous labels).
explain-ds-agree = On one-hot labels they agree:
explain-ds-only-dense = Only the dense one takes soft labels. Label smoothing ε = { $eps }: y = (1 − ε)·one_hot + ε/C:
explain-ds-sparse-cannot = The sparse one cannot express this: its labels are class indices.
explain-ds-label-smoothing-option = (Since Keras and PyTorch ≥ 1.10, a `label_smoothing` option computes the same from indices.)
explain-ds-raw-logits = Both want raw logits: they apply the softmax themselves. Given softmax output instead,
explain-ds-second-softmax = they apply a second softmax to numbers in [0, 1], which squashes every prediction towards uniform:
explain-ds-probabilities = probabilities
explain-ds-right = right
explain-ds-wrong = wrong
explain-ds-pulled = (both pulled towards ln 3 = { $ln3 }, the loss of a uniform guess)
explain-ds-gradient-norm = gradient norm: right { $right }, wrong { $wrong } (and the extra softmax's Jacobian sits between it and the model)
explain-ds-floor = The loss can never go below −ln(e / (e + C − 1)) = { $floor } for C = 3, however confident the model: the bug trains, badly, and raises no error.

## explain l1-l2-smooth-l1

explain-reg-title = L2, L1, SMOOTH L1 AND HUBER (the article's question 5)
explain-reg-setup = Loss ℓ(r) and gradient ∂ℓ/∂r of one residual r = prediction − target:
explain-reg-gradient = gradient
explain-reg-l2 = L2: smooth, and its gradient 2r shrinks as the fit improves (fine steps near the optimum); but an outlier with r = 10 pulls 20 times harder than r = 0.5: outliers dominate the fit.
explain-reg-l1 = L1: every point pulls with the same force ±1, so outliers cannot dominate (the median is robust); but the gradient does not shrink near the optimum (it oscillates around it unless the learning rate decays), and it is undefined at r = 0 (PyTorch and losslab use 0 there).
explain-reg-smooth-l1 = Smooth L1 = L2 near 0 (r²/2β for |r| < β) and L1 far away (|r| − β/2): the small gradient near the optimum and the bounded pull of outliers. Fast R-CNN uses it for box regression: early in training the boxes are far off and L2's gradients would explode.
explain-reg-huber = Huber(δ) = δ · SmoothL1(β = δ): the same shape, with slope δ instead of 1 far away.
explain-reg-report = `losslab report` fits a line to the diabetes data with injected outliers under all four, and shows L1 oscillating at a fixed learning rate.

## explain catalog (the families of losses; also the table of the report's question 6)

explain-catalog-title = LOSSES USED IN PRACTICE (the article's question 6)
explain-catalog-now = In losslab's catalog now (`losslab list` for arguments and defaults):
family-softmax-ce = cross entropy (softmax)
family-softmax-ce-when = multi-class classification, one label per example; with label smoothing against overconfidence
family-bce = binary cross entropy
family-bce-when = two classes, or several independent labels per example (multi-label); pos_weight for imbalance
family-focal = focal loss
family-focal-when = dense detection with extreme class imbalance: down-weights the easy, well-classified examples
family-hinge = hinge / margin losses
family-hinge-when = max-margin classifiers (SVMs); a loss of 0 once the margin is large enough
family-kl = KL divergence
family-kl-when = matching a whole distribution: distillation (teacher → student), VAEs, policy constraints
family-mse = MSE (L2)
family-mse-when = regression with Gaussian-like noise and no outliers; smooth and fast near the optimum
family-l1 = L1 (MAE)
family-l1-when = regression robust to outliers (fits the median); constant gradient
family-smooth-l1 = Smooth L1 / Huber
family-smooth-l1-when = robust regression that stays smooth near 0: box regression in detectors
family-log-cosh = log-cosh, quantile
family-log-cosh-when = smooth robust regression; quantile (pinball) loss for prediction intervals
family-nll = Poisson / Gaussian NLL
family-nll-when = counts; regression that also predicts its own uncertainty
family-iou = IoU, GIoU, DIoU, CIoU
family-iou-when = bounding boxes: optimise the overlap metric itself, scale-invariant
family-dice = Dice, Tversky, Jaccard
family-dice-when = segmentation with small foreground regions, where pixel-wise CE is swamped by background
family-triplet = triplet, contrastive
family-triplet-when = metric learning: embeddings where similar items are close (faces, retrieval)
family-infonce = InfoNCE
family-infonce-when = self-supervised and multimodal contrastive learning (SimCLR, CLIP): pick the positive among negatives
family-ctc = CTC
family-ctc-when = sequence labelling without alignment: speech and handwriting recognition
family-preference = preference optimisation (trl: dpo_loss, cpo_loss, odds_ratio_loss, kto_loss)
family-preference-when = aligning a language model with human preferences from pairs (chosen, rejected) or thumbs up/down, without a reward model or reinforcement learning
family-policy-gradient = policy-gradient objectives (trl:grpo_loss, losslab:ppo_clip_loss)
family-policy-gradient-when = reinforcement learning of a policy (RLHF, reasoning with verifiable rewards): clipped ratios keep each update close to the policy that sampled the data
family-distillation = distillation (trl:generalized_jsd_loss, losslab:distillation_kl, losslab:sequence_log_probs)
family-distillation-when = training a small student to match a large teacher's whole distribution over classes or tokens, not only its top answer
family-clip = contrastive pretraining (open_clip:clip_loss, siglip_loss)
family-clip-when = learning image and text embeddings from matching pairs: CLIP's softmax over the batch, or SigLIP's pairwise sigmoid for large or sharded batches
family-metric-learning = metric learning (pml: arc_face, cos_face, sphere_face, sup_con, circle, multi_similarity, lifted_structure, n_pairs)
family-metric-learning-when = embeddings for recognition and retrieval (faces, products, speakers): angular margins separate identities, pair-based losses mine hard positives and negatives
family-transducer = transducers (torchaudio:rnnt_loss)
family-transducer-when = streaming speech recognition: like CTC without alignment, but the output at each step also depends on the previous outputs
family-large-vocabulary = large vocabularies (torch:adaptive_log_softmax_with_loss, tf:sampled_softmax_loss, tf:nce_loss)
family-large-vocabulary-when = language models and recommenders with hundreds of thousands of classes: a cheaper softmax for training (sampled, or by frequency clusters)
family-generative = generative models (GAN losses, gradient penalty, VAE KL and ELBO, diffusers:min_snr_loss)
family-generative-when = GANs (adversarial losses, with a gradient penalty for a stable critic), VAEs (reconstruction plus KL to the prior) and diffusion models (noise prediction weighted by the signal-to-noise ratio)

## figures of losses along an axis (report, plot)

axis-residual-label = residual r = input − target
axis-margin-label = margin m = logit of the true class (target 1)
axis-probability-label = predicted probability p of the true class
axis-residual = residual
axis-margin = margin
axis-probability = probability
curve-loss-title = loss
curve-gradient-title = gradient ∂loss/∂x
curve-loss = loss
curve-gradient = gradient

## the page of `losslab serve` (page.html reads them as T.<name>)

page-title = losslab: play with the losses
page-intro = Move a control: every value and gradient below is computed by losslab's registry on this machine (POST /api/eval), the same numbers <code>losslab eval</code> prints.
page-other_language = 中文
page-class = class
page-logit = logit z
page-true_class = true class
page-probability = softmax p
page-loss = loss
page-gradient = gradient
page-value = value
page-ce_title = Cross entropy and MSE on the same softmax
page-ce_text = Three logits go through a softmax. Cross entropy takes −log p of the true class; MSE takes Σ (p − y)² against the one-hot target. Drag the true class's logit far below the others (a confidently wrong prediction): cross entropy's gradient stays large, MSE's vanishes, because it passes through the softmax's saturating Jacobian.
page-ce_name = cross entropy
page-mse_name = MSE on softmax
page-ce_curve = each loss as the true class's logit moves (the other logits fixed)
page-grad_curve = gradient norm ‖∂loss/∂z‖ against p(true class)
page-grad_note = MSE's gradient with respect to the logits is its gradient with respect to p, from the registry, through the softmax Jacobian: p ⊙ (g − Σ g·p).
page-ds_title = TensorFlow's dense and sparse softmax cross entropy
page-ds_text = softmax_cross_entropy_with_logits takes a distribution per example (one-hot, or smoothed); sparse_softmax_cross_entropy_with_logits takes the class index. On a one-hot target they are the same loss; only the dense form can take label smoothing.
page-smoothing = label smoothing ε
page-dense_name = dense (labels: distribution)
page-sparse_name = sparse (labels: class index)
page-ds_equal = equal: the sparse form is the dense form on a one-hot target
page-ds_smoothed = they differ: the sparse form cannot express a smoothed target
page-reg_title = L1, L2, Smooth L1 and Huber against the residual
page-reg_text = L2's gradient grows with the residual (an outlier pulls hard); L1's has the same size everywhere, even next to the optimum, so a fixed learning rate overshoots it; Smooth L1 (β) and Huber (δ) are quadratic near 0 and linear beyond: a gradient that shrinks as the fit improves, and a bounded pull from outliers.
page-residual = residual (input − target)
page-beta = β (Smooth L1) = δ (Huber)
page-prob_title = A prediction's probability
page-prob_text = Binary cross entropy −log p punishes a confident mistake without bound (its gradient −1/p explodes as p → 0); the squared error (1 − p)² never exceeds 1.
page-predicted = predicted probability of the true label p
page-bce_name = binary cross entropy
page-sq_name = squared error
page-error = error
page-footer = Served by <code>losslab serve</code> on 127.0.0.1 only; the page loads nothing from the network.

## report: the page, its header and the terminal

report-title = losslab: understanding loss in deep learning
report-other-language = 中文
report-h1 = Understanding loss in deep learning: six questions, answered with evidence
report-quick = {" "}in quick mode (fewer epochs, a smaller training set)
report-intro = Made by <code>losslab report</code>{ $quick }: every number and figure below was computed when the page was made, by the losslab library's own losses and gradients. The data are scikit-learn's handwritten digits and diabetes data, shipped in the repository (<code>data/README.md</code> gives their sources and licences).
report-made-in = Made in { $secs } s by losslab { $version }.
report-wrote = wrote { $first } and { $second } ({ $secs } s)
report-progress-q1 = Q1 entropy
report-progress-q2 = Q2 cross-entropy pipeline
report-progress-q3 = Q3 digits: CE vs MSE
report-progress-q4 = Q4 dense/sparse, smoothing
report-progress-q5 = Q5 robust regression
report-progress-q6 = Q6 gallery
report-ce = cross entropy
report-mse-on-softmax = MSE on softmax
report-epoch = epoch
report-epoch-n = epoch { $e }
report-start = start
report-step = step
report-accuracy = accuracy

## report, question 1

report-q1-title = What do entropy and cross entropy mean?
report-q1-intro = Self-information <i>I(x) = −log p(x)</i>; entropy <i>H = −Σ p log p</i>, its expectation; KL divergence <i>KL(p‖q) = Σ p log(p/q)</i>; cross entropy <i>H(p, q) = H(p) + KL(p‖q)</i>. The article's example, truth p = (1, 0, 0) and prediction q = (0.7, 0.2, 0.1), in nats:
report-q1-kl = KL(p‖q) = H(p, q) = −ln 0.7 = { $kl } because H(p) = 0; KL(q‖p) = ∞ because q gives probability to outcomes p rules out (q·log(q/0) = ∞): KL is not symmetric. Try <code>losslab info --p … --q …</code>.
report-fig1-title = binary entropy H(p) in bits
report-fig1-caption = Figure 1. The entropy of a 0-1 event with probability p: 1 bit at p = 0.5 (maximal uncertainty), 0 at p = 0 and 1 (a certain outcome); H(0.1) = H(0.9) = { $h } bits.

## report, question 2

report-q2-title = How is the cross-entropy loss used?
report-pipe-logits = logits z
report-pipe-softmax = softmax p
report-pipe-nll = −log p of the true class
report-pipe-mean = batch mean
report-pipe-forward = forward
report-pipe-backward = backward: the gradient of L
report-pipe-example = example
report-pipe-true-class = true class
report-fig2a-caption = Figure 2a. The pipeline on the worked example (two examples, three classes, 4 decimals shown). Forward, left to right: the logits, their softmax, −ln of the true class's probability, the mean L = { $loss }. Backward, right to left: ∂L/∂L = 1; each example's loss gets 1/N; the true class's probability gets −1/(N·p), the more so the smaller p; through the softmax that becomes (p − one-hot)/N at the logits: the true logit is pushed up by (1 − p)/N, every other logit down by p/N.
report-q2-steps = Logits → softmax → −log p of the true class → mean over the batch; the gradient is softmax − one-hot (divided by the batch size). Step by step on two examples (<code>losslab explain cross-entropy</code>):

## report, question 3

report-q3-title = Why can't MSE replace cross entropy for classification?
report-fig2-loss-title = training loss (each under its own objective)
report-fig2-acc-title = test accuracy
report-fig2-caption = Figure 2. Softmax regression (64 pixels → 10 classes) on { $train } training digits, { $test } test digits, from the same initial weights (seed { $seed }), minibatches of { $batch }, learning rate { $lr }. Test accuracy after 1 epoch: cross entropy { $ce1 }, MSE { $mse1 }; after { $epochs } epochs: cross entropy { $ce }, MSE { $mse }.
report-fig3-title = gradient magnitude ‖∂loss/∂logits‖ against p(true class)
report-fig3-x = predicted probability of the true class
report-fig3-y = gradient norm
report-fig3-ce-slice = CE, two-class slice
report-fig3-mse-slice = MSE, two-class slice
report-fig3-ce-digits = CE, test digits
report-fig3-mse-digits = MSE, test digits
report-fig3-caption = Figure 3. Lines: two classes with logits (0, s); CE's gradient norm is √2(1 − p), MSE's 4√2·p(1 − p)². At p = 0.01 (confidently wrong) CE's is { $ce } and MSE's { $mse }, { $ratio } times smaller. Dots: the { $n } test digits under the cross-entropy model after one epoch, each loss's per-example gradient; among the { $low } digits with p(true) &lt; 0.1 the mean gradient norm is { $ce_low } for CE and { $mse_low } for MSE.
report-q3-why = After a softmax, MSE's gradient carries the softmax Jacobian diag(p) − ppᵀ, which vanishes when the prediction saturates, right or wrong: a confidently wrong example barely moves the weights, while cross entropy's gradient p − y is largest exactly there. MSE is also bounded (at most 2 per example) and non-convex in the logits (<code>losslab explain mse-vs-ce</code>). Test accuracy of the final models: cross entropy { $ce }, MSE { $mse }.
report-q3-decisive-title = The decisive experiment: a network that is sure of the wrong answer
report-q3-decisive-setup = Above, both losses start from small random weights, where every prediction is near uniform and MSE's gradient is not yet small: MSE only lags. The difference becomes decisive when the network is <i>confidently wrong</i>, as after a bad initialisation, a shift in the data or noisy labels. To build that start, the classifier is trained with cross entropy for 2 epochs, then each class's weights are moved to the next class (0 → 1, …, 9 → 0) and multiplied by 3: the network now answers <i>c + 1</i> with high confidence for a digit <i>c</i>. From that same start, the same network is trained with each loss ({ $epochs } epochs, the settings above), for { $seeds } seeds (each seed changes the initial weights, the pre-training and the minibatch order).
report-q3-table-head = test accuracy: mean (min–max) over seeds
report-fig3b-left-title = test accuracy from the confidently wrong start, every seed
report-fig3b-right-title = at the start (seed { $seed }): gradient norm per training digit
report-fig3b-right-x = log₁₀ p(true class)
report-fig3b-caption = Figure 3b. Left: test accuracy from the confidently wrong start, one line per seed and loss. Right: at the start, each training digit's probability of its true class (median { $median_p } for seed { $seed }) and each loss's gradient norm with respect to the logits; on the { $low } of { $n } digits with p(true) &lt; 0.01, MSE's gradient is a median { $ratio } of cross entropy's.
report-q3-shows = <b>What it shows.</b> From the same confidently wrong start, cross entropy recovers on every seed ({ $ce } test accuracy after { $epochs } epochs) while MSE on the softmax stalls on every seed ({ $mse }). The right panel says why: cross entropy's gradient on a confidently wrong example is about √2·(1 − p) ≈ 1.4, the largest it can be, so those examples drive the update; MSE's passes through the softmax Jacobian diag(p) − ppᵀ, which is near 0 when the softmax is saturated, so the examples that most need correcting barely move the weights. The spread over seeds is small beside the gap: it is not luck.

## report, question 4

report-q4-title = TensorFlow's softmax_cross_entropy_with_logits vs sparse_softmax_cross_entropy_with_logits
report-q4-smoothing = Label smoothing (ε = 0.1, the dense form: targets (1 − ε)·one-hot + ε/10) on the same classifier, same seed and settings, evaluated on the test digits:
report-q4-targets = training targets
report-q4-confidence = mean confidence
report-q4-nll = test NLL
report-q4-ece = ECE (10 bins)
report-q4-one-hot = one-hot (ε = 0)
report-q4-smoothed = smoothed (ε = 0.1)
report-fig4-title = reliability: accuracy against confidence
report-fig4-x = confidence (largest predicted probability)
report-fig4-y = accuracy in the bin
report-fig4-perfect = perfect calibration
report-fig4-caption = Figure 4. Reliability diagram on the { $n } test digits (10 equal-width confidence bins, empty bins left out). Mean confidence { $conf0 } vs accuracy { $acc0 } without smoothing; { $conf1 } vs { $acc1 } with ε = 0.1. Smoothing caps the confidence a model is rewarded for (the optimum puts 1 − ε + ε/10 = 0.91 on the true class), so it lowers confidence; whether that improves calibration depends on whether the model was over- or under-confident to begin with, as the ECE column shows.

## report, question 5

report-q5-title = L2 vs L1, and why Smooth L1
report-q5-clean-fit = least squares on the clean data (reference)
report-q5-corrupted-fit = { $fit } on the corrupted data
report-q5-setup = Disease progression against body mass index for the { $n } patients of the diabetes data. To imitate a data-entry error, the targets of the 22 patients (5%) with the highest BMI are divided by 10 (a dropped digit). A line is fitted to the corrupted data under each loss, by gradient descent on standardised data ({ $iters } steps, losses and gradients from losslab; Smooth L1 and Huber act at 1 standard deviation of the target, { $sd }). Errors are measured against the true targets of all patients.
report-q5-fit = fit
report-q5-slope = slope (per BMI unit)
report-q5-intercept = intercept
report-q5-mae = MAE vs true targets
report-q5-rmse = RMSE vs true targets
report-fig5-patients = patients
report-fig5-corrupted = corrupted targets
report-fig5-clean-ls = clean least squares
report-fig5-title = lines fitted to the corrupted diabetes data
report-fig5-x = body mass index
report-fig5-y = disease progression
report-fig5-caption = Figure 5. Black dots: the 22 corrupted targets. The clean least-squares slope is { $clean }; on the corrupted data L2's slope is { $l2 }, L1's { $l1 }, Smooth L1's { $smooth }, Huber's { $huber }.
report-fig6-caption = Figure 6. Each loss and its gradient against the residual (Smooth L1 with β = 1 and Huber with δ = 1 coincide). Near 0, L2, Smooth L1 and Huber have gradients that shrink with the residual; L1's stays ±1. Far away, L2's gradient grows without bound while the others stay at ±1: an outlier at r = 10 pulls 10 times harder under L2 than under Smooth L1.
report-q5-loss = loss
report-q5-grad-01 = gradient at r = 0.1
report-q5-grad-1 = at r = 1
report-q5-grad-10 = at r = 10
report-q5-outliers-show = <b>What the outlier experiment shows.</b> L2 squares the residuals, so the 5% corrupted targets drag the whole line. L1 is the most robust here: its fit has the lowest MAE against the true targets, because every point pulls with the same force ±1 and the line follows the median. On outliers alone, L1 wins. Its weakness is elsewhere: the same constant-size gradient.
report-q5-l1-title = Why detectors moved from L1 to Smooth L1: the fit near the optimum
report-fig6b-theta-title = the parameter θ over the steps (target { $t }, learning rate { $lr })
report-fig6b-loss-title = the loss over the steps
report-fig6b-caption = Figure 6b. One box coordinate θ regressed to its ground truth { $t } from { $from }, by gradient descent at the fixed learning rate { $lr }, under each loss (Smooth L1 with β = 1 and Huber with δ = 1 coincide). Over the last 10 steps θ moves by { $l1 } under L1, { $l2 } under L2, { $smooth } under Smooth L1 and { $huber } under Huber.
report-fig6c-title = a line fitted to the clean diabetes data at a fixed learning rate (0.5)
report-fig6c-y = log₁₀ size of the step
report-fig6c-caption = Figure 6c. The same four losses fitting the line to the { $n } clean patients (standardised), full batch, learning rate 0.5, { $steps } steps: the size of each step ‖(Δa, Δb)‖. After { $steps } steps it is { $l2 } under L2, { $smooth } under Smooth L1, { $huber } under Huber, and { $l1 } under L1.
report-q5-l1-shows = <b>What it shows.</b> L1's gradient has the same size however close the fit is, so at a fixed learning rate it never settles: θ jumps across the target and back by one full step forever (Figure 6b), and the line keeps moving by steps that do not shrink (Figure 6c); only a decaying learning rate stops it, and it is undefined at 0. L2 and Smooth L1 settle: their gradients shrink with the residual, so the steps shrink geometrically. That is why Fast R-CNN replaced L2 with Smooth L1 for box regression (the outlier experiment above: L2's pull grows with the error) rather than with L1 (this experiment): Smooth L1 is L2 near the optimum and L1 far from it (<code>losslab explain l1-l2-smooth-l1</code>).

## report, question 6

report-q6-title = Other losses used in practice
report-q6-family = family
report-q6-when = when to use it
report-q6-gallery = The gallery: every loss of losslab's catalog that is element-wise in one prediction, drawn with its gradient against its natural axis (the one-line summaries come from the catalog, in English).
report-q6-at = Against the { $axis }; at { $axis } = { $x }: loss { $loss }, gradient { $grad }.
report-q6-not-drawn = Not drawn (they take class indices, whole distributions or several tensors): { $names }.
report-q6-today = <b>Three of today's families, drawn.</b> A curve explains each (Figures 7–9), every value computed by the registry as <code>losslab eval</code> computes it.
report-fig7-title = trl:dpo_loss of one pair against its reward margin, for each loss_type
report-fig7-x = implicit reward margin h = β·Δ
report-fig7-caption = Figure 7. TRL's DPO losses for one preference pair against its implicit reward margin h = β((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))), β = { $beta }, with chosen reward h/2 and rejected reward −h/2 (robust with ε = 0.1, exo_pair with ε = 0.001; aot, aot_unpaired and bco_pair depend on the rest of the batch, and apo_down, discopop and sigmoid_norm are left out to keep one colour per curve). DPO's sigmoid loss is −log σ(h) ({ $sig0 } at h = 0): it keeps pushing the margin up however large it already is, only more gently ({ $sig4 } at h = 4), which over-fits preferences that are always the same way round; hinge stops at h = 1; IPO is a square with its minimum at Δ = 1/(2β), h = { $ipo_min }, so it pulls an overshooting margin back: its answer to that over-fitting.
report-fig8-title = the loss of one embedding of class 0 against its angle to class 0's centre
report-fig8-x = angle θ to its class centre (degrees; the other class at 90°)
report-fig8-ln2 = ln 2: a 50/50 prediction
report-fig8-plain = normalised softmax (no margin)
report-fig8-arc = ArcFace, m = 28.6°
report-fig8-cos = CosFace, m = 0.35
report-fig8-sphere = SphereFace, m = 4
report-fig8-caption = Figure 8. pytorch-metric-learning's angular-margin losses for one embedding of class 0 at angle θ from its class centre, the other class's centre at 90°, all at scale s = { $scale }. Without a margin the loss crosses ln 2, the decision boundary, at { $plain }°, halfway between the centres; ArcFace's margin moves it to { $arc }°, CosFace's to { $cos }°, SphereFace's to { $sphere }°. An embedding must be that much closer to its own centre than to the other before the loss lets it go: the classes are trained to be compact in angle, which is what face and speaker verification compare.
report-fig9-snr-title = the schedule's signal-to-noise ratio
report-fig9-weights-title = min-SNR-γ weight (γ = 5)
report-fig9-x = timestep t
report-fig9-weight = weight
report-fig9-eps = ε-prediction: min(SNR, γ)/SNR
report-fig9-v = v-prediction: min(SNR, γ)/(SNR + 1)
report-fig9-x0 = x₀-prediction: min(SNR, γ)
report-fig9-caption = Figure 9. diffusers' min-SNR-γ weighting (γ = 5) on Stable Diffusion's scaled_linear schedule of 1000 steps, as diffusers:min_snr_loss reports it (its snr and weights outputs). Min-SNR (Hang et al., 2023) weights each timestep's x₀ loss by its SNR capped at γ, so that the nearly noise-free timesteps (SNR { $snr0 } at t = 0), easy to denoise, stop dominating the gradient. An ε loss is already SNR times the x₀ loss, hence ε-prediction's weight min(SNR, γ)/SNR: { $w0 } at t = 0 (v-prediction's { $v0 }), and 1 from t = { $cross } on, where the SNR falls below γ.

## plot

plot-loss-title = loss against the { $axis }
plot-gradient-title = gradient along the { $axis }
plot-wrote = wrote { $path } ({ $losses } against the { $axis })
