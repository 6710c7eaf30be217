// Small reading aids for the book; the pages read the same without them.
(function () {
    "use strict";

    // Inline code with a hyphen and no space (`bad-header`, `--overwrite`,
    // `SYN-SENT`) is one word: never break it at its hyphens. A short one
    // with a space (`--max-size 10`) stays whole too.
    for (const code of document.querySelectorAll("main :not(pre) > code")) {
        const text = code.textContent;
        if (text.includes("-") && (!/\s/.test(text) || text.length <= 24)) {
            code.classList.add("token");
        }
    }

    // Code in a table cell may break after "(", ",", "::" or a "." that is not
    // in a number, and nowhere else, so a narrow column reads
    // `socket.create_connection(` / `(host, port), ...` rather than a name cut
    // in two (layout.css lets it break anywhere when this script does not run).
    for (const code of document.querySelectorAll("main td code")) {
        if (code.children.length > 0 || code.classList.contains("token")) {
            continue;
        }
        const parts = code.textContent.split(/(?<=[(,]|::|[^0-9]\.)/);
        if (parts.length < 2) {
            continue;
        }
        code.textContent = "";
        parts.forEach((part, i) => {
            if (i > 0) {
                code.appendChild(document.createElement("wbr"));
            }
            code.appendChild(document.createTextNode(part));
        });
        code.classList.add("breaks-marked");
    }

    // Output and commands wrap their long lines; wrap each line in a span so
    // that what wraps continues indented (see layout.css).
    const plain = "main pre > code.language-text, main pre > code.language-console, main pre > code.language-sh";
    for (const code of document.querySelectorAll(plain)) {
        // Highlighted markup that runs across lines cannot be cut at "\n".
        if (Array.from(code.querySelectorAll("*")).some((e) => e.textContent.includes("\n"))) {
            continue;
        }
        const lines = code.innerHTML.split("\n");
        if (lines.length > 1 && lines[lines.length - 1] === "") {
            lines.pop();
        }
        code.innerHTML = lines
            .map((line) => '<span class="wrapped-line">' + (line === "" ? " " : line) + "</span>")
            .join("\n");
    }
})();
