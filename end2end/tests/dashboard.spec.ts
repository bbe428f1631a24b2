import { expect, test } from "@playwright/test";
import { openPage, signUp, watchForErrors } from "./helpers";

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

test("a visitor without a session is sent to the sign-in page", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
});

test("a wrong password is refused with a clear message", async ({ page }) => {
  const seller = await signUp(page);
  await page.context().clearCookies();
  await openPage(page, "/login");
  await page.getByLabel("Email").fill(seller.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("form-problem")).toContainText("wrong email or password");
  await expect(page).toHaveURL(/\/login$/);

  await page.getByLabel("Password").fill("correct horse");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
});

test("logging out ends the session and forgets the saved notifications", async ({ page }) => {
  await signUp(page);
  await page.goto("/");
  await page.request.post("/api/notifications/test");
  await expect(page.getByTestId("notification")).toHaveCount(1);
  await page.getByTestId("logout").click();
  await page.waitForURL(/\/login$/);
  const saved = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("liveshop.")));
  expect(saved).toEqual([]);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
});

test("without the WASM client the page is rendered but not live", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signUp(page);

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
