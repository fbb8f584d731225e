/* The search page: reads its state from the URL, calls the JSON API, renders. No framework, no build step.
 *
 * State lives in the URL only (/?q=…&mode=…&public=…&page=2, /fiche/{id}), so a link can be shared and the
 * back button works: every change goes through navigate() (history.pushState) and render() draws the
 * page from location; popstate calls render() too. Text from the API is inserted with textContent; the one
 * exception is passage.marked, which the API escapes before adding its <mark> tags (api/models.py).
 */
"use strict";

const PAGE_SIZE = 10;
const SIMILAR_COUNT = 5;
const FACETS_SHOWN = 6; // values per facet before "Afficher tout"
// Facet name (API) -> what people read. Order is display order.
const FACET_LABELS = {
  public: "Public",
  keyword: "Mots-clés",
  dimension: "Dimension",
  status: "Statut",
  territory: "Territoire",
  department: "Département",
  structure: "Structure",
  partner: "Partenaires",
};
const MODES = ["hybrid", "semantic", "lexical"];

const $ = (id) => document.getElementById(id);
let sequence = 0; // the latest render; answers to older ones are dropped
let controller = null;
const expanded = new Set(); // facets whose full value list the user opened

// -- small DOM helpers -----------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function paragraphs(text) {
  return String(text).split(/\n+/).map((line) => line.trim()).filter(Boolean).map((line) => el("p", { text: line }));
}

const plural = (n, one, many) => `${n.toLocaleString("fr-FR")} ${n > 1 ? many : one}`;

// -- URL state -------------------------------------------------------------------------------------
function readState() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of Object.keys(FACET_LABELS)) {
    const values = params.getAll(name).filter(Boolean);
    if (values.length) filters[name] = values;
  }
  const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "hybrid";
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  return { q: (params.get("q") || "").trim(), mode, page, filters };
}

function searchUrl(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.mode && state.mode !== "hybrid") params.set("mode", state.mode);
  for (const [name, values] of Object.entries(state.filters)) for (const v of values) params.append(name, v);
  if (state.page > 1) params.set("page", String(state.page));
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

function filterParams(filters) {
  const params = new URLSearchParams();
  for (const [name, values] of Object.entries(filters)) for (const v of values) params.append(name, v);
  return params;
}

function navigate(url) {
  if (url !== location.pathname + location.search + location.hash) history.pushState(null, "", url);
  render({ moved: true });
}

// -- API -------------------------------------------------------------------------------------------
class PageError extends Error {}

// What people read when a call fails: never the status, the stack or the API's technical detail.
function messageFor(status, what) {
  if (status === 404 && what === "action") return "Cette fiche n'existe pas, ou plus : elle a peut-être été retirée.";
  if (status === 422) return "Cette recherche n'a pas pu être faite. Vérifiez le texte saisi (500 caractères au plus) et les filtres.";
  if (status === 503) return "Le service de recherche démarre ou se met à jour. Réessayez dans un instant.";
  return "Le service de recherche ne répond pas pour le moment. Réessayez dans un instant.";
}

async function api(path, params, what, signal) {
  const url = params && String(params) ? `${path}?${params}` : path;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new PageError(messageFor(0, what));
  }
  if (!response.ok) throw new PageError(messageFor(response.status, what));
  return response.json();
}

// -- rendering: search -----------------------------------------------------------------------------
function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function syncForm(state) {
  $("q").value = state.q;
  for (const mode of MODES) $(`mode-${mode}`).checked = mode === state.mode;
  if (state.mode !== "hybrid") $("options").open = true;
}

