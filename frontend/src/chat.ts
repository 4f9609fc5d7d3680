// Chat logic for one signed-in session: rooms, history, sending with retry, reconnect catch-up.
import type { Session } from "./auth";
import { ChatConnection } from "./connection";
import { RoomLog } from "./messages";
import {
  asMessage,
  type Ack,
  type HistoryPage,
  type HistoryQuery,
  type Message,
  type Room,
} from "./protocol";
import { ChatView } from "./ui/chatView";
import { sessionEndedText } from "./ui/endings";
import type { Notice } from "./ui/signin";

const PAGE_SIZE = 50;
const MAX_CATCH_UP_PAGES = 20;
const CURRENT_ROOM_KEY = "chat.room";

export class ChatController {
  readonly view: ChatView;
  private readonly connection: ChatConnection;
  private rooms: Room[] = [];
  private readonly logs = new Map<string, RoomLog>();
  private current: string | null = sessionStorage.getItem(CURRENT_ROOM_KEY);

  constructor(
    private readonly session: Session,
    private readonly maxChars: number,
    private readonly signedOut: (notice: Notice) => void,
  ) {
    this.view = new ChatView(session.displayName, maxChars, {
      selectRoom: (slug) => void this.selectRoom(slug),
      leaveRoom: () => void this.leaveRoom(),
      loadOlder: () => void this.loadOlder(),
      send: (text) => this.send(text),
      retry: (key) => void this.retry(key),
      signOut: () => void this.signOut(),
    });
    this.connection = new ChatConnection(() => session.tokens(), {
      connected: (first) => void this.onConnected(first),
      stateChanged: (state) => this.view.setStatus(state),
      refused: (code, message) => void this.end({ text: message, code }),
      sessionEnded: (reason) => void this.end({ text: sessionEndedText(reason), code: reason }),
      event: (name, payload) => this.onEvent(name, payload),
      renewTokens: () => session.renew(),
    });
    session.onRenewed((tokens) => void this.connection.refreshTokens(tokens));
    session.onRenewFailed(() =>
      this.view.setNotice({ text: "Could not renew your session. You may have to sign in again." }),
    );
  }

  start(): void {
    this.connection.open();
  }

  private async onConnected(first: boolean): Promise<void> {
    const listed = await this.connection.request<{ rooms: Room[] }>("list_rooms", {});
    if (listed.ok) this.rooms = listed.rooms;
    // After a reconnect the server has forgotten our rooms: join them again and fetch what we missed.
    const wanted = first ? [this.current] : [...this.logs.keys()];
    for (const slug of wanted) {
      if (slug && this.rooms.some((room) => room.slug === slug)) await this.join(slug);
    }
    if (this.current && !this.logs.has(this.current)) this.current = null;
    this.renderRooms();
    this.renderRoom();
  }

  private async join(slug: string): Promise<boolean> {
    const since = this.logs.get(slug)?.newestId();
    const ack = await this.connection.request<{ room: Room }>("join", { room: slug });
    if (!ack.ok) {
      this.logs.delete(slug);
      this.view.setNotice({ text: ack.error.message, code: ack.error.code });
      return false;
    }
    const log = this.logs.get(slug) ?? new RoomLog();
    this.logs.set(slug, log);
    if (since === undefined) await this.fetchLatest(slug, log);
    else await this.catchUp(slug, log, since);
    return true;
  }

  private history(query: HistoryQuery): Promise<Ack<HistoryPage>> {
    return this.connection.request<HistoryPage>("fetch_history", query);
  }

  private async fetchLatest(slug: string, log: RoomLog): Promise<void> {
    const page = await this.history({ room: slug, limit: PAGE_SIZE });
    if (!page.ok) return this.view.setNotice({ text: page.error.message, code: page.error.code });
    log.addMessages(page.messages);
    log.hasMore = page.has_more;
  }

  private async catchUp(slug: string, log: RoomLog, since: number): Promise<void> {
    let after = since;
    for (let i = 0; i < MAX_CATCH_UP_PAGES; i++) {
      const page = await this.history({ room: slug, after, limit: 100 });
      if (!page.ok) return;
      log.addMessages(page.messages);
      after = page.messages.at(-1)?.id ?? after;
      if (!page.has_more || page.messages.length === 0) return;
    }
  }

  private async selectRoom(slug: string): Promise<void> {
    this.view.setNotice(null);
    if (!this.logs.has(slug) && !(await this.join(slug))) return;
    this.current = slug;
    sessionStorage.setItem(CURRENT_ROOM_KEY, slug);
    this.renderRooms();
    this.renderRoom();
  }

