// The room form: slug, name, allowed groups, and what the groups would do to the known users.
import { h } from "../ui/dom";
import type { AdminContext } from "./context";
import { ApiError } from "./errors";
import { textField } from "./fields";
import { splitList } from "./providerValues";
import { impactSentence, mayJoinSentence, plural, seesAfter } from "./sentences";
import { runAction } from "./status";
import type { Impact, Room } from "./types";

const IMPACT_DELAY_MS = 300;

export class RoomForm {
  readonly element: HTMLElement;
  private readonly slug = textField("room-slug", "room-slug", "Slug", {
    hint: "Lower-case letters, digits, - and _. It never changes.",
    placeholder: "design",
  });
  private readonly name = textField("room-name", "room-name", "Name", { placeholder: "Design" });
  private readonly groups = textField("room-groups", "room-groups", "Allowed groups", {
    hint: "Comma-separated. Empty: every signed-in user may join.",
    placeholder: "engineering, design",
  });
  private readonly impact = h("p", {
    class: "impact",
    "data-testid": "room-impact",
    "aria-live": "polite",
  });
  private readonly impactDetail = h("p", { class: "field-hint" });
  private readonly save = h(
    "button",
    { type: "button", class: "primary", "data-testid": "room-save" },
    "Save room",
  );
  private timer: ReturnType<typeof setTimeout> | undefined;
  private asked = 0;

  /** `room` null: a new room; `probe` is a room the impact of a new room's groups is asked on. */
  constructor(
    private readonly ctx: AdminContext,
    private readonly room: Room | null,
    private readonly probe: string | null,
    private readonly done: (saved: Room | null) => void,
  ) {
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => done(null));
    this.save.addEventListener("click", () => void this.submit());
    this.groups.control.addEventListener("input", () => this.scheduleImpact());
    if (room) {
      this.slug.value = room.slug;
      this.slug.control.disabled = true;
      this.name.value = room.name;
      this.groups.value = room.allowed_groups.join(", ");
    }
    const title = room ? `Edit ${room.name}` : "New room";
    this.element = h(
      "form",
      { class: "panel room-form", novalidate: true, "aria-labelledby": "room-form-title" },
      h("h3", { id: "room-form-title", tabindex: "-1" }, title),
      h("div", { class: "form-grid" }, this.slug.element, this.name.element, this.groups.element),
      h("div", { class: "impact-box" }, this.impact, this.impactDetail),
      h("div", { class: "actions" }, cancel, this.save),
    );
    this.element.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.scheduleImpact(0);
    queueMicrotask(() => (room ? this.name : this.slug).control.focus());
  }

  private scheduleImpact(delay = IMPACT_DELAY_MS): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.askImpact(), delay);
  }

  private async askImpact(): Promise<void> {
    const slug = this.room?.slug ?? this.probe;
    if (slug === null) {
      this.impact.textContent = "Nobody is affected: it is a new room.";
      return;
    }
    const asked = ++this.asked;
    this.impact.textContent = "Counting the known users…";
    try {
      const impact = await this.ctx.api.impact(slug, splitList(this.groups.value));
      if (asked === this.asked) this.showImpact(impact);
    } catch (error) {
      if (asked === this.asked)
        this.impact.textContent = `Could not count the users it affects: ${error instanceof ApiError ? error.code : "error"}.`;
    }
  }

  private showImpact(impact: Impact): void {
    if (this.room) {
      this.impact.textContent = impactSentence(impact);
      this.impactDetail.textContent = `${mayJoinSentence(impact)} Counted over the groups of each known user's latest sign-in.`;
      return;
    }
    this.impact.textContent = `A new room: ${seesAfter(impact)} of ${plural(impact.known_users, "known user")} may see it.`;
    this.impactDetail.textContent = "Counted over the groups of each known user's latest sign-in.";
  }

  private async submit(): Promise<void> {
    const groups = splitList(this.groups.value);
    const name = this.name.value.trim();
    const slug = this.slug.value.trim();
    this.name.showProblem(name ? null : "Give the room a name.");
    this.slug.showProblem(slug ? null : "Give the room a slug.");
    if (!name || !slug) return this.ctx.status.problem("The room needs a slug and a name.");
    const room = this.room;
    const saved = await runAction(
      this.ctx.status,
      {
        progress: "Saving…",
        success: (r: Room) =>
          `Saved ${r.name}${r.allowed_groups.length ? ` (for ${r.allowed_groups.join(", ")})` : " (open to everyone)"}.`,
        buttons: [this.save],
        overrides: { conflict: `A room with the slug "${slug}" exists: choose another slug.` },
        failed: (error) => this.showFieldProblems(error),
      },
      () =>
        room
          ? this.ctx.api.updateRoom(room.slug, { name, allowed_groups: groups })
          : this.ctx.api.createRoom({ slug, name, allowed_groups: groups }),
    );
    if (saved !== undefined) this.done(saved);
  }

  private showFieldProblems(error: unknown): void {
    if (!(error instanceof ApiError)) return;
    const byField = { slug: this.slug, name: this.name, allowed_groups: this.groups };
    for (const problem of error.fields) {
      const key = problem.field.split(".")[0] as keyof typeof byField;
      byField[key]?.showProblem(problem.problem);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
