#!/usr/bin/env bash
# The Chinese edition's upkeep: `bash docs/po/translation.sh update|check`
#
# The English chapters in docs/src/ are the source. Their text is cut into
# messages (a paragraph, a heading, a list item, a table) by mdbook-xgettext,
# and docs/po/zh-CN.po holds the Chinese for each message. mdbook-gettext
# swaps them in when the book is built with its language set to zh-CN:
#
#     MDBOOK_BOOK__LANGUAGE=zh-CN mdbook build docs -d docs/book/zh-CN
#
#   update  Extract the English messages again and merge them into
#           zh-CN.po: a changed sentence keeps its old Chinese marked
#           "fuzzy" (to review), a new one arrives untranslated. Code stays
#           English in both books, so a message that is code (a fenced
#           block, a comment or string literal taken from Rust code, a bare
#           number) gets its English text at once; what is left is prose
#           to translate. Then edit zh-CN.po: fill each empty msgstr, fix
#           each fuzzy one and delete its "#, fuzzy" line.
#   check   Fail unless every English message has a Chinese one that is
#           neither missing nor fuzzy (what CI runs). Changes nothing.
#   build   Build the Chinese book into docs/book/zh-CN/ (after the English
#           one: building the English book clears docs/book/). Extra
#           arguments go to mdbook, e.g. `build` then `serve` is
#           `MDBOOK_BOOK__LANGUAGE=zh-CN mdbook serve docs -d docs/book/zh-CN`.
#
# Needs mdbook, mdbook-i18n-helpers (mdbook-xgettext, mdbook-gettext) and
# GNU gettext (msgmerge, msgattrib, msgcat, msgfmt) and python3 (code_messages.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
po=docs/po/zh-CN.po
mode="${1:-}"

# The book's title and description live in book.toml, not in a chapter, so
# the Chinese ones are given here.
zh_book() {
    MDBOOK_BOOK__LANGUAGE=zh-CN \
        MDBOOK_BOOK__TITLE="用 Rust 学 TCP 编程" \
        MDBOOK_BOOK__DESCRIPTION="用 Rust 一个小程序接一个小程序地动手学 TCP 编程。" \
        mdbook "$@"
}
if [ "$mode" = build ]; then
    zh_book build docs -d docs/book/zh-CN
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The English messages, as they stand. "granularity": 0 keeps line numbers
# out of the references, so editing one chapter does not touch every entry.
MDBOOK_OUTPUT='{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}' \
    mdbook build docs -d "$work/pot" >"$work/extract.log" 2>&1 || {
    cat "$work/extract.log"
    exit 1
}
pot="$work/pot/messages.pot"

# zh-CN.po brought up to the English text, into $1.
merge_into() {
    # --previous keeps a changed message's old English next to it (#|), so
    # whoever updates the Chinese sees what changed.
    msgmerge --quiet --no-wrap --previous "$po" "$pot" -o "$1"
}

case "$mode" in
update)
    merge_into "$work/merged.po"
    # Code that is new or changed gets its English text (code_messages.py
    # says which messages are code), over whatever the merge left.
    python3 docs/po/code_messages.py "$work/merged.po" "$work/code.po"
    msgcat --no-wrap --use-first "$work/code.po" "$work/merged.po" -o "$work/filled.po"
    # English that no longer exists leaves no trace behind.
    msgattrib --no-wrap --no-obsolete "$work/filled.po" -o "$po"
    echo "updated $po:"
    msgfmt --statistics -o /dev/null "$po"
    ;;
check)
    merge_into "$work/merged.po"
    stats="$(LC_ALL=C msgfmt --statistics -o /dev/null "$work/merged.po" 2>&1)"
    echo "zh-CN: $stats"
    if echo "$stats" | grep -Eq "fuzzy|untranslated"; then
        echo "the Chinese translation is behind the English text."
        echo "Run: bash docs/po/translation.sh update, then translate what it lists:"
        # Where each message is, and its English (the old English too, for
        # a changed one); the header has no "#:" line and is left out.
        for which in --untranslated --only-fuzzy; do
            msgattrib --no-wrap "$which" "$work/merged.po" |
                grep -E '^(#:|#, fuzzy|#\| msgid |msgid )' | grep -v '^msgid ""$' | head -60 || true
        done
        exit 1
    fi
    ;;
*)
    echo "usage: bash docs/po/translation.sh update|check" >&2
    exit 2
    ;;
esac
