# 实验室的中文消息：`losslab info`、`explain`、`report` 以及 `losslab serve`
# 的页面。每条消息与 locales/en/lab.ftl 有相同的 id 和相同的占位符（由测试检查）。
# 数字由代码格式化后以文本传入。每条消息占一行。

## info

info-unit-bits = 比特
info-unit-nats = 奈特
info-note-normalised = 注意：{ $flag } 的总和为 { $sum }，已归一化为 { $list }
info-p-is-truth = （真实分布）
info-q-is-prediction = （预测分布）
info-unit = 单位：{ $unit }（log = { $log }）
info-self-information = 信息量 I(x) = −log p(x)：一个结果越罕见，它的发生带来的信息越多。
info-outcome = 结果
info-zero-probability = （概率为 0 的结果信息量 I = ∞：它从不发生，一旦发生将是无穷大的意外。）
info-entropy = 熵 H = −Σ p log p，即信息量的期望（约定 0·log 0 = 0）：
info-entropy-max = （最大为 log n = { $max }，n = { $n } 个结果）
info-give-q = 再给出 --q 即可计算交叉熵、KL 散度和 JS 散度。
info-cross-entropy = 交叉熵 H(p, q) = −Σ p log q：用 q 的编码去编码 p 的结果所需的平均代价。
info-kl = 相对熵（KL 散度）KL(p‖q) = Σ p log(p/q)：多付出的代价；只有 q = p 时为 0。
info-kl-not-symmetric = （KL 散度不对称）
info-kl-not-symmetric-equal = （KL 散度不对称，只是这里恰好相等）
info-zero-conventions = 零的约定：0·log(0/0) = 0，0·log(0/q) = 0，p·log(p/0) = ∞。
info-outcome-p-zero = 结果 { $i }：p = 0，所以无论 q 是多少，它对 KL(p‖q) 的贡献都是 0（0·log(0/q) = 0）；而在 KL(q‖p) 中，q 给它 { $q }，p 给它 0，于是 q·log(q/0) = ∞。
info-outcome-q-zero = 结果 { $i }：p = { $p } 而 q = 0：预测排除了可能发生的结果，所以 p·log(p/0) = ∞，KL(p‖q) = ∞（H(p, q) 也是 ∞）。
info-outcome-both-zero = 结果 { $i }：p = q = 0，对两个方向的贡献都是 0（0·log(0/0) = 0）。
info-kl-pq-infinite = KL(p‖q) 为无穷大：q 给 p 认为可能发生的结果分配了 0 概率。
info-kl-qp-infinite = KL(q‖p) 为无穷大：p 给 q 认为可能发生的结果分配了 0 概率。
info-js = JS 散度 JS = ½ KL(p‖m) + ½ KL(q‖m)，m = ½(p + q)：对称且有限。
info-js-max = （最大为 { $max } { $unit }）

## explain entropy

explain-entropy-title = 熵与交叉熵（原文的第 1 个问题）
explain-entropy-self-information = 信息量 I(x) = −log p(x)：一个事件越罕见，它的发生带来的信息越多。
explain-entropy-entropy = 熵 H(X) = −Σ p log p：信息量的期望，度量系统的不确定性。
explain-entropy-binary = 概率为 p 的 0-1 事件，熵为 H = −[p log p + (1 − p) log(1 − p)]：
explain-entropy-maximal = 在 p = 0.5 时最大（1 比特），此时事先一无所知；在 p = 0 或 1 时为 0，此时结果是确定的。
explain-entropy-uniform = 在 4 个结果中均匀选择：H = { $h } 比特；n 个结果时为 log₂ n。
explain-entropy-kl = 相对熵（KL 散度）KL(p‖q) = Σ p log(p/q)：预测分布 q 与真实分布 p 相差多远。
explain-entropy-example = 原文的例子，真实分布 (1, 0, 0)，预测 (0.7, 0.2, 0.1)，单位为奈特：
explain-entropy-kl-zero-terms = = −ln 0.7；按约定，零项为 0
explain-entropy-kl-reverse = q 给 p 排除的结果分配了概率（q·log(q/0) = ∞）。KL 散度不对称。
explain-entropy-conventions = 约定：0·log(0/0) = 0，0·log(0/q) = 0，p·log(p/0) = ∞。KL ≥ 0，只有 q = p 时为 0。
explain-entropy-cross-entropy = 交叉熵 H(p, q) = −Σ p log q = H(p) + KL(p‖q)。
explain-entropy-ce-here = 这里 H(p) = 0（one-hot 的真实分布是确定的），所以 H(p, q) = KL(p‖q) = { $ce }。
explain-entropy-ce-is-kl = 真实分布固定时，H(p) 是常数：最小化交叉熵就是最小化 KL 散度。
explain-entropy-ce-one-hot = 真实分布为 one-hot 时，交叉熵就是 −log q(真实类别)：即第 2 个问题中的分类损失。
explain-entropy-try = 试试：losslab info --p 1,0,0 --q 0.7,0.2,0.1 --lang zh   （任意 p 和 q 均可；--bits 以比特为单位）

