// Search for Chinese words. mdBook's search index cuts the text into words
// at spaces and hyphens, which suits English; Chinese writes no spaces
// between words, so a Chinese sentence would be one long "word" and a
// search for 套接字 would find nothing. For a query that contains Chinese
// (or other CJK) characters, look for each space-separated part of it
// inside every section's title and text instead. Other queries go to
// mdBook's own search unchanged.
(function () {
    "use strict";

    if (typeof elasticlunr === "undefined") {
        return; // the book was built without search
    }
    const cjk = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;

    // How many times `part` occurs in `text`.
    function occurrences(text, part) {
        let count = 0;
        let at = text.indexOf(part);
        while (at !== -1) {
            count += 1;
            at = text.indexOf(part, at + part.length);
        }
        return count;
    }

    const wordSearch = elasticlunr.Index.prototype.search;
    elasticlunr.Index.prototype.search = function (query, options) {
        if (!cjk.test(query)) {
            return wordSearch.call(this, query, options);
        }
        const parts = query.toLowerCase().split(/\s+/).filter((part) => part !== "");
        const docs = this.documentStore.docs;
        const results = [];
        for (const ref of Object.keys(docs)) {
            const doc = docs[ref];
            const title = (doc.title || "").toLowerCase();
            const body = (doc.body || "").toLowerCase();
            let score = 0;
            let all = true;
            for (const part of parts) {
                // A match in a section's title counts more than one in its text.
                const found = 3 * occurrences(title, part) + occurrences(body, part);
                if (found === 0) {
                    all = false;
                    break;
                }
                score += found;
            }
            if (all) {
                results.push({ ref: ref, score: score, doc: doc });
            }
        }
        results.sort((a, b) => b.score - a.score);
        return results;
    };
})();
