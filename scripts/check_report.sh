#!/usr/bin/env bash
# Checks that the pages `losslab report` writes render in a real browser, in
# both languages: builds and runs the report, loads `index.html` (English) and
# `index.zh.html` (Chinese) in headless Chromium (Debian's package `chromium`;
# the Chinese screenshot needs a CJK font, Debian's fonts-wqy-zenhei), checks
# each rendered DOM has its language, the six questions, inline SVG figures
# and the link to the other page, and saves a screenshot of each next to the
# pages (screenshot.png, screenshot.zh.png). Not part of CI.
#
# Usage: scripts/check_report.sh [DIR [REPORT_FLAGS...]]   (default target/report)
#   LOSSLAB=target/debug/losslab scripts/check_report.sh /tmp/rep --quick
#   uses an already built binary instead of `cargo run --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/report}"
shift || true

if ! command -v chromium >/dev/null; then
    echo "chromium is missing: apt-get install -y chromium" >&2
    exit 1
fi

if [ -n "${LOSSLAB:-}" ]; then
    "$LOSSLAB" report --out "$dir" --lang en "$@"
else
    cargo run --release -q -p losslab-cli -- report --out "$dir" --lang en "$@"
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run
       --user-data-dir="$profile")

fail=0
check() { # FILE HTML_LANG OTHER_FILE WORD SCREENSHOT
    local file="$1" lang="$2" other="$3" word="$4" shot="$5"
    local page dom svgs
    page="$(realpath "$dir/$file")"
    dom="$(chromium "${flags[@]}" --dump-dom "file://$page" 2>/dev/null)"
    if ! grep -q "<html lang=\"$lang\">" <<<"$dom"; then
        echo "FAIL: $file is not marked as lang=\"$lang\"" >&2
        fail=1
    fi
    for q in 1 2 3 4 5 6; do
        if ! grep -q "<h2 id=\"q$q\">" <<<"$dom"; then
            echo "FAIL: question $q is missing from the rendered $file" >&2
            fail=1
        fi
    done
    svgs="$(grep -o '<svg' <<<"$dom" | wc -l)"
    if [ "$svgs" -lt 6 ]; then
        echo "FAIL: only $svgs inline SVG figures rendered in $file" >&2
        fail=1
    fi
    if ! grep -q "id=\"other-language\" href=\"$other\"" <<<"$dom"; then
        echo "FAIL: $file does not link to $other" >&2
        fail=1
    fi
    if ! grep -q "$word" <<<"$dom"; then
        echo "FAIL: $file does not contain \"$word\"" >&2
        fail=1
    fi
    rm -f "$dir/$shot"
    chromium "${flags[@]}" --window-size=1200,2400 --screenshot="$dir/$shot" "file://$page" 2>/dev/null
    if [ ! -s "$dir/$shot" ]; then
        echo "FAIL: no screenshot of $file" >&2
        fail=1
    fi
    [ "$fail" = 0 ] && echo "ok: $page renders (lang $lang, 6 questions, $svgs figures, links to $other); screenshot $dir/$shot"
    return 0
}
check index.html en index.zh.html "cross entropy" screenshot.png
check index.zh.html zh-CN index.html "交叉熵" screenshot.zh.png
exit "$fail"
