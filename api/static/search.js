/* The search view: the home page (what this is, example searches, every fiche by pages), the results of a
 * search, the filters, and what to try when nothing is found. */

import { $, asQuery, count, el, fold, label, plural, quote } from "./dom.js";
import { card, coverage } from "./cards.js";
import { updatePanel } from "./panel.js";
import {
  FACET_LABELS, PAGE_SIZE, activeFilterList, api, corpusOverview, filterParams, readState, searchUrl, withoutFilter,
} from "./state.js";

const FACETS_SHOWN = 6; // values per facet before "Afficher tout"
const expanded = new Set(); // facets whose full value list the user opened
let go = (url) => { location.href = url; }; // replaced by the router (app.js)
export const onNavigate = (navigate) => { go = navigate; };

const navLink = (href, text, attrs = {}) => el("a", { href, "data-nav": true, ...attrs }, text);

async function find(state, signal) {
  const params = filterParams(state.filters);
  params.set("q", state.q);
  params.set("mode", state.mode);
  params.set("limit", String(PAGE_SIZE));
  params.set("offset", String((state.page - 1) * PAGE_SIZE));
  return api("/search", params, "search", signal);
}

// Levenshtein distance, to know which word of the query a suggested spelling replaces.
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

// The query with each unknown word replaced by the corpus spelling the API suggests for it (the closest
// suggestion comes first), or null when no word of the query is close to a suggestion.
export function correctedQuery(q, spellings) {
  const words = q.split(/\s+/);
  const replaced = new Set();
  for (const spelling of spellings) {
    let best = -1;
    let bestDistance = Infinity;
    words.forEach((word, i) => {
      const d = distance(fold(word), fold(spelling));
      if (!replaced.has(i) && d < bestDistance) { best = i; bestDistance = d; }
    });
    if (best >= 0 && bestDistance > 0 && bestDistance <= 2) { words[best] = spelling; replaced.add(best); }
  }
  return replaced.size ? words.join(" ") : null;
}

export async function renderSearch(state, signal, { moved }) {
  const hasFilters = activeFilterList(state).length > 0;
  let data;
  let corrected = null;
  let retried = false;
  if (state.q) {
    data = await find(state, signal);
    corrected = data.corrected; // a mistyped word the search took for a fiche word
    const fixed = data.total === 0 && correctedQuery(state.q, data.suggestions.spellings);
    if (fixed) { // nothing found: the closest spelling the fiches use, when it finds something
      const again = await find({ ...state, q: fixed }, signal);
      if (again.total > 0) { data = again; corrected = fixed; retried = true; }
    }
  } else { // browsing: every fiche, or those the filters keep, in the export's order
    const params = filterParams(state.filters);
    params.set("limit", String(PAGE_SIZE));
    params.set("offset", String((state.page - 1) * PAGE_SIZE));
    const list = await api("/actions", params, "search", signal);
    data = { ...list, results: list.actions, neighbours: [] };
  }
  const home = !state.q && !hasFilters;
  const overview = home || data.total === 0 ? await corpusOverview() : null;
  if (signal.aborted) return;
  document.title = state.q
    ? `${quote(state.q)} — Fiches actions des centres sociaux`
    : "Recherche dans les fiches actions des centres sociaux";
  renderHome(home ? overview : null);
  renderHeading(state, data, corrected, retried);
  renderActiveFilters(state);
  renderFacets(state, data.facets, data.total);
  renderResults(state, data, overview);
  renderWeaker(state, data);
  renderPager(state, data.total);
  updatePanel(data.total, activeFilterList(state).length);
  if (moved && state.page > 1) $("results-heading").focus();
}

function renderHome(overview) {
  $("intro").hidden = $("examples").hidden = !overview;
  if (!overview) return;
  $("intro").textContent = `Ce site rassemble ${plural(overview.total, "fiche action", "fiches actions")} publiées par des `
    + "centres sociaux. Décrivez votre projet en quelques mots pour trouver celles qui lui ressemblent, ou parcourez-les "
    + "toutes avec les filtres.";
  $("examples").hidden = !overview.themes.length;
  $("example-list").replaceChildren(...overview.themes.map((theme) =>
    el("li", {}, navLink(searchUrl({ q: asQuery(theme), mode: "hybrid", filters: {}, page: 1 }), asQuery(theme),
      { class: "example" }))));
}