async function renderSearch(state, signal, moved) {
  $("search-view").hidden = false;
  $("action-view").hidden = true;
  document.title = state.q
    ? `« ${state.q} » — Fiches actions des centres sociaux`
    : "Recherche dans les fiches actions des centres sociaux";
  const hasFilters = Object.keys(state.filters).length > 0;
  const offset = (state.page - 1) * PAGE_SIZE;
  $("status").textContent = state.q ? "Recherche en cours…" : "";
  let data;
  if (state.q) {
    const params = filterParams(state.filters);
    params.set("q", state.q);
    params.set("mode", state.mode);
    params.set("limit", String(PAGE_SIZE));
    params.set("offset", String(offset));
    data = await api("/search", params, "search", signal);
  } else if (hasFilters) { // browsing by filters alone: the actions in export order
    const params = filterParams(state.filters);
    params.set("limit", String(PAGE_SIZE));
    params.set("offset", String(offset));
    const list = await api("/actions", params, "search", signal);
    data = { ...list, results: list.actions };
  } else {
    data = { ...(await api("/facets", null, "search", signal)), results: null };
  }
  if (signal.aborted) return;
  renderStatus(state, data);
  renderActiveFilters(state);
  renderFacets(state, data.facets);
  renderResults(state, data);
  renderPager(state, data.total);
  if (moved && state.page > 1) $("results-heading").focus();
}

function renderStatus(state, data) {
  let text;
  if (data.results === null) {
    text = `${plural(data.total, "action", "actions")} dans l'index. Tapez quelques mots pour chercher, ou choisissez un filtre.`;
  } else if (data.total === 0) {
    text = state.q ? `Aucune fiche ne parle de « ${state.q} ».` : "Aucune fiche avec ces filtres.";
  } else {
    const found = plural(data.total, "action trouvée", "actions trouvées");
    const first = (state.page - 1) * PAGE_SIZE + 1;
    const last = Math.min(data.total, first + PAGE_SIZE - 1);
    const range = data.total > PAGE_SIZE ? ` (${first} à ${last})` : "";
    text = state.q ? `${found} pour « ${state.q} »${range}` : `${found} avec ces filtres${range}`;
  }
  $("status").textContent = text;
}

function activeFilterList(state) {
  const out = [];
  for (const [name, values] of Object.entries(state.filters)) for (const value of values) out.push([name, value]);
  return out;
}

function withoutFilter(state, name, value) {
  const filters = {};
  for (const [n, values] of Object.entries(state.filters)) {
    const kept = n === name ? values.filter((v) => v !== value) : values;
    if (kept.length) filters[n] = kept;
  }
  return { ...state, filters, page: 1 };
}

function removableFilters(state) {
  return el("ul", { class: "chips removable" }, activeFilterList(state).map(([name, value]) =>
    el("li", {}, el("a", {
      href: searchUrl(withoutFilter(state, name, value)), "data-nav": true, class: "chip-remove",
      "aria-label": `Retirer le filtre ${FACET_LABELS[name]} : ${value}`,
    }, `${FACET_LABELS[name]} : ${value}`, el("span", { "aria-hidden": "true", class: "cross" }, " ✕")))));
}

function renderActiveFilters(state) {
  const box = $("active-filters");
  box.replaceChildren();
  const active = activeFilterList(state);
  box.hidden = active.length === 0;
  if (!active.length) return;
  box.append(el("span", { class: "active-label" }, "Filtres actifs :"), removableFilters(state));
  if (active.length > 1) {
    box.append(el("a", { href: searchUrl({ ...state, filters: {}, page: 1 }), "data-nav": true, class: "clear" }, "Tout retirer"));
  }
}

function renderFacets(state, facets) {
  const box = $("facets");
  box.replaceChildren();
  for (const [name, label] of Object.entries(FACET_LABELS)) {
    const values = [...(facets[name] || [])];
    // A ticked value with no action left is still shown, so it can be unticked where it was ticked.
    for (const chosen of state.filters[name] || []) {
      if (!values.some((v) => v.value === chosen)) values.push({ value: chosen, count: 0, selected: true });
    }
    const visible = values.filter((v) => v.count > 0 || v.selected);
    if (!visible.length) continue;
    const open = expanded.has(name);
    const shown = open ? visible : visible.filter((v, i) => i < FACETS_SHOWN || v.selected);
    const list = el("ul", { class: "facet-values" }, shown.map((v, i) => {
      const id = `f-${name}-${i}`;
      return el("li", {},
        el("input", { type: "checkbox", id, name, value: v.value, checked: v.selected, onchange: onFacetChange }),
        el("label", { for: id }, el("span", { class: "facet-value" }, v.value),
          el("span", { class: "count", "aria-label": `, ${plural(v.count, "action", "actions")}` }, String(v.count))));
    }));
    const more = visible.length > shown.length || open
      ? el("button", {
        type: "button", class: "link-button", "aria-expanded": open ? "true" : "false",
        onclick: () => { open ? expanded.delete(name) : expanded.add(name); renderFacets(state, facets); $(`more-${name}`).focus(); },
        id: `more-${name}`,
      }, open ? "Afficher moins" : `Afficher tout (${visible.length})`)
      : null;
    box.append(el("fieldset", { class: "facet", "data-facet": name }, el("legend", {}, label), list, more));
  }
}

