// Composition root: load /config, finish a sign-in or sign-out redirect, then show the right view:
// the chat at "/", the admin console at "/admin".
import "./styles.css";
import { AdminApi } from "./admin/api";
import { AdminPage } from "./admin/page";
import { Auth, type Session } from "./auth";
import { ChatController } from "./chat";
import { loadConfig, type AppConfig } from "./config";
import { h, replaceChildren } from "./ui/dom";
import { busyView, signedOutView, type Notice } from "./ui/signin";

const ADMIN_PATH = "/admin";

function errorText(error: unknown): string {
  return error instanceof Error && error.message ? error.message : String(error);
}

function isAdminPath(path: string): boolean {
  return path === ADMIN_PATH || path.startsWith(`${ADMIN_PATH}#`);
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
        const { session, returnTo } = await this.auth.completeSignIn();
        this.open(session, returnTo);
      } catch (error) {
        this.showSignedOut({ text: `Sign-in failed: ${errorText(error)}`, code: "sign_in_failed" });
      }
      return;
    }
    // After a sign-out the provider returns to "/": the path it started from is in its state.
    const signedOutFrom = await this.auth.completeSignOut();
    const here =
      signedOutFrom ?? (location.pathname === ADMIN_PATH ? `${ADMIN_PATH}${location.hash}` : "/");
    const session = await this.auth.restore().catch(() => null);
    if (session) this.open(session, here);
    else this.showSignedOut(null, here);
  }

  private open(session: Session, path: string): void {
    if (isAdminPath(path)) this.showAdmin(session);
    else this.showChat(session);
  }

  private showChat(session: Session): void {
    const chat = new ChatController(session, this.config.maxMessageChars, (notice) =>
      this.showSignedOut(notice),
    );
    replaceChildren(this.root, chat.view.element);
    chat.start();
    // The API decides who administers; a refusal (or any failure) keeps the link hidden.
    new AdminApi(session)
      .me()
      .then(() => chat.view.showAdminLink())
      .catch(() => undefined);
  }

  private showAdmin(session: Session): void {
    const page = new AdminPage(
      this.root,
      session,
      (notice) => this.showSignedOut(notice, `${ADMIN_PATH}${location.hash}`),
      () => void this.signOut(session, ADMIN_PATH),
    );
    void page.start();
  }

  /** Signs out at the provider (which returns to "/" and then `returnTo`), or here only when
   * it cannot. */
  private async signOut(session: Session, returnTo: string): Promise<void> {
    try {
      await session.signOut(returnTo);
      if (!session.provider.endSession) {
        this.showSignedOut({ text: "You have signed out." }, returnTo);
      }
    } catch {
      await session.clear();
      const text = "Signed out in this browser, but the identity provider could not be reached.";
      this.showSignedOut({ text, code: "idp_unavailable" }, returnTo);
    }
  }

  /** The sign-in buttons; `returnTo` is where the app goes once signed in. */
  private showSignedOut(notice: Notice, returnTo = "/"): void {
    const view = signedOutView(this.config.providers, notice, (providerId) => {
      this.auth.signIn(providerId, returnTo).catch((error: unknown) => {
        this.showSignedOut(
          {
            text: `Could not reach the identity provider: ${errorText(error)}`,
            code: "idp_unavailable",
          },
          returnTo,
        );
      });
    });
    if (isAdminPath(returnTo)) {
      view
        .querySelector("h1")
        ?.after(h("p", { class: "lead" }, "Sign in to open the admin console."));
    }
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
