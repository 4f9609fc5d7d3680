// The console's frame: header, navigation, status line, and the current view (by route).
import { h, replaceChildren } from "../ui/dom";
import type { AdminApi } from "./api";
import { AuditView } from "./audit";
import { ClusterView } from "./cluster";
import type { AdminContext, AdminView } from "./context";
import { confirmAction } from "./dialog";
import { ProvidersView } from "./providers";
import { RoomsView } from "./rooms";
import { parseRoute, routeHash, VIEWS, type Route, type View } from "./route";
import { StatusLine } from "./status";
import type { AdminIdentity } from "./types";
import { UsersView } from "./users";

const TITLES: Record<View, string> = {
  providers: "Identity providers",
  rooms: "Rooms",
  users: "Users",
  audit: "Audit trail",
  cluster: "Cluster",
};

const FACTORIES: Record<View, (ctx: AdminContext) => AdminView> = {
  providers: (ctx) => new ProvidersView(ctx),
  rooms: (ctx) => new RoomsView(ctx),
  users: (ctx) => new UsersView(ctx),
  audit: (ctx) => new AuditView(ctx),
  cluster: (ctx) => new ClusterView(ctx),
};

function topBar(me: AdminIdentity, signOut: () => void): HTMLElement {
  const out = h("button", { type: "button", "data-testid": "admin-sign-out" }, "Sign out");
  out.addEventListener("click", () => {
    out.disabled = true;
    signOut();
  });
  return h(
    "header",
    { class: "topbar admin-top" },
    h("h1", {}, "SSO Chat ", h("span", { class: "admin-tag" }, "Admin")),
    h(
      "span",
      { class: "user" },
      "Signed in as ",
      h("strong", { "data-testid": "admin-signed-in-as" }, me.name || me.subject),
      h("span", { class: "muted" }, ` · ${me.provider}`),
    ),
    h(
      "a",
      { href: "/", class: "button-link", "data-testid": "admin-back-to-chat" },
      "Back to chat",
    ),
    out,
  );
}

export class AdminConsole {
  readonly element: HTMLElement;
  private readonly status = new StatusLine();
  private readonly main = h("main", { class: "admin-main", id: "admin-main", tabindex: "-1" });
  private readonly nav: Record<View, HTMLButtonElement>;
  private readonly ctx: AdminContext;
  private current: { view: View; page: AdminView } | null = null;
  private readonly onHash = (): void => this.render(parseRoute(location.hash));

  constructor(api: AdminApi, me: AdminIdentity, signOut: () => void) {
    this.ctx = {
      api,
      me,
      status: this.status,
      navigate: (route) => this.navigate(routeHash(route)),
      confirm: (ask) => confirmAction(this.element, ask),
    };
    this.nav = Object.fromEntries(VIEWS.map((view) => [view, this.navButton(view)])) as Record<
      View,
      HTMLButtonElement
    >;
    // A button, not a link: the fragment holds the console's routes.
    const skip = h("button", { type: "button", class: "skip-link" }, "Skip to content");
    skip.addEventListener("click", () => this.main.focus());
    this.element = h(
      "div",
      { class: "admin", "data-testid": "admin-view" },
      skip,
      topBar(me, signOut),
      h(
        "nav",
        { class: "admin-nav", "aria-label": "Admin sections" },
        h("ul", {}, ...VIEWS.map((v) => h("li", {}, this.nav[v]))),
      ),
      h("div", { class: "admin-body" }, this.status.element, this.main),
    );
  }

  private navButton(view: View): HTMLButtonElement {
    const button = h(
      "button",
      { type: "button", class: "nav-button", "data-testid": `admin-nav-${view}` },
      TITLES[view],
    );
    button.addEventListener("click", () => {
      this.status.clear();
      this.navigate(routeHash({ view }));
    });
    return button;
  }

  start(): void {
    window.addEventListener("hashchange", this.onHash);
    this.render(parseRoute(location.hash));
  }

  stop(): void {
    window.removeEventListener("hashchange", this.onHash);
    this.current?.page.dispose();
  }

  /** A new fragment renders through hashchange; the same one again renders at once. */
  private navigate(hash: string): void {
    if (location.hash === hash) this.render(parseRoute(hash));
    else location.hash = hash;
  }

  private render(route: Route): void {
    if (this.current?.view !== route.view) {
      this.current?.page.dispose();
      const page = FACTORIES[route.view](this.ctx);
      this.current = { view: route.view, page };
      replaceChildren(this.main, page.element);
      document.title = `${TITLES[route.view]} · SSO Chat admin`;
    }
    for (const view of VIEWS) {
      if (view === route.view) this.nav[view].setAttribute("aria-current", "page");
      else this.nav[view].removeAttribute("aria-current");
    }
    this.current.page.show(route);
  }
}
