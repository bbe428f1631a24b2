import { expect, test } from "@playwright/test";
import { openPage, placeOrder, shownSeqs, signUp, signUpThroughTheForm, watchForErrors } from "./helpers";

test("an order placed on the storefront appears on the dashboard within a second, exactly once", async ({
  page,
  browser,
}) => {
  const errors = watchForErrors(page);
  const seller = await signUpThroughTheForm(page);
  await expect(page.getByTestId("no-notifications")).toBeVisible();
  // The moment the toast enters the page, by the page's own clock.
  await page.evaluate(() => {
    new MutationObserver(() => {
      const w = window as unknown as { toastAt?: number };
      if (w.toastAt === undefined && document.querySelector('[data-testid="toast"]')) w.toastAt = Date.now();
    }).observe(document.body, { childList: true, subtree: true });
  });

  // A customer, in a browser of their own.
  const customerContext = await browser.newContext();
  const shop = await customerContext.newPage();
  await openPage(shop, `/shop/${seller.id}`);
  await expect(shop.getByTestId("shop-title")).toHaveText("Chloé's scarves");
  await shop.getByLabel("Your name").fill("Amina");
  await shop.getByLabel("Quantity").fill("2");
  const placedAt = await shop.evaluate(() => Date.now());
  await shop.getByRole("button", { name: "Place order" }).click();
  await expect(shop.getByTestId("order-placed")).toBeVisible();
  const orderId = Number(await shop.getByTestId("order-placed").getAttribute("data-order-id"));

  const toast = page.getByTestId("toast");
  await expect(toast).toHaveCount(1, { timeout: 1_000 });
  await expect(toast).toContainText(`New order #${orderId}`);
  await expect(toast).toContainText("Amina ordered 2 items");
  const toastAt = await page.evaluate(() => (window as unknown as { toastAt?: number }).toastAt ?? 0);
  const latency = toastAt - placedAt;
  console.log(`order placed -> toast shown: ${latency} ms`);
  expect(latency).toBeGreaterThan(0);
  expect(latency).toBeLessThan(1_000);

  await expect(page.getByTestId("notification")).toHaveCount(1);
  await expect(page.getByTestId("order")).toHaveCount(1);
  await expect(page.getByTestId("order")).toContainText(`#${orderId} · Amina`);
  // Still exactly once a moment later (no duplicate from a retry or replay).
  await page.waitForTimeout(1_500);
  expect(await shownSeqs(page)).toEqual([1]);
  await expect(page.getByTestId("stat-received")).toHaveText("1");

  await customerContext.close();
  expect(errors).toEqual([]);
});

test("orders placed while the dashboard is offline all appear once, in order, without a reload", async ({
  page,
  context,
  playwright,
  baseURL,
}) => {
  const seller = await signUp(page);
  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

  await context.setOffline(true);
  await expect(page.getByTestId("connection-status")).toHaveText("offline");

  // Customers keep ordering meanwhile, from elsewhere.
  const customers = await playwright.request.newContext({ baseURL });
  for (const name of ["Ada", "Bea", "Cy"]) await placeOrder(customers, seller.id, name);
  await customers.dispose();
  await page.waitForTimeout(500);
  await expect(page.getByTestId("notification")).toHaveCount(0);

  await context.setOffline(false);
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await expect(page.getByTestId("notification")).toHaveCount(3);
  expect(await shownSeqs(page)).toEqual([3, 2, 1]);
  await expect(page.getByTestId("order")).toHaveCount(3);
  // Each was acknowledged: the server counts them received.
  await expect(page.getByTestId("stat-received")).toHaveText("3");
  await expect(page.getByTestId("stat-pending")).toHaveText("0");
  await page.waitForTimeout(1_000);
  expect(await shownSeqs(page)).toEqual([3, 2, 1]);
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
});

test("mark read and read all update the badge, and a reload keeps the state", async ({ page }) => {
  await signUp(page);
  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  for (let i = 0; i < 3; i++) await page.getByTestId("send-test").click();
  await expect(page.getByTestId("notification")).toHaveCount(3);
  const badge = page.getByTestId("unread-badge");
  await expect(badge).toHaveText("3");

  await page.locator('[data-testid="notification"][data-seq="2"]').getByTestId("mark-read").click();
  await expect(badge).toHaveText("2");
  await expect(page.locator('[data-testid="notification"][data-seq="2"]')).toHaveAttribute("data-read", "true");

  await page.reload();
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await expect(badge).toHaveText("2");
  await expect(page.getByTestId("notification")).toHaveCount(3);

  await page.getByTestId("read-all").click();
  await expect(badge).toHaveText("0");
  await expect(page.getByTestId("stat-unread")).toHaveText("0");

  await page.reload();
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await expect(page.getByTestId("notification")).toHaveCount(3);
  await expect(badge).toHaveText("0");
  expect(await shownSeqs(page)).toEqual([3, 2, 1]);
});

test("a dropped connection shows its countdown, backs off, and catches up once it is back", async ({
  page,
  playwright,
  baseURL,
}) => {
  const seller = await signUp(page);
  // Every Socket.IO connection of the page goes through this proxy, so the
  // test can cut it (as a server restart would) and refuse reconnects.
  let refuse = false;
  const open: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (refuse) {
      void ws.close();
      return;
    }
    ws.connectToServer();
    open.push(ws);
  });
  await page.goto("/");
  const status = page.getByTestId("connection-status");
  await expect(status).toHaveText("live");

  refuse = true;
  await Promise.all(open.splice(0).map((ws) => ws.close()));
  await expect(status).toHaveAttribute("data-status", "reconnecting");
  await expect(status).toHaveText(/^reconnecting( in \d+ s)?$/);
  // Customers order while the dashboard cannot be reached.
  const customers = await playwright.request.newContext({ baseURL });
  for (const name of ["Dee", "Eli"]) await placeOrder(customers, seller.id, name);
  await customers.dispose();
  await page.waitForTimeout(1_500);
  await expect(status).not.toHaveText("live");
  await expect(page.getByTestId("notification")).toHaveCount(0);

  refuse = false;
  await expect(status).toHaveText("live", { timeout: 20_000 });
  await expect(page.getByTestId("notification")).toHaveCount(2);
  expect(await shownSeqs(page)).toEqual([2, 1]);
  await expect(page.getByTestId("stat-received")).toHaveText("2");
});
