/* Small DOM and French text helpers shared by the page's modules. */

export const $ = (id) => document.getElementById(id);

// Text from the API goes in with textContent only (children are text nodes), never as HTML.
export function el(tag, attrs, ...children) {
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

export function paragraphs(text) {
  return String(text).split(/\n+/).map((line) => line.trim()).filter(Boolean).map((line) => el("p", { text: line }));
}

const NBSP = "\u00a0";

export const count = (n) => n.toLocaleString("fr-FR");
export const plural = (n, one, many) => `${count(n)}${NBSP}${n > 1 ? many : one}`;

// French guillemets hold their text with non-breaking spaces, so a « never ends a line on its own.
export const quote = (text) => `«${NBSP}${text}${NBSP}»`;

// "Parle de : …": French puts a non-breaking space before the colon.
export const label = (name, value) => `${name}${NBSP}: ${value}`;

export function truncate(text, size) {
  return text.length <= size ? text : `${text.slice(0, text.lastIndexOf(" ", size)) || text.slice(0, size)} …`;
}

// Case and accents aside, as the library compares facet values (semsearch.text fold).
export const fold = (text) => String(text || "").normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().trim();

// A facet value as an example search: "Parentalité" -> "parentalité", acronyms ("CAF") kept.
export function asQuery(value) {
  if (value.length > 1 && value[1] === value[1].toUpperCase() && value[1] !== value[1].toLowerCase()) return value;
  return value.charAt(0).toLocaleLowerCase("fr-FR") + value.slice(1);
}
