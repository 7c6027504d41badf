/// The upload page: self-contained (no CDN, no external fonts), usable by keyboard and screen reader, and at
/// phone width. It posts each chosen or dropped file to /api/v1/analyze and shows the verdict band, each model's
/// probability (marked "uncalibrated" where the response's `models[].calibrated` is false), heat maps with a
/// toggle, the provenance evidence, and a JSON download.
enum Page {
    static let html = #"""
\#(PageParts.head(title: "aidetect: was this image made by AI?"))
  body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; padding: 1rem; max-width: 1100px; margin-inline: auto; }
  h1 { font-size: 1.5rem; margin: .2rem 0 1rem; }
  #drop { border: 2px dashed var(--line); border-radius: 10px; padding: 1.5rem; text-align: center; }
  #drop.over { border-color: #333; background: #f4f4f4; }
  label.button, button { display: inline-block; padding: .5rem .9rem; border: 1px solid #333; border-radius: 6px; background: #fff; cursor: pointer; font: inherit; }
  button[aria-pressed="true"] { background: #333; color: #fff; }
  input[type=file] { position: absolute; left: -9999px; }
  .result { border: 1px solid var(--line); border-radius: 10px; padding: 1rem; margin: 1rem 0; display: flex; flex-wrap: wrap; gap: 1rem; }
  .media { flex: 1 1 280px; min-width: 0; }
  .media img { max-width: 100%; height: auto; display: block; border-radius: 6px; }
  .facts { flex: 1 1 280px; min-width: 0; }
  .band { font-size: 1.3rem; font-weight: 700; padding: .3rem .6rem; border-radius: 6px; display: inline-block; color: #fff; }
  .band.likely-AI { background: var(--ai); } .band.likely-real { background: var(--real); } .band.uncertain { background: var(--unsure); }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  td, th { border-bottom: 1px solid var(--line); padding: .3rem .4rem; text-align: left; vertical-align: top; }
  td:first-child { overflow-wrap: anywhere; } td:not(:first-child) { white-space: nowrap; }
  th { font-size: .85rem; }
  .tablewrap { overflow-x: auto; max-width: 100%; }
  .toggles button { overflow-wrap: anywhere; max-width: 100%; text-align: left; }
  .facts li, .facts p { overflow-wrap: anywhere; }
  .muted { color: var(--muted); font-size: .9rem; }
  .error { color: var(--ai); font-weight: 600; }
  .toggles { display: flex; flex-wrap: wrap; gap: .4rem; margin: .5rem 0; }
  .disagree { border-left: 5px solid var(--unsure); background: #fff6e0; padding: .4rem .6rem; margin: .5rem 0; font-weight: 600; }
  .caveat { border-left: 5px solid var(--line); padding: .2rem .6rem; }
  .legend { margin: .3rem 0 .6rem; font-size: .85rem; color: var(--muted); }
  .legend .ramp { display: block; height: .7rem; border-radius: 3px; margin: .2rem 0;
    background: linear-gradient(to right, rgb(0,0,4), rgb(40,11,84), rgb(101,21,110), rgb(159,42,99), rgb(212,72,66), rgb(245,125,21), rgb(250,193,39), rgb(252,255,164)); }
  .legend .ends { display: flex; justify-content: space-between; }
  .name { display: block; font-size: .8rem; color: var(--muted); }
  @media (max-width: 520px) {
    .bandcol { display: none; }
    td, th { padding: .25rem .2rem; font-size: .85rem; }
    .name { display: none; }
  }
</style>
</head>
<body>
<header><h1>aidetect: was this image made by AI?</h1></header>
<main>
  <section id="drop" aria-label="Choose or drop images">
    <p>Drop images here, or</p>
    <label class="button" for="files">Choose images…</label>
    <input id="files" type="file" accept="image/*" multiple>
    <p class="muted">Nothing is stored: files are analysed in memory and forgotten. Options:
      <label><input type="checkbox" id="explain" checked> heat maps</label></p>
  </section>
  <div id="status" role="status" aria-live="polite" class="muted"></div>
  <div id="results"></div>
</main>
<footer class="muted"><p id="caveat"></p><p>Scores are the models' probabilities that the image is AI-made. They are calibrated only where
a model's card says so (see <a href="/api/v1/models">the model list</a>); a model marked "uncalibrated" gives a raw score,
not a frequency you can rely on. "Uncertain" means the models cannot tell.
Provenance evidence comes from the file's metadata; missing metadata is not evidence of a real photo.
API: <a href="/openapi.json">/openapi.json</a>.</p></footer>
<script>
"use strict";
\#(PageParts.script)
const drop = document.getElementById("drop"), input = document.getElementById("files");
const results = document.getElementById("results"), statusEl = document.getElementById("status");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); handle(e.dataTransfer.files); });
input.addEventListener("change", () => handle(input.files));

let models = null, localiser = null;
async function modelList() {
  if (models === null) {
    try {
      const list = await (await fetch("/api/v1/models")).json();
      models = list.models || [];
      localiser = list.localiser || null;
      document.getElementById("caveat").textContent = [list.caveat || ""].concat(models.map(m => m.selection).filter(x => x)).join(" ");
    } catch (e) { models = []; }
  }
  return models;
}
modelList();
const fig = v => v === undefined || v === null ? "–" : v.toFixed(3);
const rate = v => v === undefined || v === null ? "–" : (100 * v).toFixed(0) + "%";

async function handle(files) {
  for (const f of Array.from(files)) await analyse(f);
}

async function analyse(file) {
  const box = document.createElement("article");
  box.className = "result";
  box.setAttribute("aria-label", "Result for " + file.name);
  box.innerHTML = `<div class="media"><img alt="${esc(file.name)}" src="${URL.createObjectURL(file)}"></div><div class="facts"><p>Analysing ${esc(file.name)}…</p></div>`;
  results.prepend(box);
  statusEl.textContent = "Analysing " + file.name + "…";
  // Heat maps: only the methods that apply to at least one loaded model (the server lists them per model); a model
  // that a method does not fit gets none, and the report says so in its warnings.
  const methods = (await modelList()).flatMap(m => m.explain || []).filter((m, i, a) => a.indexOf(m) === i && (m === "gradcam" || m === "saliency"));
  const maps = document.getElementById("explain").checked;
  const explain = (maps && methods.length ? "&explain=" + methods.join(",") : "") + (maps && localiser ? "&localise=true" : "");
  try {
    // Verdict first: the scores come back alone (fast), the heat maps in a second request; if those fail or take
    // too long, the verdict stays and a note says so.
    const post = async extra => {
      const r = await fetch("/api/v1/analyze?name=" + encodeURIComponent(file.name) + extra, { method: "POST", body: file,
        headers: { "Content-Type": file.type || "application/octet-stream" } });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      return body;
    };
    const body = await post("");
    render(box, file, body);
    statusEl.textContent = file.name + ": " + body.fused.verdict;
    if (explain) {
      const note = document.createElement("p");
      note.className = "muted maps-pending";
      note.textContent = localiser ? "Making heat maps and looking for AI regions…" : "Making heat maps…";
      box.querySelector(".facts").appendChild(note);
      try {
        const withMaps = await post(explain);
        withMaps.fused = body.fused;  // the same verdict; keep the first answer's
        render(box, file, withMaps);
      } catch (e) {
        note.textContent = "Heat maps could not be made: " + e.message + " (the verdict above stands).";
        note.classList.remove("maps-pending");
      }
    }
  } catch (e) {
    if (!box.querySelector(".verdict")) box.querySelector(".facts").innerHTML = `<p class="error">${esc(file.name)}: ${esc(e.message)}</p>`;
    statusEl.textContent = file.name + ": error";
  }
}

function render(box, file, r) {
  const facts = box.querySelector(".facts"), img = box.querySelector(".media img");
  const original = img.src;
  const verdict = r.fused.verdict;
  const label = n => (r.models.find(m => m.name === n) || {}).label || n;
  const basis = r.fused.basis === "model" ? "from the models" : "from " + r.fused.basis;
  let html = `<h2 class="verdict"><span class="band ${esc(verdict)}">${esc(verdict)}</span></h2>
    <p>Verdict ${esc(basis)}: ${esc(r.fused.reason || r.reason)}. Combined P(AI) ${pct(r.ensemble.probability)}. ${esc(r.file.format)} ${r.file.width}×${r.file.height}.</p>`;
  const fam = r.ensemble.family;
  if (fam && fam.length) {
    html += `<p class="family muted">Which kind of generator (a second, weaker opinion; the verdict above stands): ${fam.map(f => `${esc(f.family)} ${pct(f.probability)}`).join(", ")}.</p>`;
  }
  if (r.disagreement) {
    html += `<p class="disagree" role="alert">The models disagree: one calls this image AI-made, another real. Trust neither alone; see how each model does on images it never saw below.</p>`;
  }
  html += `<div class="tablewrap"><table><caption class="muted">Each model's P(AI), and how it did when tested (its model card)</caption>
    <tr><th scope="col">Model</th><th scope="col">P(AI)</th><th scope="col" class="bandcol">Band</th><th scope="col" title="mean ROC-AUC on generators it never saw (1 = perfect, 0.5 = chance)">AUC on unseen generators</th><th scope="col" title="share of the real images of its test split it calls AI-made (P &gt; 0.5)">False alarms on real images</th></tr>` +
    r.models.map(m => `<tr><td>${esc(m.label || m.name)}${m.placeholder ? " (untrained placeholder)" : ""}${m.calibrated === false ? " (uncalibrated)" : ""}<span class="name">${esc(m.name)}</span></td><td>${pct(m.probability)}</td><td class="bandcol">${esc(m.verdict)}</td><td>${fig(m.figures && m.figures.heldOutAUC)}</td><td>${rate(m.figures && m.figures.realFalseAlarmRate)}</td></tr>`).join("") + `</table></div>`;
  const loc = r.localisation;
  if (r.heatmaps.length || loc) {
    html += `<div class="toggles" role="group" aria-label="Heat map"><button type="button" aria-pressed="true" data-src="">image</button>` +
      r.heatmaps.map((h, i) => `<button type="button" aria-pressed="false" data-i="${i}">${esc(label(h.model))}: ${esc(h.method)}</button>`).join("") +
      (loc ? `<button type="button" aria-pressed="false" data-mask="1">AI regions</button>` : "") + `</div>
      <div class="legend" aria-live="polite"><span class="which">Showing the image. Pick a heat map to see where a model found its evidence.</span>
      <span class="ramp" aria-hidden="true"></span><span class="ends"><span>less evidence for AI</span><span>more evidence for AI</span></span></div>`;
  }
  if (loc) {
    html += `<p class="regions">${regionsText(loc.result, 'press "AI regions" to see them')}</p>`;
  }
  if (r.warnings && r.warnings.length) {
    html += `<ul class="muted">` + r.warnings.map(w => `<li>${esc(w)}</li>`).join("") + `</ul>`;
  }
  html += `<h3>Provenance evidence</h3><ul>` + r.provenance.evidence.map(e =>
    `<li><strong>${esc(e.source)}</strong> (${esc(e.direction)}${e.strength ? ", strength " + e.strength : ""}): ${esc(e.finding)}<br><span class="muted">${esc(e.explanation)}</span></li>`).join("") + `</ul>`;
  html += `<p class="muted caveat">${esc(r.caveat)}</p>`;
  const blob = new Blob([JSON.stringify(r, null, 2)], { type: "application/json" });
  html += `<p><a download="${esc(file.name)}.aidetect.json" href="${URL.createObjectURL(blob)}">Download the JSON report</a></p>`;
  facts.innerHTML = html;
  facts.querySelectorAll(".toggles button").forEach(b => b.addEventListener("click", () => {
    facts.querySelectorAll(".toggles button").forEach(o => o.setAttribute("aria-pressed", "false"));
    b.setAttribute("aria-pressed", "true");
    const i = b.dataset.i, h = i === undefined ? null : r.heatmaps[+i];
    const which = facts.querySelector(".legend .which");
    if (b.dataset.mask) {
      img.src = "data:image/png;base64," + loc.overlayPNG;
      img.alt = file.name + ": AI regions marked by " + loc.result.model;
      img.dataset.kind = "mask";
      if (which) which.textContent = "AI regions (red, boxes in yellow) marked by " + loc.result.model + ".";
      return;
    }
    img.dataset.kind = h ? "heatmap" : "image";
    img.src = h ? "data:image/png;base64," + h.overlayPNG : original;
    img.alt = h ? file.name + ": " + h.method + " heat map of " + label(h.model) : file.name;
    if (which) which.textContent = h ? h.method + " heat map of " + label(h.model) + " (each map scaled to its own range)" : "Showing the image.";
  }));
}
</script>
</body>
</html>
"""#
}
