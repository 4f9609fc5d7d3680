// Preview: what a provider's saved settings make of pasted tokens or claims (nothing is stored).
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext } from "./context";
import { ERROR_WORDS } from "./errors";
import { textAreaField } from "./fields";
import { pair, tagList } from "./format";
import { runAction } from "./status";
import type { Preview, PreviewSample } from "./types";

/** Reads the sample to send, or says what is wrong with what was pasted. */
export function sampleOf(
  idToken: string,
  accessToken: string,
  claims: string,
): PreviewSample | string {
  const tokens = { id_token: idToken.trim(), access_token: accessToken.trim() };
  const hasTokens = tokens.id_token !== "" || tokens.access_token !== "";
  if (claims.trim() === "") {
    if (!hasTokens) return "Paste an ID token, an access token, or claims first.";
    return Object.fromEntries(Object.entries(tokens).filter(([, v]) => v !== ""));
  }
  if (hasTokens) return "Paste tokens or claims, not both: clear one of them.";
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch (error) {
    return `The claims are not valid JSON: ${error instanceof Error ? error.message : error}`;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return 'The claims must be a JSON object, like {"sub": "alice", "groups": ["staff"]}.';
  }
  return { claims: parsed as Record<string, unknown> };
}

function refusalView(error: { code: string; message: string }): HTMLElement[] {
  return [
    h("p", { class: "result-head bad" }, `Refused: ${error.code}`),
    h("p", {}, ERROR_WORDS[error.code] ?? error.message),
  ];
}

function resultView(preview: Preview): HTMLElement[] {
  if (preview.error || !preview.identity) {
    return refusalView(preview.error ?? { code: "invalid_token", message: "" });
  }
  const who = preview.identity;
  const admission = preview.admission ?? { ok: true };
  const admitted = admission.ok
    ? "Admitted: the admission rules let this user in."
    : `Not admitted (${admission.code ?? "access_denied"}): ${admission.reason ?? "an admission rule refuses it"}.`;
  return [
    h(
      "p",
      { class: `result-head ${preview.accepted ? "ok" : "bad"}` },
      preview.accepted ? "Accepted: this user could sign in" : "Verified, but not admitted",
    ),
    h(
      "dl",
      { class: "facts" },
      ...pair("Subject", who.subject),
      ...pair("Name", who.name || "(no name)"),
      ...pair("Email", who.email ?? "(none verified)"),
      ...pair("Groups", tagList(who.groups, "none")),
      ...pair("Admission", admitted),
      ...pair("Rooms", tagList(preview.rooms ?? [], "none")),
    ),
  ];
}

/** The preview form for one saved provider; `prefix` keeps the testids distinct per page. */
export class PreviewPanel {
  readonly element: HTMLElement;
  private readonly result = h("div", {
    class: "preview-result",
    "data-testid": "preview-result",
    hidden: true,
  });

  constructor(
    private readonly ctx: AdminContext,
    private readonly providerId: () => string | null,
    prefix: string,
    issuer: string,
  ) {
    const idToken = textAreaField(`${prefix}-id-token`, `${prefix}-id-token`, "ID token", {
      placeholder: "eyJhbGciOi…",
    });
    const accessToken = textAreaField(
      `${prefix}-access-token`,
      `${prefix}-access-token`,
      "Access token",
      {
        placeholder: "eyJhbGciOi…",
      },
    );
    const claims = textAreaField(`${prefix}-claims`, `${prefix}-claims`, "Claims (JSON)", {
      hint: "Not verified: shows how the claim rules map an ID token's content.",
      placeholder: JSON.stringify({
        iss: issuer,
        sub: "test-user",
        name: "Test User",
        groups: ["staff"],
      }),
    });
    const run = h("button", { type: "button", class: "primary", "data-testid": prefix }, "Preview");
    run.addEventListener("click", () => {
      void this.preview(run, idToken.value, accessToken.value, claims.value);
    });
    this.element = h(
      "div",
      { class: "preview" },
      h(
        "p",
        { class: "lead" },
        "Paste tokens this provider issued to a test user (verified exactly as at sign-in), or claims. Nothing is stored or logged.",
      ),
      h("div", { class: "preview-inputs" }, idToken.element, accessToken.element, claims.element),
      h("div", { class: "actions" }, run),
      this.result,
    );
  }

  private async preview(
    button: HTMLButtonElement,
    idToken: string,
    accessToken: string,
    claims: string,
  ): Promise<void> {
    const id = this.providerId();
    const sample = sampleOf(idToken, accessToken, claims);
    if (id === null)
      return this.ctx.status.problem(
        "Save the provider first: the preview uses its saved settings.",
      );
    if (typeof sample === "string") return this.ctx.status.problem(sample);
    const preview = await runAction(
      this.ctx.status,
      {
        progress: "Previewing…",
        success: (p: Preview) =>
          p.accepted
            ? "Preview: the sample is accepted."
            : "Preview: the sample is refused (see why below).",
        buttons: [button],
      },
      () => this.ctx.api.preview(id, sample),
    );
    if (preview === undefined) return;
    replaceChildren(this.result, ...resultView(preview));
    this.result.hidden = false;
  }
}
