//! Start-up and graceful shutdown.

use std::path::Path;

/// Runs the service until SIGINT/SIGTERM.
pub fn run(_config: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!("the service lands with issue 3")
}
