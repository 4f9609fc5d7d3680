// The load generator: socket.io-client in its own process, driven by bench/loadgen.py.
//
// Usage: node loadgen.mjs SPEC.json
// SPEC = {url, auths (path of a JSON list of connect auth payloads), scenario, params, maxSeconds}
// plus, for a cluster, `urls`: client k connects to urls[k % urls.length] (round robin over nodes).
// stdout: one JSON object per line. {"sync": NAME} asks the harness to sample CPU and memory and
// waits for one line on stdin; {"result": {...}} is the scenario's outcome; {"error": "..."} a failure.
// Every loop is bounded by a count and a deadline, and a watchdog ends the process regardless.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const auths = JSON.parse(readFileSync(spec.auths, "utf8"));
const ACK_TIMEOUT_MS = 15000;
const ROOM = "general";
const URLS = spec.urls ?? [spec.url];
const nodeOf = (index) => index % URLS.length;

setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: `watchdog: over ${spec.maxSeconds}s` }) + "\n");
  process.exit(3);
}, spec.maxSeconds * 1000).unref();

const waiting = [];
createInterface({ input: process.stdin }).on("line", () => waiting.shift()?.());

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function sync(name) {
  return new Promise((resolve) => {
    waiting.push(resolve);
    emit({ sync: name });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connect(index, reconnection = false) {
  return new Promise((resolve, reject) => {
    const socket = io(URLS[nodeOf(index)], {
      auth: auths[index],
      transports: ["websocket"],
      reconnection, // true: socket.io-client's own backoff (1 s, x2, 5 s at most, ±50 %), as in the web app
      forceNew: true,
      timeout: ACK_TIMEOUT_MS,
    });
    // Both listeners go once either fires: a later connect_error (a reconnect that failed
    // while the server restarts) must not close the socket.
    const connected = () => {
      socket.off("connect_error", refused);
      resolve(socket);
    };
    const refused = (err) => {
      socket.off("connect", connected);
      socket.close();
      reject(new Error(`connect_error: ${err.message} ${JSON.stringify(err.data ?? null)}`));
    };
    socket.once("connect", connected);
    socket.once("connect_error", refused);
  });
}

async function connectAll(first, count, concurrency, reconnection = false) {
  const sockets = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const k = next++;
      sockets[k] = await connect(first + k, reconnection);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return sockets;
}

async function request(socket, event, payload) {
  const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  if (!ack || ack.ok !== true) throw new Error(`${event} refused: ${JSON.stringify(ack)}`);
  return ack;
}

async function joinAll(sockets) {
  await Promise.all(sockets.map((s) => request(s, "join", { room: ROOM })));
}

async function closeAll(sockets) {
  for (const socket of sockets) socket?.disconnect();
  await sleep(300);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Send → receive latencies by client_id, kept apart by whether the receiver sits on the sender's
// node ("local") or on another one ("remote": the broadcast crossed Redis).
function latencyBook() {
  const sentAt = new Map();
  const local = [];
  const remote = [];
  return {
    sent(id, node) {
      sentAt.set(id, [performance.now(), node]);
    },
    received(id, node) {
      const sent = sentAt.get(id);
      if (sent !== undefined) (sent[1] === node ? local : remote).push(performance.now() - sent[0]);
    },
    count: () => local.length + remote.length,
    summary() {
      const all = [...local, ...remote].sort((a, b) => a - b);
      local.sort((a, b) => a - b);
      remote.sort((a, b) => a - b);
      return {
        samples: all.length,
        p50_ms: percentile(all, 50),
        p99_ms: percentile(all, 99),
        max_ms: all.at(-1) ?? null,
        local_p99_ms: percentile(local, 99),
        remote_samples: remote.length,
        remote_p50_ms: percentile(remote, 50),
        remote_p99_ms: percentile(remote, 99),
      };
    },
  };
}

// Connect `clients` authenticated sockets, `concurrency` at a time, and hold them idle: the CPU and
// memory windows (begin/end/idle) are this first wave's, in a fresh server process. Then `waves - 1`
// more waves connect and close again, so the rate counts several waves instead of one short window.
async function connects({ clients, concurrency, warmup, settleMs, waves = 1 }) {
  await closeAll(await connectAll(clients, warmup, concurrency)); // users past `clients`
  await sleep(300);
  await sync("begin");
  let start = performance.now();
  const held = await connectAll(0, clients, concurrency);
  let elapsed = (performance.now() - start) / 1000;
  await sync("end");
  await sleep(settleMs);
  await sync("idle");
  await closeAll(held);
  for (let wave = 1; wave < waves; wave++) {
    start = performance.now();
    const sockets = await connectAll(0, clients, concurrency);
    elapsed += (performance.now() - start) / 1000;
    await closeAll(sockets);
  }
  const total = clients * waves;
  return { clients, concurrency, waves, elapsed_s: elapsed, connects_per_s: total / elapsed };
}

// `clients` sockets in one room; the first `senders` send in a closed loop (next after the ack).
// With `latency`, every delivery's latency is recorded too and, after the measured window, the
// deliveries still in flight are awaited (up to `drainMs`) to count what never arrived.
async function closedLoop({ clients, senders, durationS, maxMessages, concurrency, latency = false, drainMs = 3000 }) {
  const sockets = await connectAll(0, clients, concurrency);
  await joinAll(sockets);
  let counting = false;
  let delivered = 0;
  const book = latency ? latencyBook() : null;
  sockets.forEach((s, k) =>
    s.on("message_posted", (m) => {
      if (counting) delivered++;
      book?.received(m.client_id, nodeOf(k));
    }),
  );
  await sync("begin");
  counting = true;
  const start = performance.now();
  const deadline = start + durationS * 1000;
  let acked = 0;
  let seq = 0;
  async function sender(socket, n) {
    while (performance.now() < deadline && seq < maxMessages) {
      seq++;
      const id = `c${n}-${seq}`;
      book?.sent(id, nodeOf(n));
      await request(socket, "send_message", { room: ROOM, text: `load ${seq}`, client_id: id });
      acked++;
    }
  }
  await Promise.all(sockets.slice(0, senders).map(sender));
  const elapsed = (performance.now() - start) / 1000;
  counting = false;
  await sync("end");
  const expected = acked * clients;
  const drainUntil = performance.now() + drainMs;
  while (book && book.count() < expected && performance.now() < drainUntil) await sleep(20);
  await closeAll(sockets);
  return {
    clients,
    senders,
    elapsed_s: elapsed,
    acked,
    acked_per_s: acked / elapsed,
    delivered,
    deliveries_per_s: delivered / elapsed,
    ...(book ? { expected, ...book.summary() } : {}),
  };
}

// Open loop: `rate` messages/s in total from rotating senders; latency = send → each delivery.
async function latency({ clients, rate, durationS, warmupS, concurrency }) {
  const sockets = await connectAll(0, clients, concurrency);
  await joinAll(sockets);
  const book = latencyBook();
  const ackSamples = [];
  let recording = false;
  sockets.forEach((s, j) =>
    s.on("message_posted", (m) => recording && book.received(m.client_id, nodeOf(j))),
  );
  const total = Math.round(rate * (warmupS + durationS));
  const firstRecorded = Math.round(rate * warmupS);
  const pending = [];
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (k === firstRecorded) {
      await sync("begin");
      recording = true;
    }
    const id = `l${k}`;
    const t0 = performance.now();
    book.sent(id, nodeOf(k % clients));
    const ack = request(sockets[k % clients], "send_message", { room: ROOM, text: `ping ${k}`, client_id: id });
    pending.push(ack.then(() => k >= firstRecorded && ackSamples.push(performance.now() - t0)));
  }
  const offeredS = (performance.now() - start) / 1000;
  await Promise.all(pending);
  const expected = (total - firstRecorded) * clients;
  const drainUntil = performance.now() + 5000;
  while (book.count() < expected && performance.now() < drainUntil) await sleep(20);
  recording = false;
  await sync("end");
  await closeAll(sockets);
  ackSamples.sort((a, b) => a - b);
  return {
    clients,
    rate,
    offered_s: offeredS,
    expected,
    ...book.summary(),
    ack_p50_ms: percentile(ackSamples, 50),
    ack_p99_ms: percentile(ackSamples, 99),
  };
}

// A soak: `clients` users, each with one socket at a time, in a churn until `durationS` is over:
// connect, join, send at `rate` messages/s over all users, refresh the tokens (`refreshAuths`,
// same users) half-way through the session, disconnect after a random `sessionS` [min, max],
// wait a random `pauseS` [min, max], again. Starts are spread over `rampS`. Failures are counted by
// code, never thrown; the acked client_ids come back so the harness can look for them in the DB.
async function churn({ clients, durationS, rate, sessionS, pauseS, rampS, refreshAuths }) {
  const fresh = JSON.parse(readFileSync(refreshAuths, "utf8"));
  const between = (range) => (range[0] + Math.random() * (range[1] - range[0])) * 1000;
  const stats = { connects: 0, disconnects: 0, refreshes: 0, delivered: 0, failures: {} };
  const acked = [];
  const fail = (code) => (stats.failures[code] = (stats.failures[code] ?? 0) + 1);
  const gapMs = (clients / rate) * 1000;
  await sync("begin");
  const start = performance.now();
  const deadline = start + durationS * 1000;

  async function call(socket, event, payload) {
    try {
      const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
      if (ack?.ok === true) return true;
      fail(`${event}:${ack?.error?.code ?? "bad_ack"}`);
    } catch {
      fail(`${event}:timeout`);
    }
    return false;
  }

  // Sends come every `gapMs` (jittered) per user, the refresh half-way, whichever is due first.
  async function session(k, socket, seq) {
    if (!(await call(socket, "join", { room: ROOM }))) return seq;
    const begun = performance.now();
    const end = Math.min(deadline, begun + between(sessionS));
    const refreshAt = (begun + end) / 2;
    let refreshed = false;
    let nextSend = begun + gapMs * Math.random();
    while (socket.connected) {
      const due = Math.min(nextSend, refreshed ? end : refreshAt, end);
      await sleep(Math.max(0, due - performance.now()));
      const now = performance.now();
      if (!socket.connected || now >= end) break;
      if (!refreshed && now >= refreshAt) {
        refreshed = true;
        if (await call(socket, "refresh_token", fresh[k])) stats.refreshes++;
      } else if (now >= nextSend) {
        nextSend = now + gapMs * (0.5 + Math.random());
        const id = `soak-${k}-${++seq}`;
        const payload = { room: ROOM, text: `soak ${seq}`, client_id: id };
        if (await call(socket, "send_message", payload)) acked.push(id);
      }
    }
    return seq;
  }

  async function user(k) {
    await sleep(Math.random() * rampS * 1000);
    let seq = 0;
    while (performance.now() < deadline) {
      let socket;
      try {
        socket = await connect(k);
      } catch (err) {
        fail(`connect:${/"code":"([a-z_]+)"/.exec(err.message)?.[1] ?? "error"}`);
        await sleep(1000);
        continue;
      }
      stats.connects++;
      socket.on("message_posted", () => stats.delivered++);
      socket.on("session_ended", (m) => fail(`session_ended:${m?.reason}`));
      seq = await session(k, socket, seq);
      socket.disconnect();
      stats.disconnects++;
      await sleep(Math.min(between(pauseS), Math.max(0, deadline - performance.now())));
    }
  }

  await Promise.all(Array.from({ length: clients }, (_, k) => user(k)));
  const elapsed = (performance.now() - start) / 1000;
  await sync("end");
  return { clients, rate, elapsed_s: elapsed, ...stats, acked: acked.length, acked_ids: acked };
}

// The web app's wait after a "server_shutdown" notice (frontend/src/connection.ts shutdownDelay):
// 0.5 to 3 s, spread so that the clients of a restarted server do not all come back at once.
const shutdownDelay = () => 500 + Math.floor(Math.random() * 2500);

// A reconnect storm: `clients` sockets joined to the room reconnect as the web app does (the
// server's "server_shutdown" notice then its disconnect: back after shutdownDelay; a dropped
// transport: socket.io-client's backoff) while the harness restarts the server at the "restart"
// sync. Figures: from the new server listening (the end of that sync) until every client is
// connected and joined again, and from the first disconnect until then.
async function storm({ clients, concurrency, maxWaitS }) {
  const sockets = await connectAll(0, clients, concurrency, true);
  await joinAll(sockets);
  const rejoinedAt = new Array(clients).fill(null);
  let firstDown = null;
  let restarted = false;
  const refusals = {};
  sockets.forEach((socket, k) => {
    socket.on("disconnect", (reason) => {
      firstDown ??= performance.now();
      rejoinedAt[k] = null;
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), shutdownDelay());
    });
    socket.on("connect_error", (err) => {
      const code = err?.data?.code;
      if (code) refusals[code] = (refusals[code] ?? 0) + 1; // a refusal, not the server being down
    });
    socket.on("connect", () => {
      if (!restarted && firstDown === null) return;
      request(socket, "join", { room: ROOM }).then(
        () => socket.connected && (rejoinedAt[k] = performance.now()),
        () => {},
      );
    });
  });
  await sync("begin");
  await sync("restart"); // the harness stops the server, starts it again, and answers once it listens
  restarted = true;
  const listening = performance.now();
  const deadline = listening + maxWaitS * 1000;
  const back = () => rejoinedAt.filter((t) => t !== null).length; // reset by every disconnect
  while (back() < clients && performance.now() < deadline) await sleep(20);
  const rejoined = back();
  await sync("end");
  const last = Math.max(...rejoinedAt.map((t) => (t === null ? 0 : t)));
  await closeAll(sockets);
  return {
    clients,
    rejoined,
    refusals,
    storm_s: rejoined === clients ? Math.max(0, last - listening) / 1000 : null,
    outage_s: rejoined === clients && firstDown !== null ? (last - firstDown) / 1000 : null,
  };
}

const scenarios = { connects, closedLoop, latency, churn, storm };

// process.exit() does not wait for a pipe to drain: a result over the pipe's 64 KiB (the soak's
// acked ids) was cut short. Exit once the last line is written.
function finish(obj, code) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

try {
  finish({ result: await scenarios[spec.scenario](spec.params) }, 0);
} catch (err) {
  finish({ error: String(err?.stack ?? err) }, 1);
}
