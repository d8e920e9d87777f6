//! The page of `losslab serve`: the article's losses to play with. Its text
//! lives here once per language ([`EN`], [`ZH`]: one [`PageText`] each, so the
//! compiler holds both to the same set of messages); the page itself
//! (`page.html`, HTML, CSS and JavaScript, no external resource) receives the
//! text as JSON and asks `POST /api/eval` for every number it shows.

use anyhow::{bail, Result};
use serde::Serialize;

/// A language of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Chinese, the article's own language (简体中文).
    Zh,
}

impl Lang {
    /// `"en"` or `"zh"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The language called `code` (`en`, `zh`, also `zh-CN`, `zh_TW`...).
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_', '.']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The language asked for by a `--lang` flag, else the `LANG` environment
    /// variable's where it is Chinese (`zh_CN.UTF-8`), else English.
    ///
    /// # Errors
    /// A `--lang` that is neither `en` nor `zh`.
    ///
    /// # Examples
    /// ```
    /// use losslab_cli::lab::page::Lang;
    /// assert_eq!(Lang::choose(None, Some("zh_CN.UTF-8")).unwrap(), Lang::Zh);
    /// assert_eq!(Lang::choose(None, Some("de_DE.UTF-8")).unwrap(), Lang::En);
    /// assert_eq!(Lang::choose(Some("en"), Some("zh_CN.UTF-8")).unwrap(), Lang::En);
    /// assert!(Lang::choose(Some("fr"), None).is_err());
    /// ```
    pub fn choose(flag: Option<&str>, env_lang: Option<&str>) -> Result<Lang> {
        match flag {
            Some(code) => match Lang::from_code(code) {
                Some(l) => Ok(l),
                None => bail!("--lang {code}: expected en or zh"),
            },
            None => Ok(env_lang.and_then(Lang::from_code).filter(|l| *l == Lang::Zh).unwrap_or(Lang::En)),
        }
    }

    /// The other language (the page links to it).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// This language's text of the page.
    pub fn text(self) -> &'static PageText {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }
}

/// Every message of the page, in one language.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct PageText {
    pub title: &'static str,
    pub intro: &'static str,
    pub other_language: &'static str,
    pub class: &'static str,
    pub logit: &'static str,
    pub true_class: &'static str,
    pub probability: &'static str,
    pub loss: &'static str,
    pub gradient: &'static str,
    pub value: &'static str,
    pub ce_title: &'static str,
    pub ce_text: &'static str,
    pub ce_name: &'static str,
    pub mse_name: &'static str,
    pub ce_curve: &'static str,
    pub grad_curve: &'static str,
    pub grad_note: &'static str,
    pub ds_title: &'static str,
    pub ds_text: &'static str,
    pub smoothing: &'static str,
    pub dense_name: &'static str,
    pub sparse_name: &'static str,
    pub ds_equal: &'static str,
    pub ds_smoothed: &'static str,
    pub reg_title: &'static str,
    pub reg_text: &'static str,
    pub residual: &'static str,
    pub beta: &'static str,
    pub prob_title: &'static str,
    pub prob_text: &'static str,
    pub predicted: &'static str,
    pub bce_name: &'static str,
    pub sq_name: &'static str,
    pub error: &'static str,
    pub footer: &'static str,
}

/// The page in English.
pub const EN: PageText = PageText {
    title: "losslab: play with the losses",
    intro: "Move a control: every value and gradient below is computed by losslab's registry on this machine (POST /api/eval), the same numbers <code>losslab eval</code> prints.",
    other_language: "中文",
    class: "class",
    logit: "logit z",
    true_class: "true class",
    probability: "softmax p",
    loss: "loss",
    gradient: "gradient",
    value: "value",
    ce_title: "Cross entropy and MSE on the same softmax",
    ce_text: "Three logits go through a softmax. Cross entropy takes −log p of the true class; MSE takes Σ (p − y)² against the one-hot target. Drag the true class's logit far below the others (a confidently wrong prediction): cross entropy's gradient stays large, MSE's vanishes, because it passes through the softmax's saturating Jacobian.",
    ce_name: "cross entropy",
    mse_name: "MSE on softmax",
    ce_curve: "each loss as the true class's logit moves (the other logits fixed)",
    grad_curve: "gradient norm ‖∂loss/∂z‖ against p(true class)",
    grad_note: "MSE's gradient with respect to the logits is its gradient with respect to p, from the registry, through the softmax Jacobian: p ⊙ (g − Σ g·p).",
    ds_title: "TensorFlow's dense and sparse softmax cross entropy",
    ds_text: "softmax_cross_entropy_with_logits takes a distribution per example (one-hot, or smoothed); sparse_softmax_cross_entropy_with_logits takes the class index. On a one-hot target they are the same loss; only the dense form can take label smoothing.",
    smoothing: "label smoothing ε",
    dense_name: "dense (labels: distribution)",
    sparse_name: "sparse (labels: class index)",
    ds_equal: "equal: the sparse form is the dense form on a one-hot target",
    ds_smoothed: "they differ: the sparse form cannot express a smoothed target",
    reg_title: "L1, L2, Smooth L1 and Huber against the residual",
    reg_text: "L2's gradient grows with the residual (an outlier pulls hard); L1's has the same size everywhere, even next to the optimum, so a fixed learning rate overshoots it; Smooth L1 (β) and Huber (δ) are quadratic near 0 and linear beyond: a gradient that shrinks as the fit improves, and a bounded pull from outliers.",
    residual: "residual (input − target)",
    beta: "β (Smooth L1) = δ (Huber)",
    prob_title: "A prediction's probability",
    prob_text: "Binary cross entropy −log p punishes a confident mistake without bound (its gradient −1/p explodes as p → 0); the squared error (1 − p)² never exceeds 1.",
    predicted: "predicted probability of the true label p",
    bce_name: "binary cross entropy",
    sq_name: "squared error",
    error: "error",
    footer: "Served by <code>losslab serve</code> on 127.0.0.1 only; the page loads nothing from the network.",
};