function headingText(state, data, corrected) {
  const narrowed = data.suggestions && data.suggestions.without_filters ? " avec ces filtres" : "";
  if (corrected) return `Résultats pour ${quote(corrected)}`;
  if (state.q) {
    if (data.total === 0) return `Aucune fiche ne parle de ${quote(state.q)}${narrowed}`;
    return `${plural(data.total, "fiche", "fiches")} pour ${quote(state.q)}`;
  }
  if (!activeFilterList(state).length) return data.total === 1 ? "La fiche" : `Les ${plural(data.total, "fiche", "fiches")}`;
  return data.total === 0 ? "Aucune fiche avec ces filtres" : `${plural(data.total, "fiche", "fiches")} avec ces filtres`;
}

function renderHeading(state, data, corrected, retried) {
  const text = headingText(state, data, corrected);
  $("results-heading").textContent = text;
  $("announce").textContent = text;
  const note = $("corrected");
  note.hidden = !corrected;
  if (!corrected) return;
  note.textContent = retried
    ? `Aucune fiche ne parle de ${quote(state.q)} : voici celles qui parlent de ${quote(corrected)}.`
    : `Vous avez tapé ${quote(state.q)} : les fiches l'écrivent ${quote(corrected)}.`;
}

function removableFilters(state) {
  return el("ul", { class: "chips removable" }, activeFilterList(state).map(([name, value]) =>
    el("li", {}, navLink(searchUrl(withoutFilter(state, name, value)), [label(FACET_LABELS[name], value),
      el("span", { "aria-hidden": "true", class: "cross" }, " ✕")], {
      class: "chip-remove", "aria-label": `Retirer le filtre ${label(FACET_LABELS[name], value)}`,
    }))));
}

function renderActiveFilters(state) {
  const box = $("active-filters");
  const active = activeFilterList(state);
  box.hidden = active.length === 0;
  box.replaceChildren();
  if (!active.length) return;
  box.append(el("span", { class: "active-label" }, "Filtres actifs :"), removableFilters(state));
  if (active.length > 1) box.append(navLink(searchUrl({ ...state, filters: {}, page: 1 }), "Tout retirer", { class: "clear" }));
}

function renderFacets(state, facets, total) {
  const box = $("facets");
  box.replaceChildren();
  for (const [name, title] of Object.entries(FACET_LABELS)) {
    const values = [...(facets[name] || [])];
    // A ticked value with no fiche left is still shown, so it can be unticked where it was ticked.
    for (const chosen of state.filters[name] || []) {
      if (!values.some((v) => v.value === chosen)) values.push({ value: chosen, count: 0, selected: true });
    }
    const visible = values.filter((v) => v.count > 0 || v.selected);
    if (!visible.length) continue;
    // A value every fiche shown has would filter nothing: not offered.
    if (visible.length === 1 && !visible[0].selected && visible[0].count === total) continue;
    const open = expanded.has(name);
    const shown = open ? visible : visible.filter((v, i) => i < FACETS_SHOWN || v.selected);
    const list = el("ul", { class: "facet-values" }, shown.map((v, i) => {
      const id = `f-${name}-${i}`;
      return el("li", {},
        el("input", { type: "checkbox", id, name, value: v.value, checked: v.selected, onchange: onFacetChange }),
        el("label", { for: id }, el("span", { class: "facet-value" }, v.value),
          el("span", { class: "count", "aria-hidden": "true" }, count(v.count)),
          el("span", { class: "visually-hidden" }, `, ${plural(v.count, "fiche", "fiches")}`)));
    }));
    const more = visible.length > shown.length || open
      ? el("button", {
        type: "button", class: "link-button", "aria-expanded": open ? "true" : "false", id: `more-${name}`,
        onclick: () => {
          if (open) expanded.delete(name); else expanded.add(name);
          renderFacets(state, facets, total);
          $(`more-${name}`).focus();
        },
      }, open ? "Afficher moins" : `Afficher tout (${visible.length})`)
      : null;
    box.append(el("fieldset", { class: "facet", "data-facet": name }, el("legend", {}, title), list, more));
  }
  // Nothing to filter (nothing found, no filter ticked): no empty panel, no button opening one.
  $("filters").hidden = $("filters-toggle").hidden = !box.children.length;
}

let pendingFocus = null;

function onFacetChange(event) {
  const state = readState();
  const { name, value, checked } = event.target;
  const values = new Set(state.filters[name] || []);
  if (checked) values.add(value); else values.delete(value);
  if (values.size) state.filters[name] = [...values]; else delete state.filters[name];
  // The list is redrawn: the keyboard goes back to the same checkbox.
  pendingFocus = [name, value];
  go(searchUrl({ ...state, page: 1 }));
}

