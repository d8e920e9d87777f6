//! The lab's languages: English (the default) and Chinese (简体中文), the
//! article's own. Every sentence the lab shows a reader (`report`,
//! `explain`, `info`, the page of `serve`) lives in one Fluent catalogue per
//! language, `locales/en/lab.ftl` and `locales/zh/lab.ftl`, embedded in the
//! binary; the code lays out tables and numbers and asks [`tr`] for the words.
//!
//! Numbers are formatted by the code (the same digits in both languages) and
//! handed to the catalogue as text, so Fluent never reformats them. A message
//! missing from a catalogue is caught by this module's tests (both catalogues
//! must hold the same messages with the same placeables, and every message the
//! code asks for must exist); at run time it shows as `[id]`, never a panic.

use anyhow::{bail, Result};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::fmt::Display;
use std::sync::OnceLock;

/// The English catalogue, as embedded.
pub const EN_FTL: &str = include_str!("../../locales/en/lab.ftl");
/// The Chinese catalogue, as embedded.
pub const ZH_FTL: &str = include_str!("../../locales/zh/lab.ftl");

/// A language of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the default).
    En,
    /// Chinese, the article's own language (简体中文).
    Zh,
}

impl Lang {
    /// Both languages, English first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// `"en"` or `"zh"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The HTML `lang` attribute: `"en"` or `"zh-CN"`.
    pub fn html_code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
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
    /// use losslab_cli::lab::i18n::Lang;
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

    /// [`Lang::choose`] with this process's `LANG`.
    ///
    /// # Errors
    /// A `--lang` that is neither `en` nor `zh`.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Lang> {
        Lang::choose(flag, std::env::var("LANG").ok().as_deref())
    }

    /// The other language (each page links to it).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// The message `id` without arguments.
    pub fn t(self, id: &str) -> String {
        tr(self, id, &[])
    }

    /// The message `id` with its arguments.
    pub fn f(self, id: &str, args: &[(&str, &dyn Display)]) -> String {
        tr(self, id, args)
    }
}

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static EN: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
    static ZH: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
    let (cell, source, id) = match lang {
        Lang::En => (&EN, EN_FTL, "en"),
        Lang::Zh => (&ZH, ZH_FTL, "zh"),
    };
    let id: unic_langid::LanguageIdentifier = id.parse().unwrap_or_default();
    cell.get_or_init(|| {
        // A syntax error drops only the broken entries (the tests reject any).
        let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
        let mut b = FluentBundle::new_concurrent(vec![id]);
        // No Unicode isolation marks around placeables: the text goes to
        // terminals, HTML and SVG, where they would show or get in the way.
        b.set_use_isolating(false);
        // Duplicate ids are rejected by the tests; here the first one wins.
        let _ = b.add_resource(resource);
        b
    })
}

/// The message `id` in `lang`, its placeables `{ $name }` filled from `args`
/// (as text: numbers are formatted by the caller). A message that does not
/// exist gives `[id]`; a missing argument shows as `{$name}`. The tests hold
/// the catalogues to every id the code uses, so neither happens.
pub fn tr(lang: Lang, id: &str, args: &[(&str, &dyn Display)]) -> String {
    let b = bundle(lang);
    let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
        return format!("[{id}]");
    };
    let mut fa = FluentArgs::new();
    for (k, v) in args {
        fa.set(*k, FluentValue::from(v.to_string()));
    }
    let mut errors = vec![];
    b.format_pattern(pattern, Some(&fa), &mut errors).into_owned()
}

/// The message ids of a catalogue, in order, each with its placeables
/// (`$name`s), sorted.
pub fn messages(ftl: &str) -> Vec<(String, Vec<String>)> {
    let mut out = vec![];
    for line in ftl.lines() {
        if line.starts_with('#') || line.starts_with(' ') || line.trim().is_empty() {
            if let (Some(last), true) = (out.last_mut(), line.starts_with(' ')) {
                let (_, ps): &mut (String, Vec<String>) = last;
                ps.extend(placeables(line));
                ps.sort();
            }
            continue;
        }
        if let Some((id, value)) = line.split_once(" = ").or_else(|| line.strip_suffix(" =").map(|id| (id, ""))) {
            let mut ps = placeables(value);
            ps.sort();
            out.push((id.trim().to_string(), ps));
        }
    }
    out
}

