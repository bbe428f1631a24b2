import { expect, test, type Browser, type Page } from "@playwright/test";
import { openPage, signUp, type Seller } from "./helpers";

/** A second device of `seller`: a browser context of its own, signed in, on the live dashboard. */
async function secondDevice(browser: Browser, seller: Seller): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  const response = await page.request.post("/api/auth/login", {
    data: { email: seller.email, password: "correct horse" },
  });
  expect(response.status()).toBe(200);
  await openPage(page, "/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  return page;
}

test("signing out everywhere sends every device of the seller to the sign-in page", async ({ page, browser }) => {
  const seller = await signUp(page);
  await openPage(page, "/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  const other = await secondDevice(browser, seller);

  await other.getByTestId("logout-everywhere").click();
  await expect(other).toHaveURL(/\/login$/);
  // This device's socket was disconnected by the server and refused on reconnecting.
  await expect(page).toHaveURL(/\/login$/, { timeout: 15_000 });
  await openPage(page, "/");
  await expect(page).toHaveURL(/\/login$/);
});

test("changing the password keeps this device signed in and signs the others out", async ({ page, browser }) => {
  const seller = await signUp(page);
  await openPage(page, "/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  const other = await secondDevice(browser, seller);

  const form = page.getByTestId("change-password");
  await form.getByLabel("Current password").fill("not the password");
  await form.getByLabel("New password (8 characters or more)").fill("new battery staple");
  await form.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByTestId("password-problem")).toContainText("current_password");

  await form.getByLabel("Current password").fill("correct horse");
  const reloaded = page.waitForEvent("load");
  await form.getByRole("button", { name: "Change password" }).click();
  // The page loads again with its new session and goes live.
  await reloaded;
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
  await expect(page.getByTestId("connection-status")).toHaveText("live", { timeout: 15_000 });
  await expect(page).toHaveURL(/\/$/);
  await expect(other).toHaveURL(/\/login$/, { timeout: 15_000 });

  const oldPassword = await page.request.post("/api/auth/login", {
    data: { email: seller.email, password: "correct horse" },
  });
  expect(oldPassword.status()).toBe(401);
});
