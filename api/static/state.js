/* The page's state, which lives in the URL only (/?q=…&mode=…&public=…&page=2, /fiche/{id}, and on every
 * page the selection: sel=id1,id2&non=id3), and the calls to the JSON API. Keeping it in the URL is what
 * makes links shareable and the back button work. */

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

export const MAX_SELECTED = 20; // liked and unliked fiches together, as POST /recommend takes them

const idList = (value) => [...new Set(String(value || "").split(",").map((id) => id.trim()).filter(Boolean))];

// "Ma sélection": the fiches a person keeps (sel) and those marked "Pas ce genre" (non), in the URL.
export function readSelection(search = location.search) {
  const params = new URLSearchParams(search);
  const sel = idList(params.get("sel"));
  const non = idList(params.get("non")).filter((id) => !sel.includes(id));
  return { sel, non };
}

// `url` (a path, with or without a query and a hash) carrying `selection` instead of its own. Commas are
// left as they are, so the ids read as a list in the address bar.
export function withSelection(url, selection = readSelection()) {
  const target = new URL(url, location.origin);
  target.searchParams.delete("sel");
  target.searchParams.delete("non");
  if (selection.sel.length) target.searchParams.set("sel", selection.sel.join(","));
  if (selection.non.length) target.searchParams.set("non", selection.non.join(","));
  const query = target.searchParams.toString().replace(/%2C/gi, ",");
  return target.pathname + (query ? `?${query}` : "") + target.hash;
}

// The selection goes along with every search: the one given in `state.selection`, else the URL's.
export function searchUrl(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.mode && state.mode !== "hybrid") params.set("mode", state.mode);
  for (const [name, value] of filterParams(state.filters)) params.append(name, value);
  if (state.page > 1) params.set("page", String(state.page));
  const query = params.toString();
  return withSelection(query ? `/?${query}` : "/", state.selection || readSelection());
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

export class PageError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

// What people read when a call fails: never the status, the stack or the API's technical detail.
export function messageFor(status, what) {
  if (status === 404 && what === "fiche") return "Cette fiche n'existe pas, ou plus : elle a peut-être été retirée.";
  if (what === "selection" && (status === 404 || status === 422)) {
    return "Les propositions n'ont pas pu être calculées pour cette sélection. Retirez une fiche, ou réessayez.";
  }
  if (status === 422) return "Cette recherche n'a pas pu être faite. Vérifiez le texte saisi (500 caractères au plus) et les filtres.";
  if (status === 503) return "Le service de recherche démarre ou se met à jour. Réessayez dans un instant.";
  return "Le service de recherche ne répond pas pour le moment. Réessayez dans un instant.";
}

async function call(url, init, what) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new PageError(messageFor(0, what));
  }
  if (!response.ok) throw new PageError(messageFor(response.status, what), response.status);
  return response.json();
}

export function api(path, params, what, signal) {
  const url = params && String(params) ? `${path}?${params}` : path;
  return call(url, { headers: { Accept: "application/json" }, signal }, what);
}

export function post(path, body, what, signal) {
  return call(path, {
    method: "POST", body: JSON.stringify(body), signal,
    headers: { Accept: "application/json", "Content-Type": "application/json" },
  }, what);
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