  private async leaveRoom(): Promise<void> {
    const slug = this.current;
    if (!slug) return;
    await this.connection.request<object>("leave", { room: slug });
    this.logs.delete(slug);
    this.current = null;
    sessionStorage.removeItem(CURRENT_ROOM_KEY);
    this.renderRooms();
    this.renderRoom();
  }

  private async loadOlder(): Promise<void> {
    const slug = this.current;
    const log = slug ? this.logs.get(slug) : undefined;
    if (!slug || !log) return;
    this.view.setLoadingOlder(true);
    const before = log.oldestId();
    const query = before === undefined ? { room: slug } : { room: slug, before };
    const page = await this.history({ ...query, limit: PAGE_SIZE });
    this.view.setLoadingOlder(false);
    if (!page.ok) return this.view.setNotice({ text: page.error.message, code: page.error.code });
    log.addMessages(page.messages);
    log.hasMore = page.has_more;
    if (slug === this.current) this.view.updateMessages(log.ordered(), log.hasMore, true);
  }

  private send(text: string): void {
    const slug = this.current;
    const log = slug ? this.logs.get(slug) : undefined;
    if (!slug || !log) return;
    if ([...text].length > this.maxChars) {
      const tooLong = `A message can have at most ${this.maxChars} characters.`;
      this.view.setNotice({ text: tooLong, code: "message_too_large" });
      return;
    }
    const entry = log.addPending(crypto.randomUUID(), text);
    this.renderMessages(slug);
    void this.deliver(slug, log, entry.key, text);
  }

  /** Retrying reuses the client_id, so the server stores the message at most once. */
  private async retry(key: string): Promise<void> {
    const slug = this.current;
    const entry = slug ? this.logs.get(slug)?.get(key) : undefined;
    const log = slug ? this.logs.get(slug) : undefined;
    if (!slug || !log || !entry || entry.state !== "failed") return;
    log.markPending(key);
    this.renderMessages(slug);
    await this.deliver(slug, log, key, entry.text);
  }

  private async deliver(slug: string, log: RoomLog, clientId: string, text: string): Promise<void> {
    const ack = await this.connection.request<{ message: Message }>("send_message", {
      room: slug,
      text,
      client_id: clientId,
    });
    if (ack.ok) log.addMessages([ack.message]);
    else log.markFailed(clientId, ack.error.message);
    this.renderMessages(slug);
  }

  private onEvent(name: string, payload: unknown): void {
    if (name === "room_access_revoked") return this.onRoomRevoked(payload);
    // The server warns shortly before the access token expires: renew now (refresh_token follows).
    if (name === "session_expiring") return void this.session.renew();
    if (name !== "message_posted") return;
    const message = asMessage(payload);
    const log = message ? this.logs.get(message.room) : undefined;
    if (message && log?.addMessages([message])) this.renderMessages(message.room);
  }

  /** After a token refresh the server found we may no longer see a room: it has left it for us. */
  private onRoomRevoked(payload: unknown): void {
    const slug = (payload as { room?: unknown } | null)?.room;
    if (typeof slug !== "string") return;
    this.rooms = this.rooms.filter((room) => room.slug !== slug);
    this.logs.delete(slug);
    if (this.current === slug) {
      this.current = null;
      sessionStorage.removeItem(CURRENT_ROOM_KEY);
    }
    this.view.setNotice({ text: `You no longer have access to ${slug}.`, code: "forbidden" });
    this.renderRooms();
    this.renderRoom();
  }

  private renderRooms(): void {
    this.view.setRooms(this.rooms, this.current, new Set(this.logs.keys()));
  }

  private renderRoom(): void {
    const room = this.rooms.find((r) => r.slug === this.current) ?? null;
    const log = room ? this.logs.get(room.slug) : undefined;
    this.view.showRoom(room, log?.ordered() ?? [], log?.hasMore ?? false);
  }

  private renderMessages(slug: string): void {
    const log = this.logs.get(slug);
    if (log && slug === this.current) this.view.updateMessages(log.ordered(), log.hasMore);
  }

  private async end(notice: Notice): Promise<void> {
    this.connection.close();
    await this.session.clear();
    this.signedOut(notice);
  }

  /** Closes the socket first, then signs out at the provider. */
  async signOut(): Promise<void> {
    this.connection.close();
    sessionStorage.removeItem(CURRENT_ROOM_KEY);
    try {
      await this.session.signOut();
      if (!this.session.provider.endSession) this.signedOut({ text: "You have signed out." });
    } catch {
      // The provider is unreachable: at least forget the tokens here.
      await this.session.clear();
      const text = "Signed out in this browser, but the identity provider could not be reached.";
      this.signedOut({ text, code: "idp_unavailable" });
    }
  }
}
