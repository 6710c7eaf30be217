#!/usr/bin/env python3
"""The book's own mdBook preprocessor. It does two things to each chapter,
after mdBook has resolved the {{#include}}s, and touches nothing else:

1. Diagrams. A fenced block marked ```bob holds a picture drawn in plain
   text. It is handed to svgbob (`svgbob_cli`, pinned in .ci/run) and
   replaced by the SVG it draws, inline in the page: no JavaScript, nothing
   fetched when the book is built or read. The SVG's own colours are dropped;
   style/diagrams.css draws it in the colours of the theme the reader picked,
   so it reads in all five themes. The source stays in the chapter, so
   changing a diagram is a text diff.

2. Indentation. Code included from the middle of a function (a Python
   function body, a Java method, a Rust loop) keeps the indentation it has
   in its file. In a ```python, ```rust, ```java, ```go or ```c block, the
   indentation that every line shares is removed, so the code starts at the
   left margin and Python's indentation means what it says.

3. Emphasis in Chinese. CommonMark decides whether `_word_` or `**word**`
   is emphasis by what stands around the markers, and its rules assume
   words separated by spaces: in `套接字_不_关闭` the underscores stay
   literal. The Chinese book's text comes from docs/po/zh-CN.po through
   mdbook-gettext, which writes emphasis as `_..._`. Outside code, emphasis
   that touches or holds a Chinese character is written as <em>/<strong>
   HTML, which needs no such rule. English text is left alone.

mdBook runs it as `python3 preprocessor.py` from the docs/ folder: first with
`supports RENDERER` (every renderer is fine), then with the book as JSON on
stdin, expecting the changed book on stdout.
"""

import json
import os
import re
import shutil
import subprocess
import sys

SVGBOB = os.environ.get("SVGBOB", "svgbob_cli")
SVGBOB_HINT = "install it with: cargo install svgbob_cli --locked --version 0.7.6"
DEDENTED = {"python", "rust", "java", "go", "c"}
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s,]*)([^`]*)$")


class PreprocessorError(Exception):
    pass


def bob_to_svg(source, where):
    """Runs svgbob on one diagram and returns an SVG element that scales with
    the page and takes its colours from the theme."""
    if shutil.which(SVGBOB) is None:
        raise PreprocessorError(f"{where}: a ```bob diagram needs {SVGBOB}, which is not on PATH; {SVGBOB_HINT}")
    result = subprocess.run([SVGBOB], input=source, capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or "<svg" not in result.stdout:
        raise PreprocessorError(f"{where}: {SVGBOB} failed on a ```bob diagram: {result.stderr.strip()}")
    svg = result.stdout
    size = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" width="(\d+)" height="(\d+)" class="svgbob">', svg)
    if size is None:
        raise PreprocessorError(f"{where}: {SVGBOB} drew an SVG of a shape this script does not know")
    width, height = int(size.group(1)), int(size.group(2))
    # svgbob sizes the picture by its lines and boxes, and can cut off a label
    # written at the right edge or the bottom; make room for all the text.
    lines = source.rstrip("\n").split("\n")
    width = max(width, 8 * max(len(line) for line in lines) + 8)
    height = max(height, 16 * len(lines) + 8)
    svg = svg.replace(
        size.group(0),
        f'<svg xmlns="http://www.w3.org/2000/svg" class="svgbob" viewBox="0 0 {width} {height}"'
        f' style="max-width: {width}px; min-width: min({width}px, 560px)" role="img">',
    )
    svg = re.sub(r"<style>.*?</style>", "", svg, flags=re.S)  # style/diagrams.css colours it
    svg = re.sub(r'<rect class="backdrop"[^>]*></rect>', "", svg)  # the page is the background
    # No blank line may appear inside the HTML block, or Markdown would end it there.
    svg = "\n".join(line for line in svg.split("\n") if line.strip())
    return f'<figure class="diagram">\n{svg}\n</figure>\n'


def dedent(lines, fence_indent):
    """Removes the leading whitespace that every non-blank line shares."""
    body = [line[min(fence_indent, len(line) - len(line.lstrip(" "))):] for line in lines]
    indents = [re.match(r"[ \t]*", line).group(0) for line in body if line.strip()]
    if not indents:
        return lines
    common = os.path.commonprefix(indents)
    if not common:
        return lines
    return [" " * fence_indent + line[len(common):] if line.strip() else line for line in body]


CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
# `**x**`, `__x__`, `*x*` or `_x_` on one line, the markers not escaped and
# not part of a longer run; the text inside neither starts nor ends with a
# space. An underscore inside an English word (RLIMIT_NOFILE) is no marker.
EMPHASIS = re.compile(
    r"(?<![\\*_])(\*\*|\*)(?![\s*_])(.+?)(?<![\s\\*_])\1(?![*_])"
    r"|(?<![\\*_A-Za-z0-9])(__|_)(?![\s*_])(.+?)(?<![\s\\*_])\3(?![*_A-Za-z0-9])"
)
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")


def cjk_emphasis(line):
    """Emphasis that touches or holds a Chinese character, as HTML."""
    if not re.search(f"[{CJK}]", line):
        return line

    def html(match):
        marker = match.group(1) or match.group(3)
        text = match.group(2) or match.group(4)
        before = line_part[match.start() - 1:match.start()]
        after = line_part[match.end():match.end() + 1]
        if not re.search(f"[{CJK}]", before + text + after):
            return match.group(0)
        tag = "strong" if len(marker) == 2 else "em"
        return f"<{tag}>{text}</{tag}>"

    # Code spans keep their underscores and stars: change only what lies
    # between them.
    pieces = []
    last = 0
    for span in CODE_SPAN.finditer(line):
        line_part = line[last:span.start()]
        pieces.append(EMPHASIS.sub(html, line_part))
        pieces.append(span.group(0))
        last = span.end()
    line_part = line[last:]
    pieces.append(EMPHASIS.sub(html, line_part))
    return "".join(pieces)


def process(content, where):
    lines = content.split("\n")
    out = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            out.append(cjk_emphasis(lines[i]))
            i += 1
            continue
        indent, marker, language = len(opening.group(1)), opening.group(2), opening.group(3)
        # Find the closing fence: the same character, at least as long.
        j = i + 1
        while j < len(lines):
            closing = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[j])
            if closing and closing.group(1)[0] == marker[0] and len(closing.group(1)) >= len(marker):
                break
            j += 1
        body = lines[i + 1:j]
        if language == "bob":
            source = "\n".join(line[indent:] if line.startswith(" " * indent) else line.lstrip(" ")
                               for line in body)
            out.append(bob_to_svg(source, f"{where}:{i + 1}"))
        elif language in DEDENTED:
            out.append(lines[i])
            out.extend(dedent(body, indent))
            if j < len(lines):
                out.append(lines[j])
        else:
            out.extend(lines[i:j + 1])
        i = j + 1
    return "\n".join(out)


def walk(items):
    for item in items:
        if isinstance(item, dict) and "Chapter" in item:
            chapter = item["Chapter"]
            where = chapter.get("source_path") or chapter.get("path") or chapter.get("name")
            chapter["content"] = process(chapter["content"], where)
            walk(chapter.get("sub_items", []))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "supports":
        return 0  # plain Markdown and inline SVG suit every renderer
    _context, book = json.load(sys.stdin)
    try:
        walk(book["items"])
    except PreprocessorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    json.dump(book, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
