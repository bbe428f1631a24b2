//! Starts one LiveShop Link Notify server process.

use server::config::Config;
use server::startup::{Application, shutdown_signal};
use server::telemetry;

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
