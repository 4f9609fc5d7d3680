// The page for a signed-in user the API does not let in: no data of the API, a way out.
import { h } from "../ui/dom";

export function deniedView(name: string, text: string, signOut: () => void): HTMLElement {
  const out = h(
    "button",
    { type: "button", "data-testid": "admin-denied-sign-out" },
    "Sign in with another account",
  );
  out.addEventListener("click", () => {
    out.disabled = true;
    signOut();
  });
  return h(
    "main",
    { class: "signed-out admin-denied", "data-testid": "admin-denied" },
    h("h1", {}, "SSO Chat ", h("span", { class: "admin-tag" }, "Admin")),
    h("p", { class: "notice", role: "alert" }, text),
    h(
      "p",
      {},
      `Signed in as ${name}. Administrators are named in the server's configuration; ask one to add you.`,
    ),
    h(
      "div",
      { class: "providers" },
      h("a", { href: "/", class: "button-link primary" }, "Back to chat"),
      out,
    ),
  );
}

/** The refusal text for a 403 of /me. */
export function deniedText(code: string, words: string): string {
  if (code === "forbidden")
    return "You are signed in, but you are not an administrator of this chat.";
  return `The admin console is not available to you: ${words}`;
}