function onFacetChange(event) {
  const state = readState();
  const { name, value, checked } = event.target;
  const values = new Set(state.filters[name] || []);
  checked ? values.add(value) : values.delete(value);
  if (values.size) state.filters[name] = [...values]; else delete state.filters[name];
  const focus = `${name}\u0000${value}`;
  navigate(searchUrl({ ...state, page: 1 }));
  // Keep the keyboard where it was: the list is redrawn, so find the same checkbox again.
  pendingFocus = focus;
}
let pendingFocus = null;

function restoreFacetFocus() {
  if (!pendingFocus) return;
  const [name, value] = pendingFocus.split("\u0000");
  pendingFocus = null;
  for (const box of document.querySelectorAll(`#facets input[name="${name}"]`)) {
    if (box.value === value) { box.focus(); return; }
  }
}

function renderResults(state, data) {
  const list = $("results");
  const empty = $("empty");
  list.replaceChildren();
  empty.replaceChildren();
  empty.hidden = true;
  renderNeighbours(state, data);
  if (data.results === null) return;
  if (data.total > 0 && !data.results.length) {
    empty.hidden = false;
    empty.append(el("p", { class: "empty-title" }, `Cette page est vide : ${plural(data.total, "fiche trouvée", "fiches trouvées")} en tout.`),
      el("p", {}, el("a", { href: searchUrl({ ...state, page: 1 }), "data-nav": true }, "Revenir à la première page")));
    return;
  }
  if (data.total === 0) {
    const hints = data.suggestions || { spellings: [], without_filters: 0 };
    const narrowed = hints.without_filters ? " avec ces filtres" : "";
    empty.hidden = false;
    empty.append(el("p", { class: "empty-title" }, state.q
      ? `Aucune fiche ne parle de « ${state.q} »${narrowed}.` : "Aucune fiche avec ces filtres."));
    if (hints.spellings.length) {
      empty.append(el("p", {}, "Essayez : ", ...hints.spellings.flatMap((word, i) => [i ? ", " : "",
        el("a", { href: searchUrl({ ...state, q: word, page: 1 }), "data-nav": true }, word)])));
    }
    if (activeFilterList(state).length) {
      const count = hints.without_filters ? ` (${plural(hints.without_filters, "fiche trouvée", "fiches trouvées")} sans filtre)` : "";
      empty.append(el("p", {}, `Essayez de retirer un filtre${count} :`), removableFilters(state));
    } else if (state.mode === "lexical") {
      empty.append(el("p", {}, "Essayez d'autres mots, ou le mode « Mots et sens » dans les Options, qui trouve aussi les fiches proches par le sens."));
    } else {
      empty.append(el("p", {}, "Essayez d'autres mots, plus généraux."));
    }
    return;
  }
  for (const result of data.results) list.append(el("li", {}, card(result, { similar: false })));
}

// Weaker neighbours come apart from the results, after their last page, and never count in the total.
function renderNeighbours(state, data) {
  const box = $("neighbours");
  const list = $("neighbour-list");
  list.replaceChildren();
  const lastPage = !data.results || state.page >= Math.ceil((data.total || 0) / PAGE_SIZE);
  const shown = (data.neighbours || []).length && lastPage;
  box.hidden = !shown;
  if (!shown) return;
  $("neighbours-intro").textContent = data.total
    ? "Ces fiches ne répondent pas tout à fait à la recherche, mais en sont proches."
    : "Aucune fiche ne répond à la recherche ; celles-ci en sont les plus proches.";
  for (const result of data.neighbours) list.append(el("li", {}, card(result, { similar: false })));
}

