// The Socket.IO contract as the existing mobile app sees it: the official
// socket.io-client 4.x against a running server. Driven by
// server/tests/api/socket_contract.rs, which starts the server and checks the
// database afterwards.
//
//   node socket-contract.mjs <base-url> <token> <seller-id> <ingest-key>
//
// Exits 0 and prints one JSON line on success; prints FAIL: … and exits 1.
import { io } from "socket.io-client";

const [base, token, sellerId, ingestKey] = process.argv.slice(2);
const WAIT_MS = 5000;

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

function within(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS)),
  ]);
}

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

async function badTokenIsRefused() {
  const socket = io(base, { auth: { token: "not-a-token" }, reconnection: false });
  const error = await within(once(socket, "connect_error"), "connect_error");
  socket.close();
  if (error.message !== "unauthorized") fail(`refusal message was ${JSON.stringify(error.message)}`);
}

async function pushIsAcknowledgedByCallback() {
  const socket = io(base, { auth: { token }, reconnection: false });
  await within(once(socket, "connect"), "connect");
  const pushed = new Promise((resolve) =>
    socket.on("notification", (notification, ack) => {
      ack();
      resolve(notification);
    }),
  );
  const response = await fetch(`${base}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": ingestKey },
    body: JSON.stringify({ seller_id: Number(sellerId), type: "order.created", title: "from node", body: "b" }),
  });
  if (response.status !== 201) fail(`ingest answered ${response.status}`);
  const notification = await within(pushed, "notification");
  if (notification.title !== "from node") fail(`pushed ${JSON.stringify(notification)}`);
  if (!Number.isInteger(notification.seq)) fail("seq is not an integer");

  const page = await socket.timeout(WAIT_MS).emitWithAck("notifications:sync", { after: 0 });
  if (page.last_seq !== notification.seq || page.notifications.length !== 1) {
    fail(`sync answered ${JSON.stringify(page)}`);
  }
  socket.close();
  return notification.seq;
}

async function lastSeqReplays() {
  const socket = io(base, { auth: { token, last_seq: 0 }, reconnection: false });
  const replayed = await within(
    new Promise((resolve) =>
      socket.on("notification", (notification, ack) => {
        ack();
        resolve(notification);
      }),
    ),
    "replayed notification",
  );
  socket.close();
  if (replayed.seq !== 1) fail(`replayed seq ${replayed.seq}`);
}

try {
  await badTokenIsRefused();
  const seq = await pushIsAcknowledgedByCallback();
  await lastSeqReplays();
  console.log(JSON.stringify({ ok: true, seq }));
  process.exit(0);
} catch (error) {
  fail(error.message);
}
