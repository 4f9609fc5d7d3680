// Labelled form controls: every input has a <label for>, and problems are tied to it.
import { h } from "../ui/dom";

export type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface FieldOptions {
  readonly hint?: string;
  readonly placeholder?: string;
  readonly type?: string;
  readonly required?: boolean;
}

/** One labelled control with an optional hint and a slot for its problem. */
export class Field {
  readonly element: HTMLElement;
  private readonly problemSlot: HTMLElement;

  constructor(
    readonly control: Control,
    label: string,
    hint?: string,
  ) {
    const id = control.id;
    this.problemSlot = h("p", { class: "field-problem", id: `${id}-problem`, hidden: true });
    const hintElement = hint ? h("p", { class: "field-hint", id: `${id}-hint` }, hint) : null;
    const described = [hint ? `${id}-hint` : "", `${id}-problem`].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", described);
    this.element = h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      control,
      hintElement,
      this.problemSlot,
    );
  }

  get value(): string {
    return this.control.value;
  }

  set value(text: string) {
    this.control.value = text;
  }

  showProblem(problem: string | null): void {
    this.problemSlot.hidden = problem === null;
    this.problemSlot.textContent = problem ?? "";
    if (problem === null) this.control.removeAttribute("aria-invalid");
    else this.control.setAttribute("aria-invalid", "true");
  }
}

export function textField(
  id: string,
  testid: string,
  label: string,
  options: FieldOptions = {},
): Field {
  const input = h("input", {
    id,
    name: id,
    type: options.type ?? "text",
    "data-testid": testid,
    placeholder: options.placeholder,
    autocomplete: "off",
    spellcheck: "false",
    "aria-required": options.required ? "true" : undefined,
  });
  return new Field(input, label, options.hint);
}

export function textAreaField(
  id: string,
  testid: string,
  label: string,
  options: FieldOptions = {},
): Field {
  const area = h("textarea", {
    id,
    name: id,
    rows: "4",
    "data-testid": testid,
    placeholder: options.placeholder,
    spellcheck: "false",
  });
  return new Field(area, label, options.hint);
}

export function selectField(
  id: string,
  testid: string,
  label: string,
  choices: readonly (readonly [string, string])[],
  hint?: string,
): Field {
  const select = h(
    "select",
    { id, name: id, "data-testid": testid },
    ...choices.map(([value, text]) => h("option", { value }, text)),
  );
  return new Field(select, label, hint);
}
