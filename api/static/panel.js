/* The filters on a small screen: a panel over the page, opened by "Filtres", closed by "Voir les N fiches"
 * (which then shows the results) or "Fermer" or Escape. On a wide screen the same filters sit beside the
 * results and none of this applies. While the panel is open the rest of the page is inert, so the keyboard
 * and screen readers stay in it. */

import { $, plural } from "./dom.js";

const WIDE = window.matchMedia("(min-width: 48rem)");

export const panelOpen = () => $("filters").classList.contains("open");

function setInert(on) {
  // Everything but the panel and its ancestors: their siblings, up to <body>.
  for (let node = $("filters"); node && node !== document.body; node = node.parentElement) {
    for (const sibling of node.parentElement.children) {
      if (sibling !== node && sibling.tagName !== "SCRIPT") sibling.inert = on;
    }
  }
}

export function openPanel() {
  $("filters").classList.add("open");
  $("filters-toggle").setAttribute("aria-expanded", "true");
  document.body.classList.add("panel-open");
  setInert(true);
  $("filters-heading").focus();
}

export function closePanel({ toResults = false } = {}) {
  if (!panelOpen()) return;
  $("filters").classList.remove("open");
  $("filters-toggle").setAttribute("aria-expanded", "false");
  document.body.classList.remove("panel-open");
  setInert(false);
  if (toResults) {
    $("results-heading").scrollIntoView({ block: "start" });
    $("results-heading").focus({ preventScroll: true });
  } else {
    $("filters-toggle").focus();
  }
}

// The buttons say how many fiches the ticked filters leave, so ticking one visibly does something.
export function updatePanel(total, activeCount) {
  $("show-results").textContent = total === 0 ? "Aucune fiche : voir pourquoi"
    : total === 1 ? "Voir la fiche" : `Voir les ${plural(total, "fiche", "fiches")}`;
  $("filters-toggle").textContent = activeCount ? `Filtres (${activeCount})` : "Filtres";
}

export function installPanel() {
  $("filters-toggle").addEventListener("click", () => (panelOpen() ? closePanel() : openPanel()));
  $("filters-close").addEventListener("click", () => closePanel());
  $("show-results").addEventListener("click", () => closePanel({ toResults: true }));
  $("filters").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panelOpen()) { event.preventDefault(); closePanel(); }
  });
  WIDE.addEventListener("change", () => { if (WIDE.matches && panelOpen()) closePanel(); });
}
