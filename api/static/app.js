/* The search page's router: reads the state from the URL, calls the JSON API, renders. No framework, no
 * build step; the modules beside this one draw each view (search.js, fiche.js, cards.js, panel.js).
 *
 * Every change of page goes through the URL: links and filters push a history entry (navigate), typing in
 * the box searches as you type, and popstate redraws from the URL, so links can be shared and the back
 * button works. Text from the API is inserted with textContent; the one exception is passage.marked, which
 * the library escapes before adding its <mark> tags.
 */

import { $ } from "./dom.js";
import { clearFiche, renderFiche } from "./fiche.js";
import { closePanel, installPanel } from "./panel.js";
import { onNavigate, renderSearch, restoreFacetFocus } from "./search.js";
import { installSelection, refreshLinks, renderSelection } from "./selection.js";
import { MODES, PageError, messageFor, readState, searchUrl } from "./state.js";

const DEBOUNCE_MS = 250; // a pause in typing this long starts a search
const MIN_CHARS = 2; // a lone letter finds nothing useful
let sequence = 0; // the latest render; answers to older ones are dropped
let controller = null; // cancels the previous render's requests
let typingTimer = null;

const here = () => location.pathname + location.search + location.hash;
const ficheId = () => (location.pathname.match(/^\/fiche\/([^/]+)\/?$/) || [])[1];

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setView(fiche) {
  $("search-view").hidden = fiche;
  $("fiche-view").hidden = !fiche;
  document.body.classList.toggle("view-fiche", fiche);
  $("skip").textContent = fiche ? "Aller à la fiche" : "Aller aux résultats";
  $("skip").setAttribute("href", fiche ? "#fiche-title" : "#results-heading");
}

function syncForm(state, typing) {
  // While typing, the box holds what the person typed since: never overwritten.
  if (!typing && $("q").value.trim() !== state.q) $("q").value = state.q;
  for (const mode of MODES) $(`mode-${mode}`).checked = mode === state.mode;
  if (state.mode !== "hybrid") $("options").open = true;
}

async function render({ moved = false, typing = false } = {}) {
  const mine = ++sequence;
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  showError("");
  const id = ficheId();
  const state = readState();
  setView(Boolean(id));
  if (id) closePanel();
  syncForm(state, typing);
  document.body.setAttribute("aria-busy", "true");
  renderSelection(); // the tray, beside the view: redrawn only when the URL's selection changed
  try {
    if (id) await renderFiche(decodeURIComponent(id), signal, { moved });
    else await renderSearch(state, signal, { moved });
    if (mine === sequence) { refreshLinks(); restoreFacetFocus(); }
  } catch (error) {
    if (error.name === "AbortError" || mine !== sequence) return;
    showError(error instanceof PageError ? error.message : messageFor(0));
    if (id) {
      clearFiche();
      $("fiche-title").textContent = "Fiche indisponible";
    } else {
      $("results-heading").textContent = "La recherche n'a pas abouti";
      for (const list of ["results", "weaker-list"]) $(list).replaceChildren();
      $("pager").hidden = $("weaker").hidden = $("empty").hidden = true;
    }
    if (!(error instanceof PageError)) console.error(error);
  } finally {
    if (mine === sequence) document.body.removeAttribute("aria-busy");
  }
}

function navigate(url) {
  stopTyping();
  if (url !== here()) history.pushState(null, "", url);
  render({ moved: true });
}

// The URL of a search for `q` from where the person is: filters kept on the results, none from a fiche.
function urlFor(q) {
  const state = readState();
  const mode = MODES.find((m) => $(`mode-${m}`).checked) || "hybrid";
  return searchUrl({ q, mode, filters: ficheId() ? {} : state.filters, page: 1 });
}

// Typing makes one history entry per search, not one per pause: the first pause pushes an entry marked
// `typing`, later ones replace it, and Enter (or a click away) leaves it as it is.
function searchAsTyped() {
  const q = $("q").value.trim();
  if (q.length > 0 && q.length < MIN_CHARS) return;
  const url = urlFor(q);
  if (url === location.pathname + location.search) return;
  if (history.state && history.state.typing) history.replaceState({ typing: true }, "", url);
  else history.pushState({ typing: true }, "", url);
  render({ typing: true });
}

function stopTyping() {
  clearTimeout(typingTimer);
  typingTimer = null;
  document.body.removeAttribute("data-typing");
}

function onInput(event) {
  if (event.isComposing) return; // an accent or a character still being composed
  clearTimeout(typingTimer);
  document.body.setAttribute("data-typing", "");
  typingTimer = setTimeout(() => { stopTyping(); searchAsTyped(); }, DEBOUNCE_MS);
}

function onSubmit(event) {
  event.preventDefault();
  stopTyping();
  const q = $("q").value.trim();
  if (!q) { $("q").focus(); return; }
  const url = urlFor(q);
  if (history.state && history.state.typing) history.replaceState(null, "", url); // the typed search, kept
  else if (url !== here()) history.pushState(null, "", url);
  render();
}

function onClick(event) {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return; // new tab / window
  event.preventDefault();
  if (link.id === "back" && history.state && history.state.fromSearch) { history.back(); return; }
  const url = new URL(link.href);
  if (!ficheId() && url.pathname.startsWith("/fiche/")) {
    // The fiche's back link returns to these exact results.
    stopTyping();
    $("back").setAttribute("href", location.pathname + location.search); // the selection follows (refreshLinks)
    history.pushState({ fromSearch: true }, "", url.pathname + url.search + url.hash);
    render({ moved: true });
    return;
  }
  navigate(url.pathname + url.search + url.hash);
}

// The skip link moves the keyboard to the results (or the fiche) without touching the URL or history.
function onSkip(event) {
  event.preventDefault();
  const target = $(event.currentTarget.getAttribute("href").slice(1));
  target.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
}

function start() {
  installPanel();
  installSelection();
  $("skip").addEventListener("click", onSkip);
  onNavigate(navigate);
  $("search-form").addEventListener("submit", onSubmit);
  $("q").addEventListener("input", onInput);
  for (const mode of MODES) {
    $(`mode-${mode}`).addEventListener("change", () => { if ($("q").value.trim()) $("search-form").requestSubmit(); });
  }
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => { stopTyping(); render(); });
  render();
}

start();