## explain cross-entropy

explain-ce-title = 交叉熵损失，一步一步计算（原文的第 2 个问题）
explain-ce-batch = 一个批次共 { $n } 个样本，{ $c } 个类别。最后一层为每个类别输出一个 logit（置信度，wx + b）。
explain-ce-example = 样本 { $i }（真实类别 { $t }）：
explain-ce-sums-to-one = 总和为 1
explain-ce-batch-mean = 批次平均
explain-ce-torch-same = （torch.nn.functional.cross_entropy(z, target) 给出相同结果：softmax 与 log 融合为 log_softmax(z) = z − logsumexp(z)，
explain-ce-fused = 因此永远不会对下溢为 0 的数取对数。）
explain-ce-gradient = 梯度
explain-ce-example-word = 样本
explain-ce-backward-gives = losslab 的反向传播给出 { $g }
explain-ce-largest-difference = 最大差异：{ $d }
explain-ce-push = 梯度把真实类别的 logit 往上推 1 − p（错得越多，推得越猛），把其他每个 logit 往下推它自己的概率；只有 p(真实) = 1 时梯度才为 0。

## explain mse-vs-ce

explain-mse-title = 为什么分类不用均方误差（MSE）？（原文的第 3 个问题）
explain-mse-setup = 两个类别，logit 为 (0, s)，真实类别为 0，于是 p = p(真实) = 1 / (1 + e^s)。每个样本：
explain-mse-ce-line = 交叉熵           CE  = −ln p                 ∂CE/∂z  = p − y            ‖·‖ = √2 (1 − p)
explain-mse-mse-line = softmax 上的 MSE  MSE = Σ (pⱼ − yⱼ)² = 2(1−p)²  ∂MSE/∂z = J_softmax · 2(p − y)  ‖·‖ = 4√2 p (1 − p)²
explain-mse-confidently-wrong = 当模型自信地犯错时（p(真实) → 0），交叉熵的损失和梯度都最大：它最快地纠正最严重的错误。MSE 的损失不超过 2，梯度随 p 趋于 0：softmax 饱和，其雅可比矩阵 diag(p) − p pᵀ → 0，学习恰恰在最需要它的样本上停滞。
explain-mse-convexity = 关于 logit s 的凸性（二阶差分，h = 1e-3）：
explain-mse-non-convex = CE'' 处处 > 0（关于 logit 是凸的）；MSE'' 会变号：非凸，而且有平坦区域。
explain-mse-report = `losslab report --lang zh` 用两种损失在手写数字上训练同一个分类器。

## explain dense-vs-sparse

explain-ds-title = TensorFlow 的稠密与稀疏 softmax 交叉熵（原文的第 4 个问题）
explain-ds-sparse = 每个样本一个整数类别，
explain-ds-sparse-shape = 标签形状为 (N,)。最常见的情形：恰好一个正确类别，无需构造 one-hot 矩阵。
explain-ds-dense = 每个样本每个类别一个概率，
explain-ds-dense-shape = 标签形状为 (N, C)：one-hot，或软标签（标签平滑、知识蒸馏、mixup、有歧义的标签）。
explain-ds-agree = 在 one-hot 标签上两者一致：
explain-ds-only-dense = 只有稠密形式能接受软标签。标签平滑 ε = { $eps }：y = (1 − ε)·one_hot + ε/C：
explain-ds-sparse-cannot = 稀疏形式无法表示这种标签：它的标签是类别下标。
explain-ds-label-smoothing-option = （Keras 以及 PyTorch ≥ 1.10 提供 `label_smoothing` 选项，可以从下标算出同样的结果。）
explain-ds-raw-logits = 两者都要求输入原始 logit：它们自己做 softmax。如果误传入 softmax 的输出，
explain-ds-second-softmax = 它们会对 [0, 1] 内的数再做一次 softmax，把每个预测都压向均匀分布：
explain-ds-probabilities = 概率
explain-ds-right = 正确
explain-ds-wrong = 错误
explain-ds-pulled = （两者都被拉向 ln 3 = { $ln3 }，即均匀猜测的损失）
explain-ds-gradient-norm = 梯度范数：正确 { $right }，错误 { $wrong }（而且多出来的 softmax 的雅可比矩阵还夹在它和模型之间）
explain-ds-floor = 无论模型多么自信，C = 3 时损失都不会低于 −ln(e / (e + C − 1)) = { $floor }：这个错误能训练，只是训练得很差，而且不会报错。

