// Debian's Chromium and the flags it needs on these machines: Playwright
// cannot download its own browser here, and a closed network refuses
// Chromium's background connections.
export const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
