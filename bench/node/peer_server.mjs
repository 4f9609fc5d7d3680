// Node's socket.io chat, the peer: the same events as bench/baseline_server.py, no auth, no DB.
// Usage: node peer_server.mjs PORT   (listens on 127.0.0.1 only)
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: 65536,
  serveClient: false,
});
let nextId = 1;

io.on("connection", (socket) => {
  socket.data.username = String(socket.handshake.auth?.username ?? socket.id);
  socket.on("set username", (name, ack) => {
    socket.data.username = String(name);
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("join", (data, ack) => {
    if (typeof ack !== "function") return;
    if (!data || typeof data.room !== "string") return ack({ ok: false, error: { code: "invalid_request" } });
    socket.join(`room:${data.room}`);
    ack({ ok: true, room: { slug: data.room, name: data.room } });
  });
  socket.on("send_message", (data, ack) => {
    if (typeof ack !== "function") return;
    if (!data || typeof data.text !== "string") return ack({ ok: false, error: { code: "invalid_request" } });
    const room = String(data.room ?? "general");
    const message = {
      id: nextId++,
      room,
      text: data.text,
      created_at: new Date().toISOString(),
      client_id: data.client_id ?? null,
      sender: { name: socket.data.username },
    };
    io.to(`room:${room}`).emit("message_posted", message);
    ack({ ok: true, message });
  });
});

httpServer.listen(port, "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
