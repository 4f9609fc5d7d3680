// One row of the providers list: who it is, its live state, and its actions.
import { h } from "../ui/dom";
import { ERROR_WORDS } from "./errors";
import { ageText, connectCounts, plural, providerStateText } from "./sentences";
import type { Provider } from "./types";

export interface RowActions {
  toggle(provider: Provider, button: HTMLButtonElement): void;
  edit(provider: Provider): void;
  remove(provider: Provider, button: HTMLButtonElement): void;
}

const TONE: Record<string, string> = {
  ok: "ok",
  "keys stale": "warn",
  unavailable: "bad",
  disabled: "muted",
  "not loaded yet": "muted",
  "settings invalid": "bad",
};

/** The provider as administrators call it (the label is the sign-in button's text). */
export function displayName(provider: Provider): string {
  return provider.name || provider.id;
}

function cell(label: string, ...children: (Node | string | null)[]): HTMLTableCellElement {
  return h("td", { "data-label": label }, ...children);
}

function identityCell(provider: Provider, mine: boolean): HTMLTableCellElement {
  const notes = [
    provider.source === "file" ? "from the configuration file" : "added here",
    mine ? "you are signed in with it" : null,
    provider.display.label ? `button "${provider.display.label}"` : null,
  ].filter((note): note is string => note !== null);
  const differs = provider.file_differs.length
    ? h(
        "p",
        { class: "row-note warn" },
        `Differs from the configuration file in ${provider.file_differs.join(", ")}: the table is used.`,
      )
    : null;
  return cell(
    "Provider",
    h("strong", {}, displayName(provider)),
    h("span", { class: "row-meta" }, `${provider.id} · ${provider.issuer}`),
    h("span", { class: "row-meta" }, notes.join(" · ")),
    differs,
  );
}

function connectsCell(provider: Provider): HTMLTableCellElement {
  const counts = connectCounts(provider.status.connects_last_hour);
  if (counts.length === 0) return cell("Connects (1 h)", h("span", { class: "muted" }, "none"));
  const chips = counts.map(([code, n]) =>
    h(
      "li",
      { class: code === "ok" ? "chip ok" : "chip bad", title: ERROR_WORDS[code] ?? code },
      `${code} ${n}`,
    ),
  );
  return cell("Connects (1 h)", h("ul", { class: "chips" }, ...chips));
}

export function ageLine(provider: Provider): string {
  return `fetched ${ageText(provider.status.seconds_since_fetch)}`;
}

/** Everything a row shows except the age of its keys (which changes on every reload). */
export function rowSignature(provider: Provider): string {
  return JSON.stringify({ ...provider, status: { ...provider.status, seconds_since_fetch: 0 } });
}

function keysCell(provider: Provider): HTMLTableCellElement {
  return cell(
    "Keys",
    h("span", {}, plural(provider.status.key_count, "key")),
    h("span", { class: "row-meta age" }, ageLine(provider)),
  );
}

function button(testid: string, text: string, extra: string = ""): HTMLButtonElement {
  return h("button", { type: "button", class: extra, "data-testid": testid }, text);
}

/** Why this provider cannot be deleted from here, or null when it can. */
export function deleteRefusal(provider: Provider, mine: boolean): string | null {
  if (provider.source === "file") {
    return "It comes from the configuration file: remove it there, or disable it here.";
  }
  if (mine) return "You are signed in with it: sign in with another provider to delete it.";
  return null;
}

export function providerRow(provider: Provider, mine: boolean, on: RowActions): HTMLElement {
  const id = provider.id;
  const state = providerStateText(provider.enabled, provider.status);
  const toggle = button(`provider-toggle-${id}`, provider.enabled ? "Disable" : "Enable");
  const edit = button(`provider-edit-${id}`, "Edit");
  const remove = button(`provider-delete-${id}`, "Delete", "danger-quiet");
  toggle.addEventListener("click", () => on.toggle(provider, toggle));
  edit.addEventListener("click", () => on.edit(provider));
  remove.addEventListener("click", () => on.remove(provider, remove));
  for (const b of [toggle, edit, remove]) b.setAttribute("aria-label", `${b.textContent} ${id}`);
  // The server refuses these deletes (provider_in_file, would_lock_out): say why up front.
  const kept = deleteRefusal(provider, mine);
  if (kept) {
    remove.disabled = true;
    remove.title = kept;
  }
  return h(
    "tr",
    { "data-testid": `provider-row-${id}` },
    identityCell(provider, mine),
    cell(
      "State",
      h(
        "span",
        {
          class: "badge",
          "data-tone": TONE[state] ?? "muted",
          "data-testid": `provider-state-${id}`,
        },
        state,
      ),
    ),
    keysCell(provider),
    connectsCell(provider),
    cell("Live sessions", String(provider.status.live_sessions ?? 0)),
    cell("Order", String(provider.display.order)),
    cell("Actions", h("div", { class: "row-actions" }, toggle, edit, remove)),
  );
}