## explain l1-l2-smooth-l1

explain-reg-title = L2、L1、Smooth L1 与 Huber（原文的第 5 个问题）
explain-reg-setup = 单个残差 r = 预测 − 目标 的损失 ℓ(r) 与梯度 ∂ℓ/∂r：
explain-reg-gradient = 梯度
explain-reg-l2 = L2：光滑，梯度 2r 随拟合变好而变小（在最优点附近步子细）；但 r = 10 的离群点的拉力是 r = 0.5 的 20 倍：离群点主导了拟合。
explain-reg-l1 = L1：每个点的拉力都是同样大小的 ±1，离群点无法主导（中位数是稳健的）；但在最优点附近梯度并不变小（除非学习率衰减，否则会在最优点附近来回振荡），而且在 r = 0 处不可导（PyTorch 和 losslab 在那里取 0）。
explain-reg-smooth-l1 = Smooth L1 在 0 附近是 L2（|r| < β 时为 r²/2β），远处是 L1（|r| − β/2）：兼有最优点附近的小梯度和离群点的有界拉力。Fast R-CNN 用它做边框回归：训练初期边框偏差很大，L2 的梯度会爆炸。
explain-reg-huber = Huber(δ) = δ · SmoothL1(β = δ)：形状相同，远处的斜率是 δ 而不是 1。
explain-reg-report = `losslab report --lang zh` 在注入离群点的糖尿病数据上用这四种损失拟合直线，并展示 L1 在固定学习率下的振荡。

## explain catalog

explain-catalog-title = 实践中常用的损失函数（原文的第 6 个问题）
explain-catalog-now = losslab 目录中现有的损失（参数和默认值见 `losslab list`）：
family-softmax-ce = 交叉熵（softmax）
family-softmax-ce-when = 多分类，每个样本一个标签；配合标签平滑抑制过度自信
family-bce = 二元交叉熵
family-bce-when = 二分类，或每个样本有多个独立标签（多标签）；类别不平衡时用 pos_weight
family-focal = Focal Loss
family-focal-when = 类别极度不平衡的密集检测：降低容易分对的样本的权重
family-hinge = 合页损失 / 间隔损失
family-hinge-when = 最大间隔分类器（SVM）；间隔足够大后损失为 0
family-kl = KL 散度
family-kl-when = 拟合整个分布：知识蒸馏（教师 → 学生）、VAE、策略约束
family-mse = 均方误差 MSE（L2）
family-mse-when = 噪声近似高斯、没有离群点的回归；光滑，在最优点附近收敛快
family-l1 = 平均绝对误差 MAE（L1）
family-l1-when = 对离群点稳健的回归（拟合中位数）；梯度大小恒定
family-smooth-l1 = Smooth L1 / Huber
family-smooth-l1-when = 在 0 附近保持光滑的稳健回归：检测器中的边框回归
family-log-cosh = log-cosh、分位数损失
family-log-cosh-when = 光滑的稳健回归；分位数（pinball）损失用于预测区间
family-nll = 泊松 / 高斯负对数似然
family-nll-when = 计数数据；同时预测自身不确定性的回归
family-iou = IoU、GIoU、DIoU、CIoU
family-iou-when = 边界框：直接优化重叠度指标本身，与尺度无关
family-dice = Dice、Tversky、Jaccard
family-dice-when = 前景区域很小的分割，逐像素交叉熵会被背景淹没
family-triplet = 三元组损失、对比损失
family-triplet-when = 度量学习：让相似样本的嵌入彼此靠近（人脸、检索）
family-infonce = InfoNCE
family-infonce-when = 自监督和多模态对比学习（SimCLR、CLIP）：在负样本中挑出正样本
family-ctc = CTC
family-ctc-when = 无需对齐的序列标注：语音识别、手写识别
family-preference = 偏好优化（trl: dpo_loss、cpo_loss、odds_ratio_loss、kto_loss）
family-preference-when = 用成对的（选中、拒绝）回答或点赞/点踩让语言模型对齐人类偏好，无需奖励模型和强化学习
family-policy-gradient = 策略梯度目标（trl:grpo_loss、losslab:ppo_clip_loss）
family-policy-gradient-when = 策略的强化学习（RLHF、可验证奖励的推理训练）：截断的概率比让每次更新都靠近采样数据的那个策略
family-distillation = 知识蒸馏（trl:generalized_jsd_loss、losslab:distillation_kl、losslab:sequence_log_probs）
family-distillation-when = 训练小的学生模型去拟合大的教师模型在类别或词元上的整个分布，而不只是它的最佳答案
family-clip = 对比预训练（open_clip:clip_loss、siglip_loss）
family-clip-when = 从配对数据中学习图像与文本的嵌入：CLIP 在批次上做 softmax，SigLIP 对每一对做 sigmoid，适合很大或分片的批次
family-metric-learning = 度量学习（pml: arc_face、cos_face、sphere_face、sup_con、circle、multi_similarity、lifted_structure、n_pairs）
family-metric-learning-when = 用于识别和检索的嵌入（人脸、商品、说话人）：角度间隔把不同身份分开，基于样本对的损失挖掘难正例和难负例
family-transducer = RNN-T（Transducer）损失（torchaudio:rnnt_loss）
family-transducer-when = 流式语音识别：像 CTC 一样无需对齐，但每一步的输出还依赖于之前的输出
family-large-vocabulary = 大词表（torch:adaptive_log_softmax_with_loss、tf:sampled_softmax_loss、tf:nce_loss）
family-large-vocabulary-when = 有几十万个类别的语言模型和推荐系统：训练时用更便宜的 softmax（采样，或按词频分簇）
family-generative = 生成模型（GAN 损失、梯度惩罚、VAE 的 KL 与 ELBO、diffusers:min_snr_loss）
family-generative-when = GAN（对抗损失，加梯度惩罚让判别器稳定）、VAE（重构误差加上与先验的 KL 散度）和扩散模型（按信噪比加权的噪声预测）

