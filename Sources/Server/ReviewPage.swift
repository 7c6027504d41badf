/// The review page (`/review`): a grid of the review's images sorted by P(AI), each opening a side-by-side view of
/// the image and its evidence (heat map, AI-region mask, per-model scores, provenance), the reviewer's label and
/// note (saved to the store as they are given), images added by upload, and the export as HTML or PDF.
/// Self-contained (no CDN), usable by keyboard and at phone width.
enum ReviewPage {
    static let html = #"""
\#(PageParts.head(title: "aidetect review"))
  [hidden] { display: none !important; }
  body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; padding: 1rem; max-width: 1200px; }
  h1 { font-size: 1.4rem; margin: .2rem 0 .6rem; } h2 { font-size: 1.2rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
  .bar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .8rem; }
  button, .button { display: inline-block; padding: .45rem .8rem; border: 1px solid #333; border-radius: 6px; background: #fff; cursor: pointer; font: inherit; color: inherit; text-decoration: none; }
  button[aria-pressed="true"] { background: #333; color: #fff; }
  input[type=file] { position: absolute; left: -9999px; }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: .7rem; list-style: none; padding: 0; margin: 0; }
  #grid li { border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
  #grid a { display: block; color: inherit; text-decoration: none; }
  #grid a:focus-visible { outline: 3px solid #1a5fb4; }
  #grid img { width: 100%; aspect-ratio: 1; object-fit: cover; display: block; background: #eee; }
  .card { padding: .35rem .5rem; font-size: .9rem; }
  .card .n { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
  .band { font-weight: 700; padding: .1rem .45rem; border-radius: 5px; color: #fff; display: inline-block; }
  .band.likely-AI { background: var(--ai); } .band.likely-real { background: var(--real); } .band.uncertain { background: var(--unsure); } .band.error { background: #555; }
  .tag { font-size: .8rem; border: 1px solid #333; border-radius: 4px; padding: 0 .3rem; margin-left: .2rem; }
  #detail { display: flex; flex-wrap: wrap; gap: 1rem; }
  #detail[hidden] { display: none; }
  .media { flex: 1 1 360px; min-width: 0; } .media img { max-width: 100%; height: auto; display: block; border-radius: 6px; }
  .facts { flex: 1 1 320px; min-width: 0; }
  .toggles { display: flex; flex-wrap: wrap; gap: .4rem; margin: .5rem 0; } .toggles button { overflow-wrap: anywhere; max-width: 100%; text-align: left; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  td, th { border-bottom: 1px solid var(--line); padding: .3rem .4rem; text-align: left; vertical-align: top; }
  td:first-child { overflow-wrap: anywhere; }
  fieldset { border: 1px solid var(--line); border-radius: 8px; margin: .8rem 0; }
  textarea { width: 100%; min-height: 5rem; font: inherit; }
  .muted { color: var(--muted); font-size: .9rem; } .error { color: var(--ai); font-weight: 600; }
  .facts li, .facts p { overflow-wrap: anywhere; }
  @media (max-width: 520px) { #grid { grid-template-columns: repeat(2, minmax(0, 1fr)); } body { padding: .6rem; } }
</style>
</head>
<body>
<header><h1>aidetect review</h1></header>
<main>
  <div class="bar" id="listbar">
    <span id="counts" class="muted"></span>
    <label class="button" for="files">Add images…</label><input id="files" type="file" accept="image/*" multiple>
    <a class="button" id="export-html" href="/api/v1/review/export.html" download="aidetect-review.html">Export HTML report</a>
    <a class="button" id="export-pdf" href="/api/v1/review/export.pdf" download="aidetect-review.pdf">Export PDF</a>
  </div>
  <div id="status" role="status" aria-live="polite" class="muted"></div>
  <section id="list" aria-label="Images, highest P(AI) first"><ul id="grid"></ul></section>
  <section id="view" hidden>
    <div class="bar"><button type="button" id="back">← All images</button><button type="button" id="prev">Previous</button><button type="button" id="next">Next</button></div>
    <div id="detail"></div>
  </section>
</main>
<footer class="muted"><p id="caveat"></p><p>The export holds the labelled images with their evidence. A score is evidence, not proof; provenance
metadata can be stripped or forged, and its absence is not evidence of a real photo.</p></footer>
<script>
"use strict";
\#(PageParts.script)
const labelNames = { ai: "AI-made", real: "real", unsure: "cannot tell" };
const grid = document.getElementById("grid"), statusEl = document.getElementById("status");
const list = document.getElementById("list"), view = document.getElementById("view"), detail = document.getElementById("detail");
let items = [], current = -1;

async function load() {
  const r = await fetch("/api/v1/review/items");
  const body = await r.json();
  items = body.items;
  document.getElementById("caveat").textContent = body.caveat || "";
  document.getElementById("counts").textContent = `${body.counts.items} image(s), ${body.counts.labelled} labelled`;
  grid.innerHTML = items.map((it, i) => `<li data-id="${it.id}" data-probability="${it.probability === undefined || it.probability === null ? "" : it.probability}">
    <a href="#item-${it.id}" aria-label="${esc(it.name)}: ${esc(it.verdict || "not analysed")}, P(AI) ${pct(it.probability)}${it.label ? ", labelled " + esc(labelNames[it.label]) : ""}">
    <img loading="lazy" alt="" src="/api/v1/review/items/${it.id}/image?side=360">
    <div class="card"><span class="band ${esc(it.verdict || "error")}">${pct(it.probability)}</span>${it.label ? `<span class="tag">${esc(labelNames[it.label])}</span>` : ""}
    <span class="n">${esc(it.name)}</span></div></a></li>`).join("");
}

function show() {
  const m = /^#item-(\d+)$/.exec(location.hash);
  const i = m ? items.findIndex(it => String(it.id) === m[1]) : -1;
  if (i < 0) { view.hidden = true; list.hidden = false; document.getElementById("listbar").hidden = false; current = -1; return; }
  current = i; list.hidden = true; document.getElementById("listbar").hidden = true; view.hidden = false;
  open(items[i]);
}

async function open(it) {
  detail.innerHTML = `<div class="media"><img id="shown" alt="${esc(it.name)}" src="/api/v1/review/items/${it.id}/image?side=1024"></div>
    <div class="facts"><h2>${esc(it.name)}</h2><p class="muted evidence-pending">Making the evidence (heat map, AI regions, provenance)…</p>${form(it)}</div>`;
  bindForm(it);
  window.scrollTo(0, 0);
  try {
    const r = await fetch(`/api/v1/review/items/${it.id}/evidence`);
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    if (current < 0 || items[current].id !== it.id) return;   // the reviewer moved on
    render(items[current], body);
  } catch (e) {
    const p = detail.querySelector(".evidence-pending");
    if (p) { p.className = "error"; p.textContent = "The evidence could not be made: " + e.message; }
  }
}

function form(it) {
  return `<fieldset><legend>Your review</legend>
    <div role="radiogroup" aria-label="Your label">${["ai", "real", "unsure"].map(l =>
      `<label><input type="radio" name="label" value="${l}" ${it.label === l ? "checked" : ""}> ${labelNames[l]}</label> `).join("")}</div>
    <label for="note">Note (what you checked, sources, doubts)</label>
    <textarea id="note">${esc(it.note || "")}</textarea>
    <button type="button" id="save">Save review</button> <span id="saved" class="muted" aria-live="polite">${it.reviewedAt ? "Saved " + esc(it.reviewedAt) : "Not reviewed yet"}</span>
  </fieldset>`;
}

function bindForm(it) {
  detail.querySelector("#save").addEventListener("click", async () => {
    const checked = detail.querySelector("input[name=label]:checked");
    const saved = detail.querySelector("#saved");
    saved.textContent = "Saving…";
    try {
      const r = await fetch(`/api/v1/review/items/${it.id}`, { method: "PUT", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ label: checked ? checked.value : null, note: detail.querySelector("#note").value }) });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      Object.assign(it, body);
      saved.className = "muted";
      saved.textContent = body.reviewedAt ? "Saved " + body.reviewedAt : "Saved (label and note cleared)";
      await load();
      current = items.findIndex(x => x.id === it.id);   // the order may have changed (the evidence's score)
    } catch (e) { saved.textContent = "Not saved: " + e.message; saved.className = "error"; }
  });
}

function render(it, r) {
  const img = detail.querySelector("#shown"), original = img.src;
  const views = [{ name: "image", src: original, alt: it.name }];
  r.heatmaps.forEach(h => views.push({ name: `${h.method} heat map`, src: "data:image/png;base64," + h.overlayPNG, alt: `${it.name}: ${h.method} heat map of ${h.model}`, kind: "heatmap" }));
  const loc = r.localisation;
  if (loc) views.push({ name: "AI regions", src: "data:image/png;base64," + loc.overlayPNG, alt: `${it.name}: AI regions marked by ${loc.result.model}`, kind: "mask" });
  let html = `<h2>${esc(it.name)}</h2><p><span class="band ${esc(r.fused.verdict)} verdict">${esc(r.fused.verdict)}</span> Combined P(AI) ${pct(r.ensemble.probability)}:
    ${esc(r.fused.reason || r.reason)}. ${esc(r.file.format)} ${r.file.width}×${r.file.height}.</p>`;
  html += `<div class="toggles" role="group" aria-label="Show">` + views.map((v, i) =>
    `<button type="button" aria-pressed="${i === 0}" data-view="${i}" ${v.kind ? `data-kind="${v.kind}"` : ""}>${esc(v.name)}</button>`).join("") + `</div>`;
  if (loc) {
    html += `<p class="regions">${regionsText(loc.result)}</p>`;
  }
  html += `<table><caption class="muted">Each model's P(AI) and how it did on generators it never saw</caption>
    <tr><th scope="col">Model</th><th scope="col">P(AI)</th><th scope="col">AUC on unseen generators</th></tr>` +
    r.models.map(m => `<tr><td>${esc(m.label || m.name)}${m.calibrated === false ? " (uncalibrated)" : ""}</td><td>${pct(m.probability)}</td><td>${m.figures && m.figures.heldOutAUC ? m.figures.heldOutAUC.toFixed(3) : "–"}</td></tr>`).join("") + `</table>`;
  html += `<h3>Provenance evidence</h3><ul>` + r.provenance.evidence.map(e =>
    `<li><strong>${esc(e.source)}</strong> (${esc(e.direction)}): ${esc(e.finding)}<br><span class="muted">${esc(e.explanation)}</span></li>`).join("") + `</ul>`;
  if (r.warnings && r.warnings.length) html += `<ul class="muted">` + r.warnings.map(w => `<li>${esc(w)}</li>`).join("") + `</ul>`;
  const facts = detail.querySelector(".facts");
  const note = facts.querySelector("#note").value, checked = facts.querySelector("input[name=label]:checked");
  facts.innerHTML = html + form(it);
  facts.querySelector("#note").value = note;
  if (checked) facts.querySelector(`input[name=label][value=${checked.value}]`).checked = true;
  bindForm(it);
  facts.querySelectorAll(".toggles button").forEach(b => b.addEventListener("click", () => {
    facts.querySelectorAll(".toggles button").forEach(o => o.setAttribute("aria-pressed", "false"));
    b.setAttribute("aria-pressed", "true");
    const v = views[+b.dataset.view];
    img.src = v.src; img.alt = v.alt; img.dataset.kind = v.kind || "image";
  }));
}

// Exports: say what to do instead of downloading an error.
for (const id of ["export-html", "export-pdf"]) {
  document.getElementById(id).addEventListener("click", e => {
    if (!items.some(it => it.label)) {
      e.preventDefault();
      statusEl.textContent = "Label at least one image first: the export holds the labelled images with their evidence.";
    } else {
      statusEl.textContent = "Making the export (the evidence of images not yet opened is made now)…";
    }
  });
}
document.getElementById("back").addEventListener("click", () => { location.hash = ""; });
document.getElementById("prev").addEventListener("click", () => { if (current > 0) location.hash = "#item-" + items[current - 1].id; });
document.getElementById("next").addEventListener("click", () => { if (current >= 0 && current < items.length - 1) location.hash = "#item-" + items[current + 1].id; });
window.addEventListener("hashchange", show);
document.getElementById("files").addEventListener("change", async e => {
  for (const f of Array.from(e.target.files)) {
    statusEl.textContent = "Analysing " + f.name + "…";
    const r = await fetch("/api/v1/review/items?name=" + encodeURIComponent(f.name), { method: "POST", body: f,
      headers: { "Content-Type": f.type || "application/octet-stream" } });
    const body = await r.json();
    statusEl.textContent = r.ok ? f.name + ": " + body.verdict : f.name + ": " + (body.error ? body.error.message : r.statusText);
  }
  await load();
});
load().then(show);
</script>
</body>
</html>
"""#
}
