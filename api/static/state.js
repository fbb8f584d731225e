/* The page's state, which lives in the URL only (/?q=…&mode=…&public=…&page=2, /fiche/{id}), and the calls
 * to the JSON API. Keeping it in the URL is what makes links shareable and the back button work. */

export const PAGE_SIZE = 10;
// Facet name (API) -> what people read. Order is display order.
export const FACET_LABELS = {
  public: "Public",
  keyword: "Mots-clés",
  dimension: "Dimension",
  status: "Statut",
  territory: "Territoire",
  department: "Département",
  structure: "Structure",
  partner: "Partenaires",
};
export const MODES = ["hybrid", "semantic", "lexical"];

export function readState() {
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

export function filterParams(filters) {
  const params = new URLSearchParams();
  for (const [name, values] of Object.entries(filters)) for (const v of values) params.append(name, v);
  return params;
}

export function searchUrl(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.mode && state.mode !== "hybrid") params.set("mode", state.mode);
  for (const [name, value] of filterParams(state.filters)) params.append(name, value);
  if (state.page > 1) params.set("page", String(state.page));
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

export function activeFilterList(state) {
  const out = [];
  for (const [name, values] of Object.entries(state.filters)) for (const value of values) out.push([name, value]);
  return out;
}

export function withoutFilter(state, name, value) {
  const filters = {};
  for (const [n, values] of Object.entries(state.filters)) {
    const kept = n === name ? values.filter((v) => v !== value) : values;
    if (kept.length) filters[n] = kept;
  }
  return { ...state, filters, page: 1 };
}

export class PageError extends Error {}

// What people read when a call fails: never the status, the stack or the API's technical detail.
export function messageFor(status, what) {
  if (status === 404 && what === "fiche") return "Cette fiche n'existe pas, ou plus : elle a peut-être été retirée.";
  if (status === 422) return "Cette recherche n'a pas pu être faite. Vérifiez le texte saisi (500 caractères au plus) et les filtres.";
  if (status === 503) return "Le service de recherche démarre ou se met à jour. Réessayez dans un instant.";
  return "Le service de recherche ne répond pas pour le moment. Réessayez dans un instant.";
}

export async function api(path, params, what, signal) {
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

// How many fiches there are and their most frequent keywords, asked once per visit: the home page's
// sentence and example searches, and the themes offered when nothing is found.
// Not cancelled with the render that asked first: a later render may be waiting on the same answer.
let corpus = null;
export function corpusOverview() {
  if (!corpus) {
    corpus = api("/facets", null, "search")
      .then((data) => ({
        total: data.total,
        themes: (data.facets.keyword || []).filter((v) => v.count > 1).slice(0, 5).map((v) => v.value),
      }))
      .catch((error) => { corpus = null; throw error; });
  }
  return corpus;
}
