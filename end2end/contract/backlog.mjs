// A seller's phone comes back after missing a backlog: the official
// socket.io-client connects with `auth.last_seq` and must receive every
// notification after it, in seq order, once each, acknowledging each with
// the ack callback. Driven by server/tests/api/backlog.rs.
//
//   node backlog.mjs <base-url> <token> <last-seq> <expected-count>
//
// Prints one JSON line {"seqs": [...], "elapsed_ms": n} once the expected
// count arrived (or after 60 s with what did arrive), then exits. Before it
// exits, a `notifications:sync` round trip makes sure the acks sent before it
// left this process (closing at once could drop them); the server records
// them shortly after, which the Rust test waits for.
import { io } from "socket.io-client";

const [base, token, lastSeq, expected] = process.argv.slice(2);
const want = Number(expected);
const seqs = [];
const started = performance.now();
const socket = io(base, {
  auth: { token, last_seq: Number(lastSeq) },
  transports: ["websocket"],
  reconnection: false,
});
const finish = () => {
  const elapsed_ms = Math.round(performance.now() - started);
  const done = () => {
    console.log(JSON.stringify({ seqs, elapsed_ms }));
    socket.close();
    process.exit(0);
  };
  if (!socket.connected) return done();
  socket.timeout(10000).emit("notifications:sync", { after: 0, limit: 1 }, done);
};
socket.on("notification", (notification, ack) => {
  seqs.push(notification.seq);
  if (typeof ack === "function") ack();
  if (seqs.length === want) finish();
});
socket.on("connect_error", (error) => {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
});
setTimeout(finish, 60000);
