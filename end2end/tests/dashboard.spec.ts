import { expect, test, type Page } from "@playwright/test";

/** Registers a fresh seller; the session cookie lands in the page's context. */
async function signUp(page: Page): Promise<void> {
  const unique = `${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const response = await page.request.post("/api/auth/register", {
    data: { email: `e2e-${unique}@shop.example`, password: "correct horse", shop_name: "E2E shop" },
  });
  expect(response.status()).toBe(201);
}

/** Collects console errors and uncaught exceptions; a healthy page has none. */
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

test("the dashboard hydrates and shows a live connection", async ({ page }) => {
  const errors = watchForErrors(page);

  await signUp(page);
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "LiveShop Link Notify" })).toBeVisible();
  await expect(page.getByTestId("connection-status")).toHaveText("live");

  // Only a hydrated page reacts to clicks.
  const toggle = page.getByTestId("toggle-details");
  await toggle.click();
  const details = page.getByTestId("connection-details");
  await expect(details).toBeVisible();
  await expect(details).toContainText("live");
  await expect(toggle).toHaveAttribute("aria-expanded", "true");

  expect(errors).toEqual([]);
});

test("a visitor without a session is not shown as live", async ({ page }) => {
  await page.goto("/");
  // The socket handshake is refused (no session cookie): never "live".
  await page.waitForTimeout(1_500);
  await expect(page.getByTestId("connection-status")).not.toHaveText("live");
});

test("without the WASM client the page is rendered but not live", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();

  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("connecting");
  await page.getByTestId("toggle-details").click();
  await expect(page.getByTestId("connection-details")).toHaveCount(0);

  await context.close();
});

test("the Socket.IO session answers heartbeats and keeps its session", async ({ page }) => {
  await signUp(page);
  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await page.getByTestId("toggle-details").click();
  const details = page.getByTestId("connection-details");
  await expect(details).toContainText("every 1 s");
  const session = page.getByTestId("session-id");
  const before = await session.textContent();
  expect(before).toMatch(/\S{8,}/);

  // The end-to-end server pings every second and drops a client that does not
  // answer within PING_TIMEOUT_MS (scripts/test.sh). The same session after
  // several intervals means every ping got its pong.
  await page.waitForTimeout(4_000);
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  expect(await session.textContent()).toBe(before);
});
