// The signed-out notice after the server ended a session (session_ended {reason}).

const ENDED_BY: Readonly<Record<string, string>> = {
  provider_disabled: "Sign-in with this identity provider was turned off by an administrator.",
  blocked: "Your account was blocked by an administrator.",
  access_denied: "Your account is no longer allowed to use this chat.",
};

/** Plain words for a session_ended reason; other reasons keep the generic text. */
export function sessionEndedText(reason: string): string {
  return ENDED_BY[reason] ?? `Your session has ended (${reason}).`;
}
