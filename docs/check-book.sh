#!/usr/bin/env bash
# Check the built book for the mistakes `mdbook build` lets through.
#
# Usage:  bash docs/check-book.sh [BUILT_BOOK_DIR]      (default: docs/book)
#
# mdBook 0.5 reports some mistakes only as log lines and still exits 0, and
# it says nothing at all about others. This script fails (exit 1, one line
# per problem, each naming the file) when:
#
#   1. a built HTML page still contains `{{#`: an include mdBook could not
#      resolve is left in the page as raw text;
#   2. a chapter includes a file that does not exist, or an anchor the file
#      does not have (mdBook silently includes nothing for a missing anchor),
#      or an anchor that opens but never closes, or a line range past the
#      end of the file;
#   3. a link inside the book (href or src to a page, a file or a #fragment)
#      points at a page, a file or a heading id that the built book lacks;
#   4. `mdbook build` logs a WARN or ERROR line (unclosed HTML tags such as
#      a `<details>` left open, an include it could not read, ...): the book
#      is built a second time into a scratch folder to read that log;
#   5. a fenced code block has no language: rustdoc, which `mdbook test`
#      runs, would compile it as Rust. Mark output as ```text and commands
#      as ```sh (or ```console). Likewise, code included from a lesson crate
#      must sit in a ```rust,ignore block, since rustdoc compiles each
#      snippet alone, without the workspace's crates; and a packet capture
#      (docs/captures/*.txt) in a ```text,capture block, which keeps one
#      segment per line (style/layout.css);
#   6. a chapter still holds a placeholder (TODO, FIXME, TBD, SNIPPET_...,
#      or a word such as MUTANTS_FIGURES or BENCH_OUTPUT) where real text,
#      figures or program output belong;
#   7. a diagram was not drawn: a ```bob block left as code in a page (the
#      book's preprocessor did not run), or a diagram figure without its SVG;
#   8. included code still starts indented: a ```python (or rust, java, go)
#      block in a page whose every line is indented, which the preprocessor
#      should have removed;
#   9. a terminal caption (<div class="terminal">) that is not directly
#      followed by the code block it names;
#  10. a Markdown file under src/ that is neither a page of SUMMARY.md nor
#      included by one: mdBook ignores it, so whatever it holds (a diagram
#      staged for a chapter, a section moved out) never reaches a reader.
#
# It needs bash and python3; step 4 also needs mdbook (on PATH or in
# ~/.cargo/bin).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # the docs/ folder
book_root="$here"
built="${1:-$here/book}"

if [ ! -f "$built/index.html" ]; then
    echo "check-book: $built/index.html is missing; run \`mdbook build docs\` first" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "check-book: python3 is needed to check the book" >&2
    exit 1
fi

status=0

# --- 4. mdBook's own warnings ----------------------------------------------
mdbook_bin="$(command -v mdbook || true)"
if [ -z "$mdbook_bin" ] && [ -x "$HOME/.cargo/bin/mdbook" ]; then
    mdbook_bin="$HOME/.cargo/bin/mdbook"
fi
if [ -z "$mdbook_bin" ]; then
    echo "check-book: mdbook not found; cannot read its warnings" >&2
    status=1
else
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    log="$scratch/build.log"
    # NO_COLOR keeps the log free of escape codes, so the grep below is exact.
    if ! NO_COLOR=1 "$mdbook_bin" build "$book_root" -d "$scratch/html" >"$log" 2>&1; then
        echo "check-book: \`mdbook build $book_root\` failed:" >&2
        cat "$log" >&2
        status=1
    elif grep -Eq '(^| )(WARN|ERROR)( |$)' "$log"; then
        echo "check-book: \`mdbook build\` reported problems (a warning is a failure here):" >&2
        # Each problem and the lines that explain it, up to the next log line.
        awk '/^ *(INFO|DEBUG|TRACE) / { show = 0 }
             /(^| )(WARN|ERROR)( |$)/  { show = 1 }
             show' "$log" >&2
        status=1
    fi
fi

# --- 1, 2, 3, 5: the sources and the built HTML ------------------------------
if ! python3 - "$book_root" "$built" <<'PY'
import html.parser
import os
import re
import sys
import urllib.parse

book_root, built = sys.argv[1], sys.argv[2]
src_dir = os.path.join(book_root, "src")
problems = []


def rel(path):
    return os.path.relpath(path, os.getcwd())


# ---- 2. includes in the Markdown sources ----------------------------------
# The same shapes mdBook's links preprocessor accepts: {{#include path}},
# {{#include path:anchor}}, {{#include path:10}}, {{#include path:10:20}},
# {{#include path::20}}, and the same for rustdoc_include and playground.
# A backslash before the braces escapes them.
INCLUDE = re.compile(r"(\\?)\{\{\s*#(include|rustdoc_include|playground)\s+([^\s}]+)[^}]*\}\}")
ANCHOR_START = re.compile(r"ANCHOR:\s*([\w_-]+)")
ANCHOR_END = re.compile(r"ANCHOR_END:\s*([\w_-]+)")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
PLACEHOLDER = re.compile(r"\b(TODO|FIXME|TBD)\b|\bSNIPPET_[A-Z0-9_]+|\b[A-Z]+_(FIGURES|OUTPUT|RESULTS|NUMBERS)\b")
included = set()  # every file some page includes, as a normalised path

