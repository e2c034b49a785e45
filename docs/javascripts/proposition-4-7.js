// Proposition 4.7's interactive figure (docs/figures/proposition-4-7.html): both sides of the
// subadditivity inequality (iv) on the block family K1 = J_k (+) I_k, K2 = I_k (+) J_k, from the
// closed-form spectra. K1 o K2 = I_2k, so H_alpha(K1, K2) = log 2k; K1/2k has eigenvalues 1/2
// (once), 1/(2k) (k times) and 0, the same for K2.
(function () {
  function marginal(alpha, k) {            // H_alpha(K1) = H_alpha(K2)
    if (alpha === Infinity) return Math.log(2);               // -log of the largest eigenvalue
    if (Math.abs(alpha - 1) < 1e-12) return 0.5 * Math.log(2) + 0.5 * Math.log(2 * k);  // von Neumann
    const S = Math.pow(2, -alpha) + k * Math.pow(2 * k, -alpha);
    return Math.log(S) / (1 - alpha);
  }
  const joint = (k) => Math.log(2 * k);
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);

  function exact(alpha, k) {               // the closed forms, where they are short
    if (alpha === Infinity) return ["log 4", `log ${2 * k}`];
    if (alpha === 2) {                     // H_2(K1) = log(4k/(k+1)): the sum is log(16k²/(k+1)²)
      const p = 16 * k * k, q = (k + 1) * (k + 1), g = gcd(p, q);
      return [q / g === 1 ? `log ${p / g}` : `log(${p / g}/${q / g})`, `log ${2 * k}`];
    }
    if (alpha === 1.5) return [`6 log 2 − 4 log(1 + 1/√${k})`, `log ${2 * k}`];
    return null;
  }

  function smallestFailingK(alpha) {
    if (alpha <= 1) return null;
    for (let k = 1; k <= 1e6; k++) if (2 * marginal(alpha, k) < joint(k) - 1e-12) return k;
    return null;
  }

  function draw(svg, alpha, kNow) {
    // the drawing is as wide as the screen allows (360-640 units), so that its text stays legible
    const W = Math.round(Math.min(640, Math.max(360, svg.clientWidth || 640))), H = 280, L = 48, R = 12, T = 12, B = 40, K = 40;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const pts = [];
    for (let k = 1; k <= K; k++) pts.push([k, joint(k), 2 * marginal(alpha, k)]);
    const ys = pts.flatMap((p) => [p[1], p[2]]);
    const y0 = Math.min(0, ...ys), y1 = Math.max(...ys) * 1.05;
    const x = (k) => L + ((k - 1) / (K - 1)) * (W - L - R);
    const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
    const path = (i) => pts.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[i]).toFixed(1)}`).join("");
    const ticks = [1, 10, 20, 30, 40].map((k) =>
      `<text x="${x(k)}" y="${H - 20}" text-anchor="middle" font-size="15" fill="currentColor">${k}</text>`).join("");
    const yt = [0, 1, 2, 3, 4, 5].filter((v) => v >= y0 && v <= y1).map((v) =>
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="15" fill="currentColor">${v}</text>` +
      `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="currentColor" stroke-opacity=".12"/>`).join("");
    svg.innerHTML = yt + ticks +
      `<text x="${(L + W - R) / 2}" y="${H - 1}" text-anchor="middle" font-size="15" fill="currentColor">block size k</text>` +
      `<path d="${path(1)}" fill="none" stroke="#c62828" stroke-width="2.5"/>` +
      `<path d="${path(2)}" fill="none" stroke="#1565c0" stroke-width="2.5" stroke-dasharray="7 4"/>` +
      `<line x1="${x(kNow)}" x2="${x(kNow)}" y1="${T}" y2="${H - B}" stroke="currentColor" stroke-opacity=".5"/>` +
      `<text x="${L + 8}" y="${T + 16}" font-size="15" fill="#c62828">joint entropy, log 2k (solid)</text>` +
      `<text x="${L + 8}" y="${T + 36}" font-size="15" fill="#1565c0">sum of marginal entropies (dashed)</text>`;
  }

  function setup(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    const $ = (sel) => root.querySelector(sel);
    const aIn = $('[data-in="alpha"]'), infIn = $('[data-in="inf"]'), kIn = $('[data-in="k"]');
    function update() {
      const alpha = infIn.checked ? Infinity : Number(aIn.value), k = Number(kIn.value);
      const lhs = joint(k), rhs = 2 * marginal(alpha, k), ex = exact(alpha, k);
      $('[data-out="alpha"]').textContent = alpha === Infinity ? "∞" : alpha.toFixed(2);
      $('[data-out="k"]').textContent = k;
      $('[data-out="lhs"]').textContent = (ex ? ex[1] + " = " : "") + lhs.toFixed(6);
      $('[data-out="rhs"]').textContent = (ex ? ex[0] + " = " : "") + rhs.toFixed(6);
      const kMin = smallestFailingK(alpha);
      $('[data-out="verdict"]').textContent = rhs < lhs - 1e-12
        ? `(iv) fails: the joint entropy exceeds the sum by ${(lhs - rhs).toFixed(6)}.`
        : `(iv) holds here` + (alpha <= 1
          ? " (for α ≤ 1 this family never breaks it; the α < 1 counterexample is the label design above)."
          : kMin ? `; for this α it first fails at k = ${kMin}.` : ".");
      aIn.disabled = infIn.checked;
      draw($('[data-out="plot"]'), alpha, k);
    }
    [aIn, infIn, kIn].forEach((el) => el.addEventListener("input", update));
    window.addEventListener("resize", update);
    root.querySelectorAll("button[data-k]").forEach((b) => b.addEventListener("click", () => {
      infIn.checked = b.dataset.alpha === "inf";
      if (!infIn.checked) aIn.value = b.dataset.alpha;
      kIn.value = b.dataset.k;
      update();
    }));
    update();
  }

  const init = () => document.querySelectorAll("#mmae-prop47").forEach(setup);
  if (typeof document$ !== "undefined") document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
