// The confirmation dialog (a modal <dialog>): focus moves into it, and back to where it was.
import { h } from "../ui/dom";

export interface Confirmation {
  readonly title: string;
  readonly lines: readonly string[];
  /** The confirming button's text: "Delete provider". */
  readonly confirm: string;
}

let counter = 0;

function dialogElement(ask: Confirmation, no: HTMLElement, yes: HTMLElement): HTMLDialogElement {
  const id = `confirm-${++counter}`;
  return h(
    "dialog",
    {
      class: "confirm",
      "data-testid": "confirm-dialog",
      "aria-labelledby": `${id}-title`,
      "aria-describedby": `${id}-body`,
    },
    h("h2", { id: `${id}-title` }, ask.title),
    h("div", { id: `${id}-body` }, ...ask.lines.map((line) => h("p", {}, line))),
    h("div", { class: "actions" }, no, yes),
  );
}

/** Asks; resolves true for confirm-yes, false for confirm-no, Escape or closing. Focus starts
 * on "Cancel" (the safe answer) and returns to the element that had it. */
export function confirmAction(host: HTMLElement, ask: Confirmation): Promise<boolean> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const no = h("button", { type: "button", "data-testid": "confirm-no" }, "Cancel");
  const yes = h(
    "button",
    { type: "button", class: "danger", "data-testid": "confirm-yes" },
    ask.confirm,
  );
  const dialog = dialogElement(ask, no, yes);
  return new Promise((resolve) => {
    const finish = (answer: boolean): void => {
      dialog.close();
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(answer);
    };
    yes.addEventListener("click", () => finish(true));
    no.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape answers "no", through the same path
      finish(false);
    });
    host.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