## 沿某个轴画出的损失曲线（report、plot）

axis-residual-label = 残差 r = 预测 − 目标
axis-margin-label = 间隔 m = 真实类别的 logit（目标为 1）
axis-probability-label = 对真实类别预测的概率 p
axis-residual = 残差
axis-margin = 间隔
axis-probability = 概率
curve-loss-title = 损失
curve-gradient-title = 梯度 ∂损失/∂x
curve-loss = 损失
curve-gradient = 梯度

## `losslab serve` 的页面（page.html 以 T.<name> 读取）

page-title = losslab：动手体验损失函数
page-intro = 拖动任一控件：下面的每个损失值和梯度都由本机上 losslab 的注册表（POST /api/eval）实时计算，与 <code>losslab eval</code> 输出的数值完全相同。
page-other_language = English
page-class = 类别
page-logit = logit z
page-true_class = 真实类别
page-probability = softmax 概率 p
page-loss = 损失
page-gradient = 梯度
page-value = 数值
page-ce_title = 同一个 softmax 上的交叉熵与均方误差（MSE）
page-ce_text = 三个 logit 经过 softmax 得到概率。交叉熵取真实类别概率的 −log p；均方误差对 one-hot 目标取 Σ (p − y)²。把真实类别的 logit 拖到远低于其他类别（即自信地预测错误）：交叉熵的梯度依然很大，而均方误差的梯度几乎消失，因为它要乘上 softmax 饱和时趋于零的雅可比矩阵。
page-ce_name = 交叉熵
page-mse_name = softmax 上的均方误差
page-ce_curve = 真实类别的 logit 变化时的各个损失（其他 logit 固定）
page-grad_curve = 梯度范数 ‖∂损失/∂z‖ 与真实类别概率 p 的关系
page-grad_note = 均方误差对 logit 的梯度，是注册表给出的对 p 的梯度再乘以 softmax 的雅可比矩阵：p ⊙ (g − Σ g·p)。
page-ds_title = TensorFlow 的稠密与稀疏 softmax 交叉熵
page-ds_text = softmax_cross_entropy_with_logits 的标签是每个样本的一个概率分布（one-hot 或经过平滑）；sparse_softmax_cross_entropy_with_logits 的标签是类别下标。在 one-hot 目标上两者是同一个损失；只有稠密形式能做标签平滑。
page-smoothing = 标签平滑 ε
page-dense_name = 稠密形式（标签：概率分布）
page-sparse_name = 稀疏形式（标签：类别下标）
page-ds_equal = 两者相等：稀疏形式就是 one-hot 目标上的稠密形式
page-ds_smoothed = 两者不同：稀疏形式无法表示平滑后的目标
page-reg_title = L1、L2、Smooth L1 与 Huber 损失随残差的变化
page-reg_text = L2 的梯度随残差增大（离群点的拉力很强）；L1 的梯度大小处处相同，即使紧挨着最优点也不变小，因此固定学习率会越过最优点来回振荡；Smooth L1（β）和 Huber（δ）在 0 附近是二次的、远处是线性的：拟合越好梯度越小，离群点的拉力又有上限。
page-residual = 残差（预测 − 目标）
page-beta = β（Smooth L1）= δ（Huber）
page-prob_title = 预测概率
page-prob_text = 二元交叉熵 −log p 对自信的错误惩罚没有上限（梯度 −1/p 在 p → 0 时发散）；平方误差 (1 − p)² 则不超过 1。
page-predicted = 对真实标签预测的概率 p
page-bce_name = 二元交叉熵
page-sq_name = 平方误差
page-error = 错误
page-footer = 由 <code>losslab serve</code> 提供，只监听 127.0.0.1；页面不从网络加载任何内容。

