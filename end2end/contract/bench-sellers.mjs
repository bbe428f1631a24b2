// The delivery benchmark's sellers: one official socket.io-client per seller
// (websocket transport, no reconnection), as the mobile app connects.
// Every other seller in the list (by position) acknowledges with the ack
// callback, the rest with `notifications:ack`, so both doors are under load.
//
//   node end2end/contract/bench-sellers.mjs <base-url>   < sellers.json
//
// stdin: one JSON line, [[seller_id, token], ...].
// stdout: "connected <n> failed <m>" once every connection settled, then one
// line per notification received: "r <seller_id> <seq> <latency_us>", where
// the latency is from `data.t` (the publisher's clock, Unix microseconds) and
// -1 when the notification carries no `data.t`.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

const url = process.argv[2];
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const lines = createInterface({ input: process.stdin });
const out = [];
const flush = () => {
  if (out.length) process.stdout.write(out.splice(0).join(""));
};
setInterval(flush, 20);

lines.once("line", (line) => {
  const sellers = JSON.parse(line);
  let connected = 0;
  let failed = 0;
  const settle = () => {
    if (connected + failed === sellers.length) console.log(`connected ${connected} failed ${failed}`);
  };
  sellers.forEach(([sellerId, token], index) => {
    const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, timeout: 60000 });
    const byCallback = index % 2 === 0;
    socket.on("notification", (notification, ack) => {
      const now = nowMicros();
      const t = notification?.data?.t;
      const latency = typeof t === "number" ? Math.max(0, now - t) : -1;
      out.push(`r ${sellerId} ${notification.seq} ${latency}\n`);
      if (byCallback && typeof ack === "function") {
        ack();
      } else {
        socket.emit("notifications:ack", { seqs: [notification.seq] });
      }
    });
    socket.once("connect", () => { connected++; settle(); });
    socket.once("connect_error", () => { failed++; settle(); });
  });
});
