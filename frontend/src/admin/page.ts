// /admin: ask the API whether the signed-in user is an admin, then show the console or why not.
import type { Session } from "../auth";
import { h, replaceChildren } from "../ui/dom";
import { busyView, type Notice } from "../ui/signin";
import { AdminApi } from "./api";
import { AdminConsole } from "./console";
import { deniedText, deniedView } from "./denied";
import { ApiError, errorWords } from "./errors";

export class AdminPage {
  private console: AdminConsole | null = null;
  private ended = false;
  private readonly api: AdminApi;

  /** `signIn` shows the sign-in view (which returns to /admin); `signOut` signs out for good. */
  constructor(
    private readonly root: HTMLElement,
    private readonly session: Session,
    private readonly signIn: (notice: Notice) => void,
    private readonly signOut: () => void,
  ) {
    this.api = new AdminApi(session, (error) => void this.sessionEnded(error));
  }

  async start(): Promise<void> {
    replaceChildren(this.root, busyView("Checking your administrator access…"));
    try {
      const me = await this.api.me();
      this.console = new AdminConsole(this.api, me, () => this.leave());
      replaceChildren(this.root, this.console.element);
      this.console.start();
    } catch (error) {
      this.refused(error);
    }
  }

  private refused(error: unknown): void {
    if (this.ended) return; // a 401: the sign-in view is already up
    if (error instanceof ApiError && error.status === 403) {
      const text = deniedText(error.code, errorWords(error));
      replaceChildren(
        this.root,
        deniedView(this.session.displayName, text, () => this.leave()),
      );
      return;
    }
    const retry = h("button", { type: "button", class: "primary" }, "Try again");
    retry.addEventListener("click", () => void this.start());
    replaceChildren(
      this.root,
      h(
        "main",
        { class: "busy", role: "alert", "data-testid": "error-view" },
        h("p", {}, `The admin console is unavailable: ${errorWords(error)}`),
        retry,
      ),
    );
  }

  private leave(): void {
    this.console?.stop();
    this.signOut();
  }

  /** The tokens no longer prove a session (after one renewal): sign in again, back to here. */
  private async sessionEnded(error: ApiError): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.console?.stop();
    await this.session.clear().catch(() => undefined); // the tokens are useless either way
    this.signIn({ text: errorWords(error), code: error.code });
  }
}
