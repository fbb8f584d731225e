/* "Ma sélection": fiches a person keeps, from the results or a fiche, and "Projets qui pourraient vous
 * inspirer", proposed from them by POST /recommend with the reasons. The selection lives in the URL like the
 * rest of the state (sel=id1,id2 for the fiches kept, non=id3 for those marked "Pas ce genre"), so it goes
 * along with every search and link, a shared link gives the same proposals, and each change is a history
 * entry the back button undoes. A change redraws the tray and the proposals only, never the results, so
 * the keyboard stays on the button pressed. */

import { $, el, plural, quote } from "./dom.js";
import { card, paintSelectButton } from "./cards.js";
import { MAX_SELECTED, PageError, api, messageFor, post, readSelection, withSelection } from "./state.js";

const PROPOSALS = 5;
const fiches = new Map(); // id -> the fiche (title, public, dimension…), asked once per visit
let shown = null; // the selection the tray and the proposals show, as a key
let controller = null; // cancels the previous drawing's requests

const here = () => location.pathname + location.search + location.hash;
const keyOf = (selection) => `${selection.sel.join(",")}|${selection.non.join(",")}`;
const size = (selection) => selection.sel.length + selection.non.length;

// The fiche, or null when it does not exist (any more).
async function fiche(id, signal) {
  if (fiches.has(id)) return fiches.get(id);
  try {
    const found = await api(`/actions/${encodeURIComponent(id)}`, null, "fiche", signal);
    fiches.set(id, found);
    return found;
  } catch (error) {
    if (error instanceof PageError && error.status === 404) return null;
    throw error;
  }
}

// Every link of the page carries the selection, so that it follows the person wherever they go.
export function refreshLinks(selection = readSelection()) {
  for (const link of document.querySelectorAll("a[data-nav]")) {
    const href = link.getAttribute("href");
    if (href && href.startsWith("/")) link.setAttribute("href", withSelection(href, selection));
  }
}

function paintButtons(selection) {
  for (const button of document.querySelectorAll("[data-select]")) paintSelectButton(button, selection);
}

function say(message) {
  $("selection-status").textContent = message;
}

function notice(message) {
  $("selection-notice").textContent = message;
  $("selection-notice").hidden = !message;
}

function change(next, message) {
  history.pushState(null, "", withSelection(here(), next));
  notice("");
  refreshLinks(next);
  paintButtons(next);
  say(message);
  return renderSelection();
}

const titleOf = (id) => (fiches.get(id) || {}).title
  || (document.querySelector(`[data-select="${CSS.escape(id)}"]`) || { dataset: {} }).dataset.title || "cette fiche";

function toggle(id, title) {
  const { sel, non } = readSelection();
  if (sel.includes(id) || non.includes(id)) {
    return change({ sel: sel.filter((x) => x !== id), non: non.filter((x) => x !== id) },
      `${quote(title)} est retirée de votre sélection.`);
  }
  if (sel.length + non.length >= MAX_SELECTED) {
    notice(`Votre sélection compte déjà ${MAX_SELECTED} fiches, le plus possible : retirez-en une pour en ajouter une autre.`);
    say($("selection-notice").textContent);
    return Promise.resolve();
  }
  return change({ sel: [...sel, id], non }, `${quote(title)} est ajoutée à votre sélection (${plural(sel.length + non.length + 1, "fiche", "fiches")}).`);
}

function toggleUnlike(id) {
  const { sel, non } = readSelection();
  const title = titleOf(id);
  const pending = non.includes(id)
    ? change({ sel: [...sel, id], non: non.filter((x) => x !== id) }, `${quote(title)} compte de nouveau pour les propositions.`)
    : change({ sel: sel.filter((x) => x !== id), non: [...non, id] }, `${quote(title)} : pas ce genre, les propositions s'en éloignent.`);
  pending.then(() => { // the list is redrawn: the keyboard goes back to the same toggle
    const again = document.querySelector(`[data-unlike="${CSS.escape(id)}"]`);
    if (again) again.focus();
  });
}

function remove(id) {
  const selection = readSelection();
  const all = [...selection.sel, ...selection.non];
  const after = all[all.indexOf(id) + 1] || all[all.indexOf(id) - 1];
  change({ sel: selection.sel.filter((x) => x !== id), non: selection.non.filter((x) => x !== id) },
    `${quote(titleOf(id))} est retirée de votre sélection.`).then(() => {
    const next = after && document.querySelector(`[data-remove="${CSS.escape(after)}"]`);
    (next || $("selection-heading")).focus();
  });
}

