//! The page of `losslab serve`: the article's losses to play with. Its text
//! lives in the lab's catalogues (`locales/en/lab.ftl`, `locales/zh/lab.ftl`,
//! the messages `page-NAME` for each of [`PAGE_KEYS`]); the page itself
//! (`page.html`, HTML, CSS and JavaScript, no external resource) receives the
//! text as JSON and asks `POST /api/eval` for every number it shows.

use serde_json::{Map, Value};

pub use crate::lab::i18n::Lang;

/// The messages of the page, by name: each is `page-NAME` in the catalogues
/// (`locales/*/lab.ftl`), and the page's script reads it as `T.NAME`.
pub const PAGE_KEYS: &[&str] = &[
    "title",
    "intro",
    "other_language",
    "class",
    "logit",
    "true_class",
    "probability",
    "loss",
    "gradient",
    "value",
    "ce_title",
    "ce_text",
    "ce_name",
    "mse_name",
    "ce_curve",
    "grad_curve",
    "grad_note",
    "ds_title",
    "ds_text",
    "smoothing",
    "dense_name",
    "sparse_name",
    "ds_equal",
    "ds_smoothed",
    "reg_title",
    "reg_text",
    "residual",
    "beta",
    "prob_title",
    "prob_text",
    "predicted",
    "bce_name",
    "sq_name",
    "error",
    "footer",
];

/// Every message of the page in `lang`, by name.
pub fn text(lang: Lang) -> Map<String, Value> {
    PAGE_KEYS.iter().map(|k| ((*k).to_string(), Value::String(lang.t(&format!("page-{k}"))))).collect()
}

/// The page in `lang`: the template with its text, language and the link to
/// the other language filled in.
pub fn html(lang: Lang) -> String {
    let t = text(lang);
    let title = t["title"].as_str().unwrap_or_default().to_string();
    let other_name = t["other_language"].as_str().unwrap_or_default().to_string();
    let text = Value::Object(t).to_string();
    // `</` cannot end the script element from inside the JSON.
    let text = text.replace("</", "<\\/");
    include_str!("page.html")
        .replace("{{LANG}}", lang.html_code())
        .replace("{{TITLE}}", &title)
        .replace("{{OTHER}}", lang.other().code())
        .replace("{{OTHER_NAME}}", &other_name)
        .replace("/*TEXT*/null", &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_fill_every_message() {
        let (en, zh) = (text(Lang::En), text(Lang::Zh));
        assert_eq!(en.keys().collect::<Vec<_>>(), zh.keys().collect::<Vec<_>>());
        for (k, v) in &en {
            let (v, w) = (v.as_str().unwrap(), zh[k].as_str().unwrap());
            assert!(!v.is_empty() && !w.is_empty() && !v.starts_with("[page-") && !w.starts_with("[page-"), "page-{k} is missing from a catalogue");
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
