// The rooms page: every room (archived ones too), create, rename, set groups, archive.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext, AdminView } from "./context";
import { tagList } from "./format";
import { RoomForm } from "./roomForm";
import type { Route } from "./route";
import { runAction } from "./status";
import type { Room } from "./types";

function roomRow(room: Room, edit: HTMLButtonElement, archive: HTMLButtonElement): HTMLElement {
  const state = room.archived
    ? h("span", { class: "badge", "data-tone": "muted" }, "archived")
    : h("span", { class: "badge", "data-tone": "ok" }, "active");
  return h(
    "tr",
    { "data-testid": `room-row-${room.slug}`, class: room.archived ? "archived" : "" },
    h(
      "td",
      { "data-label": "Room" },
      h("strong", {}, room.name),
      h("span", { class: "row-meta" }, room.slug),
    ),
    h("td", { "data-label": "Who may join" }, tagList(room.allowed_groups, "everyone signed in")),
    h("td", { "data-label": "State" }, state),
    h("td", { "data-label": "Actions" }, h("div", { class: "row-actions" }, edit, archive)),
  );
}

export class RoomsView implements AdminView {
  readonly element = h("section", { class: "admin-page", "data-testid": "rooms-view" });
  private readonly body = h("tbody", {});
  private readonly formSlot = h("div", {});
  private rooms: Room[] = [];
  private form: RoomForm | null = null;
  private returnFocus: string | null = null;
  private asked = 0;

  constructor(private readonly ctx: AdminContext) {
    const add = h(
      "button",
      { type: "button", class: "primary", "data-testid": "room-add" },
      "Add room",
    );
    add.addEventListener("click", () => ctx.navigate({ view: "rooms", id: "new" }));
    const headings = ["Room", "Who may join", "State", ""].map((t) => h("th", { scope: "col" }, t));
    replaceChildren(
      this.element,
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, "Rooms"),
        h("div", { class: "toolbar" }, add),
      ),
      h(
        "p",
        { class: "lead" },
        "Who may see each room. An archived room keeps its history; nobody can join it or post.",
      ),
      this.formSlot,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data-table rooms-table" },
          h("thead", {}, h("tr", {}, ...headings)),
          this.body,
        ),
      ),
    );
    replaceChildren(
      this.body,
      h("tr", {}, h("td", { colspan: "4", class: "empty" }, "Loading rooms…")),
    );
  }

  show(route: Route): void {
    void this.load().then(() => {
      this.openForm(route);
      if (route.id === null && this.returnFocus) this.focus(this.returnFocus);
      this.returnFocus = null;
    });
  }

  dispose(): void {
    this.form?.dispose();
  }

  private openForm(route: Route): void {
    this.form?.dispose();
    this.form = null;
    replaceChildren(this.formSlot);
    if (route.id === null) return;
    const room =
      route.id === "new" && route.action === null
        ? null
        : this.rooms.find((r) => r.slug === route.id);
    if (room === undefined) return this.ctx.status.problem(`There is no room "${route.id}".`);
    const probe = this.rooms[0]?.slug ?? null;
    this.form = new RoomForm(this.ctx, room, probe, (saved) => {
      this.returnFocus = saved
        ? `room-edit-${saved.slug}`
        : room
          ? `room-edit-${room.slug}`
          : "room-add";
      this.ctx.navigate({ view: "rooms" });
    });
    replaceChildren(this.formSlot, this.form.element);
  }

  private focus(testid: string): void {
    this.element.querySelector<HTMLElement>(`[data-testid="${testid}"]`)?.focus();
  }

  /** Lists the rooms; when loads overlap, only the one asked last is shown. */
  private async load(): Promise<void> {
    const asked = ++this.asked;
    let rooms: Room[];
    try {
      rooms = await this.ctx.api.rooms();
    } catch (error) {
      if (asked === this.asked) this.ctx.status.failure(error);
      return;
    }
    if (asked !== this.asked) return;
    this.rooms = rooms;
    const rows = this.rooms.map((room) => this.row(room));
    replaceChildren(this.body, ...rows);
    if (rows.length === 0)
      replaceChildren(
        this.body,
        h("tr", {}, h("td", { colspan: "4", class: "empty" }, "No rooms yet.")),
      );
  }

  private row(room: Room): HTMLElement {
    const edit = h(
      "button",
      {
        type: "button",
        "data-testid": `room-edit-${room.slug}`,
        "aria-label": `Edit ${room.name}`,
      },
      "Edit",
    );
    const archive = h(
      "button",
      {
        type: "button",
        "data-testid": `room-archive-${room.slug}`,
        "aria-label": `${room.archived ? "Unarchive" : "Archive"} ${room.name}`,
      },
      room.archived ? "Unarchive" : "Archive",
    );
    edit.addEventListener("click", () =>
      this.ctx.navigate({ view: "rooms", id: room.slug, action: "edit" }),
    );
    archive.addEventListener("click", () => void this.archive(room, archive));
    return roomRow(room, edit, archive);
  }

  private async archive(room: Room, button: HTMLButtonElement): Promise<void> {
    const archived = !room.archived;
    const done = await runAction(
      this.ctx.status,
      {
        progress: archived ? `Archiving ${room.name}…` : `Restoring ${room.name}…`,
        success: () =>
          archived
            ? `Archived ${room.name}: it left everyone's room list; its history is kept.`
            : `Restored ${room.name}: members may join it again.`,
        buttons: [button],
      },
      () => this.ctx.api.updateRoom(room.slug, { archived }),
    );
    await this.load();
    if (done) this.focus(`room-archive-${room.slug}`);
  }
}