## report：页面、页眉和终端输出

report-title = losslab：理解深度学习中的损失函数
report-other-language = English
report-h1 = 理解深度学习中的损失函数：六个问题，用证据来回答
report-quick = （快速模式：更少的训练轮数、更小的训练集）
report-intro = 本页由 <code>losslab report</code>{ $quick }生成：下面的每个数字和每张图都是在生成页面时，用 losslab 库自己的损失函数和梯度计算出来的。数据是 scikit-learn 的手写数字数据集和糖尿病数据集，随仓库一起提供（来源和许可证见 <code>data/README.md</code>）。
report-made-in = 由 losslab { $version } 生成，用时 { $secs } 秒。
report-wrote = 已写入 { $first } 和 { $second }（{ $secs } 秒）
report-progress-q1 = 问题 1：熵
report-progress-q2 = 问题 2：交叉熵的计算流程
report-progress-q3 = 问题 3：手写数字上的交叉熵与 MSE
report-progress-q4 = 问题 4：稠密与稀疏、标签平滑
report-progress-q5 = 问题 5：稳健回归
report-progress-q6 = 问题 6：损失函数图集
report-ce = 交叉熵
report-mse-on-softmax = softmax 上的 MSE
report-epoch = 训练轮数（epoch）
report-epoch-n = 第 { $e } 轮
report-start = 起点
report-step = 步数
report-accuracy = 准确率

## report，问题 1

report-q1-title = 熵和交叉熵是什么意思？
report-q1-intro = 信息量 <i>I(x) = −log p(x)</i>；熵 <i>H = −Σ p log p</i>，即信息量的期望；相对熵（KL 散度）<i>KL(p‖q) = Σ p log(p/q)</i>；交叉熵 <i>H(p, q) = H(p) + KL(p‖q)</i>。原文的例子：真实分布 (1, 0, 0)，预测 (0.7, 0.2, 0.1)，单位为奈特：
report-q1-kl = KL(p‖q) = H(p, q) = −ln 0.7 = { $kl }，因为 H(p) = 0；KL(q‖p) = ∞，因为 q 给 p 排除的结果分配了概率（q·log(q/0) = ∞）：KL 散度不对称。试试 <code>losslab info --p … --q … --lang zh</code>。
report-fig1-title = 二元熵 H(p)（单位：比特）
report-fig1-caption = 图 1. 概率为 p 的 0-1 事件的熵：p = 0.5 时为 1 比特（不确定性最大），p = 0 和 1 时为 0（结果确定）；H(0.1) = H(0.9) = { $h } 比特。

## report，问题 2

report-q2-title = 交叉熵损失是怎样使用的？
report-pipe-logits = logit z
report-pipe-softmax = softmax 概率 p
report-pipe-nll = 真实类别的 −log p
report-pipe-mean = 批次平均
report-pipe-forward = 前向传播
report-pipe-backward = 反向传播：L 的梯度
report-pipe-example = 样本
report-pipe-true-class = 真实类别
report-fig2a-caption = 图 2a. 示例上的计算流程（两个样本、三个类别，显示 4 位小数）。前向传播，从左到右：logit、它们的 softmax、真实类别概率的 −ln、平均值 L = { $loss }。反向传播，从右到左：∂L/∂L = 1；每个样本的损失得到 1/N；真实类别的概率得到 −1/(N·p)，p 越小越大；经过 softmax 后在 logit 上变为 (p − one-hot)/N：真实类别的 logit 被往上推 (1 − p)/N，其他每个 logit 被往下推 p/N。
report-q2-steps = logit → softmax → 真实类别的 −log p → 批次平均；梯度是 softmax − one-hot（再除以批次大小）。在两个样本上一步一步计算（<code>losslab explain cross-entropy --lang zh</code>）：

## report，问题 3

