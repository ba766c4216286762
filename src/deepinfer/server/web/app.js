// The deepinfer web UI: model list, a form generated from the card, upload with progress, live job progress,
// and the result in the viewer. It uses the same API as every other client.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const FILE_TYPES = ["volume", "labelmap"];
  const ACCEPT = ".nii,.nii.gz,.nrrd,.mha,.zip"; // .zip: a DICOM series (or several: name one below)
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  let card = null;
  let job = null;

  // ------------------------------------------------------------------------------------------- API access

  function token() { return sessionStorage.getItem("deepinfer-token") || ""; }
  function authHeaders() { return token() ? { Authorization: "Bearer " + token() } : {}; }

  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    if (response.status === 401) { $("token-form").hidden = false; throw new Error("this server needs an access token"); }
    if (!response.ok) throw new Error(await errorText(response));
    return response;
  }

  async function errorText(response) {
    try { return (await response.json()).error.message; } catch (e) { return response.status + " " + response.statusText; }
  }

  function showError(message) { $("error").textContent = message || ""; }

  // --------------------------------------------------------------------------------------------- models

  async function loadModels() {
    const models = await (await api("/api/models")).json();
    const body = $("model-table").tBodies[0];
    body.replaceChildren();
    for (const model of models) {
      const row = body.insertRow();
      const license = model.license.code === model.license.weights
        ? model.license.code : `${model.license.code} / weights ${model.license.weights}`;
      const metrics = model.metrics.map((m) => `${m.name} ${m.value}` + (m.dataset ? ` (${m.dataset})` : "")).join("; ");
      for (const text of [model.name, model.task, model.modality, license, metrics || "—"]) row.insertCell().textContent = text;
      const button = document.createElement("button");
      button.textContent = "Use";
      button.dataset.model = model.id;
      button.addEventListener("click", () => selectModel(model.ref).catch((e) => showError(e.message)));
      row.insertCell().append(button);
    }
    document.body.dataset.models = "loaded";
  }

  async function selectModel(ref) {
    card = await (await api("/api/models/" + encodeURIComponent(ref))).json();
    $("run-title").textContent = `${card.name} (${card.id}@${card.version})`;
    $("run-description").textContent = card.description || "";
    buildForm(card);
    $("run").hidden = false;
    $("result").hidden = true;
    showError("");
  }

  // ------------------------------------------------------------- the form, from the card's inputs and parameters

  function field(labelText, control, help) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.textContent = labelText;
    label.htmlFor = control.id;
    wrap.append(label, control);
    if (help) { const small = document.createElement("small"); small.textContent = help; wrap.append(small); }
    return wrap;
  }

  function parameterControl(p) {
    let control;
    if (p.type === "enum") {
      control = document.createElement("select");
      for (const choice of p.choices) control.add(new Option(choice, choice, false, choice === (p.default ?? p.choices[0])));
    } else {
      control = document.createElement("input");
      if (p.type === "bool") { control.type = "checkbox"; control.checked = Boolean(p.default); }
      else if (p.type === "int" || p.type === "float") {
        control.type = "number";
        control.step = p.type === "int" ? "1" : "any";
        if (p.minimum !== undefined && p.minimum !== null) control.min = p.minimum;
        if (p.maximum !== undefined && p.maximum !== null) control.max = p.maximum;
        if (p.default !== undefined && p.default !== null) control.value = p.default;
        control.required = p.default === undefined || p.default === null;
      } else { control.type = "text"; control.maxLength = p.max_length || 256; control.value = p.default ?? ""; }
    }
    control.id = "param-" + p.name;
    control.dataset.parameter = p.name;
    control.dataset.kind = p.type;
    return control;
  }

  function buildForm(card) {
    const inputs = $("inputs"), parameters = $("parameters");
    inputs.replaceChildren(inputs.firstElementChild);
    parameters.replaceChildren(parameters.firstElementChild);
    for (const member of card.inputs.filter((m) => FILE_TYPES.includes(m.type))) {
      const control = document.createElement("input");
      control.type = "file"; control.accept = ACCEPT; control.id = "input-" + member.name;
      control.dataset.input = member.name; control.required = member.required !== false;
      inputs.append(field(member.title || member.name, control, member.description));
    }
    const series = document.createElement("input");
    series.id = "series"; series.placeholder = "SeriesInstanceUID"; series.pattern = "[0-9]+(\\.[0-9]+)*";
    inputs.append(field("DICOM series", series, "Only for a .zip holding several series: the one to read (a job without it lists them)."));
    if (card.outputs.some((o) => o.type === "labelmap")) {
      const format = document.createElement("select");
      format.id = "output-format";
      for (const [value, text] of [[".nii.gz", "NIfTI (.nii.gz)"], [".dcm", "DICOM SEG and SR (for a DICOM .zip input)"]]) {
        const option = document.createElement("option"); option.value = value; option.textContent = text; format.append(option);
      }
      inputs.append(field("Result as", format, "DICOM: the labelmap as a SEG of the source series, with an SR of its volumes."));
    }
    for (const p of card.parameters || []) parameters.append(field(p.title || p.name, parameterControl(p), p.description));
    parameters.hidden = !(card.parameters || []).length;
  }

  function parameterValues() {
    const values = {};
    for (const control of document.querySelectorAll("[data-parameter]")) {
      const kind = control.dataset.kind;
      if (kind === "bool") values[control.dataset.parameter] = control.checked;
      else if (kind === "int" || kind === "float") { if (control.value !== "") values[control.dataset.parameter] = Number(control.value); }
      else values[control.dataset.parameter] = control.value;
    }
    return values;
  }

  // ------------------------------------------------------------------------------------ submit and follow

  function submit(event) {
    event.preventDefault();
    showError("");
    const form = new FormData();
    form.append("model", `${card.id}@${card.version}`);
    form.append("parameters", JSON.stringify(parameterValues()));
    form.append("output_format", $("output-format") ? $("output-format").value : ".nii.gz");
    if ($("series") && $("series").value.trim()) form.append("series", $("series").value.trim());
    for (const control of document.querySelectorAll("[data-input]")) {
      if (control.files.length) form.append(control.dataset.input, control.files[0], control.files[0].name);
    }
    const request = new XMLHttpRequest();
    request.open("POST", "/api/jobs");
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      $("upload-progress").value = e.loaded / e.total;
      $("upload-text").textContent = `${(e.loaded / 2 ** 20).toFixed(1)} / ${(e.total / 2 ** 20).toFixed(1)} MiB`;
    };
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { /* not JSON */ }
      if (request.status !== 201) { showError((body.error && body.error.message) || `upload failed (${request.status})`); return; }
      $("upload-progress").value = 1;
      follow(body.id).catch((e) => showError(e.message));
    };
    request.onerror = () => showError("the upload failed (network error)");
    $("submit").disabled = true;
    request.onloadend = () => { if (request.status !== 201) $("submit").disabled = false; };
    request.send(form);
  }

  function update(status) {
    job = status;
    document.body.dataset.state = status.state;
    $("job-progress").value = status.progress;
    $("job-state").textContent = status.state;
    $("job-message").textContent = status.message;
    $("cancel").hidden = TERMINAL.includes(status.state);
    showLost(status.lost || [], status.state);
  }

  // serve --ray: each attempt whose Ray worker was lost (a running or finished job ran again on a new one)
  function showLost(lost, state) {
    const times = lost.length === 1 ? "once" : `${lost.length} times`;
    const again = state === "failed" || state === "cancelled" ? "" : "; the job ran again";
    $("job-lost").hidden = !lost.length;
    $("job-lost").textContent = lost.length ? `Its Ray worker was lost ${times}${again}: ${lost.join("; ")}` : "";
  }

  // Server-sent events read with fetch (EventSource cannot send the Authorization header).
  async function follow(jobId) {
    document.body.dataset.state = "queued";
    showLost([], "queued");
    let status = null;
    try { status = await stream(jobId); } catch (e) { status = null; }
    while (status === null || !TERMINAL.includes(status.state)) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      status = await (await api("/api/jobs/" + jobId)).json();
      update(status);
    }
    finished(await (await api("/api/jobs/" + jobId)).json());
  }

  async function stream(jobId) {
    const response = await api(`/api/jobs/${jobId}/events`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return last;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split("\n");
        if (!lines.some((l) => l === "event: status")) continue;
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        last = JSON.parse(data);
        update(last);
        if (TERMINAL.includes(last.state)) return last;
      }
    }
  }

  async function cancel() {
    if (job) await api("/api/jobs/" + job.id + "/cancel", { method: "POST" }).catch((e) => showError(e.message));
  }

  // ------------------------------------------------------------------------------------------------ result

  async function finished(status) {
    update(status);
    $("submit").disabled = false;
    if (status.state !== "succeeded") { showError(status.error ? status.error.message : `the job was ${status.state}`); return; }
    $("result").hidden = false;
    $("viewer-note").hidden = true;
    $("details").textContent = JSON.stringify({ timings: status.timings, provenance: status.provenance }, null, 2);
    showDownloads(status);
    showStatistics(status.statistics || {});
    $("scores").replaceChildren();
    const source = document.querySelector("[data-input]");
    const local = source && source.files.length && !source.files[0].name.toLowerCase().endsWith(".zip") ? source.files[0] : null;
    const documents = Object.values(status.scores || {}).filter((doc) => doc.planes && doc.planes.length);
    for (const doc of documents) {
      DeepinferViewer.renderPlaneScores($("scores"), doc, (plane) => DeepinferViewer.moveTo(plane.position_mm));
    }
    const labelmap = card.outputs.find((o) => o.type === "labelmap" && status.outputs[o.name]);
    if (!labelmap && documents.length && local) {  // a classification: the input, at the decision's best plane
      const best = documents[0].best_planes[documents[0].decision.class];
      await DeepinferViewer.showInput($("viewer"), { url: URL.createObjectURL(local), name: local.name }, best.position_mm);
      document.body.dataset.viewer = "planes";
      return;
    }
    if (!labelmap || !source || !source.files.length) return;
    if (source.files[0].name.toLowerCase().endsWith(".zip") || status.output_format === ".dcm") { $("viewer-note").hidden = false; return; } // a browser cannot read the zip
    const overlay = await (await api(status.outputs[labelmap.name])).blob();
    const input = source.files[0];
    showLegend(labelmap.labels);
    const hit = await DeepinferViewer.show(
      $("viewer"),
      { url: URL.createObjectURL(input), name: input.name },
      { url: URL.createObjectURL(overlay), name: labelmap.name + status.output_format },
      labelmap.labels,
      Number($("opacity").value),
    );
    document.body.dataset.viewer = hit ? "overlay" : "empty";
  }

  function showLegend(labels) {
    $("legend").replaceChildren(...labels.filter((l) => l.value !== 0).map((l) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = l.color;
      item.append(swatch, `${l.name} (${l.value})`);
      return item;
    }));
  }

  function showDownloads(status) {
    // every file the run wrote: the outputs (a SEG and its SR), their provenance and statistics (JSON, CSV)
    $("downloads").replaceChildren(...Object.entries(status.files || {}).map(([name, url]) => {
      const button = document.createElement("button");
      button.textContent = "Download " + name;
      button.dataset.file = name;
      button.addEventListener("click", async () => {
        const blob = await (await api(url)).blob();
        const link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = name;
        link.click();
      });
      return button;
    }));
  }

  function showStatistics(statistics) {
    const columns = [["name", "label"], ["value", "value"], ["voxels", "voxels"], ["volume_ml", "mL"],
      ["mean", "mean"], ["sd", "SD"], ["min", "min"], ["max", "max"], ["touches_border", "at border"]];
    const tables = Object.entries(statistics).map(([output, rows]) => {
      const table = document.createElement("table");
      table.className = "statistics"; table.dataset.output = output;
      table.createCaption().textContent = `${output}: per label`;
      const head = table.createTHead().insertRow();
      for (const [, title] of columns) head.insertCell().textContent = title;
      const body = table.createTBody();
      for (const row of rows) {
        const line = body.insertRow();
        for (const [key] of columns) {
          const value = row[key];
          line.insertCell().textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value ?? "—");
        }
      }
      return table;
    });
    $("statistics").replaceChildren(...tables);
  }

  // ------------------------------------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    $("run-form").addEventListener("submit", submit);
    $("cancel").addEventListener("click", cancel);
    $("opacity").addEventListener("input", (e) => DeepinferViewer.setOpacity(Number(e.target.value)));
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem("deepinfer-token", $("token").value);
      $("token-form").hidden = true;
      showError("");
      loadModels().catch((err) => showError(err.message));
    });
    loadModels().catch((e) => showError(e.message));
  });
})();
