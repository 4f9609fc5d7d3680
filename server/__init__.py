"""SSO chat: a Socket.IO chat whose every message is bound to a verified OpenID Connect identity."""
