// The signed-in layout: top bar, room list, message list and send box. Holds no chat logic.
import type { ConnectionState } from "../connection";
import type { Entry } from "../messages";
import type { Room } from "../protocol";
import { h, replaceChildren } from "./dom";
import { messageList, type MessageList } from "./messageList";
import { noticeElement, type Notice } from "./signin";

export interface ChatActions {
  selectRoom(slug: string): void;
  leaveRoom(): void;
  loadOlder(): void;
  send(text: string): void;
  retry(key: string): void;
  signOut(): void;
}

const STATUS_TEXT: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Connection lost, reconnecting…",
  idp_unavailable: "Identity provider unreachable, retrying…",
  closed: "Disconnected",
};

export class ChatView {
  readonly element: HTMLElement;
  private readonly status = h("span", {
    class: "status-pill",
    role: "status",
    "data-testid": "connection-status",
  });
  private readonly noticeSlot = h("div", { class: "notice-slot" });
  private readonly roomList = h("ul", { class: "room-list", "data-testid": "room-list" });
  private readonly roomTitle = h("h2", { id: "room-title", "data-testid": "room-title" });
  private readonly leave = h("button", { type: "button", "data-testid": "leave-room" }, "Leave");
  private readonly older = h(
    "button",
    { type: "button", class: "older", "data-testid": "load-older" },
    "Load older messages",
  );
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton = h(
    "button",
    { type: "submit", class: "primary", "data-testid": "send-button" },
    "Send",
  );
  private readonly form: HTMLFormElement;
  private readonly messages: MessageList;
  // Hidden until the admin API's GET /me says this user is an admin.
  private readonly adminLink = h(
    "a",
    { href: "/admin", class: "button-link", "data-testid": "chat-admin-link", hidden: true },
    "Admin console",
  );

  constructor(
    userName: string,
    maxChars: number,
    private readonly actions: ChatActions,
  ) {
    this.messages = messageList(userName, (key) => actions.retry(key));
    this.input = h("textarea", {
      id: "message-input",
      name: "message",
      rows: "2",
      maxlength: String(maxChars),
      required: true,
      "data-testid": "message-input",
      placeholder: "Write a message",
    });
    this.form = h(
      "form",
      { class: "composer", "data-testid": "composer" },
      h("label", { for: "message-input", class: "visually-hidden" }, "Message"),
      this.input,
      this.sendButton,
    );
    const signOut = h("button", { type: "button", "data-testid": "sign-out" }, "Sign out");
    this.element = h(
      "div",
      { class: "chat", "data-testid": "chat-view" },
      h(
        "header",
        { class: "topbar" },
        h("h1", {}, "SSO Chat"),
        this.status,
        h("span", { class: "user", "data-testid": "user-name" }, userName),
        this.adminLink,
        signOut,
      ),
      this.noticeSlot,
      h("nav", { class: "rooms", "aria-label": "Rooms" }, h("h2", {}, "Rooms"), this.roomList),
      h(
        "section",
        { class: "room", "aria-labelledby": "room-title" },
        h("header", { class: "room-header" }, this.roomTitle, this.leave),
        this.older,
        this.messages.element,
        this.form,
      ),
    );
    signOut.addEventListener("click", () => actions.signOut());
    this.leave.addEventListener("click", () => actions.leaveRoom());
    this.older.addEventListener("click", () => actions.loadOlder());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      // Enter sends; Shift+Enter inserts a new line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.showRoom(null, [], false);
  }

  private submit(): void {
    const text = this.input.value;
    if (text.trim() === "" || this.sendButton.disabled) return;
    this.input.value = "";
    this.actions.send(text);
    this.input.focus();
  }

  /** Shows the link to /admin (for admins only: the caller asked the admin API). */
  showAdminLink(): void {
    this.adminLink.hidden = false;
  }

  setStatus(state: ConnectionState): void {
    this.status.dataset["state"] = state;
    this.status.textContent = STATUS_TEXT[state];
  }

  setNotice(notice: Notice): void {
    replaceChildren(this.noticeSlot, noticeElement(notice));
  }

  setRooms(rooms: readonly Room[], current: string | null, joined: ReadonlySet<string>): void {
    const items = rooms.map((room) => {
      const button = h(
        "button",
        {
          type: "button",
          class: "room-button",
          "data-testid": `room-${room.slug}`,
          "data-joined": joined.has(room.slug) ? "true" : "false",
          "aria-current": room.slug === current ? "true" : undefined,
        },
        room.name,
      );
      button.addEventListener("click", () => this.actions.selectRoom(room.slug));
      return h("li", {}, button);
    });
    replaceChildren(this.roomList, ...items);
    if (rooms.length === 0)
      replaceChildren(this.roomList, h("li", { class: "empty" }, "No rooms available."));
  }

  /** Shows a room (or the "choose a room" state when `room` is null). */
  showRoom(room: Room | null, entries: readonly Entry[], hasMore: boolean): void {
    this.roomTitle.textContent = room ? room.name : "Choose a room";
    this.roomTitle.dataset["room"] = room?.slug ?? "";
    this.leave.hidden = room === null;
    this.form.hidden = room === null;
    this.messages.reset(entries);
    this.older.hidden = !hasMore;
  }

  /** Re-renders the current room's messages; `keepAnchor` keeps the view steady after "Load older". */
  updateMessages(entries: readonly Entry[], hasMore: boolean, keepAnchor = false): void {
    this.messages.update(entries, keepAnchor);
    this.older.hidden = !hasMore;
  }

  setLoadingOlder(busy: boolean): void {
    this.older.disabled = busy;
  }
}