report-q3-title = 为什么分类时不能用 MSE 代替交叉熵？
report-fig2-loss-title = 训练损失（各自在自己的目标下）
report-fig2-acc-title = 测试准确率
report-fig2-caption = 图 2. softmax 回归（64 个像素 → 10 个类别），{ $train } 个训练数字、{ $test } 个测试数字，从相同的初始权重出发（随机种子 { $seed }），小批次大小 { $batch }，学习率 { $lr }。1 轮后的测试准确率：交叉熵 { $ce1 }，MSE { $mse1 }；{ $epochs } 轮后：交叉熵 { $ce }，MSE { $mse }。
report-fig3-title = 梯度大小 ‖∂损失/∂logit‖ 与 p(真实类别) 的关系
report-fig3-x = 对真实类别预测的概率
report-fig3-y = 梯度范数
report-fig3-ce-slice = 交叉熵，两类切片
report-fig3-mse-slice = MSE，两类切片
report-fig3-ce-digits = 交叉熵，测试数字
report-fig3-mse-digits = MSE，测试数字
report-fig3-caption = 图 3. 曲线：两个类别，logit 为 (0, s)；交叉熵的梯度范数是 √2(1 − p)，MSE 的是 4√2·p(1 − p)²。在 p = 0.01（自信地犯错）时，交叉熵的是 { $ce }，MSE 的是 { $mse }，小了 { $ratio } 倍。散点：训练 1 轮后的交叉熵模型在 { $n } 个测试数字上，每种损失对每个样本的梯度；在 p(真实) &lt; 0.1 的 { $low } 个数字上，平均梯度范数交叉熵为 { $ce_low }，MSE 为 { $mse_low }。
report-q3-why = 经过 softmax 之后，MSE 的梯度要乘上 softmax 的雅可比矩阵 diag(p) − ppᵀ，而预测饱和时（无论对错）它趋于 0：一个自信地犯错的样本几乎推不动权重，而交叉熵的梯度 p − y 恰恰在那里最大。MSE 还是有界的（每个样本最多为 2），并且关于 logit 非凸（<code>losslab explain mse-vs-ce --lang zh</code>）。最终模型的测试准确率：交叉熵 { $ce }，MSE { $mse }。
report-q3-decisive-title = 决定性的实验：一个确信错误答案的网络
report-q3-decisive-setup = 上面两种损失都从很小的随机权重出发，此时每个预测都接近均匀分布，MSE 的梯度还不小：MSE 只是落后。当网络<i>自信地犯错</i>时（例如初始化不好、数据分布变化或标签有噪声之后），差别就变得决定性了。为了构造这样的起点，先用交叉熵训练分类器 2 轮，再把每个类别的权重移给下一个类别（0 → 1，…，9 → 0）并乘以 3：现在网络对数字 <i>c</i> 会以很高的置信度回答 <i>c + 1</i>。从这同一个起点出发，用每种损失训练同一个网络（{ $epochs } 轮，其余设置同上），共 { $seeds } 个随机种子（每个种子改变初始权重、预训练和小批次的顺序）。
report-q3-table-head = 测试准确率：各种子的平均值（最小值–最大值）
report-fig3b-left-title = 从自信犯错的起点出发的测试准确率，每个种子一条线
report-fig3b-right-title = 起点处（种子 { $seed }）：每个训练数字的梯度范数
report-fig3b-right-x = log₁₀ p(真实类别)
report-fig3b-caption = 图 3b. 左：从自信犯错的起点出发的测试准确率，每个种子、每种损失一条线。右：起点处每个训练数字对其真实类别的概率（种子 { $seed } 的中位数为 { $median_p }）以及每种损失对 logit 的梯度范数；在 p(真实) &lt; 0.01 的 { $low } 个（共 { $n } 个）数字上，MSE 的梯度中位数只有交叉熵的 { $ratio }。
report-q3-shows = <b>实验说明了什么。</b>从同一个自信犯错的起点出发，交叉熵在每个种子上都恢复了（{ $epochs } 轮后测试准确率 { $ce }），而 softmax 上的 MSE 在每个种子上都停滞了（{ $mse }）。右图说明了原因：交叉熵在自信犯错的样本上的梯度约为 √2·(1 − p) ≈ 1.4，是它能达到的最大值，所以这些样本主导了更新；MSE 的梯度要经过 softmax 的雅可比矩阵 diag(p) − ppᵀ，softmax 饱和时它接近 0，所以最需要纠正的样本几乎推不动权重。种子之间的差异远小于两者的差距：这不是运气。

## report，问题 4

report-q4-title = TensorFlow 的 softmax_cross_entropy_with_logits 与 sparse_softmax_cross_entropy_with_logits
report-q4-smoothing = 在同一个分类器上（相同的种子和设置）做标签平滑（ε = 0.1，稠密形式：目标为 (1 − ε)·one-hot + ε/10），在测试数字上评估：
report-q4-targets = 训练目标
report-q4-confidence = 平均置信度
report-q4-nll = 测试集负对数似然
report-q4-ece = ECE（10 个区间）
report-q4-one-hot = one-hot（ε = 0）
report-q4-smoothed = 平滑后（ε = 0.1）
report-fig4-title = 可靠性：准确率与置信度
report-fig4-x = 置信度（最大的预测概率）
report-fig4-y = 区间内的准确率
report-fig4-perfect = 完美校准
report-fig4-caption = 图 4. { $n } 个测试数字上的可靠性图（10 个等宽的置信度区间，空区间省略）。不做平滑时平均置信度 { $conf0 }，准确率 { $acc0 }；ε = 0.1 时为 { $conf1 } 与 { $acc1 }。平滑限制了模型因高置信度得到的奖励（最优解在真实类别上的概率为 1 − ε + ε/10 = 0.91），所以会降低置信度；这能否改善校准，取决于模型原本是过度自信还是不够自信，见 ECE 一列。

