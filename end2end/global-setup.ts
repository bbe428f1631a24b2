// `cargo leptos end-to-end` starts the server and Playwright at the same time,
// with no readiness wait: poll the health endpoint until the server answers.
import type { FullConfig } from "@playwright/test";

const READY_TIMEOUT_MS = 120_000;

export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL = config.projects[0].use.baseURL ?? "http://127.0.0.1:3001";
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = "no attempt";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${baseURL}/api/health`);
      if (response.ok) return;
      lastError = `status ${response.status}`;
    } catch (error) {
      lastError = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`server at ${baseURL} not ready after ${READY_TIMEOUT_MS} ms: ${lastError}`);
}
