// One message of the list. Message text is only ever inserted as a text node.
import type { Entry } from "../messages";
import { h, replaceChildren } from "./dom";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function timeElement(iso: string): HTMLTimeElement {
  const date = new Date(iso);
  const valid = !Number.isNaN(date.getTime());
  return h(
    "time",
    { datetime: iso, title: valid ? date.toLocaleString() : iso, "data-testid": "message-time" },
    valid ? timeFormat.format(date) : "",
  );
}

function statusElement(entry: Entry, onRetry: (key: string) => void): HTMLElement | null {
  if (entry.state === "pending") {
    return h("span", { class: "status", "data-testid": "message-status" }, "Sending…");
  }
  if (entry.state !== "failed") return null;
  const retry = h(
    "button",
    {
      type: "button",
      class: "link",
      "data-testid": "message-retry",
      "aria-label": "Retry sending this message",
    },
    "Retry",
  );
  retry.addEventListener("click", () => onRetry(entry.key));
  return h(
    "span",
    { class: "status failed", "data-testid": "message-status" },
    `Not sent: ${entry.error ?? "unknown error"} `,
    retry,
  );
}

/** Fills `li` with the current state of `entry` (sender, time, text, delivery status). */
export function renderMessage(
  li: HTMLLIElement,
  entry: Entry,
  ownName: string,
  onRetry: (key: string) => void,
): void {
  const message = entry.message;
  li.dataset["state"] = entry.state;
  if (entry.clientId) li.dataset["clientId"] = entry.clientId;
  if (message) li.dataset["messageId"] = String(message.id);
  replaceChildren(
    li,
    h(
      "div",
      { class: "meta" },
      h(
        "span",
        { class: "sender", "data-testid": "message-sender" },
        message ? message.sender.name : ownName,
      ),
      message ? timeElement(message.created_at) : null,
    ),
    h("p", { class: "text", "data-testid": "message-text" }, entry.text),
    statusElement(entry, onRetry),
  );
}
