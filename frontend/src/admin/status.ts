// The console's one status line (role=status): progress while an action runs, then its outcome.
import { h } from "../ui/dom";
import { errorWords, type Overrides } from "./errors";

type State = "idle" | "progress" | "ok" | "error";

export class StatusLine {
  readonly element = h("p", {
    class: "admin-status",
    role: "status",
    "aria-live": "polite",
    "data-testid": "admin-status",
    "data-state": "idle",
  });

  private set(state: State, text: string): void {
    this.element.dataset["state"] = state;
    this.element.textContent = text;
  }

  progress(text: string): void {
    this.set("progress", text);
  }

  success(text: string): void {
    this.set("ok", text);
  }

  failure(error: unknown, overrides?: Overrides): void {
    this.set("error", errorWords(error, overrides));
  }

  /** A problem the console found itself (nothing was sent). */
  problem(text: string): void {
    this.set("error", text);
  }

  clear(): void {
    this.set("idle", "");
  }
}

export interface Action<T> {
  /** Shown while it runs: "Saving…". */
  readonly progress: string;
  /** Shown when it worked. */
  readonly success: (result: T) => string;
  /** Disabled while it runs. */
  readonly buttons?: readonly (HTMLButtonElement | HTMLInputElement)[];
  readonly overrides?: Overrides;
  /** Called with the error after the status shows it (inline field errors, a reload offer). */
  readonly failed?: (error: unknown) => void;
}

/** Runs one request: progress, buttons disabled, then success or the error in plain words.
 * Resolves to the result, or undefined when it failed (the status line says why). */
export async function runAction<T>(
  status: StatusLine,
  action: Action<T>,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const buttons = action.buttons ?? [];
  const wasDisabled = buttons.map((b) => b.disabled);
  buttons.forEach((b) => {
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
  });
  status.progress(action.progress);
  try {
    const result = await work();
    const text = action.success(result);
    if (text) status.success(text);
    else status.clear();
    return result;
  } catch (error) {
    status.failure(error, action.overrides);
    action.failed?.(error);
    return undefined;
  } finally {
    buttons.forEach((b, i) => {
      b.disabled = wasDisabled[i] ?? false;
      b.removeAttribute("aria-busy");
    });
  }
}
