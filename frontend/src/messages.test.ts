import { describe, expect, it } from "vitest";
import { RoomLog } from "./messages";
import type { Message } from "./protocol";

function message(id: number, clientId: string | null, text = `m${id}`): Message {
  return {
    id,
    room: "general",
    text,
    created_at: "2025-01-01T00:00:00Z",
    client_id: clientId,
    sender: { id: "1", issuer: "http://127.0.0.1:9400", subject: "alice", name: "Alice" },
  };
}

describe("RoomLog", () => {
  it("keeps one entry when the ack and the broadcast of an own message both arrive", () => {
    const log = new RoomLog();
    log.addPending("c1", "hello");
    log.addMessages([message(7, "c1", "hello")]); // ack
    expect(log.addMessages([message(7, "c1", "hello")])).toBe(false); // broadcast
    const entries = log.ordered();
    expect(entries).toHaveLength(1);
    expect(entries[0]?.state).toBe("sent");
  });

  it("confirms a failed send when the message shows up in history", () => {
    const log = new RoomLog();
    log.addPending("c2", "hi");
    log.markFailed("c2", "disconnected");
    log.addMessages([message(3, "c2", "hi")]);
    expect(log.get("c2")?.state).toBe("sent");
  });

  it("never lets another message with a copied client_id replace a stored one", () => {
    const log = new RoomLog();
    log.addPending("c3", "mine");
    log.addMessages([message(4, "c3", "mine"), message(5, "c3", "copy")]);
    expect(log.ordered().map((e) => e.message?.text)).toEqual(["mine", "copy"]);
  });

  it("orders stored messages by id and keeps unsent ones last", () => {
    const log = new RoomLog();
    log.addPending("mine", "later");
    log.addMessages([message(5, "a"), message(2, null), message(9, "b")]);
    expect(log.ordered().map((e) => e.key)).toEqual(["id:2", "id:5", "id:9", "mine"]);
    expect(log.oldestId()).toBe(2);
    expect(log.newestId()).toBe(9);
  });
});
