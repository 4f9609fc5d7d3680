// The Socket.IO connection: token auth on every (re)connect, refusal codes, acks with timeouts.
import { io, type Socket } from "socket.io-client";
import type { Tokens } from "./auth";
import { DISCONNECTED, TIMEOUT, asAck, type Ack } from "./protocol";

const ACK_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

export type ConnectionState =
  "connecting" | "connected" | "reconnecting" | "idp_unavailable" | "closed";

export interface ConnectionEvents {
  /** Every successful connect; `first` is false after a reconnect. */
  connected(first: boolean): void;
  stateChanged(state: ConnectionState): void;
  /** The server refused us for good (bad token, ...): show `message` and the sign-in view. */
  refused(code: string, message: string): void;
  /** The server ended the session (sign-out elsewhere, revoked grant, ...). */
  sessionEnded(reason: string): void;
  /** A server → client event other than session_ended, e.g. message_posted. */
  event(name: string, payload: unknown): void;
  /** token_expired on connect: renew the tokens; resolve false if that failed. */
  renewTokens(): Promise<boolean>;
}

/** Delay before retry number `attempt` (0-based): 1 s, 2 s, 4 s, ... capped at 30 s. */
export function backoffDelay(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attempt));
}

/** The session_ended reason of a server that is shutting down (not the user's session ending). */
export const SERVER_SHUTDOWN = "server_shutdown";

/** Delay before reconnecting after a server shutdown, from `random` in [0, 1): 0.5 to 3 s,
 * spread so that every client of a restarted server does not come back at the same moment. */
export function shutdownDelay(random: number): number {
  return 500 + Math.floor(Math.min(Math.max(random, 0), 0.9999) * 2500);
}

export class ChatConnection {
  private readonly socket: Socket;
  private everConnected = false;
  private renewedForThisConnect = false;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private serverRestarting = false;

  constructor(
    tokens: () => Tokens,
    private readonly on: ConnectionEvents,
  ) {
    this.socket = io(location.origin, {
      // A function, so every reconnect sends the tokens current at that moment.
      auth: (cb) => cb({ ...tokens() }),
      transports: ["websocket"],
      autoConnect: false,
    });
    this.socket.on("connect", () => this.handleConnect());
    this.socket.on("connect_error", (err: Error & { data?: { code?: unknown } }) => {
      this.handleConnectError(err);
    });
    this.socket.on("disconnect", (reason) => this.handleDisconnect(reason));
    this.socket.onAny((name: string, payload: unknown) => {
      if (name === "session_ended") this.handleSessionEnded(payload);
      else this.on.event(name, payload);
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  open(): void {
    this.closed = false;
    this.on.stateChanged("connecting");
    this.socket.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
    this.on.stateChanged("closed");
  }

  /** Emits an event and waits for its ack; transport failures come back as ok:false acks. */
  async request<T>(event: string, payload: object, timeoutMs = ACK_TIMEOUT_MS): Promise<Ack<T>> {
    if (!this.socket.connected) {
      return { ok: false, error: { code: DISCONNECTED, message: "Not connected." } };
    }
    try {
      return asAck<T>(await this.socket.timeout(timeoutMs).emitWithAck(event, payload));
    } catch {
      const code = this.socket.connected ? TIMEOUT : DISCONNECTED;
      return { ok: false, error: { code, message: "No answer from the server." } };
    }
  }

  /** After a token renewal: hand the new tokens to the live connection, or reconnect with them. */
  async refreshTokens(tokens: Tokens): Promise<void> {
    if (this.closed || !this.socket.connected) return;
    const ack = await this.request<object>("refresh_token", tokens, 5_000);
    if (!ack.ok && !this.closed) this.reconnect();
  }

  private reconnect(): void {
    this.socket.disconnect();
    this.on.stateChanged("reconnecting");
    this.socket.connect();
  }

  private handleConnect(): void {
    const first = !this.everConnected;
    this.everConnected = true;
    this.attempts = 0;
    this.renewedForThisConnect = false;
    this.on.stateChanged("connected");
    this.on.connected(first);
  }

  private handleConnectError(err: Error & { data?: { code?: unknown } }): void {
    if (this.closed) return;
    const code = typeof err.data?.code === "string" ? err.data.code : null;
    if (code === null) {
      // Transport failure (server down): socket.io-client keeps retrying by itself.
      this.on.stateChanged("reconnecting");
      return;
    }
    if (code === "token_expired" && !this.renewedForThisConnect) {
      this.renewedForThisConnect = true;
      void this.on.renewTokens().then((ok) => {
        if (this.closed) return;
        if (ok) this.socket.connect();
        else this.on.refused(code, err.message);
      });
      return;
    }
    if (code === "idp_unavailable") {
      this.on.stateChanged("idp_unavailable");
      this.retryLater();
      return;
    }
    this.on.refused(code, err.message);
  }

  private handleDisconnect(reason: Socket.DisconnectReason): void {
    if (this.closed) return;
    this.on.stateChanged("reconnecting");
    // socket.io-client reconnects by itself except when the server (or we) closed the socket.
    if (reason !== "io server disconnect") return;
    if (this.serverRestarting) {
      this.serverRestarting = false;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        if (!this.closed) this.socket.connect();
      }, shutdownDelay(Math.random()));
    } else this.retryLater();
  }

  private handleSessionEnded(payload: unknown): void {
    const reason =
      typeof payload === "object" && payload !== null && "reason" in payload
        ? String((payload as { reason: unknown }).reason)
        : "ended";
    if (reason === SERVER_SHUTDOWN) {
      // Not the user's session ending: the server restarts (or this node of several stops).
      // The disconnect that follows reconnects, with the same sign-in, to whichever answers.
      this.serverRestarting = true;
      this.on.stateChanged("reconnecting");
      return;
    }
    this.close();
    this.on.sessionEnded(reason);
  }

  private retryLater(): void {
    clearTimeout(this.retryTimer);
    const delay = backoffDelay(this.attempts++);
    this.retryTimer = setTimeout(() => {
      if (!this.closed) this.socket.connect();
    }, delay);
  }
}
