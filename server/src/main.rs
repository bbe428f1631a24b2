//! Starts one LiveShop Link Notify server process.

use server::config::Config;
use server::startup::{Application, shutdown_signal};
use server::telemetry;

/// jemalloc instead of the system allocator: glibc keeps memory freed by
/// other threads in per-thread arenas (argon2 alone can pin hundreds of MiB),
/// and jemalloc's small-size classes suit many idle sockets.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is normal: production sets real environment variables.
    dotenvy::dotenv().ok();
    let config = Config::from_env()?;
    telemetry::init(&config.log);
    config.log_effective();

    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}
