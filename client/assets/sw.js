// LiveShop Link Notify service worker: makes the dashboard open offline.
//
// Network first, for pages and assets alike: online, every load gets what the
// server has now, so a deploy never leaves a stale WASM bundle running next to
// a new page. The cache is only the fallback for when the network fails (or a
// page takes longer than NAVIGATION_TIMEOUT_MS and a copy exists): it holds
// the last good copy of the dashboard shell and its /pkg assets, and the
// client then shows the notifications it saved in localStorage.
//
// Never cached: the API and the Socket.IO endpoint (live data must be live),
// anything but same-origin GETs, redirects and error answers.
//
// Bump VERSION when this file changes: the new worker installs at once
// (skipWaiting), takes over open pages (clients.claim) and drops old caches.
const VERSION = "v1";
const CACHE = `liveshop-shell-${VERSION}`;
const NAVIGATION_TIMEOUT_MS = 5000;
const SHELL_ASSETS = [
  "/pkg/liveshop.js",
  "/pkg/liveshop.wasm",
  "/pkg/liveshop.css",
  "/manifest.webmanifest",
  "/favicon.svg",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL_ASSETS);
      // The dashboard page itself, if this browser is signed in (else it
      // redirects to the login page, which is not the shell to keep).
      try {
        const page = await fetch("/", { credentials: "same-origin" });
        if (isKeepable(page)) await cache.put("/", page);
      } catch (_) {
        // Offline during install: the first online visit caches it.
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names.filter((name) => name.startsWith("liveshop-shell-") && name !== CACHE).map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/socket.io/") || url.pathname === "/metrics") return;
  event.respondWith(networkFirst(request, request.mode === "navigate"));
});

async function networkFirst(request, isNavigation) {
  const cache = await caches.open(CACHE);
  const key = cacheKey(request);
  const network = fetch(request).then(async (response) => {
    if (isKeepable(response)) await cache.put(key, response.clone());
    return response;
  });
  try {
    if (!isNavigation) return await network;
    const cached = await cache.match(key);
    return await (cached ? withTimeout(network, NAVIGATION_TIMEOUT_MS) : network);
  } catch (_) {
    // Only the same page: another page's HTML would not hydrate as this one.
    return (await cache.match(key)) ?? offlineAnswer(isNavigation);
  }
}

// Pages are kept by path only: `/?x=1` is the same dashboard.
function cacheKey(request) {
  const url = new URL(request.url);
  return url.pathname;
}

function isKeepable(response) {
  return response.ok && response.type === "basic" && !response.redirected;
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function offlineAnswer(isNavigation) {
  const body = isNavigation
    ? "<!doctype html><meta charset=utf-8><title>Offline</title><p>You are offline and this page was never opened on this device.</p>"
    : "";
  return new Response(body, {
    status: 503,
    headers: { "Content-Type": isNavigation ? "text/html; charset=utf-8" : "text/plain" },
  });
}
