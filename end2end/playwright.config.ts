import { defineConfig } from "@playwright/test";
import { args, executablePath } from "./chromium";

export default defineConfig({
  testDir: "./tests",
  // Inside target/, which git ignores and `cargo clean` clears.
  outputDir: "../target/playwright",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  // `list`, never `html`: the html reporter serves its report on failure and
  // waits, which would hang `cargo leptos end-to-end`.
  reporter: "list",
  use: {
    baseURL: process.env.E2E_BASE_URL ?? "http://127.0.0.1:3001",
    trace: "off",
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        launchOptions: { executablePath, args },
      },
    },
  ],
});
