// OpenID Connect sign-in with oidc-client-ts: Authorization Code + PKCE (S256), tokens in sessionStorage.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import type { ProviderConfig } from "./config";

export interface Tokens {
  readonly access_token?: string;
  readonly id_token: string;
}

const ACTIVE_PROVIDER_KEY = "chat.provider";
const PENDING_PROVIDER_KEY = "chat.pending-provider";
export const CALLBACK_PATH = "/callback";

/** Where the app may return after sign-in: the chat, or the admin console (and its routes). */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== "string") return "/";
  return /^\/admin(#\/[\w\-./?=&%:+]*)?$/.test(value) ? value : "/";
}

export interface SignedIn {
  readonly session: Session;
  /** The path sign-in started from ("/" or "/admin…"). */
  readonly returnTo: string;
}

function createManager(provider: ProviderConfig): UserManager {
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  return new UserManager({
    authority: provider.issuer,
    client_id: provider.clientId,
    redirect_uri: `${location.origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${location.origin}/`,
    response_type: "code", // never implicit; oidc-client-ts always adds PKCE S256 to the code flow
    // The code comes back in the fragment, so it never reaches our server (or its access log).
    response_mode: "fragment",
    scope: provider.scopes,
    loadUserInfo: false, // JWT access tokens for our API cannot call userinfo
    userStore: store, // never localStorage
    stateStore: store,
    automaticSilentRenew: true, // uses the refresh token (offline_access)
    // oidc-provider only issues a refresh token for offline_access when consent is prompted.
    prompt: provider.scopes.split(" ").includes("offline_access") ? "consent" : undefined,
  });
}

/** The signed-in user of one provider, with its token lifecycle events. */
export class Session {
  private listeners: ((tokens: Tokens) => void)[] = [];
  private failureListeners: ((error: Error) => void)[] = [];

  constructor(
    readonly provider: ProviderConfig,
    private readonly manager: UserManager,
    private user: User,
  ) {
    manager.events.addUserLoaded((loaded) => {
      this.user = loaded;
      this.listeners.forEach((listener) => listener(this.tokens()));
    });
    manager.events.addSilentRenewError((error) => {
      this.failureListeners.forEach((listener) => listener(error));
    });
  }

  get displayName(): string {
    const claims = this.user.profile;
    return claims.name ?? claims.preferred_username ?? claims.email ?? claims.sub;
  }

  tokens(): Tokens {
    const id_token = this.user.id_token ?? "";
    // A provider without access tokens for our API: its ID token goes alone (see the README).
    if (this.provider.mode === "id_token_only") return { id_token };
    return { access_token: this.user.access_token, id_token };
  }

  /** Called after every token renewal, automatic or forced. */
  onRenewed(listener: (tokens: Tokens) => void): void {
    this.listeners.push(listener);
  }

  onRenewFailed(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** Forces a refresh-token renewal; resolves false when the provider refused or was unreachable. */
  async renew(): Promise<boolean> {
    try {
      return (await this.manager.signinSilent()) !== null;
    } catch {
      return false;
    }
  }

  /** Forgets the tokens in this tab only. */
  async clear(): Promise<void> {
    sessionStorage.removeItem(ACTIVE_PROVIDER_KEY);
    this.manager.stopSilentRenew();
    await this.manager.removeUser();
  }

  /** RP-initiated logout at the provider (id_token_hint is sent), or a local sign-out; the
   * provider returns to "/", and the app then shows the sign-in for `returnTo`. */
  async signOut(returnTo = "/"): Promise<void> {
    if (!this.provider.endSession) {
      await this.clear();
      return;
    }
    sessionStorage.removeItem(ACTIVE_PROVIDER_KEY);
    this.manager.stopSilentRenew();
    // signoutRedirect removes the stored user before it navigates away.
    await this.manager.signoutRedirect({
      id_token_hint: this.user.id_token,
      state: { returnTo: safeReturnPath(returnTo) },
    });
  }
}

/** Owns one UserManager per configured provider. */
export class Auth {
  private readonly managers = new Map<string, UserManager>();

  constructor(private readonly providers: readonly ProviderConfig[]) {
    for (const provider of providers) this.managers.set(provider.id, createManager(provider));
  }

  private manager(id: string | null): [ProviderConfig, UserManager] | null {
    const provider = this.providers.find((p) => p.id === id);
    const manager = id === null ? undefined : this.managers.get(id);
    return provider && manager ? [provider, manager] : null;
  }

  /** Sends the browser to the provider's login page; after the callback the app returns to
   * `returnTo` (kept in the sign-in request's state, which only this tab can read). */
  async signIn(providerId: string, returnTo = "/"): Promise<void> {
    const found = this.manager(providerId);
    if (!found) throw new Error(`unknown provider ${providerId}`);
    sessionStorage.setItem(PENDING_PROVIDER_KEY, providerId);
    await found[1].signinRedirect({ state: { returnTo: safeReturnPath(returnTo) } });
  }

  isCallback(): boolean {
    return location.pathname === CALLBACK_PATH;
  }

  /** Completes the code exchange, then removes code and state from the address bar and history
   * (replacing them with the path sign-in started from). */
  async completeSignIn(): Promise<SignedIn> {
    const found = this.manager(sessionStorage.getItem(PENDING_PROVIDER_KEY));
    sessionStorage.removeItem(PENDING_PROVIDER_KEY);
    let returnTo = "/";
    try {
      if (!found) throw new Error("No sign-in was started in this tab.");
      const user = await found[1].signinRedirectCallback();
      returnTo = safeReturnPath((user.state as { returnTo?: unknown } | undefined)?.returnTo);
      sessionStorage.setItem(ACTIVE_PROVIDER_KEY, found[0].id);
      return { session: new Session(found[0], found[1], user), returnTo };
    } finally {
      history.replaceState(null, "", returnTo);
    }
  }

  /** Cleans up after the provider's post-logout redirect (it may carry ?state=...); returns the
   * path sign-out started from, or null when this load is no such redirect. */
  async completeSignOut(): Promise<string | null> {
    if (!new URLSearchParams(location.search).has("state")) return null;
    let returnTo = "/";
    for (const manager of this.managers.values()) {
      try {
        const response = await manager.signoutRedirectCallback();
        returnTo = safeReturnPath((response.userState as { returnTo?: unknown } | null)?.returnTo);
        break;
      } catch {
        // state belongs to another provider's manager
      }
    }
    history.replaceState(null, "", returnTo);
    return returnTo;
  }

  /** The session stored in this tab, renewed first if its access token has expired. */
  async restore(): Promise<Session | null> {
    const found = this.manager(sessionStorage.getItem(ACTIVE_PROVIDER_KEY));
    if (!found) return null;
    const [provider, manager] = found;
    let user = await manager.getUser();
    if (user?.expired && user.refresh_token) {
      user = await manager.signinSilent().catch(() => null);
    }
    if (!user || user.expired) {
      await manager.removeUser();
      sessionStorage.removeItem(ACTIVE_PROVIDER_KEY);
      return null;
    }
    return new Session(provider, manager, user);
  }
}