for dirpath, _dirs, files in os.walk(src_dir):
    for name in sorted(files):
        if not name.endswith(".md"):
            continue
        md_path = os.path.join(dirpath, name)
        with open(md_path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")

        for m in INCLUDE.finditer(text):
            if m.group(1):  # escaped: shown as text on purpose
                continue
            line_no = text.count("\n", 0, m.start()) + 1
            where = f"{rel(md_path)}:{line_no}"
            target = m.group(3)
            selector = None
            if m.group(2) != "playground" and ":" in target:
                target, selector = target.split(":", 1)
            file_path = os.path.normpath(os.path.join(dirpath, target))
            included.add(file_path)
            if not os.path.isfile(file_path):
                problems.append(f"{where}: {m.group(0)} includes {rel(file_path)}, which does not exist")
                continue
            if selector is None or selector == "":
                continue
            with open(file_path, encoding="utf-8", errors="replace") as f:
                source_lines = f.read().split("\n")
            if re.fullmatch(r"\d*(:\d*)?", selector):
                numbers = [int(n) for n in selector.split(":") if n]
                if numbers and max(numbers) > len(source_lines):
                    problems.append(f"{where}: {m.group(0)} asks for line {max(numbers)}, but {rel(file_path)} has {len(source_lines)} lines")
                continue
            anchor = selector
            starts = [i for i, l in enumerate(source_lines)
                      if (s := ANCHOR_START.search(l)) and s.group(1) == anchor]
            ends = [i for i, l in enumerate(source_lines)
                    if (e := ANCHOR_END.search(l)) and e.group(1) == anchor]
            if not starts:
                problems.append(f"{where}: {m.group(0)}: {rel(file_path)} has no `ANCHOR: {anchor}` (mdBook would include nothing)")
                continue
            if not ends or ends[-1] < starts[0]:
                problems.append(f"{where}: {m.group(0)}: {rel(file_path)} opens `ANCHOR: {anchor}` but never closes it with `ANCHOR_END: {anchor}`")
                continue
            body = [l for l in source_lines[starts[0] + 1:min(e for e in ends if e > starts[0])]
                    if not ANCHOR_START.search(l) and not ANCHOR_END.search(l)]
            if not any(l.strip() for l in body):
                problems.append(f"{where}: {m.group(0)}: the `{anchor}` anchor in {rel(file_path)} is empty")

        # ---- 6. placeholders left in the text -------------------------------
        for i, line in enumerate(lines, start=1):
            if PLACEHOLDER.search(line):
                problems.append(f"{rel(md_path)}:{i}: a placeholder is still in the text: {line.strip()[:100]}")

        # ---- 5. fenced code blocks: a language, and `ignore` on lesson code
        open_fence = None
        open_info = ""
        for i, line in enumerate(lines, start=1):
            fm = FENCE.match(line)
            if not fm:
                if open_fence is not None and INCLUDE.search(line) and "captures/" in line \
                        and open_info.replace(" ", "") != "text,capture":
                    problems.append(f"{rel(md_path)}:{i}: a packet capture is included in a ```{open_info} block; write ```text,capture, so that each segment stays on one line")
                if open_fence is not None and INCLUDE.search(line) and "../" in line:
                    tags = {t.strip() for t in open_info.split(",")}
                    if "rust" in tags and not tags & {"ignore", "compile_fail", "no_run"}:
                        problems.append(f"{rel(md_path)}:{i}: code from a lesson crate is included in a ```{open_info} block; `mdbook test` cannot compile it without the workspace: write ```rust,ignore")
                continue
            marker, info = fm.group(2), fm.group(3).strip()
            if open_fence is None:
                open_fence, open_info = marker, info
                if info == "":
                    problems.append(f"{rel(md_path)}:{i}: a code block without a language; `mdbook test` compiles it as Rust. Write ```text for output, ```sh for commands, ```rust for Rust")
            elif marker[0] == open_fence[0] and len(marker) >= len(open_fence) and info == "":
                open_fence = None


# ---- 10. Markdown files that no reader will see ---------------------------
with open(os.path.join(src_dir, "SUMMARY.md"), encoding="utf-8") as f:
    summary = f.read()
pages_listed = {os.path.normpath(os.path.join(src_dir, urllib.parse.unquote(target)))
                for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", summary)}
for dirpath, _dirs, files in os.walk(src_dir):
    for name in sorted(files):
        md_path = os.path.normpath(os.path.join(dirpath, name))
        if not name.endswith(".md") or name == "SUMMARY.md":
            continue
        if md_path not in pages_listed and md_path not in included:
            problems.append(f"{rel(md_path)}: neither a page in SUMMARY.md nor included by one; mdBook leaves it out of the book (move its text into a chapter, or delete it)")


# ---- 1 and 3: the built HTML ---------------------------------------------
class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []  # (attribute value, line)
        self.base = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "base" and attrs.get("href"):
            self.base = attrs["href"]
        for key in ("href", "src"):
            value = attrs.get(key)
            if value is not None and tag not in ("base",):
                self.links.append((value, self.getpos()[0]))

    handle_startendtag = handle_starttag


pages = {}
for dirpath, dirs, files in os.walk(built):
    # The Chinese book is built into zh-CN/ inside the English one; it is a
    # book of its own, checked by its own run (check-book.sh docs/book/zh-CN).
    if "zh-CN" in dirs and os.path.exists(os.path.join(dirpath, "zh-CN", "index.html")):
        dirs.remove("zh-CN")
    for name in files:
        if name.endswith(".html"):
            path = os.path.normpath(os.path.join(dirpath, name))
            with open(path, encoding="utf-8", errors="replace") as f:
                content = f.read()
            parser = Page()
            parser.feed(content)
            pages[path] = (content, parser)

# ---- 7, 8, 9: diagrams, indentation, terminal captions -----------------
CODE_BLOCK = re.compile(r'<pre><code class="language-(\w+)[^"]*">(.*?)</code></pre>', re.S)
for path, (content, _parser) in sorted(pages.items()):
    if os.path.basename(path) == "print.html":
        continue
    if 'class="language-bob' in content:
        problems.append(f"{rel(path)}: a ```bob diagram is shown as code, not drawn: is the book's preprocessor (docs/preprocessor.py) in book.toml?")
    for figure in re.findall(r'<figure class="diagram">(.*?)</figure>', content, re.S):
        if "<svg" not in figure or "<line" not in figure and "<path" not in figure and "<rect" not in figure:
            problems.append(f"{rel(path)}: a diagram figure without a drawing in it")
    for language, body in CODE_BLOCK.findall(content):
        if language not in ("python", "rust", "java", "go", "c"):
            continue
        text = re.sub(r"<[^>]+>", "", body)
        lines = [l for l in text.split("\n") if l.strip() and not l.startswith("# ")]
        if lines and all(l[0] in " \t" for l in lines):
            problems.append(f"{rel(path)}: a ```{language} block whose every line is indented: {lines[0].strip()[:60]}")
    for m in re.finditer(r'<div class="terminal">(.*?)</div>\s*(<\w+)', content, re.S):
        if m.group(2) != "<pre":
            problems.append(f"{rel(path)}: the terminal caption {m.group(1).strip()!r} is not followed by a code block")

# (print.html repeats every chapter; the chapter's own page is reported.)
for path, (content, _parser) in sorted(pages.items()):
    if os.path.basename(path) == "print.html":
        continue
    for i, line in enumerate(content.split("\n"), start=1):
        if "{{#" in line:
            snippet = line.strip()[:120]
            problems.append(f"{rel(path)}:{i}: `{{{{#` left in the page (an include mdBook did not resolve, or an escaped one shown as text): {snippet}")

# Every href and src of every page, print.html included. 404.html uses
# <base href="/">, so its links are resolved from the top of the book.
built_abs = os.path.normpath(built)
for path, (content, parser) in sorted(pages.items()):
    page_dir = os.path.dirname(path)
    base_dir = page_dir
    if parser.base is not None:
        if parser.base.startswith("/"):
            base_dir = os.path.normpath(os.path.join(built_abs, parser.base.lstrip("/")))
        elif not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", parser.base):
            base_dir = os.path.normpath(os.path.join(page_dir, parser.base))
        else:
            continue  # an absolute site URL: nothing local to check
    for value, line in parser.links:
        value = value.strip()
        if value == "" or value == "#":
            continue
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value) or value.startswith("//"):
            continue  # http:, https:, mailto:, javascript:, data: ...
        parsed = urllib.parse.urlsplit(value)
        target_path = urllib.parse.unquote(parsed.path)
        fragment = urllib.parse.unquote(parsed.fragment)
        if target_path == "":
            target = path
        elif target_path.startswith("/"):
            target = os.path.normpath(os.path.join(built_abs, target_path.lstrip("/")))
        else:
            target = os.path.normpath(os.path.join(base_dir, target_path))
        if os.path.isdir(target):
            target = os.path.join(target, "index.html")
        if not target.startswith(built_abs):
            problems.append(f"{rel(path)}:{line}: link {value!r} leaves the book")
            continue
        if not os.path.exists(target):
            problems.append(f"{rel(path)}:{line}: link {value!r} points to {rel(target)}, which the built book does not have")
            continue
        if fragment and target.endswith(".html"):
            ids = pages[target][1].ids if target in pages else set()
            if fragment not in ids:
                problems.append(f"{rel(path)}:{line}: link {value!r}: {rel(target)} has no element with id {fragment!r}")

for p in problems:
    print(f"check-book: {p}", file=sys.stderr)
if problems:
    print(f"check-book: {len(problems)} problem(s) in the book", file=sys.stderr)
    sys.exit(1)
print(f"check-book: {len(pages)} pages checked, no unresolved include, no broken include, no broken internal link")
PY
then
    status=1
fi

exit "$status"