/// The page in Chinese (简体中文), in the article's terms.
pub const ZH: PageText = PageText {
    title: "losslab：动手体验损失函数",
    intro: "拖动任一控件：下面的每个损失值和梯度都由本机上 losslab 的注册表（POST /api/eval）实时计算，与 <code>losslab eval</code> 输出的数值完全相同。",
    other_language: "English",
    class: "类别",
    logit: "logit z",
    true_class: "真实类别",
    probability: "softmax 概率 p",
    loss: "损失",
    gradient: "梯度",
    value: "数值",
    ce_title: "同一个 softmax 上的交叉熵与均方误差（MSE）",
    ce_text: "三个 logit 经过 softmax 得到概率。交叉熵取真实类别概率的 −log p；均方误差对 one-hot 目标取 Σ (p − y)²。把真实类别的 logit 拖到远低于其他类别（即自信地预测错误）：交叉熵的梯度依然很大，而均方误差的梯度几乎消失，因为它要乘上 softmax 饱和时趋于零的雅可比矩阵。",
    ce_name: "交叉熵",
    mse_name: "softmax 上的均方误差",
    ce_curve: "真实类别的 logit 变化时的各个损失（其他 logit 固定）",
    grad_curve: "梯度范数 ‖∂损失/∂z‖ 与真实类别概率 p 的关系",
    grad_note: "均方误差对 logit 的梯度，是注册表给出的对 p 的梯度再乘以 softmax 的雅可比矩阵：p ⊙ (g − Σ g·p)。",
    ds_title: "TensorFlow 的稠密与稀疏 softmax 交叉熵",
    ds_text: "softmax_cross_entropy_with_logits 的标签是每个样本的一个概率分布（one-hot 或经过平滑）；sparse_softmax_cross_entropy_with_logits 的标签是类别下标。在 one-hot 目标上两者是同一个损失；只有稠密形式能做标签平滑。",
    smoothing: "标签平滑 ε",
    dense_name: "稠密形式（标签：概率分布）",
    sparse_name: "稀疏形式（标签：类别下标）",
    ds_equal: "两者相等：稀疏形式就是 one-hot 目标上的稠密形式",
    ds_smoothed: "两者不同：稀疏形式无法表示平滑后的目标",
    reg_title: "L1、L2、Smooth L1 与 Huber 损失随残差的变化",
    reg_text: "L2 的梯度随残差增大（离群点的拉力很强）；L1 的梯度大小处处相同，即使紧挨着最优点也不变小，因此固定学习率会越过最优点来回振荡；Smooth L1（β）和 Huber（δ）在 0 附近是二次的、远处是线性的：拟合越好梯度越小，离群点的拉力又有上限。",
    residual: "残差（预测 − 目标）",
    beta: "β（Smooth L1）= δ（Huber）",
    prob_title: "预测概率",
    prob_text: "二元交叉熵 −log p 对自信的错误惩罚没有上限（梯度 −1/p 在 p → 0 时发散）；平方误差 (1 − p)² 则不超过 1。",
    predicted: "对真实标签预测的概率 p",
    bce_name: "二元交叉熵",
    sq_name: "平方误差",
    error: "错误",
    footer: "由 <code>losslab serve</code> 提供，只监听 127.0.0.1；页面不从网络加载任何内容。",
};

/// The page in `lang`: the template with its text, language and the link to
/// the other language filled in.
pub fn html(lang: Lang) -> String {
    let text = serde_json::to_string(lang.text()).expect("text serialises");
    // `</` cannot end the script element from inside the JSON.
    let text = text.replace("</", "<\\/");
    include_str!("page.html")
        .replace("{{LANG}}", if lang == Lang::Zh { "zh-CN" } else { "en" })
        .replace("{{TITLE}}", lang.text().title)
        .replace("{{OTHER}}", lang.other().code())
        .replace("{{OTHER_NAME}}", lang.text().other_language)
        .replace("/*TEXT*/null", &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_fill_every_message() {
        let (en, zh) = (serde_json::to_value(&EN).unwrap(), serde_json::to_value(&ZH).unwrap());
        let (en, zh) = (en.as_object().unwrap(), zh.as_object().unwrap());
        assert_eq!(en.keys().collect::<Vec<_>>(), zh.keys().collect::<Vec<_>>());
        for (k, v) in en {
            assert!(!v.as_str().unwrap().is_empty() && !zh[k].as_str().unwrap().is_empty(), "{k}");
        }
        // Every message the page's script reads is one of them.
        let page = include_str!("page.html");
        for key in page.split("T.").skip(1).map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap()) {
            assert!(en.contains_key(key), "page.html reads T.{key}, which no language has");
        }
    }

    #[test]
    fn the_page_links_to_the_other_language() {
        let en = html(Lang::En);
        assert!(en.contains("<html lang=\"en\">") && en.contains("href=\"/?lang=zh\"") && en.contains("中文"));
        let zh = html(Lang::Zh);
        assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("href=\"/?lang=en\"") && zh.contains("交叉熵"));
        assert!(!zh.contains("{{") && !zh.contains("/*TEXT*/"));
    }
}
