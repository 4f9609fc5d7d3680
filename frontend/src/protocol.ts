// Wire types of the chat protocol (Socket.IO events and their acks).

export interface Sender {
  readonly id: string;
  readonly issuer: string;
  readonly subject: string;
  readonly name: string;
}

export interface Message {
  readonly id: number;
  readonly room: string;
  readonly text: string;
  readonly created_at: string;
  readonly client_id: string | null;
  readonly sender: Sender;
}

export interface Room {
  readonly slug: string;
  readonly name: string;
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

export type Ack<T> =
  ({ readonly ok: true } & T) | { readonly ok: false; readonly error: ErrorBody };

export interface HistoryPage {
  readonly messages: Message[];
  readonly has_more: boolean;
}

export interface HistoryQuery {
  readonly room: string;
  readonly before?: number;
  readonly after?: number;
  readonly limit?: number;
}

/** Client-side failure codes (the server never sends these). */
export const DISCONNECTED = "disconnected";
export const TIMEOUT = "timeout";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Narrows an untrusted message_posted payload; returns null when it is not a message. */
export function asMessage(value: unknown): Message | null {
  if (!isRecord(value) || !isRecord(value["sender"])) return null;
  const sender = value["sender"];
  const ok =
    typeof value["id"] === "number" &&
    typeof value["room"] === "string" &&
    typeof value["text"] === "string" &&
    typeof value["created_at"] === "string" &&
    (typeof value["client_id"] === "string" || value["client_id"] == null) &&
    typeof sender["name"] === "string";
  return ok ? (value as unknown as Message) : null;
}

/** Normalises any ack (or its absence) into an Ack; malformed answers become errors. */
export function asAck<T>(value: unknown): Ack<T> {
  if (isRecord(value) && value["ok"] === true) return value as unknown as Ack<T>;
  if (isRecord(value) && value["ok"] === false && isRecord(value["error"])) {
    const error = value["error"];
    return {
      ok: false,
      error: {
        code: typeof error["code"] === "string" ? error["code"] : "internal_error",
        message: typeof error["message"] === "string" ? error["message"] : "Something went wrong.",
      },
    };
  }
  return {
    ok: false,
    error: { code: "bad_ack", message: "The server sent an unexpected answer." },
  };
}
