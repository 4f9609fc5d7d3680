// The only way the app creates DOM: elements with attributes, and strings always as text nodes.

export type Child = Node | string | null | undefined | false;
export type Attrs = Record<string, string | boolean | undefined>;

/** Creates an element. Strings become text nodes, so user data can never become markup. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    // Event handler attributes would be code: wire events with addEventListener instead.
    if (name.toLowerCase().startsWith("on")) throw new Error(`refusing attribute ${name}`);
    if (value === true) element.setAttribute(name, "");
    else if (typeof value === "string") element.setAttribute(name, value);
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces all children of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}
