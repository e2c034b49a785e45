// Layout fixes that depend on the rendered width, rerun on every page load and resize.
// 1. A display equation wider than its column is scaled down (to 42 % at most: a two-part bound on a phone) instead of
//    being cut off behind a scroll bar; the browser test fails on one that still does not fit.
// 2. Each table cell gets its column header as data-label, so that mmae.css can show a table
//    as one card per row on a phone.
function fitDisplays() {
  // Markdown displays are div.arithmatex; notebook displays are bare .katex-display.
  document.querySelectorAll(".md-typeset div.arithmatex, .jupyter-wrapper .katex-display").forEach((el) => {
    if (el.classList.contains("katex-display") && el.closest("div.arithmatex")) return;
    const inner = el.querySelector(".katex");
    if (!inner) return;
    inner.style.fontSize = "";
    const ratio = el.clientWidth / inner.scrollWidth;
    if (ratio < 1) inner.style.fontSize = Math.max(0.42, Math.floor(ratio * 100) / 100) + "em";
  });
}

function labelTables() {
  document.querySelectorAll(".md-typeset table").forEach((table) => {
    if (table.dataset.cards || table.closest(".highlight")) return;
    const head = table.querySelectorAll("thead tr");
    const labels = head.length ? [...head[head.length - 1].children].map((c) => c.textContent.trim()) : [];
    table.querySelectorAll("tbody tr").forEach((tr) => {
      [...tr.children].forEach((cell, i) => { if (labels[i]) cell.dataset.label = labels[i]; });
    });
    table.dataset.cards = "1";  // an attribute, not a class: Material styles only table:not([class])
  });
}

function layout() { labelTables(); fitDisplays(); }
if (typeof document$ !== "undefined") document$.subscribe(() => setTimeout(layout, 0));
else document.addEventListener("DOMContentLoaded", layout);
window.addEventListener("resize", fitDisplays);