function card(result, { similar }) {
  const passage = result.passage;
  const e = result.explanation;
  return el("article", { class: "card" },
    el("h3", { class: "card-title" }, el("a", { href: `/fiche/${encodeURIComponent(result.id)}`, "data-nav": true }, result.title)),
    el("p", { class: "meta" }, [result.structure, result.department].filter(Boolean).join(" · ")),
    chips(result.keywords, "Mots-clés", e ? e.shared_keywords : []),
    passage ? passageBlock(passage) : (result.summary ? el("p", { class: "summary" }, truncate(result.summary, 280)) : null),
    e ? why(e, passage, similar) : null,
    similar ? null : el("p", { class: "card-links" },
      el("a", { href: `/fiche/${encodeURIComponent(result.id)}#similaires`, "data-nav": true,
        "aria-label": `Projets similaires à « ${result.title} »` }, "Projets similaires")));
}

function truncate(text, size) {
  return text.length <= size ? text : `${text.slice(0, text.lastIndexOf(" ", size)) || text.slice(0, size)} …`;
}

function chips(values, label, highlighted) {
  if (!values || !values.length) return null;
  const strong = new Set(highlighted || []);
  return el("ul", { class: "chips", "aria-label": label },
    values.map((v) => el("li", { class: strong.has(v) ? "chip shared" : "chip" }, v)));
}

function passageBlock(passage) {
  const text = el("p", { class: "passage-text" });
  text.innerHTML = passage.marked; // escaped by the API (api/models.py marked_html); only <mark> added
  return el("figure", { class: "passage" },
    el("figcaption", { class: "section-label" }, passage.label), el("blockquote", {}, text));
}

// The reasons come in plain French from the API (semsearch/search.py, semsearch/similar.py), without scores.
function why(e, passage, similar) {
  if (!e.reasons.length) return null;
  return el("p", { class: "why" }, el("strong", {}, similar ? "Pourquoi ce projet : " : "Pourquoi ce résultat : "),
    e.reasons.join(" · "));
}

function renderPager(state, total) {
  const nav = $("pager");
  nav.replaceChildren();
  const pages = Math.ceil(total / PAGE_SIZE);
  nav.hidden = pages <= 1;
  if (pages <= 1) return;
  const link = (page, text, rel) => el("a", { href: searchUrl({ ...state, page }), "data-nav": true, rel, class: "button" }, text);
  nav.append(
    state.page > 1 ? link(state.page - 1, "← Page précédente", "prev") : el("span"),
    el("span", { class: "page-of", "aria-current": "page" }, `Page ${state.page} sur ${pages}`),
    state.page < pages ? link(state.page + 1, "Page suivante →", "next") : el("span"));
}

