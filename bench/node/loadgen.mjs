// The load generator: socket.io-client in its own process, driven by bench/loadgen.py.
//
// Usage: node loadgen.mjs SPEC.json
// SPEC = {url, auths (path of a JSON list of connect auth payloads), scenario, params, maxSeconds}
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

function connect(index) {
  return new Promise((resolve, reject) => {
    const socket = io(spec.url, {
      auth: auths[index],
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: ACK_TIMEOUT_MS,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(new Error(`connect_error: ${err.message} ${JSON.stringify(err.data ?? null)}`));
    });
  });
}

async function connectAll(first, count, concurrency) {
  const sockets = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const k = next++;
      sockets[k] = await connect(first + k);
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
async function closedLoop({ clients, senders, durationS, maxMessages, concurrency }) {
  const sockets = await connectAll(0, clients, concurrency);
  await joinAll(sockets);
  let counting = false;
  let delivered = 0;
  for (const s of sockets) s.on("message_posted", () => counting && delivered++);
  await sync("begin");
  counting = true;
  const start = performance.now();
  const deadline = start + durationS * 1000;
  let acked = 0;
  let seq = 0;
  async function sender(socket, n) {
    while (performance.now() < deadline && seq < maxMessages) {
      seq++;
      await request(socket, "send_message", { room: ROOM, text: `load ${seq}`, client_id: `c${n}-${seq}` });
      acked++;
    }
  }
  await Promise.all(sockets.slice(0, senders).map(sender));
  const elapsed = (performance.now() - start) / 1000;
  counting = false;
  await sync("end");
  await closeAll(sockets);
  return {
    clients,
    senders,
    elapsed_s: elapsed,
    acked,
    acked_per_s: acked / elapsed,
    delivered,
    deliveries_per_s: delivered / elapsed,
  };
}

// Open loop: `rate` messages/s in total from rotating senders; latency = send → each delivery.
async function latency({ clients, rate, durationS, warmupS, concurrency }) {
  const sockets = await connectAll(0, clients, concurrency);
  await joinAll(sockets);
  const sentAt = new Map();
  const samples = [];
  const ackSamples = [];
  let recording = false;
  for (const s of sockets) {
    s.on("message_posted", (m) => {
      const t0 = sentAt.get(m.client_id);
      if (t0 !== undefined && recording) samples.push(performance.now() - t0);
    });
  }
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
    sentAt.set(id, t0);
    const ack = request(sockets[k % clients], "send_message", { room: ROOM, text: `ping ${k}`, client_id: id });
    pending.push(ack.then(() => k >= firstRecorded && ackSamples.push(performance.now() - t0)));
  }
  const offeredS = (performance.now() - start) / 1000;
  await Promise.all(pending);
  const expected = (total - firstRecorded) * clients;
  const drainUntil = performance.now() + 5000;
  while (samples.length < expected && performance.now() < drainUntil) await sleep(20);
  recording = false;
  await sync("end");
  await closeAll(sockets);
  samples.sort((a, b) => a - b);
  ackSamples.sort((a, b) => a - b);
  return {
    clients,
    rate,
    offered_s: offeredS,
    samples: samples.length,
    expected,
    p50_ms: percentile(samples, 50),
    p99_ms: percentile(samples, 99),
    max_ms: samples.at(-1) ?? null,
    ack_p50_ms: percentile(ackSamples, 50),
    ack_p99_ms: percentile(ackSamples, 99),
  };
}

const scenarios = { connects, closedLoop, latency };

try {
  const result = await scenarios[spec.scenario](spec.params);
  emit({ result });
  process.exit(0);
} catch (err) {
  emit({ error: String(err?.stack ?? err) });
  process.exit(1);
}
