#!/usr/bin/env bash
# Checks that the page `losslab report` writes renders in a real browser:
# builds and runs the report, loads it in headless Chromium (Debian's package
# `chromium`), checks the rendered DOM has the six questions and inline SVG
# figures, and saves a screenshot next to the page. Not part of CI.
#
# Usage: scripts/check_report.sh [DIR]      (default target/report)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/report}"

if ! command -v chromium >/dev/null; then
    echo "chromium is missing: apt-get install -y chromium" >&2
    exit 1
fi

cargo run --release -q -p losslab-cli -- report --out "$dir"
page="$(realpath "$dir/index.html")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run
       --user-data-dir="$profile")

dom="$(chromium "${flags[@]}" --dump-dom "file://$page" 2>/dev/null)"
fail=0
for q in 1 2 3 4 5 6; do
    if ! grep -q "<h2 id=\"q$q\">" <<<"$dom"; then
        echo "FAIL: question $q is missing from the rendered page" >&2
        fail=1
    fi
done
svgs="$(grep -o '<svg' <<<"$dom" | wc -l)"
if [ "$svgs" -lt 6 ]; then
    echo "FAIL: only $svgs inline SVG figures rendered" >&2
    fail=1
fi
chromium "${flags[@]}" --window-size=1200,2400 --screenshot="$dir/screenshot.png" "file://$page" 2>/dev/null
if [ ! -s "$dir/screenshot.png" ]; then
    echo "FAIL: no screenshot" >&2
    fail=1
fi
[ "$fail" = 0 ] && echo "ok: $page renders (6 questions, $svgs figures); screenshot $dir/screenshot.png"
exit "$fail"
