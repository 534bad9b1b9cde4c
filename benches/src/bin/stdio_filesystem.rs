//! The filesystem connector as a stdio plugin (`connector_sdk::protocol::serve_stdio_configured`):
//! what `benches/src/stdio.rs` runs through `connector-process` to compare with the same
//! connector in process. Its `config` is a filesystem source's table (`root`, ...).

use connector_filesystem::FilesystemType;
use connector_sdk::protocol::{Capabilities, serve_stdio_configured};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    serve_stdio_configured(&FilesystemType, Capabilities::default()).await
}
