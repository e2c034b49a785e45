// Typeset the page's math with KaTeX (served from this site; nothing is fetched from outside).
// pymdownx.arithmatex (generic mode) wraps math as <span|div class="arithmatex">\(...\) or \[...\];
// notebook cells keep the $...$ delimiters of Jupyter, rendered with KaTeX's auto-render.
function typesetMath() {
  const options = { throwOnError: false, strict: "ignore", trust: false };
  document.querySelectorAll(".arithmatex").forEach((el) => {
    if (el.dataset.typeset) return;
    const tex = el.textContent.trim();
    const display = el.tagName === "DIV";
    const body = tex.replace(/^(\\\(|\\\[|\$\$?)/, "").replace(/(\\\)|\\\]|\$\$?)$/, "");
    katex.render(body, el, { ...options, displayMode: display });
    el.dataset.typeset = "1";
  });
  document.querySelectorAll(".jupyter-wrapper").forEach((el) => {
    renderMathInElement(el, {
      ...options,
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "$", right: "$", display: false },
        { left: "\\(", right: "\\)", display: false },
      ],
    });
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(typesetMath);  // Material's page-load observable (instant navigation too)
} else {
  document.addEventListener("DOMContentLoaded", typesetMath);
}
