//! The server as its own process, for tests that need one they can kill with SIGKILL (the
//! suite's other servers run inside the test process). Configured by the environment alone,
//! as `emporium serve` is; built with the suite, so the tests find it at
//! `CARGO_BIN_EXE_emporium-test-server`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = emporium_gateway::config::Config::from_env()?;
    let app = emporium_gateway::app::build(config).await?;
    emporium_gateway::app::serve(app).await
}
