// The provider settings form: the same labelled fields in the add wizard and in the editor.
import { h } from "../ui/dom";
import type { FieldProblem } from "./errors";
import { Field, selectField, textField } from "./fields";
import type { ProviderValues } from "./providerValues";

type Key = keyof ProviderValues;

const MODES = [
  ["access_token", "Access token for this API, plus the ID token"],
  ["id_token_only", "ID token only (the provider issues no access token for us)"],
] as const;

function fields(prefix: string): Record<Key, Field> {
  const t = (key: string, label: string, hint?: string, placeholder?: string): Field =>
    textField(`${prefix}-${key}`, `field-${key}`, label, { hint, placeholder });
  return {
    id: t("id", "Id", "A short name used in URLs and logs; it cannot change later.", "corp"),
    name: t("name", "Name", "What administrators see."),
    label: t("label", "Sign-in button label", "Empty: the name.", "Sign in with Corp SSO"),
    order: t("order", "Sign-in page order", "Lower numbers come first (-1000 to 1000)."),
    client_id: t("client_id", "Client id", "The id of this chat's app at the provider."),
    mode: selectField(`${prefix}-mode`, "field-mode", "Tokens", MODES),
    audience: t(
      "audience",
      "Audience",
      "The aud value of access tokens for this API.",
      "api://sso-chat",
    ),
    scopes: t("scopes", "Scopes to request", "Separated by spaces."),
    required_scopes: t(
      "required_scopes",
      "Required scopes",
      "Access tokens must carry all of these (spaces or commas). May be empty.",
    ),
    algorithms: t("algorithms", "Signing algorithms", "Accepted algorithms (spaces or commas)."),
    leeway_seconds: t("leeway_seconds", "Clock leeway (seconds)", "0 to 60."),
    groups_claim: t("groups_claim", "Groups claim", "Where the groups are: groups, or a path."),
  };
}

/** The form's controls; `values()` reads them, `showProblems` marks the ones that failed. */
export class ProviderFields {
  readonly element: HTMLElement;
  private readonly fields: Record<Key, Field>;

  constructor(prefix: string, initial: ProviderValues, onInput: () => void = () => undefined) {
    this.fields = fields(prefix);
    const f = this.fields;
    this.element = h(
      "div",
      { class: "provider-fields" },
      h("fieldset", {}, h("legend", {}, "Identity"), f.id.element, f.name.element),
      h(
        "fieldset",
        {},
        h("legend", {}, "Client and tokens"),
        ...[f.client_id, f.mode, f.audience, f.scopes, f.required_scopes].map((x) => x.element),
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "Verification"),
        ...[f.algorithms, f.leeway_seconds, f.groups_claim].map((x) => x.element),
      ),
      h("fieldset", {}, h("legend", {}, "Sign-in page"), f.label.element, f.order.element),
    );
    this.setValues(initial);
    for (const field of Object.values(f)) {
      field.control.addEventListener("input", () => {
        this.syncMode();
        onInput();
      });
    }
  }

  setValues(values: ProviderValues): void {
    for (const key of Object.keys(this.fields) as Key[]) this.fields[key].value = values[key];
    this.syncMode();
  }

  values(): ProviderValues {
    const v = (key: Key): string => this.fields[key].value;
    return {
      id: v("id"),
      name: v("name"),
      label: v("label"),
      order: v("order"),
      client_id: v("client_id"),
      mode: v("mode") === "id_token_only" ? "id_token_only" : "access_token",
      audience: v("audience"),
      scopes: v("scopes"),
      required_scopes: v("required_scopes"),
      algorithms: v("algorithms"),
      leeway_seconds: v("leeway_seconds"),
      groups_claim: v("groups_claim"),
    };
  }

  /** The access-token settings do not apply to an ID-token-only provider. */
  private syncMode(): void {
    const idOnly = this.fields.mode.value === "id_token_only";
    this.fields.audience.control.disabled = idOnly;
    this.fields.required_scopes.control.disabled = idOnly;
  }

  setDisabled(disabled: boolean, keep: readonly Key[] = []): void {
    for (const [key, field] of Object.entries(this.fields)) {
      if (!keep.includes(key as Key)) field.control.disabled = disabled;
    }
    if (!disabled) this.syncMode();
  }

  lockId(): void {
    const control = this.fields.id.control;
    if (control instanceof HTMLInputElement) control.readOnly = true;
  }

  private keyOf(name: string): Key | undefined {
    if (name.startsWith("display.label")) return "label";
    if (name.startsWith("display.order")) return "order";
    const head = name.split(".")[0] ?? "";
    return head in this.fields ? (head as Key) : undefined;
  }

  /** Marks each field named in `problems` (server or form); returns those no field showed. */
  showProblems(problems: readonly FieldProblem[]): FieldProblem[] {
    for (const field of Object.values(this.fields)) field.showProblem(null);
    const unshown: FieldProblem[] = [];
    let first: Field | undefined;
    for (const problem of problems) {
      const key = this.keyOf(problem.field);
      const field = key === undefined ? undefined : this.fields[key];
      if (!field) {
        unshown.push(problem);
        continue;
      }
      field.showProblem(problem.problem);
      first ??= field;
    }
    first?.control.focus();
    return unshown;
  }
}
