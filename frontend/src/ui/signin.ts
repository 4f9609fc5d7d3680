// The signed-out view: one "Sign in with <name>" button per configured provider.
import type { ProviderConfig } from "../config";
import { h } from "./dom";

export type Notice = { readonly text: string; readonly code?: string } | null;

export function noticeElement(notice: Notice): HTMLElement | null {
  if (!notice) return null;
  return h(
    "p",
    { class: "notice", role: "alert", "data-testid": "notice", "data-code": notice.code },
    notice.text,
  );
}

export function signedOutView(
  providers: readonly ProviderConfig[],
  notice: Notice,
  onSignIn: (providerId: string) => void,
): HTMLElement {
  const buttons = providers.map((provider) => {
    const button = h(
      "button",
      { type: "button", class: "primary", "data-testid": `sign-in-${provider.id}` },
      `Sign in with ${provider.name}`,
    );
    button.addEventListener("click", () => {
      buttons.forEach((b) => (b.disabled = true));
      onSignIn(provider.id);
    });
    return button;
  });
  return h(
    "main",
    { class: "signed-out", "data-testid": "signed-out-view" },
    h("h1", {}, "SSO Chat"),
    noticeElement(notice),
    h("p", {}, "Sign in with your organisation's account."),
    h("div", { class: "providers" }, ...buttons),
  );
}

export function busyView(text: string): HTMLElement {
  return h(
    "main",
    { class: "busy", "data-testid": "busy-view", "aria-busy": "true" },
    h("p", {}, text),
  );
}
