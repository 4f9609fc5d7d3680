// The messages of one room: server messages ordered by id, plus this tab's own pending/failed sends.
import type { Message } from "./protocol";

export type DeliveryState = "pending" | "sent" | "failed";

export interface Entry {
  /** Stable key: the client_id of this tab's own sends, else "id:<id>". */
  readonly key: string;
  readonly clientId: string | null;
  readonly text: string;
  state: DeliveryState;
  message: Message | null;
  error: string | null;
}

export class RoomLog {
  private readonly entries = new Map<string, Entry>();
  private readonly ids = new Set<number>();
  hasMore = false;

  /** Adds or confirms server messages; duplicates (by id or client_id) are ignored. */
  addMessages(messages: readonly Message[]): boolean {
    let changed = false;
    for (const message of messages) changed = this.add(message) || changed;
    return changed;
  }

  private add(message: Message): boolean {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    // Only an unconfirmed send of this tab matches by client_id: another user who copies a
    // client_id they saw can never replace a stored message.
    const own = message.client_id === null ? undefined : this.entries.get(message.client_id);
    if (own && own.message === null) {
      own.message = message;
      own.state = "sent";
      own.error = null;
    } else {
      const key = `id:${message.id}`;
      this.entries.set(key, {
        key,
        clientId: message.client_id,
        text: message.text,
        state: "sent",
        message,
        error: null,
      });
    }
    return true;
  }

  /** Records a message this tab is about to send. */
  addPending(clientId: string, text: string): Entry {
    const entry: Entry = {
      key: clientId,
      clientId,
      text,
      state: "pending",
      message: null,
      error: null,
    };
    this.entries.set(clientId, entry);
    return entry;
  }

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  markPending(key: string): void {
    const entry = this.entries.get(key);
    if (entry && entry.state === "failed") {
      entry.state = "pending";
      entry.error = null;
    }
  }

  markFailed(key: string, error: string): void {
    const entry = this.entries.get(key);
    if (entry && entry.state === "pending") {
      entry.state = "failed";
      entry.error = error;
    }
  }

  /** Stored messages by id, then unsent ones in the order they were written. */
  ordered(): Entry[] {
    const all = [...this.entries.values()];
    const stored = all.filter((e) => e.message !== null);
    stored.sort((a, b) => (a.message?.id ?? 0) - (b.message?.id ?? 0));
    return [...stored, ...all.filter((e) => e.message === null)];
  }

  oldestId(): number | undefined {
    return this.ids.size ? Math.min(...this.ids) : undefined;
  }

  newestId(): number | undefined {
    return this.ids.size ? Math.max(...this.ids) : undefined;
  }
}
