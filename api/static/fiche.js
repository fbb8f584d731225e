/* One fiche: its summary first (what people came to read), then the facts, the other sections, and the
 * fiches similar to it. */

import { $, el, paragraphs } from "./dom.js";
import { card, chips, paintSelectButton } from "./cards.js";
import { api } from "./state.js";

const SIMILAR_COUNT = 5;
const SECTIONS = [
  ["Description de l'expérience", (a) => a.experience],
  ["Qui est à l'initiative", (a) => [a.initiative.join(", "), a.initiative_detail].filter(Boolean).join("\n")],
  ["Description générale", (a) => a.description],
  ["Budget et ressources financières", (a) => a.budget],
  ["Personnes mobilisées", (a) => a.people],
];
const EVALUATION = [
  ["Résultat sur le territoire", "territory"],
  ["Résultat pour le centre social", "centre"],
  ["Résultat pour les habitants", "residents"],
  ["Limites", "limits"],
  ["Perspectives", "perspectives"],
];

function facts(fiche) {
  const rows = [
    ["Statut", fiche.status], ["Public", fiche.public], ["Dimension", fiche.dimension],
    ["Territoire", fiche.territory], ["Partenaires", fiche.partners.join(", ")],
  ].filter(([, value]) => value);
  return el("dl", { class: "facts" }, rows.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

const section = (title, ...body) => el("section", { class: "fiche-section" }, el("h2", {}, title), ...body);

function renderBody(fiche) {
  const body = $("fiche-body");
  body.replaceChildren();
  if (fiche.summary) body.append(el("section", { class: "fiche-summary" }, el("h2", {}, "Résumé"), paragraphs(fiche.summary)));
  body.append(section("En bref", facts(fiche), chips(fiche.keywords, "Mots-clés")));
  for (const [title, read] of SECTIONS) {
    const text = read(fiche);
    if (text) body.append(section(title, paragraphs(text)));
  }
  const evaluation = EVALUATION.filter(([, key]) => fiche.evaluation[key]);
  if (evaluation.length) {
    body.append(section("Auto-évaluation",
      evaluation.map(([title, key]) => el("div", { class: "sub" }, el("h3", {}, title), paragraphs(fiche.evaluation[key])))));
  }
  if (fiche.end_reasons) body.append(section("Raisons de la fin de l'action", paragraphs(fiche.end_reasons)));
  for (const [title, text] of Object.entries(fiche.extra || {})) if (text) body.append(section(title, paragraphs(text)));
  if (fiche.files.length) body.append(section("Fichiers associés", el("ul", {}, fiche.files.map((f) => el("li", {}, f)))));
}

export function clearFiche() {
  $("fiche-title").textContent = "Chargement de la fiche…";
  $("fiche-meta").textContent = "";
  $("fiche-body").replaceChildren();
  $("similar-list").replaceChildren();
  $("similaires").hidden = true;
  $("fiche-select").hidden = true;
}

export async function renderFiche(id, signal, { moved }) {
  clearFiche();
  const [fiche, similar] = await Promise.all([
    api(`/actions/${encodeURIComponent(id)}`, null, "fiche", signal),
    api(`/similar/${encodeURIComponent(id)}`, new URLSearchParams({ limit: String(SIMILAR_COUNT) }), "fiche", signal),
  ]);
  if (signal.aborted) return;
  document.title = `${fiche.title} — Fiches actions des centres sociaux`;
  $("fiche-title").textContent = fiche.title;
  $("fiche-meta").textContent = [fiche.structure, fiche.department].filter(Boolean).join(" · ");
  renderBody(fiche);
  const button = $("fiche-select");
  button.dataset.select = fiche.id || id;
  button.dataset.title = fiche.title;
  paintSelectButton(button).hidden = false;
  $("similaires").hidden = false;
  const list = $("similar-list");
  if (!similar.results.length) list.append(el("li", {}, "Aucune fiche comparable pour le moment."));
  for (const result of similar.results) list.append(el("li", {}, card(result, { kind: "similar", source: fiche, level: 3 })));
  const target = location.hash === "#similaires" ? "similar-title" : "fiche-title";
  if (location.hash === "#similaires") $("similar-title").scrollIntoView();
  else if (moved) window.scrollTo(0, 0); // a fiche opened from a list starts at its top, not where the list was
  if (moved) $(target).focus({ preventScroll: true });
}
