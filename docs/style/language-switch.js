// The language switch in the page header: the English book is built into
// docs/book/ and the Chinese one into docs/book/zh-CN/, with the same file
// names, so the same page in the other language is one folder down (or up).
(function () {
    "use strict";

    if (typeof path_to_root === "undefined") {
        return;
    }
    const chinese = document.documentElement.lang === "zh-CN";

    // The page's path inside its book: as many trailing parts of the URL as
    // path_to_root climbs, plus the file name ("index.html" for a folder).
    const depth = (path_to_root.match(/\.\.\//g) || []).length;
    const parts = window.location.pathname.split("/");
    if (parts[parts.length - 1] === "") {
        parts[parts.length - 1] = "index.html";
    }
    const page = parts.slice(parts.length - depth - 1).join("/");

    const link = document.createElement("a");
    link.className = "language-switch";
    if (chinese) {
        link.href = path_to_root + "../" + page;
        link.textContent = "English";
        link.title = "Read this page in English";
        link.lang = "en";
    } else {
        link.href = path_to_root + "zh-CN/" + page;
        link.textContent = "中文";
        link.title = "阅读本页的中文版";
        link.lang = "zh-CN";
    }
    link.hreflang = link.lang;
    // Keep the reader's place on the page: the same heading, if it has one.
    link.addEventListener("click", function () {
        if (window.location.hash) {
            link.href += window.location.hash;
        }
    });

    const buttons = document.querySelector(".right-buttons");
    if (buttons) {
        buttons.prepend(link);
    }
})();