## report，问题 5

report-q5-title = L2 与 L1，以及为什么用 Smooth L1
report-q5-clean-fit = 干净数据上的最小二乘（参照）
report-q5-corrupted-fit = 被污染数据上的 { $fit }
report-q5-setup = 糖尿病数据中 { $n } 位病人的病情进展与体重指数（BMI）的关系。为了模拟录入错误，把 BMI 最高的 22 位病人（5%）的目标值除以 10（少录了一位数字）。在每种损失下，用梯度下降在标准化的数据上对被污染的数据拟合一条直线（{ $iters } 步，损失和梯度来自 losslab；Smooth L1 和 Huber 的转折点取目标值的 1 个标准差，即 { $sd }）。误差是对所有病人的真实目标值计算的。
report-q5-fit = 拟合
report-q5-slope = 斜率（每单位 BMI）
report-q5-intercept = 截距
report-q5-mae = 相对真实目标的 MAE
report-q5-rmse = 相对真实目标的 RMSE
report-fig5-patients = 病人
report-fig5-corrupted = 被污染的目标值
report-fig5-clean-ls = 干净数据的最小二乘
report-fig5-title = 对被污染的糖尿病数据拟合的直线
report-fig5-x = 体重指数（BMI）
report-fig5-y = 病情进展
report-fig5-caption = 图 5. 黑点：22 个被污染的目标值。干净数据的最小二乘斜率为 { $clean }；在被污染的数据上，L2 的斜率为 { $l2 }，L1 的为 { $l1 }，Smooth L1 的为 { $smooth }，Huber 的为 { $huber }。
report-fig6-caption = 图 6. 每种损失及其梯度随残差的变化（β = 1 的 Smooth L1 与 δ = 1 的 Huber 重合）。在 0 附近，L2、Smooth L1 和 Huber 的梯度随残差变小；L1 的梯度始终是 ±1。在远处，L2 的梯度无限增长，其他损失的梯度保持在 ±1：r = 10 的离群点在 L2 下的拉力是 Smooth L1 下的 10 倍。
report-q5-loss = 损失
report-q5-grad-01 = r = 0.1 处的梯度
report-q5-grad-1 = r = 1 处
report-q5-grad-10 = r = 10 处
report-q5-outliers-show = <b>离群点实验说明了什么。</b>L2 对残差取平方，所以 5% 被污染的目标值拖动了整条直线。这里 L1 最稳健：它的拟合相对真实目标的 MAE 最低，因为每个点的拉力都是同样大小的 ±1，直线跟随中位数。只看离群点，L1 胜出。它的弱点在别处：正是这个大小恒定的梯度。
report-q5-l1-title = 为什么检测器从 L1 换成了 Smooth L1：最优点附近的拟合
report-fig6b-theta-title = 参数 θ 随步数的变化（目标 { $t }，学习率 { $lr }）
report-fig6b-loss-title = 损失随步数的变化
report-fig6b-caption = 图 6b. 一个边框坐标 θ 从 { $from } 出发回归到真实值 { $t }，在每种损失下用固定学习率 { $lr } 做梯度下降（β = 1 的 Smooth L1 与 δ = 1 的 Huber 重合）。在最后 10 步中，θ 的变动幅度：L1 下为 { $l1 }，L2 下为 { $l2 }，Smooth L1 下为 { $smooth }，Huber 下为 { $huber }。
report-fig6c-title = 以固定学习率（0.5）对干净的糖尿病数据拟合直线
report-fig6c-y = 每步步长的 log₁₀
report-fig6c-caption = 图 6c. 同样四种损失对 { $n } 位病人的干净数据（标准化后）拟合直线，全批次，学习率 0.5，共 { $steps } 步：每一步的步长 ‖(Δa, Δb)‖。{ $steps } 步之后，步长在 L2 下为 { $l2 }，Smooth L1 下为 { $smooth }，Huber 下为 { $huber }，L1 下为 { $l1 }。
report-q5-l1-shows = <b>实验说明了什么。</b>无论拟合多接近，L1 的梯度大小都不变，所以在固定学习率下它永远不会收敛：θ 以一整步的幅度在目标两侧来回跳动（图 6b），直线也一直以不缩小的步长移动（图 6c）；只有衰减的学习率才能让它停下，而且它在 0 处不可导。L2 和 Smooth L1 会收敛：它们的梯度随残差变小，所以步长按几何级数缩小。这就是 Fast R-CNN 在边框回归中用 Smooth L1 而不是 L1（本实验）来替换 L2（上面的离群点实验：L2 的拉力随误差增长）的原因：Smooth L1 在最优点附近是 L2，远离最优点时是 L1（<code>losslab explain l1-l2-smooth-l1 --lang zh</code>）。

