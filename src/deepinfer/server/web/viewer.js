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
    if (nv === null) {
      nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], isResizeCanvas: true, show3Dcrosshair: false });
      await nv.attachToCanvas(canvas);
    }
    await nv.loadVolumes([
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

  window.DeepinferViewer = { show, setOpacity, renderScores, labelColormap };
})();
