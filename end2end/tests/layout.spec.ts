import { expect, test } from "@playwright/test";
import { openPage, signUp } from "./helpers";

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test("on a phone-sized screen nothing scrolls sideways", async ({ page }) => {
  const seller = await signUp(page);
  await page.goto("/");
  await expect(page.getByTestId("connection-status")).toHaveText("live");
  await page.getByTestId("send-test").click();
  await expect(page.getByTestId("toast")).toHaveCount(1);
  for (const path of ["/", `/shop/${seller.id}`]) {
    await openPage(page, path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, path).toBeLessThanOrEqual(0);
  }
  });
});

test("a customer can order with the keyboard alone", async ({ page, browser }) => {
  const seller = await signUp(page);
  const customer = await (await browser.newContext()).newPage();
  await openPage(customer, `/shop/${seller.id}`);
  await customer.getByLabel("Your name").focus();
  await customer.keyboard.type("Noor");
  await customer.keyboard.press("Tab"); // product
  await customer.keyboard.press("ArrowDown");
  await customer.keyboard.press("Tab"); // quantity
  await customer.keyboard.press("Control+A");
  await customer.keyboard.type("3");
  await customer.keyboard.press("Enter");
  await expect(customer.getByTestId("order-placed")).toBeVisible();

  const orders = await page.request.get("/api/orders");
  const [order] = (await orders.json()).orders;
  expect(order.customer_name).toBe("Noor");
  expect(order.items[0]).toMatchObject({ name: "Linen tote bag", quantity: 3 });
  await customer.context().close();
});
