// The result viewer (NiiVue): the input volume with a labelmap output as a coloured overlay, colours and names
// from the card's label table; and a bar chart for class scores.
"use strict";

(function () {
  let nv = null;

  function rgb(hex) {
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }

  // A NiiVue label colormap: label 0 transparent, every other label its card colour.
  function labelColormap(labels) {
    const table = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [""] };
    for (const label of [...labels].sort((a, b) => a.value - b.value)) {
      if (label.value === 0) continue;
      const [r, g, b] = rgb(label.color);
      table.R.push(r); table.G.push(g); table.B.push(b); table.A.push(255);
      table.I.push(label.value); table.labels.push(label.name);
    }
    return table;
  }

  // World position (mm) of the centre of the labelled voxels, or null when nothing is labelled.
  function labelledCentre(volume) {
    const dims = volume.hdr.dims;
    const [nx, ny, nz] = [dims[1], dims[2], dims[3]];
    const img = volume.img;
    let n = 0, sx = 0, sy = 0, sz = 0;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        const row = (z * ny + y) * nx;
        for (let x = 0; x < nx; x++) {
          if (img[row + x] !== 0) { n++; sx += x; sy += y; sz += z; }
        }
      }
    }
    if (n === 0) return null;
    const v = [sx / n, sy / n, sz / n];
    const a = volume.hdr.affine;
    return [0, 1, 2].map((r) => a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2] + a[r][3]);
  }

  // Show `input` ({url, name}) with `overlay` ({url, name}) coloured by `labels` ([{value, name, color}]).
  async function show(canvas, input, overlay, labels, opacity) {
    await load(canvas, [
      { url: input.url, name: input.name },
      { url: overlay.url, name: overlay.name, opacity: opacity },
    ]);
    const mask = nv.volumes[1];
    mask.setColormapLabel(labelColormap(labels));
    nv.setSliceType(nv.sliceTypeMultiplanar);
    nv.updateGLVolume();
    const centre = labelledCentre(mask);
    if (centre !== null) {
      nv.scene.crosshairPos = nv.mm2frac(centre);
      nv.drawScene();
    }
    return centre !== null;
  }

  async function load(canvas, volumes) {
    if (nv === null) {
      nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], isResizeCanvas: true, show3Dcrosshair: false });
      await nv.attachToCanvas(canvas);
    }
    await nv.loadVolumes(volumes);
  }

  // Show `input` alone (a classification result has no overlay), its crosshair at `lps` (mm) when given.
  async function showInput(canvas, input, lps) {
    await load(canvas, [{ url: input.url, name: input.name }]);
    nv.setSliceType(nv.sliceTypeMultiplanar);
    if (lps) moveTo(lps);
  }

  // Move the crosshair (and so the slices shown) to the LPS position `lps` in mm (NiiVue's world is RAS).
  function moveTo(lps) {
    if (nv === null || !nv.volumes.length) return;
    nv.scene.crosshairPos = nv.mm2frac([-lps[0], -lps[1], lps[2]]);
    nv.drawScene();
  }

  // Where the crosshair is, as LPS mm (for tests and the page).
  function crosshairLps() {
    if (nv === null || !nv.volumes.length) return null;
    const ras = nv.frac2mm(nv.scene.crosshairPos);
    return [-ras[0], -ras[1], ras[2]];
  }

  function setOpacity(value) {
    if (nv !== null && nv.volumes.length > 1) nv.setOpacity(1, value);
  }

  // Class scores ({class: score}) as a horizontal SVG bar chart.
  function renderScores(container, scores) {
    const entries = Object.entries(scores);
    const width = 420, bar = 22, gap = 6, left = 140;
    const top = Math.max(...entries.map(([, v]) => Math.abs(v)), 1e-9);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", entries.length * (bar + gap));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "class scores");
    entries.forEach(([name, value], i) => {
      const y = i * (bar + gap);
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", 0); text.setAttribute("y", y + bar * 0.7); text.setAttribute("class", "bar-label");
      text.textContent = name;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", left); rect.setAttribute("y", y); rect.setAttribute("height", bar);
      rect.setAttribute("width", Math.max(1, ((width - left - 60) * Math.abs(value)) / top));
      rect.setAttribute("fill", "#4a7fc1"); rect.setAttribute("data-class", name);
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", left + 4 + (width - left - 60) * Math.abs(value) / top);
      label.setAttribute("y", y + bar * 0.7); label.setAttribute("class", "bar-label");
      label.textContent = Number(value).toFixed(3);
      svg.append(text, rect, label);
    });
    container.replaceChildren(svg);
  }

  const COLOURS = ["#4a7fc1", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#3c896d"];

  // A plane-wise class-score document (deepinfer's scores.json) as an SVG chart: score against the planes'
  // position along their normal, one line per class, the decision's best plane marked; clicking a point calls
  // onPick(plane entry).
  function renderPlaneScores(container, doc, onPick) {
    const ns = "http://www.w3.org/2000/svg";
    const planes = doc.planes;
    const axis = [0, 1, 2].reduce((best, a) => (spread(planes, a) > spread(planes, best) ? a : best), 0);
    const xs = planes.map((p) => p.position_mm[axis]);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const values = planes.flatMap((p) => doc.classes.map((c) => p.scores[c]));
    const [y0, y1] = [Math.min(0, ...values), Math.max(1, ...values)];
    const width = 560, height = 220, pad = 36;
    const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
    const sy = (y) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${doc.output}: class score per ${doc.plane} plane`);
    svg.dataset.output = doc.output;
    const best = doc.best_planes[doc.decision.class];
    const marker = document.createElementNS(ns, "line");
    marker.setAttribute("x1", sx(best.position_mm[axis])); marker.setAttribute("x2", sx(best.position_mm[axis]));
    marker.setAttribute("y1", pad / 2); marker.setAttribute("y2", height - pad);
    marker.setAttribute("class", "best-plane"); marker.dataset.index = best.index;
    svg.append(marker);
    doc.classes.forEach((name, k) => {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", planes.map((p) => `${sx(p.position_mm[axis])},${sy(p.scores[name])}`).join(" "));
      line.setAttribute("fill", "none"); line.setAttribute("stroke", COLOURS[k % COLOURS.length]);
      line.dataset.class = name;
      svg.append(line);
      for (const plane of planes) {
        const dot = document.createElementNS(ns, "circle");
        dot.setAttribute("cx", sx(plane.position_mm[axis])); dot.setAttribute("cy", sy(plane.scores[name]));
        dot.setAttribute("r", 3); dot.setAttribute("fill", COLOURS[k % COLOURS.length]);
        dot.dataset.index = plane.index; dot.dataset.class = name;
        const tip = document.createElementNS(ns, "title");
        tip.textContent = `plane ${plane.index} (${plane.position_mm[axis].toFixed(1)} mm): ${name} ${plane.scores[name].toFixed(3)}`;
        dot.append(tip);
        dot.addEventListener("click", () => onPick(plane));
        svg.append(dot);
      }
    });
    const caption = document.createElement("p");
    caption.className = "decision";
    caption.textContent = `${doc.output}: ${doc.decision.class} (${doc.decision.rule} over ${planes.length} ${doc.plane} planes); best plane ${best.index}. Click a point to show its plane.`;
    container.append(caption, svg);
  }

  function spread(planes, axis) {
    const values = planes.map((p) => p.position_mm[axis]);
    return Math.max(...values) - Math.min(...values);
  }

  window.DeepinferViewer = { show, showInput, moveTo, crosshairLps, setOpacity, renderScores, renderPlaneScores, labelColormap };
})();
