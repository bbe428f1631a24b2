import { chromium, expect, test } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { args, executablePath } from "../chromium";
import { signUp } from "./helpers";

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Buffer): [number, number] {
  expect(bytes.subarray(1, 4).toString("ascii")).toBe("PNG");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test("the web app manifest has what installation needs", async ({ request }) => {
  const response = await request.get("/manifest.webmanifest");
  expect(response.status()).toBe(200);
  expect(response.headers()["content-type"]).toContain("manifest+json");
  const manifest = await response.json();
  expect(manifest.name).toBe("LiveShop Link Notify");
  expect(manifest.short_name).toBeTruthy();
  expect(manifest.start_url).toBe("/");
  expect(manifest.display).toBe("standalone");
  expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
  for (const size of [192, 512]) {
    const icon = manifest.icons.find((i: { sizes: string }) => i.sizes === `${size}x${size}`);
    expect(icon, `icon ${size}`).toBeTruthy();
    const image = await request.get(icon.src);
    expect(image.status()).toBe(200);
    expect(pngSize(await image.body())).toEqual([size, size]);
  }
});

test("Chromium considers the dashboard installable and its service worker active", async ({ baseURL }) => {
  // Playwright's usual contexts are incognito, where nothing is installable:
  // this one is a browser profile of its own, as a seller's would be.
  const profile = mkdtempSync(join(tmpdir(), "liveshop-pwa-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath, args, baseURL });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await signUp(page);
    await page.goto("/");
    await expect(page.getByTestId("connection-status")).toHaveText("live");
    await expect
      .poll(() => page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state))
      .toBe("activated");

    const cdp = await context.newCDPSession(page);
    const { url, errors } = await cdp.send("Page.getAppManifest");
    expect(url).toContain("/manifest.webmanifest");
    expect(errors).toEqual([]);
    const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
    expect(installabilityErrors).toEqual([]);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("with the network cut after a first visit, a reload still shows the dashboard and what it had", async ({
  page,
  context,
}) => {
  await signUp(page);
  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await page.getByTestId("send-test").click();
  await expect(page.getByTestId("notification")).toHaveCount(1);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  // The page is controlled once the worker has claimed it.
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole("heading", { name: "LiveShop Link Notify" })).toBeVisible();
  await expect(page.getByTestId("connection-status")).toHaveText("offline");
  await expect(page.getByTestId("notification")).toHaveCount(1);

  await context.setOffline(false);
  await expect(page.getByTestId("connection-status")).toHaveText("live");
});
