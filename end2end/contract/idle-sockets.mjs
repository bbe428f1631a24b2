// Opens N idle Socket.IO connections with the official client (websocket
// transport, no reconnection) for the delivery benchmark's memory figure,
// prints "connected <n> failed <m>" once every attempt settled, and keeps
// them open until this process is killed.
//
//   node end2end/contract/idle-sockets.mjs <base-url> <token> <n>
import { io } from "socket.io-client";

const [url, token, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
let connected = 0;
let failed = 0;
const settle = () => {
  if (connected + failed === count) console.log(`connected ${connected} failed ${failed}`);
};
for (let i = 0; i < count; i++) {
  const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, timeout: 60000 });
  socket.once("connect", () => { connected++; settle(); });
  socket.once("connect_error", () => { failed++; settle(); });
}
