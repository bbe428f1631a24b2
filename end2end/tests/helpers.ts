import { expect, type APIRequestContext, type Page } from "@playwright/test";

export interface Seller {
  id: number;
  email: string;
}

function uniqueEmail(): string {
  return `e2e-${Date.now()}-${Math.floor(Math.random() * 1e9)}@shop.example`;
}

/** Registers a fresh seller through the API; the session cookie lands in the page's context. */
export async function signUp(page: Page): Promise<Seller> {
  const email = uniqueEmail();
  const response = await page.request.post("/api/auth/register", {
    data: { email, password: "correct horse", shop_name: "E2E shop" },
  });
  expect(response.status()).toBe(201);
  const body = await response.json();
  return { id: body.seller.id, email };
}

/** Opens `path` and waits until the WASM client has hydrated it. */
export async function openPage(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page.locator("html[data-hydrated]")).toHaveCount(1);
}

/** Registers through the register page, as a seller would, and lands on the live dashboard. */
export async function signUpThroughTheForm(page: Page): Promise<Seller> {
  const email = uniqueEmail();
  await openPage(page, "/register");
  await page.getByLabel("Shop name").fill("Chloé's scarves");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (8 characters or more)").fill("correct horse");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  const href = await page.getByTestId("shop-link").getAttribute("href");
  const id = Number(href?.split("/").pop());
  expect(id).toBeGreaterThan(0);
  return { id, email };
}

/** A storefront order from a customer, through the public API (not the seller's browser). */
export async function placeOrder(request: APIRequestContext, sellerId: number, customer: string): Promise<number> {
  const response = await request.post(`/api/shops/${sellerId}/orders`, {
    data: { customer_name: customer, items: [{ name: "Silk scarf", quantity: 1, unit_price_cents: 2900 }] },
  });
  expect(response.status()).toBe(201);
  return (await response.json()).order.id;
}

/** The seqs the notification centre shows, top to bottom. */
export async function shownSeqs(page: Page): Promise<number[]> {
  const items = page.getByTestId("notification");
  const seqs = await items.evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute("data-seq"))));
  return seqs;
}

/** Collects console errors and uncaught exceptions; a healthy page has none. */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}
