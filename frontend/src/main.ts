// Composition root: load /config, finish a sign-in or sign-out redirect, then show the right view.
import "./styles.css";
import { Auth, type Session } from "./auth";
import { ChatController } from "./chat";
import { loadConfig, type AppConfig } from "./config";
import { h, replaceChildren } from "./ui/dom";
import { busyView, signedOutView, type Notice } from "./ui/signin";

function errorText(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

class App {
  private readonly auth: Auth;

  constructor(
    private readonly root: HTMLElement,
    private readonly config: AppConfig,
  ) {
    this.auth = new Auth(config.providers);
  }

  async start(): Promise<void> {
    if (this.auth.isCallback()) {
      replaceChildren(this.root, busyView("Signing you in…"));
      try {
        this.showChat(await this.auth.completeSignIn());
      } catch (error) {
        this.showSignedOut({ text: `Sign-in failed: ${errorText(error)}`, code: "sign_in_failed" });
      }
      return;
    }
    await this.auth.completeSignOut();
    const session = await this.auth.restore().catch(() => null);
    if (session) this.showChat(session);
    else this.showSignedOut(null);
  }

  private showChat(session: Session): void {
    const chat = new ChatController(session, this.config.maxMessageChars, (notice) =>
      this.showSignedOut(notice),
    );
    replaceChildren(this.root, chat.view.element);
    chat.start();
  }

  private showSignedOut(notice: Notice): void {
    const view = signedOutView(this.config.providers, notice, (providerId) => {
      this.auth.signIn(providerId).catch((error: unknown) => {
        this.showSignedOut({
          text: `Could not reach the identity provider: ${errorText(error)}`,
          code: "idp_unavailable",
        });
      });
    });
    replaceChildren(this.root, view);
  }
}

async function main(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) return;
  replaceChildren(root, busyView("Loading…"));
  try {
    await new App(root, await loadConfig()).start();
  } catch (error) {
    replaceChildren(
      root,
      h(
        "main",
        { class: "busy", role: "alert", "data-testid": "error-view" },
        `The chat is unavailable: ${errorText(error)}`,
      ),
    );
  }
}

void main();
