// The keyed message list: reuses one <li> per entry so scroll position and focus survive updates.
import type { Entry } from "../messages";
import { h } from "./dom";
import { renderMessage } from "./messageItem";

export interface MessageList {
  readonly element: HTMLOListElement;
  reset(entries: readonly Entry[]): void;
  update(entries: readonly Entry[], keepAnchor: boolean): void;
}

function signature(entry: Entry): string {
  return `${entry.state}|${entry.message?.id ?? ""}|${entry.error ?? ""}`;
}

export function messageList(ownName: string, onRetry: (key: string) => void): MessageList {
  const element = h("ol", {
    class: "messages",
    role: "log",
    "aria-label": "Messages",
    tabindex: "0",
    "data-testid": "message-list",
  });
  const items = new Map<string, { li: HTMLLIElement; signature: string }>();

  function nearBottom(): boolean {
    return element.scrollHeight - element.scrollTop - element.clientHeight < 48;
  }

  function update(entries: readonly Entry[], keepAnchor: boolean): void {
    const stick = nearBottom();
    const fromBottom = element.scrollHeight - element.scrollTop;
    const keep = new Set<string>();
    entries.forEach((entry, index) => {
      keep.add(entry.key);
      let item = items.get(entry.key);
      if (!item) {
        item = { li: h("li", { class: "message", "data-testid": "message" }), signature: "" };
        items.set(entry.key, item);
      }
      const sig = signature(entry);
      if (sig !== item.signature) {
        renderMessage(item.li, entry, ownName, onRetry);
        item.signature = sig;
      }
      if (element.children[index] !== item.li)
        element.insertBefore(item.li, element.children[index] ?? null);
    });
    for (const [key, item] of items) {
      if (!keep.has(key)) {
        item.li.remove();
        items.delete(key);
      }
    }
    if (keepAnchor) element.scrollTop = element.scrollHeight - fromBottom;
    else if (stick) element.scrollTop = element.scrollHeight;
  }

  return {
    element,
    reset(entries) {
      items.clear();
      element.replaceChildren();
      update(entries, false);
      element.scrollTop = element.scrollHeight;
    },
    update,
  };
}