export function restoreFacetFocus() {
  if (!pendingFocus) return;
  const [name, value] = pendingFocus;
  pendingFocus = null;
  for (const box of document.querySelectorAll(`#facets input[name="${name}"]`)) {
    if (box.value === value) { box.focus(); return; }
  }
}

function renderResults(state, data, overview) {
  const list = $("results");
  const empty = $("empty");
  list.replaceChildren();
  empty.replaceChildren();
  empty.hidden = true;
  if (data.total > 0 && !data.results.length) {
    empty.hidden = false;
    empty.append(el("p", { class: "empty-title" }, `Cette page est vide : ${plural(data.total, "fiche trouvée", "fiches trouvées")} en tout.`),
      el("p", {}, navLink(searchUrl({ ...state, page: 1 }), "Revenir à la première page")));
    return;
  }
  if (data.total === 0) {
    empty.hidden = false;
    empty.append(...emptyAdvice(state, data, overview));
    return;
  }
  const offset = (state.page - 1) * PAGE_SIZE;
  const kind = state.q ? "result" : "listing";
  const best = state.q ? Math.max(...data.results.map(coverage)) : 0;
  data.results.forEach((result, i) => list.append(el("li", {}, card(result, { kind, position: offset + i, best }))));
}

function linkList(items) {
  return el("ul", { class: "suggestions" }, items.map(([href, text]) => el("li", {}, navLink(href, text))));
}

// What to try when nothing is found: close spellings, removing a filter, the corpus's frequent themes.
function emptyAdvice(state, data, overview) {
  const hints = data.suggestions || { spellings: [], without_filters: 0 };
  const out = [];
  if (hints.spellings.length) {
    out.push(el("p", {}, "Vouliez-vous dire :"),
      linkList(hints.spellings.map((word) => [searchUrl({ ...state, q: correctedQuery(state.q, [word]) || word, page: 1 }), word])));
  }
  if (activeFilterList(state).length) {
    const found = hints.without_filters ? ` (${plural(hints.without_filters, "fiche trouvée", "fiches trouvées")} sans filtre)` : "";
    out.push(el("p", {}, `Retirez un filtre${found} :`), removableFilters(state));
  } else if (state.mode === "lexical") {
    out.push(el("p", {}, `Essayez d'autres mots, ou le mode ${quote("Mots et sens")} dans les Options, qui trouve aussi `
      + "les fiches proches par le sens."));
  } else {
    out.push(el("p", {}, "Essayez d'autres mots, plus généraux."));
  }
  if (overview && overview.themes.length && state.q) {
    out.push(el("p", {}, "Ou partez d'un thème fréquent des fiches :"),
      linkList(overview.themes.map((theme) => [searchUrl({ ...state, q: asQuery(theme), page: 1 }), asQuery(theme)])));
  }
  return out;
}

// The weaker tier comes after the last page of results, folded, and never counts in the total.
function renderWeaker(state, data) {
  const box = $("weaker");
  const neighbours = data.neighbours || [];
  const lastPage = state.page >= Math.ceil((data.total || 0) / PAGE_SIZE);
  box.hidden = !(neighbours.length && lastPage);
  $("weaker-list").replaceChildren();
  if (box.hidden) return;
  box.open = data.total === 0; // nothing else to show: unfolded
  $("weaker-summary").textContent = data.total
    ? `Fiches moins proches (${count(neighbours.length)})`
    : `Pistes (${count(neighbours.length)})`;
  $("weaker-intro").textContent = data.total
    ? "Ces fiches ne répondent pas tout à fait à la recherche, mais en sont proches."
    : "Aucune fiche ne répond vraiment à la recherche ; celles-ci en reprennent des mots.";
  for (const result of neighbours) $("weaker-list").append(el("li", {}, card(result, { kind: "result" })));
}

function renderPager(state, total) {
  const nav = $("pager");
  nav.replaceChildren();
  const pages = Math.ceil(total / PAGE_SIZE);
  nav.hidden = pages <= 1 || state.page > pages;
  if (nav.hidden) return;
  const link = (page, text, rel) => navLink(searchUrl({ ...state, page }), text, { rel, class: "button" });
  nav.append(
    state.page > 1 ? link(state.page - 1, "← Page précédente", "prev") : el("span"),
    el("span", { class: "page-of", "aria-current": "page" }, `Page ${state.page} sur ${pages}`),
    state.page < pages ? link(state.page + 1, "Page suivante →", "next") : el("span"));
}
