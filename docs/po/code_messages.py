#!/usr/bin/env python3
"""Reads a PO file and writes, as a PO file of their own, the messages that
are code and still need a translation (none yet, or a fuzzy one), each with
its English text as its translation: `python3 code_messages.py IN.po OUT.po`.

Code stays English in the Chinese book. mdbook-xgettext takes out of the
chapters, besides the prose, whole fenced blocks of output and commands,
and the comments and string literals of the code blocks; docs/po/
translation.sh merges this file's output over zh-CN.po so that only prose
is left to translate. (GNU msggrep cannot make this choice: it matches each
line of a message on its own, so a table with a `| --- |` row would look
like punctuation only.)
"""

import re
import sys

# A message is code when it is one of these, as a whole.
CODE = [
    re.compile(r"(```|~~~|//|/\*|# |#!|\"\"\").*", re.S),  # block, comment, docstring
    # A string or char literal, maybe with the comment after it on its line.
    re.compile(r"""(b?"([^"\\]|\\.)*"|b?'([^'\\]|\\.)*')([ \t]*(#|//)[^\n]*)?""", re.S),
    re.compile(r"(`[^`]*`[^A-Za-z`]*)+"),  # only code spans: a file name
    re.compile(r"[^A-Za-z]*"),  # only numbers and punctuation
]


def unquote(text):
    """The text of one PO string line, "..." with C escapes."""
    body = text.strip()[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)


def quote(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    parts = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if len(parts) == 1:
        return f'"{parts[0]}"'
    return '""\n' + "\n".join(f'"{part}"' for part in parts)


def entries(path):
    """(flags, msgid, msgstr) for each message, the header and obsolete
    entries left out."""
    flags, field, values = "", None, {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n") + [""]
    for line in lines:
        if line.startswith("#,"):
            flags = line
        elif line.startswith("msgid ") or line.startswith("msgstr "):
            field = line.split(" ", 1)[0]
            values[field] = unquote(line.split(" ", 1)[1])
        elif line.startswith('"') and field:
            values[field] += unquote(line)
        elif line.strip() == "":
            if "msgid" in values and values["msgid"] != "":
                yield flags, values["msgid"], values.get("msgstr", "")
            flags, field, values = "", None, {}
        else:
            field = None if not line.startswith("#") else field


def main():
    source, target = sys.argv[1], sys.argv[2]
    # The same header as the source, so that merging keeps it.
    with open(source, encoding="utf-8") as f:
        out = f.read().split("\n\n", 1)[0].split("\n") + [""]
    for flags, msgid, msgstr in entries(source):
        if msgstr and "fuzzy" not in flags:
            continue
        if any(pattern.fullmatch(msgid.strip()) for pattern in CODE):
            out += [f"msgid {quote(msgid)}", f"msgstr {quote(msgid)}", ""]
    with open(target, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
