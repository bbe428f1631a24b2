//! Starts one LiveShop Link Notify server process.

use server::config::Config;
use server::startup::{Application, shutdown_signal};
use server::telemetry;

/// jemalloc instead of the system allocator: glibc keeps memory freed by
/// other threads in per-thread arenas (argon2 alone can pin hundreds of MiB),
/// and jemalloc's small-size classes suit many idle sockets.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Starts jemalloc's background thread, which hands freed pages back to the
/// system about ten seconds after they were freed. Without it jemalloc does
/// that only when the program allocates again, so a server that goes quiet
/// after a burst (thousands of sockets reconnecting at once) keeps the
/// burst's garbage resident.
fn return_freed_memory_on_a_timer() {
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc's background thread did not start: freed memory returns to the system more slowly");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is normal: production sets real environment variables.
    dotenvy::dotenv().ok();
    let config = Config::from_env()?;
    telemetry::init(&config.log);
    config.log_effective();
    return_freed_memory_on_a_timer();

    let app = Application::build(config).await?;
    // The first signal drains; a second one while the sockets are being
    // closed closes the rest at once, and any later one exits at once.
    app.run_until_stopped_or_hurried(shutdown_signal(), shutdown_signal).await?;
    Ok(())
}
