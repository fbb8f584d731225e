/* One fiche in a list: a search result, a fiche of the listing, or a similar fiche, with why it is there in
 * plain French and how close it is in three words. No score is ever shown: the raw numbers barely vary and
 * mean nothing to the people reading. */

import { el, fold, label, quote, truncate } from "./dom.js";
import { readSelection } from "./state.js";

// The library's passage made of the title and keywords, which the card shows anyway.
const OVERVIEW = "overview";
const TOP = 3; // results ranked this high (and answering the search) are "Très proche"

// How many of the query's words the fiche holds, in its passage or elsewhere.
export function coverage(result) {
  const e = result.explanation;
  return new Set([...e.matched_terms, ...e.elsewhere.map((f) => f.word)].map(fold)).size;
}

// Closeness from the ranking: "Très proche" for the first results that hold as many of the query's words
// as the best one, "Proche" for the other results, "Plus éloigné" for the weaker tier the API returns
// apart ("voisin"). `best`: the highest coverage among the results.
export function closeness(result, position, best) {
  if (result.tier === "voisin") return { level: 1, text: "Plus éloigné" };
  if (position < TOP && coverage(result) >= best) return { level: 3, text: "Très proche" };
  return { level: 2, text: "Proche" };
}

function badge({ level, text }) {
  return el("p", { class: `closeness level-${level}` },
    el("span", { class: "dots", "aria-hidden": "true" }, "●".repeat(level) + "○".repeat(3 - level)), ` ${text}`);
}

function where(passage) {
  if (!passage) return "la fiche";
  return passage.section === OVERVIEW ? "le titre et les mots-clés" : quote(passage.label);
}

function unique(words) {
  const seen = new Set();
  return words.filter((w) => !seen.has(fold(w)) && seen.add(fold(w)));
}

export function searchReasons(result) {
  const e = result.explanation;
  const out = [];
  const words = unique(e.matched_terms);
  if (words.length) out.push(`${label("Parle de", words.join(", "))} — dans ${where(result.passage)}`);
  for (const found of e.elsewhere) {
    out.push(`${label("Parle aussi de", found.word)} — dans ${found.places.map(quote).join(", ")}`);
  }
  if (!out.length) out.push("Proche par le sens, sans les mots de la recherche");
  if (e.like) out.push(`Ressemble à ${quote(e.like)}, la fiche qui répond le mieux`);
  return out;
}

export function similarReasons(result, source) {
  const e = result.explanation;
  const out = [];
  if (source.public && fold(result.public) === fold(source.public)) out.push(label("Même public", result.public));
  if (source.dimension && fold(result.dimension) === fold(source.dimension)) {
    out.push(label("Même dimension", result.dimension));
  }
  if (e.shared_keywords.length) out.push(label("Mots-clés communs", e.shared_keywords.join(", ")));
  if (e.shared_words.length) out.push(label("Mots en commun", e.shared_words.join(", ")));
  if (result.passage) out.push(label("Passage proche", `dans ${where(result.passage)}`));
  return out;
}

// "Proche de « … »" (the liked fiche this one is closest to), then the same reasons as a similar fiche's,
// against that liked fiche (`source`, when the page has it).
export function recommendReasons(result, source) {
  const closest = result.explanation.closest_liked;
  const out = closest ? [`Proche de ${quote(closest.title)}`] : [];
  return out.concat(similarReasons(result, source || {}));
}

// The button that adds a fiche to "Ma sélection", or takes it out: aria-pressed says which. Its name
// carries the fiche's title, for those who hear the buttons out of their card.
export function paintSelectButton(button, selection = readSelection()) {
  const id = button.dataset.select;
  const chosen = selection.sel.includes(id) || selection.non.includes(id);
  const text = chosen ? "Retirer de ma sélection" : "Ajouter à ma sélection";
  button.textContent = text;
  button.setAttribute("aria-pressed", chosen ? "true" : "false");
  button.setAttribute("aria-label", `${text} : ${quote(button.dataset.title)}`);
  return button;
}

export const selectButton = (id, title, attrs = {}) => paintSelectButton(el("button", {
  type: "button", class: "button small select-button", "data-select": id, "data-title": title, ...attrs,
}));

export function chips(values, name, highlighted) {
  if (!values || !values.length) return null;
  const strong = new Set((highlighted || []).map(fold));
  return el("ul", { class: "chips", "aria-label": name },
    values.map((v) => el("li", { class: strong.has(fold(v)) ? "chip shared" : "chip" }, v)));
}

function passageBlock(passage) {
  const text = el("p", { class: "passage-text" });
  text.innerHTML = passage.marked; // escaped by the library (semsearch.passages); only <mark> added
  return el("figure", { class: "passage" },
    el("figcaption", { class: "section-label" }, passage.label), el("blockquote", {}, text));
}

const ficheUrl = (id, hash = "") => `/fiche/${encodeURIComponent(id)}${hash}`;

/* kind: "result" (a search), "listing" (browsing), "similar" (on a fiche, against `source`), "recommend"
 * (proposed from the selection; `source`: the liked fiche it is closest to).
 * level: the heading level of the card's title, under the list's own heading. */
export function card(result, { kind, position = 0, best = 0, source = null, level = 2 }) {
  const passage = result.passage && result.passage.section !== OVERVIEW ? result.passage : null;
  const e = result.explanation;
  const reasons = kind === "result" ? searchReasons(result) : kind === "similar" ? similarReasons(result, source)
    : kind === "recommend" ? recommendReasons(result, source) : [];
  const listed = kind === "result" || kind === "listing";
  return el("article", { class: "card" },
    el("div", { class: "card-head" },
      el(`h${level}`, { class: "card-title" }, el("a", { href: ficheUrl(result.id), "data-nav": true }, result.title)),
      kind === "result" ? badge(closeness(result, position, best)) : null),
    el("p", { class: "meta" }, [result.structure, result.department].filter(Boolean).join(" · ")),
    chips(result.keywords, "Mots-clés", e ? e.shared_keywords : []),
    passage ? passageBlock(passage) : (result.summary ? el("p", { class: "summary" }, truncate(result.summary, 280)) : null),
    reasons.length ? el("p", { class: "why" }, reasons.join(" · ")) : null,
    el("p", { class: "card-links" },
      listed ? el("a", { href: ficheUrl(result.id, "#similaires"), "data-nav": true,
        "aria-label": `Fiches similaires à ${quote(result.title)}` }, "Fiches similaires") : null,
      selectButton(result.id, result.title)));
}