// -- rendering: one fiche --------------------------------------------------------------------------
const FICHE_SECTIONS = [
  ["Résumé", (a) => a.summary],
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

function facts(action) {
  const rows = [
    ["Structure", action.structure], ["Département", action.department], ["Statut", action.status],
    ["Dimension", action.dimension], ["Public", action.public], ["Territoire", action.territory],
    ["Partenaires", action.partners.join(", ")],
  ].filter(([, value]) => value);
  return el("dl", { class: "facts" }, rows.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

function section(title, body) {
  return el("section", { class: "fiche-section" }, el("h2", {}, title), body);
}

function renderAction(action) {
  const body = $("action-body");
  body.replaceChildren(...[facts(action), chips(action.keywords, "Mots-clés")].filter(Boolean));
  for (const [title, read] of FICHE_SECTIONS) {
    const text = read(action);
    if (text) body.append(section(title, paragraphs(text)));
  }
  const evaluation = EVALUATION.filter(([, key]) => action.evaluation[key]);
  if (evaluation.length) {
    body.append(el("section", { class: "fiche-section" }, el("h2", {}, "Auto-évaluation"),
      evaluation.map(([title, key]) => el("div", { class: "sub" }, el("h3", {}, title), paragraphs(action.evaluation[key])))));
  }
  if (action.end_reasons) body.append(section("Raisons de la fin de l'action", paragraphs(action.end_reasons)));
  for (const [label, text] of Object.entries(action.extra || {})) if (text) body.append(section(label, paragraphs(text)));
  if (action.files.length) body.append(section("Fichiers associés", el("ul", {}, action.files.map((f) => el("li", {}, f)))));
}

async function renderFiche(id, signal, moved) {
  $("search-view").hidden = true;
  $("action-view").hidden = false;
  $("action-title").textContent = "Chargement de la fiche…";
  $("action-body").replaceChildren();
  $("similar-list").replaceChildren();
  $("similaires").hidden = true;
  const [action, similar] = await Promise.all([
    api(`/actions/${encodeURIComponent(id)}`, null, "action", signal),
    api(`/similar/${encodeURIComponent(id)}`, new URLSearchParams({ limit: String(SIMILAR_COUNT) }), "action", signal),
  ]);
  if (signal.aborted) return;
  document.title = `${action.title} — Fiches actions des centres sociaux`;
  $("action-title").textContent = action.title;
  renderAction(action);
  $("similaires").hidden = false;
  const list = $("similar-list");
  if (!similar.results.length) list.append(el("li", {}, "Aucun projet comparable pour le moment."));
  for (const result of similar.results) list.append(el("li", {}, card(result, { similar: true })));
  if (location.hash === "#similaires") $("similar-title").scrollIntoView();
  if (moved) $(location.hash === "#similaires" ? "similar-title" : "action-title").focus({ preventScroll: true });
}

// -- routing ---------------------------------------------------------------------------------------
async function render({ moved = false } = {}) {
  const mine = ++sequence;
  if (controller) controller.abort();
  controller = new AbortController();
  showError("");
  const fiche = location.pathname.match(/^\/fiche\/([^/]+)\/?$/);
  const state = readState();
  syncForm(fiche ? { ...state, q: state.q } : state);
  document.body.setAttribute("aria-busy", "true");
  try {
    if (fiche) await renderFiche(decodeURIComponent(fiche[1]), controller.signal, moved);
    else await renderSearch(state, controller.signal, moved);
    if (mine === sequence) restoreFacetFocus();
  } catch (error) {
    if (error.name === "AbortError" || mine !== sequence) return;
    showError(error instanceof PageError ? error.message : messageFor(0));
    if (!fiche) { $("status").textContent = ""; $("results").replaceChildren(); $("pager").hidden = true; }
    else { $("action-title").textContent = "Fiche indisponible"; }
    if (!(error instanceof PageError)) console.error(error);
  } finally {
    if (mine === sequence) document.body.removeAttribute("aria-busy");
  }
}

function onSubmit(event) {
  event.preventDefault();
  const state = readState();
  const q = $("q").value.trim();
  const mode = MODES.find((m) => $(`mode-${m}`).checked) || "hybrid";
  if (!q) { $("q").focus(); return; }
  // On a fiche, a new search starts from no filter; on the results page it keeps the filters.
  const filters = location.pathname.startsWith("/fiche/") ? {} : state.filters;
  navigate(searchUrl({ q, mode, filters, page: 1 }));
}

function onClick(event) {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return; // new tab / window
  if (link.id === "back" && history.state && history.state.fromSearch) { event.preventDefault(); history.back(); return; }
  event.preventDefault();
  const url = new URL(link.href);
  const fromSearch = !location.pathname.startsWith("/fiche/") && url.pathname.startsWith("/fiche/");
  if (fromSearch) {
    // The back link of the fiche returns to these exact results.
    $("back").setAttribute("href", location.pathname + location.search);
    history.pushState({ fromSearch: true }, "", url.pathname + url.search + url.hash);
    render({ moved: true });
    return;
  }
  navigate(url.pathname + url.search + url.hash);
}

function start() {
  const wide = window.matchMedia("(min-width: 48rem)");
  $("filters").open = wide.matches;
  $("search-form").addEventListener("submit", onSubmit);
  for (const mode of MODES) {
    $(`mode-${mode}`).addEventListener("change", () => { if ($("q").value.trim()) $("search-form").requestSubmit(); });
  }
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => render({ moved: false }));
  render();
}

start();