## report，问题 6

report-q6-title = 实践中常用的其他损失函数
report-q6-family = 类别
report-q6-when = 适用场景
report-q6-gallery = 图集：losslab 目录中所有对单个预测逐元素计算的损失，连同其梯度，画在各自的自然坐标轴上（每条损失的一句话简介来自目录，为英文）。
report-q6-at = 横轴为{ $axis }；{ $axis } = { $x } 处：损失 { $loss }，梯度 { $grad }。
report-q6-not-drawn = 未画出（它们的输入是类别下标、整个分布或多个张量）：{ $names }。
report-q6-today = <b>画出其中三个当今的损失族。</b>每个族用一条曲线说明（图 7–9），每个数值都由注册表计算，与 <code>losslab eval</code> 的计算相同。
report-fig7-title = trl:dpo_loss：一对样本的损失随奖励差的变化，每种 loss_type 一条
report-fig7-x = 隐式奖励差 h = β·Δ
report-fig7-caption = 图 7. TRL 的 DPO 损失：一对偏好样本的损失随其隐式奖励差 h = β((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))) 的变化，β = { $beta }，被选回答的奖励为 h/2，被拒回答的为 −h/2（robust 取 ε = 0.1，exo_pair 取 ε = 0.001；aot、aot_unpaired 和 bco_pair 依赖批次中的其他样本，未画出；为了每条曲线一种颜色，apo_down、discopop 和 sigmoid_norm 也未画出）。DPO 的 sigmoid 损失是 −log σ(h)（h = 0 时为 { $sig0 }）：无论奖励差已经多大，它都继续把奖励差往上推，只是越来越轻（h = 4 时为 { $sig4 }），因此在总是同一方向的偏好上会过拟合；hinge 在 h = 1 处停下；IPO 是一个平方，最小值在 Δ = 1/(2β)，即 h = { $ipo_min }，所以奖励差过头时会被拉回来：这是它对过拟合的回答。
report-fig8-title = 类别 0 的一个嵌入向量的损失随它与类别 0 中心夹角的变化
report-fig8-x = 与本类中心的夹角 θ（度；另一类在 90°）
report-fig8-ln2 = ln 2：五五开的预测
report-fig8-plain = 归一化 softmax（无间隔）
report-fig8-arc = ArcFace，m = 28.6°
report-fig8-cos = CosFace，m = 0.35
report-fig8-sphere = SphereFace，m = 4
report-fig8-caption = 图 8. pytorch-metric-learning 的角度间隔损失：类别 0 的一个嵌入向量与本类中心的夹角为 θ，另一类的中心在 90°，缩放系数都取 s = { $scale }。没有间隔时，损失在 { $plain }° 处穿过 ln 2，即决策边界，位于两个中心的正中间；ArcFace 的间隔把它移到 { $arc }°，CosFace 的移到 { $cos }°，SphereFace 的移到 { $sphere }°。嵌入向量必须比离另一类更靠近本类中心这么多，损失才放过它：训练出的类别在角度上更紧凑，而人脸和说话人验证比较的正是这个角度。
report-fig9-snr-title = 噪声调度的信噪比
report-fig9-weights-title = min-SNR-γ 权重（γ = 5）
report-fig9-x = 时间步 t
report-fig9-weight = 权重
report-fig9-eps = ε 预测：min(SNR, γ)/SNR
report-fig9-v = v 预测：min(SNR, γ)/(SNR + 1)
report-fig9-x0 = x₀ 预测：min(SNR, γ)
report-fig9-caption = 图 9. diffusers 的 min-SNR-γ 加权（γ = 5），用于 Stable Diffusion 的 1000 步 scaled_linear 调度，数值来自 diffusers:min_snr_loss 的 snr 和 weights 输出。Min-SNR（Hang 等，2023）用截断在 γ 的信噪比给每个时间步的 x₀ 损失加权，使几乎无噪声、很容易去噪的时间步（t = 0 时 SNR 为 { $snr0 }）不再主导梯度。ε 损失本来就是 x₀ 损失的 SNR 倍，因此 ε 预测的权重是 min(SNR, γ)/SNR：t = 0 时为 { $w0 }（v 预测为 { $v0 }），从 t = { $cross } 起 SNR 低于 γ，权重为 1。

## plot

plot-loss-title = 损失随{ $axis }的变化
plot-gradient-title = 梯度随{ $axis }的变化
plot-wrote = 已写入 { $path }（{ $losses }，横轴为{ $axis }）