function trayItem(id, unliked) {
  const { title } = fiches.get(id);
  return el("li", { class: unliked ? "tray-item unliked" : "tray-item" },
    el("a", { href: withSelection(`/fiche/${encodeURIComponent(id)}`), "data-nav": true, class: "tray-title" }, title),
    el("span", { class: "tray-buttons" },
      el("button", { type: "button", class: "button small", "data-unlike": id, "aria-pressed": unliked ? "true" : "false",
        "aria-label": `Pas ce genre : ${quote(title)}` }, "Pas ce genre"),
      el("button", { type: "button", class: "button small", "data-remove": id,
        "aria-label": `Retirer ${quote(title)} de ma sélection` }, "Retirer")));
}

function drawTray(selection) {
  const n = size(selection);
  $("selection-heading").textContent = `Ma sélection (${n})`;
  $("selection-link").textContent = `Ma sélection (${n})`;
  $("selection-empty").hidden = n > 0;
  $("selection-hint").hidden = n === 0;
  $("selection-list").replaceChildren(...selection.sel.map((id) => trayItem(id, false)),
    ...selection.non.map((id) => trayItem(id, true)));
}

async function drawProposals(selection, signal) {
  const box = $("inspire");
  const list = $("inspire-list");
  const empty = $("inspire-empty");
  box.hidden = size(selection) === 0;
  if (!selection.sel.length) {
    list.replaceChildren();
    empty.hidden = box.hidden;
    empty.textContent = `Gardez au moins une fiche sans ${quote("Pas ce genre")} pour recevoir des propositions.`;
    return;
  }
  const data = await post("/recommend", { like: selection.sel, unlike: selection.non, limit: PROPOSALS }, "selection", signal);
  if (signal.aborted) return;
  list.replaceChildren(...data.results.map((result) => {
    const closest = result.explanation.closest_liked;
    return el("li", {}, card(result, { kind: "recommend", source: closest && fiches.get(closest.id), level: 3 }));
  }));
  empty.hidden = data.results.length > 0;
  empty.textContent = "Aucune fiche à proposer pour le moment.";
  refreshLinks(selection);
}

// Draws the tray and the proposals for the URL's selection, when it differs from the one shown. Ids that
// no longer exist (or past the limit) are dropped from the URL with a word of explanation.
export async function renderSelection() {
  const asked = readSelection();
  if (keyOf(asked) === shown) return;
  shown = keyOf(asked);
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  const area = $("selection-area");
  area.setAttribute("aria-busy", "true");
  try {
    let selection = asked;
    const all = [...asked.sel, ...asked.non];
    const found = await Promise.all(all.map((id) => fiche(id, signal)));
    if (signal.aborted) return;
    const gone = all.filter((id, i) => !found[i]);
    const extra = all.filter((id, i) => found[i]).slice(MAX_SELECTED);
    if (gone.length || extra.length) {
      const drop = (ids) => ids.filter((id) => !gone.includes(id) && !extra.includes(id));
      selection = { sel: drop(asked.sel), non: drop(asked.non) };
      history.replaceState(history.state, "", withSelection(here(), selection));
      shown = keyOf(selection);
      refreshLinks(selection);
      const said = [];
      if (gone.length === 1) said.push("Une fiche de votre sélection n'existe plus : elle en a été retirée.");
      if (gone.length > 1) said.push(`${plural(gone.length, "fiche", "fiches")} de votre sélection n'existent plus : elles en ont été retirées.`);
      if (extra.length) said.push(`Une sélection compte ${MAX_SELECTED} fiches au plus : les suivantes ont été laissées de côté.`);
      notice(said.join(" "));
    }
    $("inspire-error").hidden = true;
    drawTray(selection);
    paintButtons(selection);
    await drawProposals(selection, signal);
  } catch (error) {
    if (error.name === "AbortError" || signal.aborted) return;
    shown = null; // tried again on the next drawing
    $("inspire").hidden = false;
    $("inspire-list").replaceChildren();
    $("inspire-empty").hidden = true;
    $("inspire-error").textContent = error instanceof PageError ? error.message : messageFor(0, "selection");
    $("inspire-error").hidden = false;
    if (!(error instanceof PageError)) console.error(error);
  } finally {
    if (controller && controller.signal === signal) area.removeAttribute("aria-busy");
  }
}

// "Ma sélection (n)" in the header moves the keyboard to the tray, without touching the URL.
function toTray(event) {
  event.preventDefault();
  $("selection-heading").scrollIntoView({ block: "start" });
  $("selection-heading").focus({ preventScroll: true });
}

export function installSelection() {
  $("selection-link").addEventListener("click", toTray);
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-select], button[data-unlike], button[data-remove]");
    if (!button) return;
    if (button.dataset.select) {
      const id = button.dataset.select;
      toggle(id, button.dataset.title).then(() => {
        // A proposal added is redrawn out of the list: the keyboard goes to it in the tray.
        if (document.contains(button)) return;
        ($("selection-list").querySelector(`[data-remove="${CSS.escape(id)}"]`) || $("inspire-heading")).focus();
      });
    }
    else if (button.dataset.unlike) toggleUnlike(button.dataset.unlike);
    else remove(button.dataset.remove);
  });
}