fn placeables(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(k) = rest.find("{ $") {
        let after = &rest[k + 3..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        out.push(name);
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(name: &str, ftl: &str) -> BTreeMap<String, Vec<String>> {
        if let Err((_, errors)) = FluentResource::try_new(ftl.to_string()) {
            panic!("{name}: Fluent syntax errors: {errors:?}");
        }
        let list = messages(ftl);
        let mut map = BTreeMap::new();
        for (id, ps) in list {
            assert!(map.insert(id.clone(), ps).is_none(), "{name}: message `{id}` defined twice");
        }
        map
    }

    #[test]
    fn both_catalogues_have_the_same_messages_and_placeables() {
        let en = parse("en", EN_FTL);
        let zh = parse("zh", ZH_FTL);
        let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(only_en.is_empty(), "messages missing from locales/zh/lab.ftl: {only_en:?}");
        assert!(only_zh.is_empty(), "messages missing from locales/en/lab.ftl: {only_zh:?}");
        for (id, ps) in &en {
            let mut a = ps.clone();
            let mut b = zh[id].clone();
            a.dedup();
            b.dedup();
            assert_eq!(a, b, "message `{id}`: the placeables differ between en and zh");
        }
        // Every message resolves in both languages, non-empty, without errors
        // once its placeables are given.
        for lang in Lang::ALL {
            let b = bundle(lang);
            for (id, ps) in &en {
                let m = b.get_message(id).unwrap_or_else(|| panic!("{lang:?}: `{id}` does not load"));
                let mut fa = FluentArgs::new();
                for p in ps {
                    fa.set(p.as_str(), FluentValue::from("1"));
                }
                let mut errors = vec![];
                let v = b.format_pattern(m.value().expect("a value"), Some(&fa), &mut errors);
                assert!(errors.is_empty() && !v.trim().is_empty(), "{lang:?} `{id}`: {errors:?}");
            }
        }
    }

    /// The ids the code asks for: `.t("id")`, `.f("id", ...)` in the files
    /// that use the catalogues.
    fn used_ids() -> Vec<(&'static str, String)> {
        let files: [(&str, &str); 7] = [
            ("cli/report.rs", include_str!("../cli/report.rs")),
            ("cli/explain.rs", include_str!("../cli/explain.rs")),
            ("cli/info.rs", include_str!("../cli/info.rs")),
            ("lab/page.rs", include_str!("page.rs")),
            ("lab/curves.rs", include_str!("curves.rs")),
            ("lab/robust.rs", include_str!("robust.rs")),
            ("cli/plot.rs", include_str!("../cli/plot.rs")),
        ];
        let mut out = vec![];
        for (file, src) in files {
            for pat in [".t(\"", ".f(\""] {
                for piece in src.split(pat).skip(1) {
                    let id: String = piece.chars().take_while(|c| *c != '"').collect();
                    out.push((file, id));
                }
            }
        }
        out
    }

    #[test]
    fn every_message_the_code_uses_exists() {
        let en = parse("en", EN_FTL);
        let used = used_ids();
        assert!(used.len() > 100, "the scan finds the calls ({} found)", used.len());
        for (file, id) in &used {
            assert!(en.contains_key(id), "{file} asks for `{id}`, which locales/*/lab.ftl do not have");
        }
    }

    #[test]
    fn tr_fills_placeables_and_never_panics() {
        assert_eq!(tr(Lang::En, "no-such-message", &[]), "[no-such-message]");
        let v = Lang::Zh.f("info-unit", &[("unit", &"nats"), ("log", &"ln")]);
        assert!(v.contains("nats") && v.contains("ln") && !v.contains('\u{2068}'), "{v}");
    }
}
